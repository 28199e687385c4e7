//! Builds the connector component once per test process.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// Builds the release component for `wasm32-wasip2` and returns the path of the `.wasm`.
pub fn component_wasm() -> PathBuf {
    static WASM: OnceLock<PathBuf> = OnceLock::new();
    WASM.get_or_init(|| {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let target_dir = root.join("target").join("component");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let output = Command::new(cargo)
            .args(["build", "--release", "--locked", "--target", "wasm32-wasip2", "-p", "efalia-onlyoffice"])
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
        target_dir.join("wasm32-wasip2/release/efalia_onlyoffice.wasm")
    })
    .clone()
}
