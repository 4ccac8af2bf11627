//! mcp-runtime: a Kubernetes control plane for Model Context Protocol servers.
//!
//! The data path (see README and `../shared/design/architecture.md`): a server document is
//! checked against `schemas/` ([`schema`]), parsed into [`crd`] types, rendered into manifests
//! without I/O ([`render`]), changed by the organisation's policies ([`plugin`]): one builder,
//! [`desired::build`], makes what the controller applies and what previews show. [`config`]
//! resolves the control plane's own settings.

pub mod api;
pub mod bridge;
pub mod config;
pub mod controller;
pub mod crd;
pub mod desired;
pub mod health;
pub mod input;
pub mod mcp;
pub mod metrics;
pub mod plugin;
pub mod render;
pub mod runtime;
pub mod schema;
pub mod term;
pub mod yaml;
