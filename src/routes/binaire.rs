//! `GET /api/only-office/{id}/binaire?authorization=<download token>`: where the Document Server
//! downloads the document.
//!
//! The query token alone authenticates. The Document Server adds its own header token (signed
//! with its secret, `{"payload": {"url": …}}`); it is never read as a user token, and when present
//! it must be valid for this URL. The bytes stream out with exact headers, never a redirect or a
//! page.

use super::{Context, document_id};
use crate::error::{Error, LogContext};
use crate::http::{Request, Response};
use crate::settings::join;
use crate::storage::load_document;
use crate::tokens::{AccessKind, TokenError, verify_access, verify_ds_download_header};

pub(super) fn get(request: &Request, id: &str, log: &mut LogContext) -> Result<Response, Error> {
    let context = Context::open()?;
    let id = document_id(id)?;
    let token = request.query_param("authorization").ok_or(Error::Unauthorized(TokenError::Missing))?;
    let secret = context.settings.connector_secret()?;
    let claims = verify_access(&secret, AccessKind::Download, &token, &id, context.now)?;
    log.user = Some(claims.user.clone());

    if let Some(header) = request.header(context.settings.ds_header()) {
        let base = context.settings.public_base_url()?;
        let requested = join(&base, &path_with_query(request));
        let ds_secret = context.settings.ds_secret()?;
        verify_ds_download_header(&ds_secret, header, &requested, context.now).map_err(Error::Unauthorized)?;
    }

    let document = load_document(&context.kv, id)?.ok_or(Error::DocumentNotFound)?;
    let version = document
        .current()
        .ok_or_else(|| Error::CorruptFile(format!("document {id} has no current version")))?
        .clone();
    super::documents::stream_version(context.kv, id, &version)
}

fn path_with_query(request: &Request) -> String {
    match request.raw_query() {
        "" => request.path().to_owned(),
        query => format!("{}?{query}", request.path()),
    }
}
