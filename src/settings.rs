//! The component's settings, read through `wasi:config/store` under the names that are also
//! Spin variables.
//!
//! Settings are read once per request (one `get-all` call) and parsed on use, so a route only
//! fails on the settings it needs. A missing required setting is an [`Error::Config`] naming it;
//! no secret ever gets a default.

use std::collections::BTreeMap;

use url::Url;

use crate::error::Error;
use crate::tokens::{ConnectorSecret, DsSecret, UserJwtSettings, UserVerifier};

/// Largest document accepted on upload or save when `max_document_bytes` is unset: 100 MiB, the
/// Document Server's own default download cap.
pub const DEFAULT_MAX_DOCUMENT_BYTES: u64 = 100 * 1024 * 1024;
/// Lifetime of a signed editor configuration when `config_token_lifetime` is unset, in seconds.
pub const DEFAULT_CONFIG_TOKEN_LIFETIME: u64 = 10 * 60;
/// Header the Document Server puts its token in when `onlyoffice_jwt_header` is unset.
pub const DEFAULT_DS_HEADER: &str = "Authorization";

/// Every setting the component reads; each is also a variable of `spin.toml`.
pub const SETTING_NAMES: [&str; 15] = [
    "public_base_url",
    "user_jwt_secret",
    "user_jwt_public_key",
    "user_jwt_issuer",
    "user_jwt_audience",
    "onlyoffice_jwt_secret",
    "onlyoffice_jwt_header",
    "onlyoffice_public_url",
    "onlyoffice_internal_url",
    "connector_secret",
    "max_document_bytes",
    "config_token_lifetime",
    "binaire_token_lifetime",
    "callback_token_lifetime",
    "maintenance",
];

/// Raw setting values by name.
#[derive(Debug, Default, Clone)]
pub struct Settings {
    values: BTreeMap<String, String>,
}

impl Settings {
    /// Reads every setting from `wasi:config/store`.
    ///
    /// # Errors
    /// [`Error::Config`] when the host's configuration store fails.
    pub fn load() -> Result<Self, Error> {
        let pairs = crate::bindings::wasi::config::store::get_all()
            .map_err(|err| Error::Config { setting: "wasi:config", problem: format!("{err:?}") })?;
        Ok(Self::from_pairs(pairs))
    }

    /// Builds settings from name-value pairs; empty values count as unset.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> Self {
        let values = pairs.into_iter().filter(|(_, value)| !value.trim().is_empty()).collect();
        Self { values }
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(|value| value.trim())
    }

    fn required(&self, name: &'static str) -> Result<&str, Error> {
        self.get(name).ok_or(Error::Config { setting: name, problem: "missing".to_owned() })
    }

    fn number(&self, name: &'static str, default: u64) -> Result<u64, Error> {
        match self.get(name) {
            None => Ok(default),
            Some(text) => text.parse().map_err(|_| Error::Config {
                setting: name,
                problem: format!("expected a whole number, got {text:?}"),
            }),
        }
    }

    /// Returns whether `maintenance` is on (`true`, `1` or `yes`).
    pub fn maintenance(&self) -> bool {
        matches!(self.get("maintenance").map(str::to_ascii_lowercase).as_deref(), Some("true" | "1" | "yes"))
    }

    /// Returns `public_base_url`, the base the Document Server reaches this component at, without
    /// a trailing slash.
    ///
    /// # Errors
    /// [`Error::Config`] when missing, not an absolute http(s) URL, or carrying a query.
    pub fn public_base_url(&self) -> Result<Url, Error> {
        parse_base_url("public_base_url", self.required("public_base_url")?)
    }

    /// Returns `onlyoffice_public_url`, if set.
    ///
    /// # Errors
    /// [`Error::Config`] when set but invalid.
    pub fn onlyoffice_public_url(&self) -> Result<Option<Url>, Error> {
        self.get("onlyoffice_public_url").map(|url| parse_base_url("onlyoffice_public_url", url)).transpose()
    }

    /// Returns `onlyoffice_internal_url`, if set.
    ///
    /// # Errors
    /// [`Error::Config`] when set but invalid.
    pub fn onlyoffice_internal_url(&self) -> Result<Option<Url>, Error> {
        self.get("onlyoffice_internal_url").map(|url| parse_base_url("onlyoffice_internal_url", url)).transpose()
    }

    /// Returns the verifier of user tokens.
    ///
    /// # Errors
    /// [`Error::Config`] when neither or both of `user_jwt_secret` and `user_jwt_public_key` are
    /// set, or the key is unusable.
    pub fn user_verifier(&self) -> Result<UserVerifier, Error> {
        let settings = UserJwtSettings {
            secret: self.get("user_jwt_secret").map(str::to_owned),
            public_key_pem: self.get("user_jwt_public_key").map(str::to_owned),
            issuer: self.get("user_jwt_issuer").map(str::to_owned),
            audience: self.get("user_jwt_audience").map(str::to_owned),
            ..UserJwtSettings::default()
        };
        UserVerifier::from_settings(&settings)
            .map_err(|err| Error::Config { setting: "user_jwt_secret", problem: err.to_string() })
    }

    /// Returns the Document Server secret.
    ///
    /// # Errors
    /// [`Error::Config`] when missing or weak.
    pub fn ds_secret(&self) -> Result<DsSecret, Error> {
        let value = self.required(DsSecret::SETTING)?;
        DsSecret::new(value).map_err(|err| Error::Config { setting: DsSecret::SETTING, problem: err.to_string() })
    }

    /// Returns the secret of download and callback tokens, checked distinct from the other keys.
    ///
    /// # Errors
    /// [`Error::Config`] when missing, weak, or equal to another secret.
    pub fn connector_secret(&self) -> Result<ConnectorSecret, Error> {
        let setting = ConnectorSecret::SETTING;
        let value = self.required(setting)?;
        let secret = ConnectorSecret::new(value).map_err(|err| Error::Config { setting, problem: err.to_string() })?;
        let same_as = [("onlyoffice_jwt_secret", self.get("onlyoffice_jwt_secret")), ("user_jwt_secret", self.get("user_jwt_secret"))]
            .into_iter()
            .find(|(_, other)| *other == Some(value));
        if let Some((other, _)) = same_as {
            return Err(Error::Config { setting, problem: format!("must differ from {other}") });
        }
        Ok(secret)
    }

    /// Returns the header name the Document Server sends its token in.
    pub fn ds_header(&self) -> &str {
        self.get("onlyoffice_jwt_header").unwrap_or(DEFAULT_DS_HEADER)
    }

    /// Returns `max_document_bytes`.
    ///
    /// # Errors
    /// [`Error::Config`] when not a whole number.
    pub fn max_document_bytes(&self) -> Result<u64, Error> {
        self.number("max_document_bytes", DEFAULT_MAX_DOCUMENT_BYTES)
    }

    /// Returns the lifetime of signed editor configurations, in seconds.
    ///
    /// # Errors
    /// [`Error::Config`] when not a whole number.
    pub fn config_token_lifetime(&self) -> Result<u64, Error> {
        self.number("config_token_lifetime", DEFAULT_CONFIG_TOKEN_LIFETIME)
    }

    /// Returns the lifetime of `binaire` tokens, in seconds.
    ///
    /// # Errors
    /// [`Error::Config`] when not a whole number.
    pub fn binaire_token_lifetime(&self) -> Result<u64, Error> {
        self.number("binaire_token_lifetime", crate::tokens::DEFAULT_DOWNLOAD_LIFETIME_SECS)
    }

    /// Returns the lifetime of `callback` tokens, in seconds.
    ///
    /// # Errors
    /// [`Error::Config`] when not a whole number.
    pub fn callback_token_lifetime(&self) -> Result<u64, Error> {
        self.number("callback_token_lifetime", crate::tokens::DEFAULT_CALLBACK_LIFETIME_SECS)
    }
}

fn parse_base_url(setting: &'static str, text: &str) -> Result<Url, Error> {
    let problem = |problem: &str| Error::Config { setting, problem: problem.to_owned() };
    let mut url = Url::parse(text).map_err(|err| match err {
        // `url` is built without Unicode tables, so only ASCII host names parse.
        url::ParseError::IdnaError => {
            problem("the host name is not ASCII; write an internationalized domain name in punycode (xn--)")
        }
        _ => problem(&format!("not a URL: {err}")),
    })?;
    if !matches!(url.scheme(), "http" | "https") || !url.has_host() {
        return Err(problem("expected an absolute http or https URL"));
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() || url.password().is_some() {
        return Err(problem("a query, fragment or user info is not allowed"));
    }
    let trimmed = url.path().trim_end_matches('/').to_owned();
    url.set_path(&trimmed);
    Ok(url)
}

/// Returns `base` followed by `path` (which starts with `/`), with no double slash.
pub fn join(base: &Url, path: &str) -> String {
    let base = base.as_str().trim_end_matches('/');
    format!("{base}{path}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Settings {
        Settings::from_pairs(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    #[test]
    fn base_url_loses_trailing_slash() {
        let url = settings(&[("public_base_url", "https://ged.example.test/efalia/")]).public_base_url().unwrap();
        assert_eq!(join(&url, "/api/x"), "https://ged.example.test/efalia/api/x");
    }

    #[test]
    fn base_url_without_path_joins_cleanly() {
        let url = settings(&[("public_base_url", "https://ged.example.test")]).public_base_url().unwrap();
        assert_eq!(join(&url, "/api/x"), "https://ged.example.test/api/x");
    }

    #[test]
    fn base_url_rejects_query_and_user_info() {
        assert!(settings(&[("public_base_url", "https://ged.example.test/?a=1")]).public_base_url().is_err());
        assert!(settings(&[("public_base_url", "https://u:p@ged.example.test")]).public_base_url().is_err());
        assert!(settings(&[("public_base_url", "ftp://ged.example.test")]).public_base_url().is_err());
    }

    #[test]
    fn non_ascii_base_url_host_rejected() {
        let err = settings(&[("onlyoffice_public_url", "https://bureautique.exemple-édition.test")])
            .onlyoffice_public_url()
            .unwrap_err();
        let punycode = settings(&[("onlyoffice_public_url", "https://bureautique.xn--exemple-dition-ikb.test")])
            .onlyoffice_public_url()
            .unwrap();

        assert!(matches!(&err, Error::Config { setting: "onlyoffice_public_url", .. }), "{err}");
        assert!(err.to_string().contains("punycode"), "{err}");
        assert_eq!(punycode.unwrap().host_str(), Some("bureautique.xn--exemple-dition-ikb.test"));
    }

    #[test]
    fn missing_ds_secret_names_setting() {
        let err = settings(&[]).ds_secret().unwrap_err();
        assert!(matches!(err, Error::Config { setting: "onlyoffice_jwt_secret", .. }), "{err}");
    }

    #[test]
    fn connector_secret_must_differ() {
        let secret = "0123456789abcdef0123456789abcdef-same";
        let err = settings(&[("connector_secret", secret), ("onlyoffice_jwt_secret", secret)])
            .connector_secret()
            .unwrap_err();
        assert!(err.to_string().contains("must differ from onlyoffice_jwt_secret"), "{err}");
    }

    #[test]
    fn empty_value_counts_as_unset() {
        assert_eq!(settings(&[("max_document_bytes", " ")]).max_document_bytes().unwrap(), DEFAULT_MAX_DOCUMENT_BYTES);
    }

    #[test]
    fn invalid_number_is_config_error() {
        assert!(settings(&[("max_document_bytes", "ten")]).max_document_bytes().is_err());
    }

    #[test]
    fn maintenance_flag() {
        assert!(settings(&[("maintenance", "TRUE")]).maintenance());
        assert!(!settings(&[("maintenance", "false")]).maintenance());
        assert!(!settings(&[]).maintenance());
    }
}
