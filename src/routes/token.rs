//! `POST /api/only-office/token`: signs an editor configuration for the Document Server.
//!
//! This route has the DS secret, so it must not sign what it is given. It finds the document
//! the posted configuration refers to (through the `binaire` or `callback` URL made by `/acces`),
//! checks the user's rights, and rebuilds every field the Document Server trusts from server data.
//! Only harmless client fields survive. The response carries the token and the configuration it
//! signs, so the browser opens the editor with exactly the signed values.

use serde_json::{Map, Value};
use uuid::Uuid;

use super::acces::{access_url, url_with_token};
use super::documents::require_json;
use super::{Context, readable_document};
use crate::error::{Error, LogContext, json_problem};
use crate::http::{Request, Response};
use crate::onlyoffice::{EditorConfigInput, FileType, OnlyOfficeError, build_editor_config, find_document_reference};
use crate::tokens::{AccessKind, Right, User, sign_config, verify_access};

/// Largest configuration accepted, in bytes; real configurations are a few kilobytes.
const MAX_CONFIG_BODY: u64 = 256 * 1024;

pub(super) fn post(request: &Request, log: &mut LogContext) -> Result<Response, Error> {
    let context = Context::open()?;
    let user = context.user(request, log)?;
    require_json(request)?;
    let body = request.read_body(MAX_CONFIG_BODY)?;
    let client: Value = serde_json::from_slice(&body).map_err(|err| Error::InvalidJson(json_problem(&err)))?;
    if !client.is_object() {
        return Err(Error::InvalidJson("la configuration doit être un objet JSON".to_owned()));
    }

    let base = context.settings.public_base_url()?;
    // Nothing is signed when the configuration names no document of this connector, or two.
    let id = find_document_reference(&client, &base).map_err(|err| match err {
        OnlyOfficeError::DocumentReferenceMismatch => Error::NotAllowed,
        _ => Error::InvalidRequest(
            "La configuration ne désigne aucun document de ce connecteur : document.url doit être \
             l'URL binaire donnée par /acces"
                .to_owned(),
        ),
    })?;
    log.document = Some(id.to_string());
    let document = readable_document(&context, &user, id)?;
    let ds_secret = context.settings.ds_secret()?;

    let file_type = FileType::from_extension(&document.file_type)
        .map_err(|_| Error::CorruptFile(format!("stored file type {:?} is not supported", document.file_type)))?;
    let can_edit = document.can_write(&user.id, user.is_admin) && file_type.is_editable();
    let binaire = reuse_or_mint(&context, &client, "/document/url", AccessKind::Download, id, &user, Right::Read)?;
    let callback = if can_edit {
        Some(reuse_or_mint(&context, &client, "/editorConfig/callbackUrl", AccessKind::Callback, id, &user, Right::Write)?)
    } else {
        None
    };
    let binaire = parse_own_url(&binaire)?;
    let callback = callback.as_deref().map(parse_own_url).transpose()?;
    let input = EditorConfigInput {
        key: &document.ds_key,
        binaire_url: &binaire,
        callback_url: callback.as_ref(),
        file_type,
        title: &document.title,
        can_edit,
        can_download: true,
        user_id: &user.id,
        user_name: &user.name,
    };
    let config = build_editor_config(input, &client)
        .map_err(|err| Error::Internal(format!("editor configuration of document {id}: {err}")))?;
    let lifetime = context.settings.config_token_lifetime()?;
    let token = sign_config(&config, &ds_secret, context.now, lifetime)?;

    let mut answer = Map::new();
    answer.insert("token".to_owned(), Value::String(token));
    answer.insert("config".to_owned(), Value::Object(config));
    Ok(Response::json(200, &answer))
}

/// Keeps the client's URL at `pointer` when it is exactly one `/acces` made for this document,
/// user and right, and its token is still valid. The signed URL is then byte-identical to the
/// client's copy. Otherwise mints a fresh one.
fn reuse_or_mint(
    context: &Context,
    client: &Value,
    pointer: &str,
    kind: AccessKind,
    id: Uuid,
    user: &User,
    right: Right,
) -> Result<String, Error> {
    if let Some(url) = client.pointer(pointer).and_then(Value::as_str)
        && is_valid_access_url(context, url, kind, id, user, right)?
    {
        return Ok(url.to_owned());
    }
    access_url(&context.settings, kind, id, user, right, context.now)
}

fn is_valid_access_url(context: &Context, url: &str, kind: AccessKind, id: Uuid, user: &User, right: Right) -> Result<bool, Error> {
    let Ok(parsed) = url::Url::parse(url) else { return Ok(false) };
    let Some(token) = parsed.query_pairs().find(|(name, _)| name == "authorization").map(|(_, value)| value.into_owned()) else {
        return Ok(false);
    };
    if url_with_token(&context.settings.public_base_url()?, kind, id, &token) != url {
        return Ok(false);
    }
    let secret = context.settings.connector_secret()?;
    Ok(verify_access(&secret, kind, &token, &id, context.now)
        .is_ok_and(|claims| claims.user == user.id && claims.right == right))
}


/// Parses a URL this connector built; a failure means `public_base_url` is unusable.
fn parse_own_url(url: &str) -> Result<url::Url, Error> {
    url::Url::parse(url).map_err(|err| Error::Config { setting: "public_base_url", problem: err.to_string() })
}
