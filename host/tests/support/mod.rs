//! Shared test support: the test guest, the host, Redis and an upstream HTTP server.
#![allow(dead_code, reason = "each test binary uses a different part of the support code")]

pub mod guest;
pub mod host;
pub mod process;
pub mod redis;
pub mod upstream;
