//! Guest bindings of `wasi:keyvalue@0.2.0-draft2` and `wasi:config@0.2.0-draft-2024-09-27`,
//! generated from the vendored WIT. They live in their own module because their root `wasi`
//! module would clash with the `wasi` crate, which provides the `wasi:http` proxy bindings.

wit_bindgen::generate!({
    path: "wit",
    world: "connector",
    generate_all,
});
