//! Shared test support: the test guest, the host, Redis and an upstream HTTP server, and from
//! the connector's own tests the built connector component, its client and the Document Server
//! double.
#![allow(dead_code, reason = "each test binary uses a different part of the support code")]

pub mod guest;
pub mod host;
pub mod process;
pub mod redis;
pub mod upstream;

#[path = "../../../tests/support/component.rs"]
pub mod component;
#[path = "../../../tests/support/connector.rs"]
pub mod connector;
#[path = "../../../tests/support/ds.rs"]
pub mod ds;
