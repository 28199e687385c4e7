//! The document API: `/api/documents/{id}` routes that put documents in and get them out.
//!
//! - `PUT /api/documents/{id}/binaire?nom=<file name>`: creates the document (the uploader owns
//!   it) or stores a new version of it, which rotates the Document Server key;
//! - `GET /api/documents/{id}/binaire`: the current binary;
//! - `GET /api/documents/{id}`: the metadata;
//! - `GET /api/documents/{id}/versions` and `GET /api/documents/{id}/versions/{n}/binaire`;
//! - `PUT /api/documents/{id}/habilitations`: who may read (`lecture`) or write (`ecriture`).

use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use uuid::Uuid;
use wasi::http::types::Method;

use super::{Context, document_id, readable_document};
use crate::error::{Error, LogContext, json_problem};
use crate::http::{Body, Request, Response};
use crate::kv::WasiKv;
use crate::log;
use crate::onlyoffice::{ContentCheck, FileType, content_disposition};
use crate::storage::{
    Author, BlobReader, BlobRef, Committed, Document, Rights, StorageError, Upload, Version, create_document,
    load_document, replace_binary, set_rights, store_binary,
};

/// Detail of an upload whose content does not end as its format requires.
const INCOMPLETE_UPLOAD: &str = "uploaded content is not a whole file of its type";

/// Largest rights body accepted, in bytes.
const MAX_RIGHTS_BODY: u64 = 256 * 1024;

pub(super) fn dispatch(request: &Request, id: &str, rest: &[&str], log: &mut LogContext) -> Result<Response, Error> {
    let method = request.method();
    match (rest, method) {
        ([], Method::Get) => metadata(request, id, log),
        (["binaire"], Method::Get) => download(request, id, None, log),
        (["binaire"], Method::Put) => upload(request, id, log),
        (["versions"], Method::Get) => versions(request, id, log),
        (["versions", number, "binaire"], Method::Get) => download(request, id, Some(version_number(number)?), log),
        (["versions", number, "modifications"], Method::Get) => changes(request, id, version_number(number)?, log),
        (["habilitations"], Method::Put) => rights(request, id, log),
        ([], _) | (["versions"], _) | (["versions", _, "binaire" | "modifications"], _) => {
            Err(Error::MethodNotAllowed("GET"))
        }
        (["binaire"], _) => Err(Error::MethodNotAllowed("GET, PUT")),
        (["habilitations"], _) => Err(Error::MethodNotAllowed("PUT")),
        _ => Err(Error::RouteNotFound),
    }
}

fn version_number(segment: &str) -> Result<u32, Error> {
    segment.parse().map_err(|_| Error::InvalidRequest("Le numéro de version est invalide".to_owned()))
}

/// Streams the Document Server's changes archive of version `number`, for its history view.
fn changes(request: &Request, id: &str, number: u32, log: &mut LogContext) -> Result<Response, Error> {
    let (context, _, document) = readable(request, id, log)?;
    let version = document.version(number).ok_or(Error::VersionNotFound(number))?;
    let changes = version.changes.clone().ok_or(Error::ChangesNotFound(number))?;
    let name = format!("modifications-v{number}.zip");
    stream_blob(context.kv, document.id, changes, "application/zip", &name)
}

/// Opens the context, authenticates the user and loads a document they may read.
fn readable(request: &Request, id: &str, log: &mut LogContext) -> Result<(Context, crate::tokens::User, Document), Error> {
    let context = Context::open()?;
    let user = context.user(request, log)?;
    let document = readable_document(&context, &user, document_id(id)?)?;
    Ok((context, user, document))
}

fn metadata(request: &Request, id: &str, log: &mut LogContext) -> Result<Response, Error> {
    let (_, _, document) = readable(request, id, log)?;
    Ok(Response::json(200, &DocumentView::from(&document)))
}

fn versions(request: &Request, id: &str, log: &mut LogContext) -> Result<Response, Error> {
    let (_, _, document) = readable(request, id, log)?;
    let versions: Vec<VersionView> = document.versions.iter().map(VersionView::from).collect();
    Ok(Response::json(200, &versions))
}

fn download(request: &Request, id: &str, number: Option<u32>, log: &mut LogContext) -> Result<Response, Error> {
    let (context, _, document) = readable(request, id, log)?;
    let version = match number {
        Some(number) => document.version(number).ok_or(Error::VersionNotFound(number))?,
        None => document.current().ok_or_else(|| Error::CorruptFile(format!("document {} has no current version", document.id)))?,
    };
    stream_version(context.kv, document.id, &version.clone())
}

/// Streams the binary of `version` with its exact type, length and file name.
pub(crate) fn stream_version(kv: WasiKv, id: Uuid, version: &Version) -> Result<Response, Error> {
    let mime = FileType::from_extension(&version.file_type).map_or("application/octet-stream", |file_type| file_type.mime_type());
    stream_blob(kv, id, version.blob.clone(), mime, &version.title)
}

/// Streams the chunks of `blob` as a download named `name`.
fn stream_blob(kv: WasiKv, id: Uuid, blob: crate::storage::BlobRef, mime: &str, name: &str) -> Result<Response, Error> {
    let size = blob.size;
    let writer = move |out: &mut dyn std::io::Write| {
        let mut sent = 0u64;
        for chunk in BlobReader::new(&kv, id, &blob) {
            let chunk = chunk.map_err(|err| format!("document {id}: {err}"))?;
            sent += chunk.len() as u64;
            out.write_all(&chunk).map_err(|err| format!("document {id}: client write failed: {err}"))?;
        }
        out.flush().map_err(|err| format!("document {id}: client flush failed: {err}"))?;
        if sent == size { Ok(()) } else { Err(format!("document {id}: sent {sent} bytes of {size}")) }
    };
    let mut response = Response::new(200, Body::Stream(Box::new(writer)));
    response.header("content-type", mime);
    response.header("content-length", &size.to_string());
    response.header("content-disposition", &content_disposition(name));
    response.header("x-content-type-options", "nosniff");
    response.header("cache-control", "no-store");
    Ok(response)
}

fn upload(request: &Request, id: &str, log: &mut LogContext) -> Result<Response, Error> {
    let context = Context::open()?;
    let user = context.user(request, log)?;
    let id = document_id(id)?;
    let title = request
        .query_param_utf8("nom")
        .ok()
        .flatten()
        .filter(|name| {
            !name.trim().is_empty()
                && name.len() <= 255
                && !name.chars().any(|c| c.is_control() || c == '/' || c == '\\')
        })
        .ok_or_else(|| {
            Error::InvalidRequest(
                "Le paramètre nom (nom du fichier, sans chemin) est absent ou invalide".to_owned(),
            )
        })?;
    let file_type = FileType::from_file_name(&title).map_err(|_| {
        let extension = title.rsplit_once('.').map_or("", |(_, extension)| extension);
        Error::UnsupportedFileType(extension.to_owned())
    })?;

    let existing = load_document(&context.kv, id)?;
    if let Some(document) = &existing
        && !document.can_write(&user.id, user.is_admin)
    {
        return Err(Error::NotAllowed);
    }

    let max = context.settings.max_document_bytes()?;
    let mut body = request.body(max)?;
    let extension = file_type.extension();
    let check = RefCell::new(ContentCheck::new(file_type));
    let pieces = std::iter::from_fn(|| match body.next_chunk() {
        Ok(Some(chunk)) if check.borrow_mut().feed(&chunk) => Some(Ok(chunk)),
        Ok(Some(_)) => Some(Err(content_mismatch(extension))),
        Ok(None) => None,
        Err(err) => Some(Err(err)),
    });
    let upload = Upload {
        title: title.clone(),
        file_type: extension.to_owned(),
        author: Author { id: user.id.clone(), name: user.name.clone() },
        now: context.now,
    };
    let created = Cell::new(false);
    let denied = Cell::new(false);
    let committed = store_binary(&context.kv, id, max, pieces, |blob| {
        if !check.borrow().finish() {
            return Err(StorageError::Corrupt(INCOMPLETE_UPLOAD.to_owned()));
        }
        if existing.is_some() {
            return replace_binary(&context.kv, id, blob, &upload);
        }
        match create_document(&context.kv, id, blob.clone(), &upload) {
            Ok(committed) => {
                created.set(true);
                Ok(committed)
            }
            Err(StorageError::AlreadyExists) => replace_created_meanwhile(&context.kv, id, blob, &upload, &user, &denied),
            Err(err) => Err(err),
        }
    })
    .map_err(|err: Error| match err {
        _ if denied.get() => Error::NotAllowed,
        Error::CorruptFile(detail) if detail == INCOMPLETE_UPLOAD => content_mismatch(extension),
        err => err,
    })?;
    let document = committed.document;
    log::info(log, &format!("stored version {} ({} bytes)", document.current_version, document.size));
    let status = if created.get() { 201 } else { 200 };
    Ok(Response::json(status, &DocumentView::from(&document)))
}

/// Stores `blob` as the next version of document `id`, which another upload created after this
/// one found it missing: on this host, or on another host that shares the store. The upload then
/// needs the same write right as any replacement. Without it, `denied` is set and the error
/// leaves the document untouched.
fn replace_created_meanwhile(
    kv: &WasiKv,
    id: Uuid,
    blob: BlobRef,
    upload: &Upload,
    user: &crate::tokens::User,
    denied: &Cell<bool>,
) -> Result<Committed, StorageError> {
    let document = load_document(kv, id)?.ok_or(StorageError::NotFound)?;
    if !document.can_write(&user.id, user.is_admin) {
        denied.set(true);
        return Err(StorageError::AlreadyExists);
    }
    replace_binary(kv, id, blob, upload)
}

fn content_mismatch(extension: &str) -> Error {
    Error::InvalidRequest(format!("Le contenu du fichier ne correspond pas à un fichier {extension}"))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RightsBody {
    #[serde(default)]
    lecture: BTreeSet<String>,
    #[serde(default)]
    ecriture: BTreeSet<String>,
}

fn rights(request: &Request, id: &str, log: &mut LogContext) -> Result<Response, Error> {
    let context = Context::open()?;
    let user = context.user(request, log)?;
    let id = document_id(id)?;
    let document = load_document(&context.kv, id)?.ok_or(Error::DocumentNotFound)?;
    if !document.can_manage(&user.id, user.is_admin) {
        return Err(Error::NotAllowed);
    }
    require_json(request)?;
    let body = request.read_body(MAX_RIGHTS_BODY)?;
    let body: RightsBody = serde_json::from_slice(&body).map_err(|err| Error::InvalidJson(json_problem(&err)))?;
    let invalid = body.lecture.iter().chain(&body.ecriture).any(|id| id.is_empty() || id.len() > 256);
    if invalid {
        return Err(Error::InvalidRequest("Un identifiant d'utilisateur est vide ou trop long".to_owned()));
    }
    let committed = set_rights(&context.kv, id, &Rights { lecture: body.lecture, ecriture: body.ecriture })?;
    log::info(log, "rights changed");
    Ok(Response::json(200, &DocumentView::from(&committed.document)))
}

/// Rejects a body that is not declared as JSON.
pub(crate) fn require_json(request: &Request) -> Result<(), Error> {
    let content_type = request.header("content-type").unwrap_or_default();
    let media_type = content_type.split(';').next().unwrap_or_default().trim();
    if media_type.eq_ignore_ascii_case("application/json") { Ok(()) } else { Err(Error::UnsupportedMediaType) }
}

/// Metadata as the document API shows it.
#[derive(Serialize)]
struct DocumentView<'a> {
    id: Uuid,
    nom: &'a str,
    type_fichier: &'a str,
    taille: u64,
    sha256: &'a str,
    version: u32,
    cle_onlyoffice: &'a str,
    proprietaire: &'a str,
    habilitations: &'a Rights,
}

impl<'a> From<&'a Document> for DocumentView<'a> {
    fn from(document: &'a Document) -> Self {
        Self {
            id: document.id,
            nom: &document.title,
            type_fichier: &document.file_type,
            taille: document.size,
            sha256: &document.sha256,
            version: document.current_version,
            cle_onlyoffice: &document.ds_key,
            proprietaire: &document.owner,
            habilitations: &document.rights,
        }
    }
}

/// One version as the document API shows it.
#[derive(Serialize)]
struct VersionView<'a> {
    numero: u32,
    nom: &'a str,
    type_fichier: &'a str,
    taille: u64,
    sha256: &'a str,
    date: &'a str,
    auteur: &'a str,
    nom_auteur: &'a str,
    nature: crate::storage::VersionKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    historique: Option<&'a serde_json::Value>,
    modifications: bool,
}

impl<'a> From<&'a Version> for VersionView<'a> {
    fn from(version: &'a Version) -> Self {
        Self {
            numero: version.number,
            nom: &version.title,
            type_fichier: &version.file_type,
            taille: version.size,
            sha256: &version.sha256,
            date: &version.created_at,
            auteur: &version.author,
            nom_auteur: &version.author_name,
            nature: version.kind,
            historique: version.history.as_ref(),
            modifications: version.changes.is_some(),
        }
    }
}
