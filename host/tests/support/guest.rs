//! Builds the guest component in `host/tests/guest` that the integration tests serve.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Builds the test guest on the first call in a test process and returns the path of its `.wasm`.
///
/// The build goes to `target/guest`, a target directory of its own, so it does not wait for the
/// lock that the running `cargo test` may hold on `target/`. Test processes that build at the
/// same time wait for each other on cargo's lock of `target/guest`. Panics with cargo's output
/// when the build fails.
#[allow(
    dead_code,
    reason = "test files that use no guest include this module too"
)]
pub fn guest_wasm() -> PathBuf {
    static GUEST_WASM: OnceLock<PathBuf> = OnceLock::new();
    GUEST_WASM.get_or_init(build_guest).clone()
}

fn build_guest() -> PathBuf {
    let host_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let workspace_dir = host_dir
        .parent()
        .expect("the host crate directory has the workspace as its parent");
    let manifest = workspace_dir.join("host/tests/guest/Cargo.toml");
    let target_dir = workspace_dir.join("target/guest");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());

    let output = Command::new(&cargo)
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--manifest-path",
        ])
        .arg(&manifest)
        .arg("--target-dir")
        .arg(&target_dir)
        .output()
        .unwrap_or_else(|error| panic!("failed to run {cargo:?} to build the test guest: {error}"));
    if !output.status.success() {
        panic!(
            "building the test guest {} failed with {}. If the wasm32-wasip2 target is missing, \
             install it with `rustup target add wasm32-wasip2`.\n--- cargo stdout\n{}\n--- cargo stderr\n{}",
            manifest.display(),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
        );
    }

    let wasm = target_dir.join("wasm32-wasip2/release/host_test_guest.wasm");
    assert!(
        wasm.is_file(),
        "cargo built the test guest but {} does not exist",
        wasm.display()
    );
    wasm
}
