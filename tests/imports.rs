//! The built component imports exactly the interfaces that Spin 3.0 to 4.0 and `efalia-host`
//! provide, so the same file runs on each of them.

mod support;

use std::collections::BTreeSet;

use support::component::component_wasm;
use wasmtime::component::Component;
use wasmtime::{Config, Engine};

/// Interfaces whose exact pre-release version is required: Wasmtime links pre-release versions
/// only on exact match.
const EXACT_IMPORTS: [&str; 4] = [
    "wasi:keyvalue/store@0.2.0-draft2",
    "wasi:keyvalue/batch@0.2.0-draft2",
    "wasi:keyvalue/atomics@0.2.0-draft2",
    "wasi:config/store@0.2.0-draft-2024-09-27",
];

/// WASI 0.2 interfaces the component may import at any 0.2.x version: the `wasi:http/proxy`
/// world and what Rust's standard library pulls in.
const PROXY_INTERFACES: [&str; 19] = [
    "wasi:http/types",
    "wasi:http/outgoing-handler",
    "wasi:io/error",
    "wasi:io/poll",
    "wasi:io/streams",
    "wasi:cli/environment",
    "wasi:cli/exit",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:cli/stderr",
    "wasi:cli/terminal-input",
    "wasi:cli/terminal-output",
    "wasi:cli/terminal-stdin",
    "wasi:cli/terminal-stdout",
    "wasi:cli/terminal-stderr",
    "wasi:clocks/wall-clock",
    "wasi:clocks/monotonic-clock",
    "wasi:random/random",
    "wasi:random/insecure-seed",
];

fn component() -> (Engine, Component) {
    let mut config = Config::new();
    config.wasm_component_model(true);
    let engine = Engine::new(&config).unwrap();
    let component = Component::from_file(&engine, component_wasm()).unwrap();
    (engine, component)
}

#[test]
fn imports_are_the_designed_set() {
    let (engine, component) = component();
    let imports: BTreeSet<String> = component.component_type().imports(&engine).map(|(name, _)| name.to_owned()).collect();

    for exact in EXACT_IMPORTS {
        assert!(imports.contains(exact), "missing import {exact}; imports: {imports:?}");
    }
    for name in &imports {
        if EXACT_IMPORTS.contains(&name.as_str()) {
            continue;
        }
        let (interface, version) = name.split_once('@').unwrap_or((name, ""));
        assert!(PROXY_INTERFACES.contains(&interface), "unexpected import {name}");
        assert!(version.starts_with("0.2."), "{name} is not WASI 0.2.x");
        assert!(!version.contains('-'), "{name} is a pre-release");
    }
    assert!(
        !imports.iter().any(|name| name.starts_with("wasi:filesystem") || name.starts_with("wasi:sockets")),
        "no filesystem or socket import: {imports:?}"
    );
}

#[test]
fn exports_only_the_incoming_handler() {
    let (engine, component) = component();
    let exports: Vec<String> = component.component_type().exports(&engine).map(|(name, _)| name.to_owned()).collect();
    assert_eq!(exports.len(), 1, "{exports:?}");
    assert!(exports[0].starts_with("wasi:http/incoming-handler@0.2."), "{exports:?}");
}
