//! The host's TOML configuration file: component variables, key-value store labels and the
//! outbound allow-list.
//!
//! ```toml
//! [variables]                      # read by the component through wasi:config/store
//! public_base_url = "https://ged.example.test"
//!
//! [key_value_store.archive]        # defines a label beyond `default`; the host's backend serves it
//!
//! [component]
//! key_value_stores = ["default", "archive"]              # labels the component may open
//! allowed_outbound_hosts = ["{{ onlyoffice_internal_url }}", "https://ds.example.test"]
//! ```
//!
//! An environment variable `EFALIA_VARIABLE_<NAME>` overrides variable `<name>` (for example
//! `EFALIA_VARIABLE_PUBLIC_BASE_URL`), so secrets need not be written in the file.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context as _;
use serde::Deserialize;
use toml::Spanned;

use crate::kv::KvAccess;
use crate::outbound::AllowedHosts;
use crate::variables::{Variables, invalid_name_message, is_valid_variable_name};

/// Prefix of the environment variables that override component variables.
pub const VARIABLE_ENV_PREFIX: &str = "EFALIA_VARIABLE_";

/// Runtime configuration of one component, read from the configuration file and the environment.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Values served through `wasi:config/store`.
    pub variables: Variables,
    /// Store labels the host defines and the component may open.
    pub kv_access: KvAccess,
    /// Origins the component may send outbound HTTP requests to.
    pub allowed_hosts: AllowedHosts,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    #[serde(default)]
    variables: BTreeMap<Spanned<String>, String>,
    #[serde(default)]
    key_value_store: BTreeMap<String, StoreTable>,
    #[serde(default)]
    component: ComponentTable,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoreTable {}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ComponentTable {
    #[serde(default = "default_stores")]
    key_value_stores: Vec<String>,
    #[serde(default)]
    allowed_outbound_hosts: Vec<String>,
}

impl Default for ComponentTable {
    fn default() -> Self {
        Self { key_value_stores: default_stores(), allowed_outbound_hosts: Vec::new() }
    }
}

fn default_stores() -> Vec<String> {
    vec![crate::kv::DEFAULT_LABEL.to_owned()]
}

impl RuntimeConfig {
    /// Reads the configuration file, if any, then applies `EFALIA_VARIABLE_*` overrides from
    /// `env` and the extra allow-list entries given on the command line.
    ///
    /// # Errors
    /// Fails with one line naming the file, line and problem when the file cannot be read or
    /// parsed, a variable name is invalid, or an allow-list entry is malformed.
    pub fn load(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
        extra_allowed_hosts: &[String],
    ) -> anyhow::Result<Self> {
        let (file, text) = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read configuration file {}", path.display()))?;
                (parse_file(path, &text)?, text)
            }
            None => (ConfigFile::default(), String::new()),
        };

        let mut variables = BTreeMap::new();
        for (name, value) in file.variables {
            if !is_valid_variable_name(name.get_ref()) {
                let location = location(path, &text, name.span().start);
                anyhow::bail!("{location}: {}", invalid_name_message(name.get_ref()));
            }
            variables.insert(name.into_inner(), value);
        }
        for (key, value) in env {
            if let Some(upper) = key.strip_prefix(VARIABLE_ENV_PREFIX) {
                let name = upper.to_ascii_lowercase();
                anyhow::ensure!(
                    is_valid_variable_name(&name),
                    "environment variable {key}: {}",
                    invalid_name_message(&name)
                );
                variables.insert(name, value);
            }
        }
        let variables = Variables::new(variables)?;

        let kv_access = KvAccess::new(file.key_value_store.into_keys(), file.component.key_value_stores)?;
        let entries = file.component.allowed_outbound_hosts.iter().chain(extra_allowed_hosts);
        let allowed_hosts = AllowedHosts::parse(entries, &variables)?;
        Ok(Self { variables, kv_access, allowed_hosts })
    }
}

fn parse_file(path: &Path, text: &str) -> anyhow::Result<ConfigFile> {
    toml::from_str(text).map_err(|err| {
        let location = match err.span() {
            Some(span) => location(Some(path), text, span.start),
            None => path.display().to_string(),
        };
        let message = err.message().replace('\n', " ");
        anyhow::anyhow!("{location}: invalid configuration: {message}")
    })
}

/// Formats `path:line:column` for a byte offset of the file text.
fn location(path: Option<&Path>, text: &str, offset: usize) -> String {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rfind('\n').map_or(before.len(), |newline| before.len() - newline - 1) + 1;
    let path = path.map_or_else(|| "configuration".to_owned(), |p| p.display().to_string());
    format!("{path}:{line}:{column}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    fn load_text(text: &str, env: &[(&str, &str)]) -> anyhow::Result<RuntimeConfig> {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(text.as_bytes()).unwrap();
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        RuntimeConfig::load(Some(file.path()), env, &[])
    }

    #[test]
    fn variables_are_read() {
        let config = load_text("[variables]\nalpha = \"one\"\n", &[]).unwrap();
        assert_eq!(config.variables.get("alpha"), Some("one"));
    }

    #[test]
    fn environment_overrides_file() {
        let env = [("EFALIA_VARIABLE_ALPHA", "two"), ("EFALIA_VARIABLE_BETA", "three"), ("OTHER", "x")];
        let config = load_text("[variables]\nalpha = \"one\"\n", &env).unwrap();
        assert_eq!(config.variables.get("alpha"), Some("two"));
        assert_eq!(config.variables.get("beta"), Some("three"));
        assert_eq!(config.variables.get("other"), None);
    }

    #[test]
    fn syntax_error_names_the_line() {
        let err = load_text("[variables]\nalpha = \"one\"\nbeta = \n", &[]).unwrap_err();
        let message = format!("{err:#}");
        assert!(message.contains(":3:"), "{message}");
        assert!(!message.contains('\n'), "{message}");
    }

    #[test]
    fn invalid_variable_name_names_the_line() {
        let err = load_text("[variables]\nalpha = \"one\"\nBad_Name = \"x\"\n", &[]).unwrap_err();
        let message = format!("{err:#}");
        assert!(message.contains(":3:1"), "{message}");
        assert!(message.contains("Bad_Name"), "{message}");
    }

    #[test]
    fn unknown_table_is_rejected() {
        let err = load_text("[variable]\nalpha = \"one\"\n", &[]).unwrap_err();
        assert!(format!("{err:#}").contains(":1:"), "{err:#}");
    }

    #[test]
    fn non_string_value_is_rejected() {
        let err = load_text("[variables]\nalpha = 3\n", &[]).unwrap_err();
        assert!(format!("{err:#}").contains(":2:"), "{err:#}");
    }

    #[test]
    fn invalid_environment_name_is_rejected() {
        let err = load_text("", &[("EFALIA_VARIABLE_A__B", "x")]).unwrap_err();
        assert!(format!("{err:#}").contains("EFALIA_VARIABLE_A__B"), "{err:#}");
    }

    #[test]
    fn allowed_host_template_uses_variables() {
        let text = "[variables]\nds = \"http://127.0.0.1:8080\"\n\
                    [component]\nallowed_outbound_hosts = [\"{{ ds }}\"]\n";
        let config = load_text(text, &[]).unwrap();
        assert!(config.allowed_hosts.allows("http", "127.0.0.1", 8080));
        assert!(!config.allowed_hosts.allows("http", "127.0.0.1", 8081));
    }
}
