//! Shared support of the connector's integration tests: the built component served by the real
//! host, user tokens, and the host's own test helpers.
#![allow(dead_code, reason = "each test binary uses a different part of the support code")]

#[path = "../../host/tests/support/host.rs"]
pub mod host;
#[path = "../../host/tests/support/redis.rs"]
pub mod redis;

pub mod attack;
pub mod component;
pub mod connector;
pub mod ds;
pub mod flaky;
