//! The policy developer's tools behind `mcp-runtime plugin build|test|bench`: building a
//! plugin's component from its source ([`build`]), running its fixtures and benchmarking its
//! calls ([`testing`]). The control plane never calls them.

pub mod build;
pub mod testing;
