//! Builds the connector component once per test process.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Returns the workspace root. Host tests include this file too, and their manifest directory
/// is `host/`, one level below the root.
pub fn workspace_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    if manifest_dir.join("host/Cargo.toml").is_file() {
        manifest_dir.to_path_buf()
    } else {
        manifest_dir.parent().expect("the host crate directory has the workspace as its parent").to_path_buf()
    }
}

/// Builds the component for `wasm32-wasip2` with the `component` profile, as a cdylib only so
/// that LTO applies, and returns the path of the `.wasm`.
pub fn component_wasm() -> PathBuf {
    static WASM: OnceLock<PathBuf> = OnceLock::new();
    WASM.get_or_init(|| {
        let root = workspace_root();
        let target_dir = root.join("target").join("component");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let output = Command::new(cargo)
            .args(["rustc", "--locked", "--profile", "component", "--target", "wasm32-wasip2"])
            .args(["-p", "efalia-onlyoffice", "--lib", "--crate-type", "cdylib"])
            .arg("--manifest-path")
            .arg(root.join("Cargo.toml"))
            .arg("--target-dir")
            .arg(&target_dir)
            .output()
            .expect("run cargo to build the component");
        assert!(
            output.status.success(),
            "building the component failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        target_dir.join("wasm32-wasip2/component/efalia_onlyoffice.wasm")
    })
    .clone()
}
