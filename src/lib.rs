//! The Efalia Doc ONLYOFFICE connector, a `wasi:http/proxy@0.2` component.

pub mod kv;
pub mod onlyoffice;
pub mod storage;
pub mod tokens;
