//! The deployment files: Spin runtime configurations under deploy/spin and the SpinKube manifests
//! under docs/spinkube, checked against spin.toml, the host's configuration loader and the
//! SpinApp CRD.

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use efalia_host::kv::SqliteLocation;
use efalia_host::{KvStoreConfig, RuntimeConfig};
use serde_json::Value;
use support::redis::RedisServer;

const SQLITE_EXAMPLE: &str = "deploy/spin/runtime-config.sqlite.toml";
const REDIS_EXAMPLE: &str = "deploy/spin/runtime-config.redis.toml";
const SPINAPP: &str = "docs/spinkube/spinapp.yaml";
const SECRET: &str = "docs/spinkube/secret.yaml";

/// Field paths of a SpinApp that the CRD `spinapps.core.spinkube.dev`, version v1alpha1, defines,
/// from `config/crd/bases/core.spinkube.dev_spinapps.yaml` of spinframework/spin-operator (commit
/// 1e0366d4). `[]` stands for an array item and `*` for a key of a free-form map. Only the parts
/// a connector deployment may use are listed, so a new field means checking the CRD again.
const SPINAPP_FIELDS: &[&str] = &[
    "apiVersion",
    "kind",
    "metadata.name",
    "metadata.namespace",
    "metadata.labels.*",
    "metadata.annotations.*",
    "spec.image",
    "spec.imagePullSecrets[].name",
    "spec.executor",
    "spec.replicas",
    "spec.enableAutoscaling",
    "spec.serviceAccountName",
    "spec.components[]",
    "spec.podLabels.*",
    "spec.podAnnotations.*",
    "spec.deploymentAnnotations.*",
    "spec.serviceAnnotations.*",
    "spec.resources.limits.*",
    "spec.resources.requests.*",
    "spec.checks.readiness.httpGet.path",
    "spec.checks.readiness.httpGet.httpHeaders[].name",
    "spec.checks.readiness.httpGet.httpHeaders[].value",
    "spec.checks.readiness.initialDelaySeconds",
    "spec.checks.readiness.periodSeconds",
    "spec.checks.readiness.timeoutSeconds",
    "spec.checks.readiness.successThreshold",
    "spec.checks.readiness.failureThreshold",
    "spec.checks.liveness.httpGet.path",
    "spec.checks.liveness.initialDelaySeconds",
    "spec.checks.liveness.periodSeconds",
    "spec.checks.liveness.timeoutSeconds",
    "spec.checks.liveness.failureThreshold",
    "spec.variables[].name",
    "spec.variables[].value",
    "spec.variables[].valueFrom.secretKeyRef.name",
    "spec.variables[].valueFrom.secretKeyRef.key",
    "spec.variables[].valueFrom.secretKeyRef.optional",
    "spec.variables[].valueFrom.configMapKeyRef.name",
    "spec.variables[].valueFrom.configMapKeyRef.key",
    "spec.variables[].valueFrom.configMapKeyRef.optional",
    "spec.runtimeConfig.loadFromSecret",
    "spec.runtimeConfig.keyValueStores[].name",
    "spec.runtimeConfig.keyValueStores[].type",
    "spec.runtimeConfig.keyValueStores[].options[].name",
    "spec.runtimeConfig.keyValueStores[].options[].value",
    "spec.runtimeConfig.keyValueStores[].options[].valueFrom.secretKeyRef.name",
    "spec.runtimeConfig.keyValueStores[].options[].valueFrom.secretKeyRef.key",
    "spec.runtimeConfig.keyValueStores[].options[].valueFrom.configMapKeyRef.name",
    "spec.runtimeConfig.keyValueStores[].options[].valueFrom.configMapKeyRef.key",
];

fn repository_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

fn read(relative: &str) -> String {
    std::fs::read_to_string(repository_path(relative)).unwrap_or_else(|err| panic!("read {relative}: {err}"))
}

fn read_toml(relative: &str) -> toml::Table {
    read(relative).parse().unwrap_or_else(|err| panic!("{relative} is not valid TOML: {err}"))
}

fn read_yaml(relative: &str) -> Value {
    serde_norway::from_str(&read(relative)).unwrap_or_else(|err| panic!("{relative} is not valid YAML: {err}"))
}

fn spin_manifest() -> toml::Table {
    read_toml("spin.toml")
}

/// Returns the store labels that spin.toml gives the component.
fn manifest_store_labels() -> BTreeSet<String> {
    let manifest = spin_manifest();
    let stores = manifest["component"]["efalia-onlyoffice"]["key_value_stores"].as_array().unwrap();
    stores.iter().map(|label| label.as_str().unwrap().to_owned()).collect()
}

/// Returns the `[key_value_store.<label>]` tables of a runtime configuration, checking that it
/// has no other top-level table.
fn store_tables(relative: &str) -> toml::Table {
    let config = read_toml(relative);
    let tables: Vec<&String> = config.keys().collect();
    assert_eq!(tables, vec!["key_value_store"], "{relative}");
    config["key_value_store"].as_table().unwrap().clone()
}

fn table_keys(table: &toml::Value) -> BTreeSet<&str> {
    table.as_table().unwrap().keys().map(String::as_str).collect()
}

#[test]
fn runtime_configs_define_manifest_stores() {
    for example in [SQLITE_EXAMPLE, REDIS_EXAMPLE] {
        let labels: BTreeSet<String> = store_tables(example).keys().cloned().collect();
        assert_eq!(labels, manifest_store_labels(), "{example}");
    }
}

#[test]
fn sqlite_runtime_config_has_spin_keys() {
    let stores = store_tables(SQLITE_EXAMPLE);
    let default = &stores["default"];
    assert_eq!(default["type"].as_str(), Some("spin"));
    assert_eq!(table_keys(default), BTreeSet::from(["type", "path"]));
    assert!(default["path"].as_str().unwrap().ends_with(".sqlite3"));
}

#[test]
fn redis_runtime_config_has_spin_keys() {
    let stores = store_tables(REDIS_EXAMPLE);
    let default = &stores["default"];
    assert_eq!(default["type"].as_str(), Some("redis"));
    assert_eq!(table_keys(default), BTreeSet::from(["type", "url"]));
    assert!(default["url"].as_str().unwrap().starts_with("redis://"));
}

#[test]
fn host_loads_sqlite_runtime_config() {
    let path = repository_path(SQLITE_EXAMPLE);
    let config = RuntimeConfig::load(Some(&path), std::iter::empty(), &[]).unwrap();
    let expected = path.parent().unwrap().join("../../data/kv.sqlite3");
    assert_eq!(config.kv_store, Some(KvStoreConfig::Sqlite(SqliteLocation::Path(expected))));
}

#[test]
fn host_opens_sqlite_runtime_config_copy() {
    // A copy two directories down keeps the relative path inside the temporary directory.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("deploy/spin/runtime-config.toml");
    std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
    std::fs::write(&copy, read(SQLITE_EXAMPLE)).unwrap();
    let config = RuntimeConfig::load(Some(&copy), std::iter::empty(), &[]).unwrap();

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let backend = config.kv_store.unwrap().open().await.unwrap();
        backend.set("default", "probe", b"value").await.unwrap();
        assert_eq!(backend.get("default", "probe").await.unwrap(), Some(b"value".to_vec()));
    });
    assert!(dir.path().join("data/kv.sqlite3").is_file(), "the database is not where Spin puts it");
}

#[test]
fn host_opens_redis_runtime_config() {
    let server = RedisServer::start();
    let mut config_file = read_toml(REDIS_EXAMPLE);
    let default = config_file["key_value_store"]["default"].as_table_mut().unwrap();
    default.insert("url".to_owned(), toml::Value::String(server.url()));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("runtime-config.toml");
    std::fs::write(&path, toml::to_string(&config_file).unwrap()).unwrap();

    let config = RuntimeConfig::load(Some(&path), std::iter::empty(), &[]).unwrap();
    assert_eq!(config.kv_store, Some(KvStoreConfig::Redis { url: server.url() }));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let backend = config.kv_store.unwrap().open().await.unwrap();
        backend.set("default", "probe", b"value").await.unwrap();
        assert_eq!(backend.get("default", "probe").await.unwrap(), Some(b"value".to_vec()));
    });
}

/// Collects the field paths of `value` in the notation of [`SPINAPP_FIELDS`].
fn field_paths(prefix: &str, value: &Value, paths: &mut Vec<String>) {
    match value {
        Value::Object(fields) => {
            for (name, field) in fields {
                let path = if prefix.is_empty() { name.clone() } else { format!("{prefix}.{name}") };
                field_paths(&path, field, paths);
            }
        }
        Value::Array(items) => {
            for item in items {
                field_paths(&format!("{prefix}[]"), item, paths);
            }
        }
        _ => paths.push(prefix.to_owned()),
    }
}

/// Returns whether `path` matches `pattern`, where a last segment `*` matches any one key.
fn matches_field(pattern: &str, path: &str) -> bool {
    match pattern.strip_suffix(".*") {
        Some(map) => path.strip_prefix(map).and_then(|rest| rest.strip_prefix('.')).is_some_and(|key| !key.contains('.')),
        None => pattern == path,
    }
}

#[test]
fn spinapp_uses_only_crd_fields() {
    let app = read_yaml(SPINAPP);
    let mut paths = Vec::new();
    field_paths("", &app, &mut paths);
    assert!(paths.len() > 10, "{paths:?}");
    for path in &paths {
        let known = SPINAPP_FIELDS.iter().any(|pattern| matches_field(pattern, path));
        assert!(known, "{path} is not a field of the SpinApp CRD checked against");
    }
}

#[test]
fn spinapp_runs_several_replicas_on_spin_shim() {
    let app = read_yaml(SPINAPP);
    assert_eq!(app["apiVersion"], "core.spinkube.dev/v1alpha1");
    assert_eq!(app["kind"], "SpinApp");
    let spec = &app["spec"];
    assert_eq!(spec["executor"], "containerd-shim-spin");
    assert!(spec["replicas"].as_i64().unwrap() > 1, "replicas");
    assert!(spec["image"].as_str().unwrap().contains("example.invalid"), "the image is not the placeholder");
}

/// Returns the `(name, key)` of a `valueFrom.secretKeyRef`, if `entry` has one.
fn secret_reference(entry: &Value) -> Option<(&str, &str)> {
    let reference = entry.get("valueFrom")?.get("secretKeyRef")?;
    Some((reference["name"].as_str()?, reference["key"].as_str()?))
}

#[test]
fn spinapp_sets_manifest_variables() {
    let manifest = spin_manifest();
    let declared = manifest["variables"].as_table().unwrap();
    let app = read_yaml(SPINAPP);
    let entries = app["spec"]["variables"].as_array().unwrap();
    let mut names = BTreeSet::new();
    for entry in entries {
        let name = entry["name"].as_str().expect("a variable without a name");
        assert!(names.insert(name), "{name} is set twice");
        let declaration = declared.get(name).unwrap_or_else(|| panic!("{name} is not a variable of spin.toml"));
        let has_value = entry.get("value").is_some();
        let has_secret = secret_reference(entry).is_some();
        assert!(has_value != has_secret, "{name} needs exactly one of value and valueFrom.secretKeyRef");
        if declaration.get("secret").and_then(toml::Value::as_bool) == Some(true) {
            assert!(has_secret, "{name} is a secret in spin.toml but has a plain value");
        }
    }
    for (name, declaration) in declared {
        if declaration.get("default").is_none() {
            assert!(names.contains(name.as_str()), "{name} has no default in spin.toml and is not set");
        }
    }
    let user_keys = names.contains("user_jwt_secret") || names.contains("user_jwt_public_key");
    assert!(user_keys, "neither user_jwt_secret nor user_jwt_public_key is set");
}

#[test]
fn spinapp_keeps_default_store_on_redis() {
    let app = read_yaml(SPINAPP);
    let stores = app["spec"]["runtimeConfig"]["keyValueStores"].as_array().unwrap();
    let labels: BTreeSet<String> = stores.iter().map(|store| store["name"].as_str().unwrap().to_owned()).collect();
    assert_eq!(labels, manifest_store_labels());
    for store in stores {
        assert_eq!(store["type"], "redis", "{store}");
        let options = store["options"].as_array().unwrap();
        let option_names: Vec<&str> = options.iter().map(|option| option["name"].as_str().unwrap()).collect();
        assert_eq!(option_names, vec!["url"], "{store}");
        assert!(secret_reference(&options[0]).is_some(), "the Redis URL does not come from a Secret");
    }
}

#[test]
fn secret_holds_every_referenced_key() {
    let secret = read_yaml(SECRET);
    assert_eq!(secret["apiVersion"], "v1");
    assert_eq!(secret["kind"], "Secret");
    let app = read_yaml(SPINAPP);
    assert_eq!(secret["metadata"]["namespace"], app["metadata"]["namespace"]);
    let secret_name = secret["metadata"]["name"].as_str().unwrap();
    let data = secret["stringData"].as_object().unwrap();

    let mut entries: Vec<&Value> = app["spec"]["variables"].as_array().unwrap().iter().collect();
    for store in app["spec"]["runtimeConfig"]["keyValueStores"].as_array().unwrap() {
        entries.extend(store["options"].as_array().unwrap());
    }
    let references: Vec<(&str, &str)> = entries.into_iter().filter_map(secret_reference).collect();
    assert!(references.len() >= 4, "{references:?}");
    for (name, key) in references {
        assert_eq!(name, secret_name, "{key}");
        assert!(data.contains_key(key), "{key} is missing from {SECRET}");
    }
}
