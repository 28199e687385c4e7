//! `GET /api/only-office/openapi.json`: the OpenAPI 3.1 document of every route of the
//! connector, served as committed in `openapi/`, with no authentication.
//!
//! The file is embedded at build time and sent as it is, so the served bytes are exactly the
//! committed ones and nothing is parsed per request.

use crate::error::Error;
use crate::http::{Body, Response};

/// The committed document, minified JSON.
const DOCUMENT: &[u8] = include_bytes!("../../openapi/efalia-onlyoffice.openapi.json");

pub(super) fn get() -> Result<Response, Error> {
    let mut response = Response::new(200, Body::Bytes(DOCUMENT.to_vec()));
    response.header("content-type", "application/json");
    Ok(response)
}
