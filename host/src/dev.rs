//! Development helpers: a first-run configuration with fresh secrets, and user tokens signed with
//! its `user_jwt_secret`, so the connector can be tried without an identity provider.

use std::io::Write as _;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::runtime_config::RuntimeConfig;

/// Random bytes in each generated secret; 48 bytes give 64 base64url characters.
const SECRET_BYTES: usize = 48;

/// Writes a development configuration with fresh secrets at `path` unless the file exists, and
/// returns whether it wrote one. The secrets are printed once, on stderr, with how to replace them.
///
/// # Errors
/// Fails when the file or its folder cannot be written, or no system randomness is available.
pub fn write_dev_config(path: &Path) -> anyhow::Result<bool> {
    if path.exists() {
        return Ok(false);
    }
    if let Some(parent) = path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).with_context(|| format!("cannot create folder {}", parent.display()))?;
    }
    let user_secret = random_secret()?;
    let ds_secret = random_secret()?;
    let connector_secret = random_secret()?;
    let text = format!(
        "# Development configuration written by `efalia-host dev-config`. Replace the secrets for\n\
         # real use: user_jwt_secret (or user_jwt_public_key) must be your identity provider's key and\n\
         # onlyoffice_jwt_secret the Document Server's JWT secret (JWT_SECRET of its container).\n\
         [variables]\n\
         public_base_url = \"http://127.0.0.1:3000\"\n\
         onlyoffice_public_url = \"http://127.0.0.1:8080\"\n\
         onlyoffice_internal_url = \"http://127.0.0.1:8080\"\n\
         user_jwt_secret = \"{user_secret}\"\n\
         onlyoffice_jwt_secret = \"{ds_secret}\"\n\
         connector_secret = \"{connector_secret}\"\n\
         \n\
         [component]\n\
         allowed_outbound_hosts = [\"{{{{ onlyoffice_internal_url }}}}\"]\n"
    );
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    restrict_permissions(&file);
    file.write_all(text.as_bytes()).with_context(|| format!("cannot write {}", path.display()))?;

    eprintln!(
        "Wrote development configuration {path} with new secrets (shown only this once):\n\
         \x20 user_jwt_secret       = {user_secret}\n\
         \x20 onlyoffice_jwt_secret = {ds_secret}\n\
         \x20 connector_secret      = {connector_secret}\n\
         Set onlyoffice_jwt_secret to your Document Server's JWT secret, and user_jwt_secret to your\n\
         identity provider's, by editing the file or with EFALIA_VARIABLE_<NAME> environment variables.",
        path = path.display()
    );
    Ok(true)
}

#[cfg(unix)]
fn restrict_permissions(file: &std::fs::File) {
    use std::os::unix::fs::PermissionsExt as _;
    // The file contains secrets, so only its owner may read it. Failing to restrict is not fatal.
    let _ = file.set_permissions(std::fs::Permissions::from_mode(0o600));
}

#[cfg(not(unix))]
fn restrict_permissions(_: &std::fs::File) {}

fn random_secret() -> anyhow::Result<String> {
    let mut bytes = [0u8; SECRET_BYTES];
    getrandom::fill(&mut bytes).map_err(|err| anyhow::anyhow!("no system randomness: {err}"))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// Claims of a development user token.
#[derive(Debug, Clone)]
pub struct DevUser {
    /// User id (`sub`).
    pub id: String,
    /// Display name (`name`).
    pub name: String,
    /// Whether `roles` contains `admin`.
    pub admin: bool,
    /// Lifetime of the token, in seconds.
    pub lifetime_secs: u64,
}

/// Returns an HS256 user token for `user`, signed with the `user_jwt_secret` of `config`.
///
/// # Errors
/// Fails when `user_jwt_secret` is not set.
pub fn mint_dev_token(config: &RuntimeConfig, user: &DevUser) -> anyhow::Result<String> {
    let secret = config
        .variables
        .get("user_jwt_secret")
        .filter(|secret| !secret.is_empty())
        .context("user_jwt_secret is not set in the configuration; run `efalia-host dev-config` first")?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_secs());
    let mut claims = serde_json::json!({
        "sub": user.id,
        "name": user.name,
        "iat": now,
        "exp": now + user.lifetime_secs,
    });
    if user.admin {
        claims["roles"] = serde_json::json!(["admin"]);
    }
    Ok(sign_hs256(&claims, secret.as_bytes()))
}

fn sign_hs256(claims: &serde_json::Value, secret: &[u8]) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signing_input = format!("{header}.{payload}");
    let signature = hmac_sha256::HMAC::mac(signing_input.as_bytes(), secret);
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_config_is_written_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data/efalia.toml");
        assert!(write_dev_config(&path).unwrap());
        let first = std::fs::read_to_string(&path).unwrap();
        assert!(!write_dev_config(&path).unwrap());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), first, "an existing file is kept");
    }

    #[test]
    fn dev_config_loads_with_distinct_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("efalia.toml");
        write_dev_config(&path).unwrap();
        let config = RuntimeConfig::load(Some(&path), std::iter::empty(), &[]).unwrap();
        let secrets: Vec<&str> = ["user_jwt_secret", "onlyoffice_jwt_secret", "connector_secret"]
            .iter()
            .map(|name| config.variables.get(name).unwrap())
            .collect();
        assert!(secrets.iter().all(|secret| secret.len() == 64));
        assert_ne!(secrets[0], secrets[1]);
        assert_ne!(secrets[1], secrets[2]);
        assert!(config.allowed_hosts.allows("http", "127.0.0.1", 8080));
    }

    #[test]
    fn dev_token_is_signed_with_user_secret() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("efalia.toml");
        write_dev_config(&path).unwrap();
        let config = RuntimeConfig::load(Some(&path), std::iter::empty(), &[]).unwrap();
        let user = DevUser { id: "u-101".into(), name: "Alice".into(), admin: true, lifetime_secs: 3600 };
        let token = mint_dev_token(&config, &user).unwrap();

        let (signing_input, signature) = token.rsplit_once('.').unwrap();
        let secret = config.variables.get("user_jwt_secret").unwrap();
        let expected = URL_SAFE_NO_PAD.encode(hmac_sha256::HMAC::mac(signing_input.as_bytes(), secret.as_bytes()));
        assert_eq!(signature, expected);
        let payload = signing_input.split('.').nth(1).unwrap();
        let claims: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        assert_eq!(claims["sub"], "u-101");
        assert_eq!(claims["roles"][0], "admin");
    }
}
