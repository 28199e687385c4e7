//! Routing: one module per route, and what the routes share (authentication, ids, time).

mod acces;
mod binaire;
mod documents;
mod health;
mod remplacer;
mod token;

use uuid::Uuid;
use wasi::http::types::Method;

use crate::error::{Error, LogContext};
use crate::http::{Request, Response};
use crate::kv::WasiKv;
use crate::settings::Settings;
use crate::tokens::User;

/// Routes `request` to its handler and turns any error into a response with [`Error::into_response`].
pub fn dispatch(request: &Request) -> Response {
    let segments: Vec<&str> = request.path().split('/').skip(1).collect();
    let method = request.method();
    let mut context = LogContext::default();
    let result = match segments.as_slice() {
        ["health"] => only(method, Method::Get, "GET", health::get),
        ["api", "only-office", "token"] => {
            context.route = "token";
            only(method, Method::Post, "POST", || token::post(request, &mut context))
        }
        ["api", "only-office", id, "acces"] => {
            context.route = "acces";
            context.document = Some((*id).to_owned());
            only(method, Method::Get, "GET", || acces::get(request, id, &mut context))
        }
        ["api", "only-office", id, "binaire"] => {
            context.route = "binaire";
            context.document = Some((*id).to_owned());
            only(method, Method::Get, "GET", || binaire::get(request, id, &mut context))
        }
        ["api", "only-office", id, "remplacer"] => {
            context.route = "remplacer";
            context.document = Some((*id).to_owned());
            only(method, Method::Post, "POST", || remplacer::post(request, id, &mut context))
        }
        ["api", "documents", id, rest @ ..] => {
            context.route = "documents";
            context.document = Some((*id).to_owned());
            documents::dispatch(request, id, rest, &mut context)
        }
        _ => Err(Error::RouteNotFound),
    };
    result.unwrap_or_else(|err| err.into_response(&context))
}

fn only(
    method: &Method,
    expected: Method,
    allowed: &'static str,
    handler: impl FnOnce() -> Result<Response, Error>,
) -> Result<Response, Error> {
    if std::mem::discriminant(method) == std::mem::discriminant(&expected) {
        handler()
    } else {
        Err(Error::MethodNotAllowed(allowed))
    }
}

/// Per-request state of a route: settings and the store.
pub(crate) struct Context {
    pub settings: Settings,
    pub kv: WasiKv,
    pub now: u64,
}

impl Context {
    /// Loads settings, refuses service during maintenance, and opens the store.
    pub fn open() -> Result<Self, Error> {
        let settings = Settings::load()?;
        if settings.maintenance() {
            return Err(Error::Maintenance);
        }
        let kv = WasiKv::open().map_err(|err| Error::Storage(err.to_string()))?;
        Ok(Self { settings, kv, now: unix_now() })
    }

    /// Authenticates the user of `request` from its `Authorization: Bearer` user token.
    pub fn user(&self, request: &Request, log: &mut LogContext) -> Result<User, Error> {
        let verifier = self.settings.user_verifier()?;
        let header = request.header("authorization").ok_or(Error::Unauthorized(crate::tokens::TokenError::Missing))?;
        let user = verifier.verify_bearer(header, self.now).map_err(Error::Unauthorized)?;
        log.user = Some(user.id.clone());
        if user.must_change_password {
            return Err(Error::PasswordChangeRequired);
        }
        Ok(user)
    }
}

/// Loads document `id` and checks that `user` may read it.
pub(crate) fn readable_document(context: &Context, user: &User, id: Uuid) -> Result<crate::storage::Document, Error> {
    let document = crate::storage::load_document(&context.kv, id)?.ok_or(Error::DocumentNotFound)?;
    if document.can_read(&user.id, user.is_admin) { Ok(document) } else { Err(Error::NotAllowed) }
}

/// Parses a document id from a path segment.
pub(crate) fn document_id(segment: &str) -> Result<Uuid, Error> {
    Uuid::parse_str(segment).map_err(|_| Error::InvalidDocumentId)
}

/// Returns the current Unix time in seconds.
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_secs())
}
