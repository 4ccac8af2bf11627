//! Builds plugins from source into fresh temporary directories, so no built artefact lands in
//! the repository.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use mcp_runtime::plugin::tools::build::{BuildOptions, build};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for entry in std::fs::read_dir(src).unwrap() {
        let p = entry.unwrap().path();
        let to = dst.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_dir(&p, &to);
        } else {
            std::fs::copy(&p, &to).unwrap();
        }
    }
}

/// A fresh copy of `src` built with `options`, inside `parent` (a new temp dir when `None`).
pub fn built_in(src: &Path, options: &BuildOptions, parent: Option<&Path>) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let name = format!(
        "{}-{}-{}",
        src.file_name().unwrap().to_string_lossy(),
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    let dir = match parent {
        Some(p) => p.join(src.file_name().unwrap()),
        None => std::env::temp_dir().join(format!("mcp-plugin-{name}")),
    };
    let _ = std::fs::remove_dir_all(&dir);
    copy_dir(src, &dir);
    build(&dir, options).unwrap_or_else(|e| panic!("building {}: {e}", src.display()));
    dir
}

pub fn built(src: &Path, options: &BuildOptions) -> PathBuf {
    built_in(src, options, None)
}

/// A directory holding the named example policies, built.
pub fn example_set(names: &[&str]) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "mcp-plugin-set-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for n in names {
        built_in(
            &root().join("plugins/examples").join(n),
            &BuildOptions::default(),
            Some(&dir),
        );
    }
    dir
}
