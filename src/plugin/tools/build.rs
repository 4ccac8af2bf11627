//! `mcp-runtime plugin build`: a policy written in JavaScript (componentize-qjs, QuickJS, WASI
//! stubbed) or Python (componentize-py, WASI stubbed) becomes a component, and its digest is
//! written into plugin.json. The toolchains are installed by `scripts/plugin-tools.sh` into the
//! cache; `MCP_RUNTIME_COMPONENTIZE_QJS` / `MCP_RUNTIME_COMPONENTIZE_PY` point elsewhere.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use sha2::{Digest, Sha256};

/// Versions of the toolchains (the cache paths are keyed by them).
pub const QJS_VERSION: &str = "0.4.5";
pub const PY_VERSION: &str = "0.25.1";

#[derive(Clone, Debug, Default)]
pub struct BuildOptions {
    /// Leave WASI imports in (only to build the hostile fixture that must be refused).
    pub keep_wasi: bool,
    /// Build against another WIT directory (only to build the wrong-version fixture).
    pub wit_dir: Option<PathBuf>,
}

#[derive(Debug)]
pub struct Built {
    pub component: PathBuf,
    pub digest: String,
    pub bytes: u64,
    pub seconds: f64,
}

fn cache() -> PathBuf {
    std::env::var("MCP_RUNTIME_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| "/tmp".into()))
                .join(".cache/mcp-runtime")
        })
}

fn tool(env: &str, cached: PathBuf, name: &str) -> Result<PathBuf, String> {
    if let Ok(p) = std::env::var(env) {
        return Ok(PathBuf::from(p));
    }
    if cached.exists() {
        return Ok(cached);
    }
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join(name))
                .find(|p| p.exists())
        })
        .ok_or_else(|| format!("{name} not found: run scripts/plugin-tools.sh (or set {env})"))
}

pub fn qjs() -> Result<PathBuf, String> {
    tool(
        "MCP_RUNTIME_COMPONENTIZE_QJS",
        cache().join(format!(
            "tools/npm-qjs-{QJS_VERSION}/node_modules/.bin/componentize-qjs"
        )),
        "componentize-qjs",
    )
}

pub fn py() -> Result<PathBuf, String> {
    tool(
        "MCP_RUNTIME_COMPONENTIZE_PY",
        cache().join(format!(
            "tools/componentize-py-{PY_VERSION}/bin/componentize-py"
        )),
        "componentize-py",
    )
}

/// Builds the plugin in `dir` (policy.js or policy.py next to plugin.json) and pins the digest.
pub fn build(dir: &Path, options: &BuildOptions) -> Result<Built, String> {
    let started = std::time::Instant::now();
    // Absolute, so that a relative path means the same to a toolchain run in another directory
    // (componentize-py runs in the plugin's folder).
    let dir = &std::path::absolute(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let manifest_path = dir.join("plugin.json");
    let text = std::fs::read_to_string(&manifest_path)
        .map_err(|e| format!("{}: {e}", manifest_path.display()))?;
    let mut manifest: Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", manifest_path.display()))?;
    let component = manifest["component"]
        .as_str()
        .filter(|c| !c.contains('/') && c.ends_with(".wasm"))
        .ok_or("plugin.json: component must be a file name ending in .wasm")?
        .to_string();
    let out = dir.join(&component);

    let wit_tmp = tempdir()?;
    let wit_dir = match &options.wit_dir {
        Some(d) => std::path::absolute(d).map_err(|e| format!("{}: {e}", d.display()))?,
        None => {
            std::fs::write(wit_tmp.join("plugin.wit"), crate::plugin::WIT)
                .map_err(|e| e.to_string())?;
            wit_tmp.clone()
        }
    };
    let mut cmd = if dir.join("policy.js").exists() {
        let mut c = Command::new(qjs()?);
        c.arg("--wit")
            .arg(&wit_dir)
            .arg("--js")
            .arg(dir.join("policy.js"))
            .arg("--sync")
            .arg("-o")
            .arg(&out);
        if !options.keep_wasi {
            c.arg("--stub-wasi");
        }
        c
    } else if dir.join("policy.py").exists() {
        let mut c = Command::new(py()?);
        c.current_dir(dir)
            .arg("-d")
            .arg(&wit_dir)
            .arg("-w")
            .arg("policy")
            .arg("componentize");
        if !options.keep_wasi {
            c.arg("--stub-wasi");
        }
        c.arg("-p").arg(dir).arg("policy").arg("-o").arg(&out);
        c
    } else {
        return Err(format!("{}: no policy.js or policy.py", dir.display()));
    };
    let output = cmd
        .output()
        .map_err(|e| format!("running the componentizer: {e}"))?;
    let _ = std::fs::remove_dir_all(&wit_tmp);
    if !output.status.success() {
        return Err(format!(
            "building {} failed:\n{}{}",
            dir.display(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let bytes = std::fs::read(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let digest = format!("sha256:{}", hex::encode(Sha256::digest(&bytes)));
    manifest["digest"] = Value::String(digest.clone());
    let pretty = serde_json::to_string_pretty(&manifest).map_err(|e| e.to_string())? + "\n";
    std::fs::write(&manifest_path, pretty).map_err(|e| e.to_string())?;
    Ok(Built {
        component: out,
        digest,
        bytes: bytes.len() as u64,
        seconds: started.elapsed().as_secs_f64(),
    })
}

fn tempdir() -> Result<PathBuf, String> {
    let d = std::env::temp_dir().join(format!(
        "mcp-runtime-wit-{}-{:x}",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::create_dir_all(&d).map_err(|e| e.to_string())?;
    Ok(d)
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0),
    );
    h.finish()
}
