//! `GET /health`: 200 when the component runs and its settings are usable, else 503 naming the
//! settings to fix (never their values), so a readiness probe catches a bad configuration before
//! users do.

use serde_json::json;

use crate::error::{Error, LogContext};
use crate::http::Response;
use crate::log;
use crate::settings::Settings;

pub(super) fn get() -> Result<Response, Error> {
    let settings = Settings::load()?;
    let problems = problems(&settings);
    if problems.is_empty() {
        return Ok(Response::json(200, &json!({ "status": "ok", "maintenance": settings.maintenance() })));
    }
    let context = LogContext { route: "health", ..LogContext::default() };
    for (setting, problem) in &problems {
        log::warn(&context, &format!("setting {setting}: {problem}"));
    }
    let names: Vec<&str> = problems.iter().map(|(setting, _)| *setting).collect();
    Ok(Response::json(503, &json!({ "status": "configuration_invalide", "parametres": names })))
}

/// Returns each unusable setting with what is wrong with it.
fn problems(settings: &Settings) -> Vec<(&'static str, String)> {
    let checks: [Result<(), Error>; 9] = [
        settings.public_base_url().map(drop),
        settings.user_verifier().map(drop),
        settings.ds_secret().map(drop),
        settings.connector_secret().map(drop),
        settings.onlyoffice_internal_url().and_then(|url| required(url, "onlyoffice_internal_url")),
        settings.max_document_bytes().map(drop),
        settings.config_token_lifetime().map(drop),
        settings.binaire_token_lifetime().map(drop),
        settings.callback_token_lifetime().map(drop),
    ];
    checks
        .into_iter()
        .filter_map(|check| match check {
            Err(Error::Config { setting, problem }) => Some((setting, problem)),
            Err(other) => Some(("configuration", other.to_string())),
            Ok(()) => None,
        })
        .collect()
}

fn required(url: Option<url::Url>, setting: &'static str) -> Result<(), Error> {
    url.map(drop).ok_or(Error::Config { setting, problem: "missing; the save callback needs it".to_owned() })
}
