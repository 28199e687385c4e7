//! Host bindings of `wasi:keyvalue@0.2.0-draft2` and `wasi:config@0.2.0-draft-2024-09-27`,
//! generated from the vendored WIT in the workspace's `wit/` folder, the files the component uses.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "host-imports",
    imports: { default: async | trappable },
    with: {
        "wasi:keyvalue/store.bucket": crate::kv::Bucket,
        "wasi:keyvalue/atomics.cas": crate::kv::Cas,
    },
});
