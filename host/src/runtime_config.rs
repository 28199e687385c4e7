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
//!
//! A store table may also choose the backend with the keys of Spin's runtime configuration
//! (`spin up --runtime-config-file`), so one file serves both hosts:
//!
//! ```toml
//! [key_value_store.default]
//! type = "spin"                    # SQLite; `path` is relative to this file, no `path` is in memory
//! path = "data/kv.sqlite3"
//! # or: type = "redis" with url = "redis://redis.internal:6379"
//! ```
//!
//! Every label lives in one backend, so tables that set a `type` must set the same one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use serde::Deserialize;
use toml::Spanned;

use crate::kv::{KvAccess, KvBackend, RedisBackend, SqliteBackend, SqliteLocation};
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
    /// Backend named by the `type` of the `[key_value_store.<label>]` tables, if any sets one.
    pub kv_store: Option<KvStoreConfig>,
}

/// Key-value backend given in Spin's runtime-configuration keys.
#[derive(Clone, PartialEq, Eq)]
pub enum KvStoreConfig {
    /// `type = "spin"`: a SQLite file, or an in-memory database when `path` is missing, as in Spin.
    Sqlite(SqliteLocation),
    /// `type = "redis"` and its `url`.
    Redis {
        /// `redis://` or `rediss://` URL, which may contain a password.
        url: String,
    },
}

impl KvStoreConfig {
    /// Opens the backend, creating the SQLite file or connecting to Redis.
    ///
    /// # Errors
    /// As [`SqliteBackend::open`] and [`RedisBackend::connect`].
    pub async fn open(&self) -> anyhow::Result<Arc<dyn KvBackend>> {
        Ok(match self {
            Self::Sqlite(location) => Arc::new(SqliteBackend::open(location.clone())?),
            Self::Redis { url } => Arc::new(RedisBackend::connect(url).await?),
        })
    }
}

impl std::fmt::Debug for KvStoreConfig {
    /// Leaves the Redis URL out, because it may contain a password.
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite(location) => formatter.debug_tuple("Sqlite").field(location).finish(),
            Self::Redis { .. } => formatter.debug_struct("Redis").finish_non_exhaustive(),
        }
    }
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

/// One `[key_value_store.<label>]` table; the optional keys are those of Spin's runtime config.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoreTable {
    #[serde(rename = "type")]
    store_type: Option<String>,
    path: Option<PathBuf>,
    url: Option<String>,
}

impl StoreTable {
    /// Returns the backend this table names, or `None` when it sets no `type`. A relative
    /// `path` is resolved against `base`, the configuration file's directory, as Spin does.
    fn backend(&self, label: &str, base: &Path) -> anyhow::Result<Option<KvStoreConfig>> {
        let table = format!("[key_value_store.{label}]");
        let Some(store_type) = self.store_type.as_deref() else {
            anyhow::ensure!(
                self.path.is_none() && self.url.is_none(),
                "{table}: `path` and `url` need a `type` (\"spin\" or \"redis\")"
            );
            return Ok(None);
        };
        let backend = match store_type {
            "spin" => {
                anyhow::ensure!(self.url.is_none(), "{table}: `url` is not an option of type \"spin\"; use `path`");
                let location = match &self.path {
                    Some(path) => SqliteLocation::Path(base.join(path)),
                    None => SqliteLocation::InMemory,
                };
                KvStoreConfig::Sqlite(location)
            }
            "redis" => {
                anyhow::ensure!(self.path.is_none(), "{table}: `path` is not an option of type \"redis\"; use `url`");
                let url = self.url.clone().with_context(|| format!("{table}: type \"redis\" needs a `url`"))?;
                KvStoreConfig::Redis { url }
            }
            other => anyhow::bail!(
                "{table}: key-value store type {other:?} is not supported by efalia-host; use \"spin\" (SQLite) or \"redis\""
            ),
        };
        Ok(Some(backend))
    }
}

/// Returns the one backend that the store tables name, or `None` when none sets a `type`.
fn store_backend(stores: &BTreeMap<String, StoreTable>, base: &Path) -> anyhow::Result<Option<KvStoreConfig>> {
    let mut chosen: Option<(&str, KvStoreConfig)> = None;
    for (label, table) in stores {
        let Some(backend) = table.backend(label, base)? else { continue };
        match &chosen {
            None => chosen = Some((label, backend)),
            Some((first, existing)) => anyhow::ensure!(
                *existing == backend,
                "[key_value_store.{label}] names another backend than [key_value_store.{first}]: \
                 efalia-host serves every label from one backend, so give them the same options or drop `type`"
            ),
        }
    }
    Ok(chosen.map(|(_, backend)| backend))
}

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

        let base = path.and_then(Path::parent).unwrap_or(Path::new(""));
        let kv_store = store_backend(&file.key_value_store, base).map_err(|err| {
            let file = path.map_or_else(|| "configuration".to_owned(), |p| p.display().to_string());
            anyhow::anyhow!("{file}: {err}")
        })?;
        let kv_access = KvAccess::new(file.key_value_store.into_keys(), file.component.key_value_stores)?;
        let entries = file.component.allowed_outbound_hosts.iter().chain(extra_allowed_hosts);
        let allowed_hosts = AllowedHosts::parse(entries, &variables)?;
        Ok(Self { variables, kv_access, allowed_hosts, kv_store })
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
    fn spin_store_path_is_relative_to_file() {
        let text = "[key_value_store.default]\ntype = \"spin\"\npath = \"state/kv.sqlite3\"\n";
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(text.as_bytes()).unwrap();
        let config = RuntimeConfig::load(Some(file.path()), std::iter::empty(), &[]).unwrap();
        let expected = file.path().parent().unwrap().join("state/kv.sqlite3");
        assert_eq!(config.kv_store, Some(KvStoreConfig::Sqlite(SqliteLocation::Path(expected))));
    }

    #[test]
    fn spin_store_without_path_is_in_memory() {
        let config = load_text("[key_value_store.default]\ntype = \"spin\"\n", &[]).unwrap();
        assert_eq!(config.kv_store, Some(KvStoreConfig::Sqlite(SqliteLocation::InMemory)));
    }

    #[test]
    fn redis_store_reads_url() {
        let text = "[key_value_store.default]\ntype = \"redis\"\nurl = \"redis://127.0.0.1:6379/2\"\n";
        let config = load_text(text, &[]).unwrap();
        let url = "redis://127.0.0.1:6379/2".to_owned();
        assert_eq!(config.kv_store, Some(KvStoreConfig::Redis { url }));
    }

    #[test]
    fn store_without_type_leaves_backend_unset() {
        let config = load_text("[key_value_store.archive]\n", &[]).unwrap();
        assert_eq!(config.kv_store, None);
    }

    #[test]
    fn labels_with_same_backend_are_accepted() {
        let text = "[key_value_store.default]\ntype = \"redis\"\nurl = \"redis://a\"\n\
                    [key_value_store.archive]\ntype = \"redis\"\nurl = \"redis://a\"\n\
                    [component]\nkey_value_stores = [\"default\", \"archive\"]\n";
        let config = load_text(text, &[]).unwrap();
        assert_eq!(config.kv_store, Some(KvStoreConfig::Redis { url: "redis://a".to_owned() }));
    }

    #[test]
    fn labels_with_two_backends_are_rejected() {
        let text = "[key_value_store.default]\ntype = \"spin\"\npath = \"kv.db\"\n\
                    [key_value_store.cache]\ntype = \"redis\"\nurl = \"redis://a\"\n";
        let message = format!("{:#}", load_text(text, &[]).unwrap_err());
        assert!(message.contains("one backend"), "{message}");
        assert!(message.contains("[key_value_store.default]"), "{message}");
    }

    #[test]
    fn unsupported_store_type_is_rejected() {
        let text = "[key_value_store.default]\ntype = \"aws_dynamo\"\n";
        let message = format!("{:#}", load_text(text, &[]).unwrap_err());
        assert!(message.contains("\"aws_dynamo\" is not supported"), "{message}");
    }

    #[test]
    fn store_option_of_other_type_is_rejected() {
        let cases = [
            ("type = \"redis\"\n", "needs a `url`"),
            ("type = \"redis\"\nurl = \"redis://a\"\npath = \"kv.db\"\n", "`path` is not an option"),
            ("type = \"spin\"\nurl = \"redis://a\"\n", "`url` is not an option"),
            ("path = \"kv.db\"\n", "need a `type`"),
            ("type = \"spin\"\nfile = \"kv.db\"\n", "unknown field"),
        ];
        for (options, expected) in cases {
            let text = format!("[key_value_store.default]\n{options}");
            let message = format!("{:#}", load_text(&text, &[]).unwrap_err());
            assert!(message.contains(expected), "{options:?}: {message}");
        }
    }

    #[test]
    fn debug_output_hides_redis_url() {
        let text = "[key_value_store.default]\ntype = \"redis\"\nurl = \"redis://user:hunter2@127.0.0.1\"\n";
        let config = load_text(text, &[]).unwrap();
        let output = format!("{config:?}");
        assert!(!output.contains("hunter2"), "{output}");
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
