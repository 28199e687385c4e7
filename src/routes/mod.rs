//! Routing: one module per route, and what the routes share (authentication, ids, time).

mod acces;
mod binaire;
mod documents;
mod health;
mod openapi;
mod remplacer;
mod token;

use uuid::Uuid;
use wasi::http::types::Method;

use crate::error::{Error, LogContext};
use crate::http::{Request, Response};
use crate::kv::WasiKv;
use crate::settings::Settings;
use crate::tokens::User;

/// A path of the API, before the method is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route<'a> {
    /// `/health`
    Health,
    /// `/api/only-office/token`
    Token,
    /// `/api/only-office/openapi.json`
    OpenApi,
    /// `/api/only-office/{id}/acces`
    Acces(&'a str),
    /// `/api/only-office/{id}/binaire`
    Binaire(&'a str),
    /// `/api/only-office/{id}/remplacer`
    Remplacer(&'a str),
    /// `/api/documents/{id}` and what follows it.
    Documents(&'a str, Vec<&'a str>),
    /// Any other path, a trailing slash included.
    Unknown,
}

impl<'a> Route<'a> {
    /// Matches a request path (without its query) against the API's paths.
    pub fn parse(path: &'a str) -> Self {
        let Some(rest) = path.strip_prefix('/') else { return Self::Unknown };
        let segments: Vec<&str> = rest.split('/').collect();
        match segments.as_slice() {
            ["health"] => Self::Health,
            ["api", "only-office", "token"] => Self::Token,
            ["api", "only-office", "openapi.json"] => Self::OpenApi,
            ["api", "only-office", id, "acces"] => Self::Acces(id),
            ["api", "only-office", id, "binaire"] => Self::Binaire(id),
            ["api", "only-office", id, "remplacer"] => Self::Remplacer(id),
            ["api", "documents", id, rest @ ..] => Self::Documents(id, rest.to_vec()),
            _ => Self::Unknown,
        }
    }
}

/// Routes `request` to its handler and turns any error into a response with [`Error::into_response`].
pub fn dispatch(request: &Request) -> Response {
    let method = request.method();
    let mut context = LogContext::default();
    let route = Route::parse(request.path());
    if let Route::Acces(id) | Route::Binaire(id) | Route::Remplacer(id) | Route::Documents(id, _) = &route {
        context.document = Some((*id).to_owned());
    }
    let result = match route {
        Route::Health => {
            context.route = "health";
            only(method, Method::Get, "GET", health::get)
        }
        Route::OpenApi => {
            context.route = "openapi";
            only(method, Method::Get, "GET", openapi::get)
        }
        Route::Token => {
            context.route = "token";
            only(method, Method::Post, "POST", || token::post(request, &mut context))
        }
        Route::Acces(id) => {
            context.route = "acces";
            only(method, Method::Get, "GET", || acces::get(request, id, &mut context))
        }
        Route::Binaire(id) => {
            context.route = "binaire";
            only(method, Method::Get, "GET", || binaire::get(request, id, &mut context))
        }
        Route::Remplacer(id) => {
            context.route = "remplacer";
            only(method, Method::Post, "POST", || remplacer::post(request, id, &mut context))
        }
        Route::Documents(id, rest) => {
            context.route = "documents";
            documents::dispatch(request, id, &rest, &mut context)
        }
        Route::Unknown => Err(Error::RouteNotFound),
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

#[cfg(test)]
mod tests {
    use super::Route;

    #[test]
    fn api_paths_are_recognised() {
        assert_eq!(Route::parse("/health"), Route::Health);
        assert_eq!(Route::parse("/api/only-office/token"), Route::Token);
        assert_eq!(Route::parse("/api/only-office/openapi.json"), Route::OpenApi);
        assert_eq!(Route::parse("/api/only-office/abc/acces"), Route::Acces("abc"));
        assert_eq!(Route::parse("/api/only-office/abc/remplacer"), Route::Remplacer("abc"));
        assert_eq!(Route::parse("/api/documents/abc/versions/2/binaire"), Route::Documents("abc", vec!["versions", "2", "binaire"]));
    }

    #[test]
    fn near_misses_are_unknown() {
        for path in ["", "health", "/health/", "/api/only-office/abc/acces/", "/api/only-office//acces/x", "/api/only-office/token/x", "//health"] {
            assert_eq!(Route::parse(path), Route::Unknown, "{path:?}");
        }
    }
}
