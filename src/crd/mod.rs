//! The `McpServer` custom resource: its spec (the MCP server document of
//! `schemas/mcp-server.schema.json`), its status (`schemas/runtime-status.schema.json`) and the
//! CRD, whose schema is converted from the JSON Schema so the two cannot drift.

pub mod openapi;
pub mod resource;
pub mod spec;

pub use resource::{McpServerStatus, crd, same_schema};
pub use spec::*;
