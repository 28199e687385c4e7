//! The OpenAPI document in `openapi/`: served as committed, describes every route, and keeps
//! Efalia's three published operations exactly as published.
//!
//! `tests/fixtures/efalia-api/` contains the three OpenAPI fragments Efalia publishes for its
//! OnlyOffice routes, one operation each, unchanged.

mod support;

use std::collections::BTreeSet;

use efalia_onlyoffice::routes::Route;
use serde_json::{Map, Value};
use support::connector::Connector;
use support::host::{get, send};

const DOCUMENT_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/efalia-onlyoffice.openapi.json");
const SERVED_AT: &str = "/api/only-office/openapi.json";
const PUBLISHED: [&str; 3] = ["only-office-token", "only-office-acces", "only-office-remplacer"];
const HTTP_METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];
/// Start of the description of every response the connector adds to a published operation.
const EXTRA_RESPONSE_PREFIX: &str = "Réponse propre à ce connecteur, absente du contrat publié : ";

fn document_bytes() -> Vec<u8> {
    std::fs::read(DOCUMENT_PATH).unwrap()
}

fn document() -> Value {
    serde_json::from_slice(&document_bytes()).expect("the committed OpenAPI document is valid JSON")
}

fn published(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/efalia-api/{name}.openapi.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Replaces every local `$ref` of `value` by its target in `root`, recursively. Keys written
/// beside a `$ref` (OpenAPI 3.1 allows `description` and `summary`) override the target's.
fn resolve(value: &Value, root: &Value) -> Value {
    match value {
        Value::Object(fields) => {
            if let Some(Value::String(reference)) = fields.get("$ref") {
                let pointer = reference.strip_prefix('#').unwrap_or_else(|| panic!("non-local $ref {reference}"));
                let target = root.pointer(pointer).unwrap_or_else(|| panic!("$ref {reference} points nowhere"));
                let mut resolved = resolve(target, root);
                for (key, sibling) in fields.iter().filter(|(key, _)| *key != "$ref") {
                    resolved[key] = resolve(sibling, root);
                }
                return resolved;
            }
            Value::Object(fields.iter().map(|(key, field)| (key.clone(), resolve(field, root))).collect())
        }
        Value::Array(items) => Value::Array(items.iter().map(|item| resolve(item, root)).collect()),
        other => other.clone(),
    }
}

/// Returns each operation of `document` as (path, method, operation).
fn operations(document: &Value) -> Vec<(String, String, Map<String, Value>)> {
    let mut found = Vec::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            assert!(HTTP_METHODS.contains(&method.as_str()), "{path}: unexpected key {method}");
            found.push((path.clone(), method.clone(), operation.as_object().unwrap().clone()));
        }
    }
    found
}

/// Returns the security requirements that apply to `operation`, its own or the document's.
fn effective_security(operation: &Map<String, Value>, document: &Value) -> Value {
    operation.get("security").or_else(|| document.get("security")).cloned().unwrap_or(Value::Null)
}

/// Returns the documented path template of `route`. The match has no wildcard arm on `Route`,
/// so a new route does not compile until it is mapped to its documented path here.
fn template_of(route: &Route) -> Option<&'static str> {
    match route {
        Route::Health => Some("/health"),
        Route::Token => Some("/api/only-office/token"),
        Route::OpenApi => Some("/api/only-office/openapi.json"),
        Route::Acces(_) => Some("/api/only-office/{id}/acces"),
        Route::Binaire(_) => Some("/api/only-office/{id}/binaire"),
        Route::Remplacer(_) => Some("/api/only-office/{id}/remplacer"),
        // NOTE: the sub-routes of `/api/documents/{id}` are matched in `routes/documents.rs`;
        // one added there must be added here too, because any sub-path parses as `Documents`.
        Route::Documents(_, rest) => match rest.as_slice() {
            [] => Some("/api/documents/{id}"),
            ["binaire"] => Some("/api/documents/{id}/binaire"),
            ["versions"] => Some("/api/documents/{id}/versions"),
            ["versions", _, "binaire"] => Some("/api/documents/{id}/versions/{numero}/binaire"),
            ["versions", _, "modifications"] => Some("/api/documents/{id}/versions/{numero}/modifications"),
            ["habilitations"] => Some("/api/documents/{id}/habilitations"),
            _ => None,
        },
        Route::Unknown => None,
    }
}

/// One request path per route and per document sub-route.
const SAMPLE_PATHS: [&str; 12] = [
    "/health",
    "/api/only-office/token",
    "/api/only-office/openapi.json",
    "/api/only-office/0f4e6c1a-3b2d-4c5e-8f90-123456789abc/acces",
    "/api/only-office/0f4e6c1a-3b2d-4c5e-8f90-123456789abc/binaire",
    "/api/only-office/0f4e6c1a-3b2d-4c5e-8f90-123456789abc/remplacer",
    "/api/documents/0f4e6c1a-3b2d-4c5e-8f90-123456789abc",
    "/api/documents/0f4e6c1a-3b2d-4c5e-8f90-123456789abc/binaire",
    "/api/documents/0f4e6c1a-3b2d-4c5e-8f90-123456789abc/versions",
    "/api/documents/0f4e6c1a-3b2d-4c5e-8f90-123456789abc/versions/1/binaire",
    "/api/documents/0f4e6c1a-3b2d-4c5e-8f90-123456789abc/versions/1/modifications",
    "/api/documents/0f4e6c1a-3b2d-4c5e-8f90-123456789abc/habilitations",
];

/// Fills the path parameters of a documented template with sample values.
fn sample_path(template: &str) -> String {
    template.replace("{id}", "0f4e6c1a-3b2d-4c5e-8f90-123456789abc").replace("{numero}", "1")
}

#[test]
fn served_document_is_committed_file() {
    let connector = Connector::start();
    let reply = get(&connector.url(SERVED_AT));
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert!(reply.body == document_bytes(), "served bytes differ from {DOCUMENT_PATH}");
}

#[test]
fn document_route_rejects_other_methods() {
    let connector = Connector::start();
    let reply = send("POST", &connector.url(SERVED_AT), &[], Some(b"{}"));
    assert_eq!(reply.status, 405);
    assert_eq!(reply.header("allow"), Some("GET"));
}

#[test]
fn document_is_openapi_3_1() {
    let document = document();
    let version = document["openapi"].as_str().expect("openapi is a string");
    assert!(version.starts_with("3.1."), "openapi is {version}");
    assert!(document["info"]["title"].is_string());
    assert!(document["paths"].as_object().is_some_and(|paths| !paths.is_empty()));
}

#[test]
fn every_reference_resolves() {
    let document = document();
    // `resolve` panics on a reference that points nowhere.
    let resolved = resolve(&document["paths"], &document);
    assert!(!resolved.to_string().contains("\"$ref\""));
}

#[test]
fn every_operation_has_unique_id() {
    let document = document();
    let mut seen = BTreeSet::new();
    for (path, method, operation) in operations(&document) {
        let id = operation.get("operationId").and_then(Value::as_str).unwrap_or_else(|| panic!("{method} {path}: no operationId"));
        assert!(seen.insert(id.to_owned()), "operationId {id} used twice");
    }
}

#[test]
fn published_operations_are_unchanged() {
    let ours = document();
    for name in PUBLISHED {
        let fragment = published(name);
        for (path, method, operation) in operations(&fragment) {
            let label = format!("{name}: {method} {path}");
            let mine = ours["paths"][&path][&method].as_object().unwrap_or_else(|| panic!("{label} is missing")).clone();
            for (key, value) in &operation {
                let expected = resolve(value, &fragment);
                let actual = mine.get(key).map(|value| resolve(value, &ours));
                if key == "responses" {
                    let actual = actual.unwrap_or_else(|| panic!("{label}: no responses"));
                    for (status, response) in expected.as_object().unwrap() {
                        assert_eq!(actual.get(status), Some(response), "{label}: response {status} differs");
                    }
                } else {
                    assert_eq!(actual.as_ref(), Some(&expected), "{label}: {key} differs");
                }
            }
            for key in mine.keys().filter(|key| !operation.contains_key(*key)) {
                assert!(["security", "description"].contains(&key.as_str()), "{label}: added field {key}");
            }
            assert_eq!(effective_security(&mine, &ours), effective_security(&operation, &fragment), "{label}: security");
        }
    }
}

#[test]
fn published_security_schemes_are_unchanged() {
    let ours = document();
    for name in PUBLISHED {
        let fragment = published(name);
        for (scheme, definition) in fragment["components"]["securitySchemes"].as_object().unwrap() {
            assert_eq!(&ours["components"]["securitySchemes"][scheme], definition, "{name}: scheme {scheme}");
        }
    }
}

#[test]
fn added_responses_say_they_are_added() {
    let ours = document();
    for name in PUBLISHED {
        let fragment = published(name);
        for (path, method, operation) in operations(&fragment) {
            let published_statuses = operation["responses"].as_object().unwrap();
            let mine = resolve(&ours["paths"][&path][&method]["responses"], &ours);
            for (status, response) in mine.as_object().unwrap() {
                if published_statuses.contains_key(status) {
                    continue;
                }
                let description = response["description"].as_str().unwrap_or_default();
                assert!(description.starts_with(EXTRA_RESPONSE_PREFIX), "{method} {path} {status}: {description:?}");
            }
        }
    }
}

#[test]
fn every_sample_route_is_documented() {
    let document = document();
    let paths = document["paths"].as_object().unwrap();
    let mut covered = BTreeSet::new();
    for sample in SAMPLE_PATHS {
        let route = Route::parse(sample);
        let template = template_of(&route).unwrap_or_else(|| panic!("{sample} parses as {route:?}, which has no template"));
        assert!(paths.contains_key(template), "{template} ({sample}) is not in the OpenAPI document");
        covered.insert(template);
    }
    let documented: BTreeSet<&str> = paths.keys().map(String::as_str).collect();
    assert_eq!(covered, documented, "SAMPLE_PATHS and the document's paths differ");
}

#[test]
fn every_documented_path_is_a_route() {
    let document = document();
    for template in document["paths"].as_object().unwrap().keys() {
        let path = sample_path(template);
        let route = Route::parse(&path);
        assert_eq!(template_of(&route), Some(template.as_str()), "{path} parses as {route:?}");
    }
}

#[test]
fn component_allows_documented_methods() {
    let document = document();
    let connector = Connector::start();
    for (template, item) in document["paths"].as_object().unwrap() {
        let url = connector.url(&sample_path(template));
        let documented: Vec<String> = item.as_object().unwrap().keys().map(|method| method.to_uppercase()).collect();
        for method in ["GET", "PUT", "POST", "DELETE", "PATCH"] {
            let reply = send(method, &url, &[], None);
            if documented.iter().any(|allowed| allowed == method) {
                assert_ne!(reply.status, 405, "{method} {template}");
                assert_ne!(reply.status, 404, "{method} {template}: {}", reply.text());
            } else {
                assert_eq!(reply.status, 405, "{method} {template} is not documented");
                let allow: BTreeSet<&str> = reply.header("allow").unwrap_or_default().split(", ").collect();
                let expected: BTreeSet<&str> = documented.iter().map(String::as_str).collect();
                assert_eq!(allow, expected, "Allow of {template}");
            }
        }
    }
}
