//! `GET /api/only-office/{id}/acces`: the `binaire` and `callback` URLs the Document Server needs.
//!
//! Each URL carries its own query token, signed with `connector_secret` and bound to the document:
//! a short-lived download token with read right, and a callback token that lives as long as an
//! editing session and carries the user's right (write only for users who may write).

use serde::Serialize;
use uuid::Uuid;

use super::{Context, document_id, readable_document};
use crate::error::{Error, LogContext};
use crate::http::{Request, Response};
use crate::settings::{Settings, join};
use crate::tokens::{AccessKind, Right, User, mint_access};

#[derive(Serialize)]
struct Urls {
    binaire: String,
    callback: String,
}

pub(super) fn get(request: &Request, id: &str, log: &mut LogContext) -> Result<Response, Error> {
    let context = Context::open()?;
    let user = context.user(request, log)?;
    let id = document_id(id)?;
    let document = readable_document(&context, &user, id)?;
    // The Document Server cannot use these URLs without a signed configuration, so a missing or
    // weak DS secret is reported here rather than at `/token` time.
    context.settings.ds_secret()?;

    let right = if document.can_write(&user.id, user.is_admin) { Right::Write } else { Right::Read };
    let urls = Urls {
        binaire: access_url(&context.settings, AccessKind::Download, id, &user, Right::Read, context.now)?,
        callback: access_url(&context.settings, AccessKind::Callback, id, &user, right, context.now)?,
    };
    Ok(Response::json(200, &urls))
}

/// Builds the absolute `binaire` or `remplacer` URL of document `id` with a fresh query token.
pub(crate) fn access_url(
    settings: &Settings,
    kind: AccessKind,
    id: Uuid,
    user: &User,
    right: Right,
    now: u64,
) -> Result<String, Error> {
    let secret = settings.connector_secret()?;
    let lifetime = match kind {
        AccessKind::Download => settings.binaire_token_lifetime()?,
        AccessKind::Callback => settings.callback_token_lifetime()?,
    };
    let token = mint_access(&secret, kind, id, &user.id, right, now, lifetime)?;
    Ok(url_with_token(&settings.public_base_url()?, kind, id, &token))
}

/// Formats the URL of a route of document `id` carrying `token`, the one shape `/acces` emits.
pub(crate) fn url_with_token(base: &url::Url, kind: AccessKind, id: Uuid, token: &str) -> String {
    let route = match kind {
        AccessKind::Download => "binaire",
        AccessKind::Callback => "remplacer",
    };
    let token: String = url::form_urlencoded::byte_serialize(token.as_bytes()).collect();
    join(base, &format!("/api/only-office/{id}/{route}?authorization={token}"))
}
