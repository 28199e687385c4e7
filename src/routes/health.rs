//! `GET /health`: answers 200 when the component runs, without touching settings or storage.

use crate::error::Error;
use crate::http::Response;

pub(super) fn get() -> Result<Response, Error> {
    Ok(Response::json(200, &serde_json::json!({ "status": "ok" })))
}
