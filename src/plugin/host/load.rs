//! Loading a plugin, in the order its guarantees build on each other: the manifest (checked by
//! its schema), the digest pin, the compilation (or the cached one), the imports (our host
//! interface only: no WASI, so no ambient capability) and the contract version, the link.

use std::path::Path;

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::{Component, HasSelf, Linker};

use super::error::{PluginError, PluginErrorKind};
use super::sandbox::State;
use super::sandbox::bindings::{Policy, PolicyPre};
use crate::plugin::engine::{self, Source};
use crate::plugin::manifest::{ManifestError, PluginManifest};

/// A component ready to instantiate, and how it was obtained.
pub(super) struct Linked {
    pub engine: Engine,
    pub pre: PolicyPre<State>,
    /// The component's sha256, hex.
    pub digest: String,
    pub source: Source,
}

/// The manifest of `dir` (with `settings` instead of its own, for fixtures), or a load error
/// naming the plugin when the manifest got that far, else its folder.
pub(super) fn manifest(
    dir: &Path,
    settings: Option<&serde_json::Value>,
) -> Result<PluginManifest, PluginError> {
    PluginManifest::load_with(dir, settings).map_err(|e| {
        let name = match &e {
            ManifestError::Settings { plugin, .. }
            | ManifestError::SettingsSchema { plugin, .. } => plugin.clone(),
            _ => dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        };
        PluginError {
            plugin: name,
            version: "?".into(),
            hook: "load".into(),
            kind: PluginErrorKind::Load(e.to_string()),
        }
    })
}

/// The manifest's component, read from `dir`, matched against its pinned digest, compiled (or
/// taken from the compile cache), checked for what it imports and exports, and linked.
pub(super) fn component(dir: &Path, manifest: &PluginManifest) -> Result<Linked, String> {
    let path = dir.join(&manifest.component);
    let bytes = std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let digest = hex::encode(Sha256::digest(&bytes));
    if manifest.digest != format!("sha256:{digest}") {
        return Err(format!(
            "digest mismatch: plugin.json pins {}, {} is sha256:{digest}",
            manifest.digest, manifest.component
        ));
    }
    let engine = engine::engine()?;
    let cache = engine::cache_dir(&engine);
    let (component, source) = engine::component(&engine, &bytes, &digest, Some(&cache))
        .map_err(|e| format!("not a valid component: {e:#}"))?;
    check_interfaces(&engine, &component)?;
    let pre = link(&engine, &component)?;
    Ok(Linked {
        engine,
        pre,
        digest,
        source,
    })
}

/// Only our own interfaces may be imported, and the hooks must be exported, each at a contract
/// version this host speaks.
fn check_interfaces(engine: &Engine, component: &Component) -> Result<(), String> {
    let ty = component.component_type();
    for (name, _) in ty.imports(engine) {
        if !name.starts_with("mcp-runtime:plugin/") {
            return Err(format!(
                "imports {name}, which the host does not provide (no WASI capability is granted)"
            ));
        }
        check_version(name)?;
    }
    let hooks = ty
        .exports(engine)
        .map(|(n, _)| n.to_string())
        .find(|n| n.starts_with("mcp-runtime:plugin/hooks@"));
    match hooks {
        Some(name) => check_version(&name),
        None => Err(format!(
            "exports no mcp-runtime:plugin/hooks interface: not built against {}",
            crate::plugin::CONTRACT
        )),
    }
}

/// The component linked against our host interface alone, checked against the contract's
/// world.
fn link(engine: &Engine, component: &Component) -> Result<PolicyPre<State>, String> {
    let mut linker: Linker<State> = Linker::new(engine);
    Policy::add_to_linker::<State, HasSelf<State>>(&mut linker, |s| s)
        .map_err(|e| format!("linking: {e:#}"))?;
    let pre = linker
        .instantiate_pre(component)
        .map_err(|e| format!("cannot be instantiated: {e:#}"))?;
    PolicyPre::new(pre).map_err(|e| format!("does not fit the contract: {e:#}"))
}

/// `mcp-runtime:plugin/<iface>@<version>` must be semver-compatible with the host's contract
/// (same major, and for 0.x the same minor).
pub(super) fn check_version(name: &str) -> Result<(), String> {
    let Some((_, version)) = name.split_once('@') else {
        return Err(format!("{name} has no version"));
    };
    let ours = crate::plugin::CONTRACT
        .rsplit_once('@')
        .and_then(|(_, v)| semver::Version::parse(v).ok());
    let compatible = match (semver::Version::parse(version), ours) {
        (Ok(a), Some(b)) => a.major == b.major && (b.major != 0 || a.minor == b.minor),
        _ => false,
    };
    if compatible {
        Ok(())
    } else {
        Err(format!(
            "built against mcp-runtime:plugin@{version}, this host speaks {}",
            crate::plugin::CONTRACT
        ))
    }
}
