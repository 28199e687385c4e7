//! End-to-end save flows: the connector in the real host, called back by the Document Server
//! test double on real office files.

mod support;

use std::sync::Arc;

use serde_json::{Value, json};
use support::connector::{Connector, DS_SECRET, fixture, verified_claims};
use support::ds::{self, CallbackOptions, DocumentServer, Fault, Tamper};
use support::flaky::FlakyBackend;
use support::host::{Setup, get, send};

const DOC: &str = "7a0b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d";
const EDITOR: &str = "u-101";
const READER: &str = "u-202";
const COEDITOR: &str = "u-404";

/// A connector with one docx document, a Document Server double, and the editor's URLs.
struct Session {
    ds: DocumentServer,
    connector: Connector,
    binaire: String,
    callback: String,
    key: String,
}

fn open_session_with(extra: &[(&str, &str)], wrap: impl FnOnce(Arc<dyn efalia_host::kv::KvBackend>) -> Arc<dyn efalia_host::kv::KvBackend>) -> Session {
    let ds = DocumentServer::start(DS_SECRET, "https://ds.example.test");
    let internal = ds.internal_base();
    let mut variables = vec![("onlyoffice_internal_url", internal.as_str())];
    variables.extend_from_slice(extra);
    let connector = Connector::start_with_backend(&variables, Setup::default(), wrap);
    let uploaded = connector.upload(EDITOR, DOC, "rapport.docx", &fixture("rapport.docx"));
    assert_eq!(uploaded.status, 201, "{}", uploaded.text());
    connector.grant(EDITOR, DOC, &[READER], &[COEDITOR]);
    let (binaire, callback) = connector.acces(EDITOR, DOC);
    let key = current_key(&connector);
    Session { ds, connector, binaire, callback, key }
}

fn open_session() -> Session {
    open_session_with(&[], |backend| backend)
}

fn current_key(connector: &Connector) -> String {
    metadata(connector)["cle_onlyoffice"].as_str().unwrap().to_owned()
}

fn metadata(connector: &Connector) -> Value {
    connector.as_user(EDITOR, "GET", &format!("/api/documents/{DOC}"), None).json()
}

fn versions(connector: &Connector) -> Vec<Value> {
    connector.as_user(EDITOR, "GET", &format!("/api/documents/{DOC}/versions"), None).json().as_array().unwrap().clone()
}

fn current_binary(connector: &Connector) -> Vec<u8> {
    connector.as_user(EDITOR, "GET", &format!("/api/documents/{DOC}/binaire"), None).body
}

impl Session {
    fn callback_url(&self) -> String {
        self.connector.local(&self.callback)
    }

    fn send(&self, body: Value) -> ds::CallbackOutcome {
        self.ds.send_callback_with(&self.callback_url(), body, fast_retries())
    }

    fn last_answer(outcome: &ds::CallbackOutcome) -> (Option<u16>, String) {
        let last = outcome.attempts.last().unwrap();
        (last.status, last.body.clone())
    }

    fn downloads(&self) -> usize {
        self.ds.requests().iter().filter(|request| request.path.starts_with("/cache/")).count()
    }
}

/// Returns the DS's retry schedule (1, 2 and 4 s) shrunk twentyfold, so tests stay fast.
fn fast_retries() -> CallbackOptions {
    CallbackOptions { backoff_scale: 0.05, ..CallbackOptions::default() }
}

fn assert_acknowledged(outcome: &ds::CallbackOutcome) {
    assert!(outcome.succeeded, "callback failed: {:?}", outcome.attempts);
    let (status, body) = Session::last_answer(outcome);
    assert_eq!(status, Some(200));
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap(), json!({ "error": 0 }));
}

#[test]
fn status_1_is_acknowledged_without_download() {
    let session = open_session();
    let outcome = session.send(ds::status1(&session.key, &[EDITOR], EDITOR));
    assert_acknowledged(&outcome);
    assert_eq!(outcome.attempts.len(), 1);
    assert_eq!(outcome.attempts[0].body, r#"{"error":0}"#, "exactly the body the DS expects");
    assert_eq!(session.downloads(), 0);
    assert!(current_binary(&session.connector) == fixture("rapport.docx"));
}

#[test]
fn edit_and_close_stores_and_rotates_key() {
    let session = open_session();
    assert_acknowledged(&session.send(ds::status1(&session.key, &[EDITOR], EDITOR)));
    let edited = fixture("rapport-modifie.docx");
    let url = session.ds.publish(&session.key, "docx", edited.clone());
    assert_acknowledged(&session.send(ds::status2(&session.key, &url, EDITOR)));

    assert!(current_binary(&session.connector) == edited, "the edited file is current");
    let new_key = current_key(&session.connector);
    assert_ne!(new_key, session.key, "the key changes after a committed save");
    let versions = versions(&session.connector);
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[1]["nature"], "save");
    assert_eq!(versions[1]["auteur"], EDITOR);

    let fetched = session.ds.requests().into_iter().find(|request| request.path.starts_with("/cache/")).unwrap();
    let public_query = url.split_once('?').unwrap().1;
    assert_eq!(fetched.query, public_query, "the signed query is kept byte for byte");

    // The editor opens the document again: the new configuration carries the new key.
    let (binaire, _) = session.connector.acces(EDITOR, DOC);
    let reply = session.connector.as_user(EDITOR, "POST", "/api/only-office/token", Some(json!({ "document": { "url": binaire, "key": session.key } }).to_string().as_bytes()));
    let signed = verified_claims(reply.json()["token"].as_str().unwrap(), DS_SECRET);
    assert_eq!(signed["document"]["key"], new_key.as_str());
}

#[test]
fn forcesave_then_notmodified_close_adds_one_version() {
    let session = open_session();
    let edited = fixture("rapport-modifie.docx");
    let first = session.ds.publish(&session.key, "docx", edited.clone());
    assert_acknowledged(&session.send(ds::status6(&session.key, &first, EDITOR, 1)));
    assert_eq!(current_key(&session.connector), session.key, "a forcesave keeps the key");
    assert!(current_binary(&session.connector) == edited);

    // A co-editor joining after the forcesave gets the same key, so the session is not split.
    let (binaire, _) = session.connector.acces(COEDITOR, DOC);
    let reply = session.connector.as_user(COEDITOR, "POST", "/api/only-office/token", Some(json!({ "document": { "url": binaire } }).to_string().as_bytes()));
    let signed = verified_claims(reply.json()["token"].as_str().unwrap(), DS_SECRET);
    assert_eq!(signed["document"]["key"], session.key.as_str());

    let second = session.ds.publish(&session.key, "docx", edited.clone());
    let mut close = ds::status2(&session.key, &second, EDITOR);
    close["notmodified"] = json!(true);
    assert_acknowledged(&session.send(close));
    assert_eq!(versions(&session.connector).len(), 2, "no duplicate version");
    assert_ne!(current_key(&session.connector), session.key, "the key rotates at the close");
}

#[test]
fn co_editors_save_with_last_editor_as_author() {
    let session = open_session();
    let (_, coeditor_callback) = session.connector.acces(COEDITOR, DOC);
    assert_acknowledged(&session.send(ds::status1(&session.key, &[EDITOR], EDITOR)));
    let coeditor_url = session.connector.local(&coeditor_callback);
    let outcome = session.ds.send_callback_with(&coeditor_url, ds::status1(&session.key, &[EDITOR, COEDITOR], COEDITOR), fast_retries());
    assert_acknowledged(&outcome);

    let url = session.ds.publish(&session.key, "docx", fixture("rapport-modifie.docx"));
    let outcome = session.ds.send_callback_with(&coeditor_url, ds::status2(&session.key, &url, COEDITOR), fast_retries());
    assert_acknowledged(&outcome);
    let versions = versions(&session.connector);
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[1]["auteur"], COEDITOR);
    assert_eq!(versions[1]["nom_auteur"], format!("Utilisateur {COEDITOR}"));
}

#[test]
fn status_4_then_2_still_saves() {
    let session = open_session();
    assert_acknowledged(&session.send(ds::status4(&session.key, EDITOR)));
    assert_acknowledged(&session.send(ds::status1(&session.key, &[EDITOR], EDITOR)));
    let url = session.ds.publish(&session.key, "docx", fixture("rapport-modifie.docx"));
    assert_acknowledged(&session.send(ds::status2(&session.key, &url, EDITOR)));
    assert!(current_binary(&session.connector) == fixture("rapport-modifie.docx"));
}

#[test]
fn save_error_without_url_keeps_everything() {
    let session = open_session();
    assert_acknowledged(&session.send(ds::status3(&session.key, None, EDITOR)));
    assert_eq!(session.downloads(), 0);
    assert_eq!(current_key(&session.connector), session.key, "the key stays so a reopen recovers the DS copy");
    assert!(current_binary(&session.connector) == fixture("rapport.docx"));
    assert_eq!(versions(&session.connector).len(), 1);
}

#[test]
fn save_error_with_url_keeps_recovery_copy() {
    let session = open_session();
    let url = session.ds.publish(&session.key, "docx", fixture("rapport-modifie.docx"));
    assert_acknowledged(&session.send(ds::status3(&session.key, Some(&url), EDITOR)));
    assert!(current_binary(&session.connector) == fixture("rapport.docx"), "never overwrites the current version");
    assert_eq!(current_key(&session.connector), session.key);
    let versions = versions(&session.connector);
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[1]["nature"], "recovery");
    let copy = session.connector.as_user(EDITOR, "GET", &format!("/api/documents/{DOC}/versions/2/binaire"), None);
    assert!(copy.body == fixture("rapport-modifie.docx"), "the recovery copy is kept");
}

#[test]
fn forcesave_error_changes_nothing() {
    let session = open_session();
    assert_acknowledged(&session.send(ds::status7(&session.key, None, EDITOR, 1)));
    assert_eq!(session.downloads(), 0);
    assert_eq!(current_key(&session.connector), session.key);
    assert!(current_binary(&session.connector) == fixture("rapport.docx"));
}

#[test]
fn storage_failure_then_retry_saves_once() {
    let flaky: std::sync::OnceLock<Arc<FlakyBackend>> = std::sync::OnceLock::new();
    let session = open_session_with(&[], |backend| {
        let wrapped = FlakyBackend::new(backend);
        flaky.set(wrapped.clone()).ok().unwrap();
        wrapped
    });
    let url = session.ds.publish(&session.key, "docx", fixture("rapport-modifie.docx"));
    flaky.get().unwrap().fail_next_writes(1);
    let outcome = session.send(ds::status2(&session.key, &url, EDITOR));

    assert_eq!(outcome.attempts.len(), 2, "{:?}", outcome.attempts);
    assert_eq!(outcome.attempts[0].status, Some(500));
    let first: Value = serde_json::from_str(&outcome.attempts[0].body).unwrap();
    assert_eq!(first["code"], "ecriture_sur_disque_impossible");
    assert_acknowledged(&outcome);
    assert_eq!(versions(&session.connector).len(), 2, "saved once and only once");
    assert!(current_binary(&session.connector) == fixture("rapport-modifie.docx"));
}

#[test]
fn duplicate_callback_stores_one_version() {
    let session = open_session();
    let url = session.ds.publish(&session.key, "docx", fixture("rapport-modifie.docx"));
    let body = ds::status2(&session.key, &url, EDITOR);
    let (first, second) = std::thread::scope(|scope| {
        let first = scope.spawn(|| session.send(body.clone()));
        let second = scope.spawn(|| session.send(body.clone()));
        (first.join().unwrap(), second.join().unwrap())
    });
    assert_acknowledged(&first);
    assert_acknowledged(&second);
    assert_acknowledged(&session.send(body));
    assert_eq!(versions(&session.connector).len(), 2, "one new version for three identical callbacks");
}

#[test]
fn replaced_document_stores_edit_as_conflict() {
    let session = open_session();
    let replaced = session.connector.upload(EDITOR, DOC, "rapport.docx", &fixture("rapport.docx"));
    assert_eq!(replaced.status, 200);
    let url = session.ds.publish(&session.key, "docx", fixture("rapport-modifie.docx"));
    assert_acknowledged(&session.send(ds::status2(&session.key, &url, EDITOR)));
    let versions = versions(&session.connector);
    assert_eq!(versions.len(), 3);
    assert_eq!(versions[2]["nature"], "conflict");
    assert_eq!(metadata(&session.connector)["version"], 2, "the replacement stays current");
}

#[test]
fn foreign_url_is_never_fetched() {
    let session = open_session();
    let other = DocumentServer::start(DS_SECRET, "https://other.example.test");
    let foreign = [
        other.internal_url(&other.publish(&session.key, "docx", fixture("rapport-modifie.docx"))),
        "http://127.0.0.1:9/admin".to_owned(),
        "https://ds.example.test.evil.test/cache/x".to_owned(),
        "https://ds.example.test@127.0.0.1/cache/x".to_owned(),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
    ];
    for url in foreign {
        let outcome = session.send(ds::status2(&session.key, &url, EDITOR));
        assert_eq!(outcome.attempts.len(), 1, "{url}: a 4xx is final");
        assert_eq!(outcome.attempts[0].status, Some(403), "{url}");
    }
    assert!(other.requests().is_empty(), "nothing outside the DS origins was fetched");
    assert_eq!(versions(&session.connector).len(), 1);
}

#[test]
fn download_faults_leave_current_version() {
    let session = open_session();
    // A body cut short is a transport failure, because the host reports the broken connection,
    // so a retry can fix it. Content that is not of the announced type is corrupt.
    let faults = [
        (Fault::Truncated, "ecriture_sur_disque_impossible"),
        (Fault::WrongContentLength, "fichier_corrompu"),
        (Fault::WrongMagic, "fichier_corrompu"),
        (Fault::Status500, "ecriture_sur_disque_impossible"),
        (Fault::Expired, "ecriture_sur_disque_impossible"),
        (Fault::Redirect { location: "http://127.0.0.1:9/elsewhere".to_owned() }, "ecriture_sur_disque_impossible"),
    ];
    for (fault, code) in faults {
        let label = format!("{fault:?}");
        let url = session.ds.publish_with(&session.key, "docx", fixture("rapport-modifie.docx"), fault);
        let outcome = session.ds.send_callback_with(&session.callback_url(), ds::status2(&session.key, &url, EDITOR), CallbackOptions { retries: 0, ..fast_retries() });
        let (status, body) = Session::last_answer(&outcome);
        assert_eq!(status, Some(500), "{label}: {body}");
        assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["code"], code, "{label}");
    }
    assert_eq!(versions(&session.connector).len(), 1, "nothing stored");
    assert_eq!(current_key(&session.connector), session.key, "key not rotated");
}

#[test]
fn oversized_download_is_refused() {
    let session = open_session_with(&[("max_document_bytes", "100000")], |backend| backend);
    let url = session.ds.publish_with(&session.key, "docx", fixture("rapport-modifie.docx"), Fault::Oversized { bytes: 5_000_000 });
    let outcome = session.ds.send_callback_with(&session.callback_url(), ds::status2(&session.key, &url, EDITOR), CallbackOptions { retries: 0, ..fast_retries() });
    assert_eq!(outcome.attempts[0].status, Some(500));
    assert_eq!(versions(&session.connector).len(), 1);
}

#[test]
fn tokens_are_required_and_checked() {
    let session = open_session();
    let body = ds::status1(&session.key, &[EDITOR], EDITOR);

    let body_only = session.ds.send_callback_with(&session.callback_url(), body.clone(), CallbackOptions { header_token: false, ..fast_retries() });
    assert_acknowledged(&body_only);
    let header_only = session.ds.send_callback_with(&session.callback_url(), body.clone(), CallbackOptions { body_token: false, ..fast_retries() });
    assert_acknowledged(&header_only);
    let neither = session.ds.send_callback_with(&session.callback_url(), body.clone(), CallbackOptions { body_token: false, header_token: false, ..fast_retries() });
    assert_eq!(neither.attempts[0].status, Some(401));
    assert_eq!(neither.attempts.len(), 1, "a 4xx is not retried");

    let string_payload = session.ds.send_callback_with(
        &session.callback_url(),
        body.clone(),
        CallbackOptions { body_token: false, tamper: Some(Tamper::HeaderPayload(json!(body.to_string()))), ..fast_retries() },
    );
    assert_eq!(string_payload.attempts[0].status, Some(401), "a payload that is a JSON string is refused");

    let other_secret = session.ds.send_callback_with(
        &session.callback_url(),
        body.clone(),
        CallbackOptions { tamper: Some(Tamper::Secret("another-secret-0123456789abcdefghijkl".to_owned())), ..fast_retries() },
    );
    assert_eq!(other_secret.attempts[0].status, Some(401));

    let without_query_token = session.ds.send_callback_with(&session.callback_url().split('?').next().unwrap().to_owned(), body, fast_retries());
    assert_eq!(without_query_token.attempts[0].status, Some(401));
}

#[test]
fn renamed_header_is_read_when_configured() {
    let session = open_session_with(&[("onlyoffice_jwt_header", "AuthorizationJwt")], |backend| backend);
    let options = CallbackOptions { body_token: false, header_name: "AuthorizationJwt".to_owned(), ..fast_retries() };
    assert_acknowledged(&session.ds.send_callback_with(&session.callback_url(), ds::status1(&session.key, &[EDITOR], EDITOR), options));
}

#[test]
fn reader_callback_token_cannot_save() {
    let session = open_session();
    let (_, reader_callback) = session.connector.acces(READER, DOC);
    let url = session.ds.publish(&session.key, "docx", fixture("rapport-modifie.docx"));
    let outcome = session.ds.send_callback_with(&session.connector.local(&reader_callback), ds::status2(&session.key, &url, READER), fast_retries());
    assert_eq!(outcome.attempts[0].status, Some(403));
    assert_eq!(serde_json::from_str::<Value>(&outcome.attempts[0].body).unwrap()["code"], "non_habilite");
    assert_eq!(versions(&session.connector).len(), 1);
}

#[test]
fn key_of_another_document_is_refused() {
    let session = open_session();
    let outcome = session.send(ds::status1("0f4e6c1a3b2d4c5e8f90123456789abc-v1-AAAAAAAAAAAA", &[EDITOR], EDITOR));
    assert_eq!(outcome.attempts[0].status, Some(403));
}

#[test]
fn trailing_slash_is_404_not_redirect() {
    let session = open_session();
    let url = session.callback_url().replacen("/remplacer?", "/remplacer/?", 1);
    let reply = send("POST", &url, &[("content-type", "application/json")], Some(b"{}"));
    assert_eq!(reply.status, 404);
    assert!(reply.header("location").is_none());
    let _ = get(&session.connector.url("/health"));
}

#[test]
fn history_and_changes_are_kept_for_history_view() {
    let session = open_session();
    let body = session.ds.publish_save(&session.key, "docx", fixture("rapport-modifie.docx"), EDITOR);
    assert_acknowledged(&session.send(body));
    let versions = versions(&session.connector);
    assert_eq!(versions[1]["modifications"], true);
    assert_eq!(versions[1]["historique"]["serverVersion"], "9.0.0");
    assert_eq!(versions[1]["historique"]["changes"][0]["user"]["id"], EDITOR);
    let archive = session.connector.as_user(EDITOR, "GET", &format!("/api/documents/{DOC}/versions/2/modifications"), None);
    assert_eq!(archive.status, 200);
    assert_eq!(archive.header("content-type"), Some("application/zip"));
    assert!(archive.body.starts_with(b"PK\x03\x04"), "a ZIP archive");
    let none = session.connector.as_user(EDITOR, "GET", &format!("/api/documents/{DOC}/versions/1/modifications"), None);
    assert_eq!(none.status, 404, "an upload has no changes archive");
    assert_eq!(none.json()["message"], "La version 1 n'a pas d'archive de modifications");
}

#[test]
fn changed_file_type_is_stored_on_purpose() {
    let session = open_session();
    let url = session.ds.publish(&session.key, "odt", fixture("rapport.odt"));
    assert_acknowledged(&session.send(ds::status2(&session.key, &url, EDITOR)));
    let metadata = metadata(&session.connector);
    assert_eq!(metadata["type_fichier"], "odt");
    assert_eq!(metadata["nom"], "rapport.odt");
    let versions = versions(&session.connector);
    assert_eq!(versions[1]["type_fichier"], "odt");
    let download = session.connector.as_user(EDITOR, "GET", &format!("/api/documents/{DOC}/binaire"), None);
    assert_eq!(download.header("content-type"), Some("application/vnd.oasis.opendocument.text"));
}

#[test]
fn source_hash_mismatch_is_a_conflict() {
    let session = open_session();
    let original_sha = metadata(&session.connector)["sha256"].as_str().unwrap().to_owned();

    let url = session.ds.publish(&session.key, "docx", fixture("rapport-modifie.docx"));
    let mut matching = ds::status6(&session.key, &url, EDITOR, 0);
    matching["history"] = json!({ "changes": [{ "user": { "id": EDITOR }, "documentSha256": original_sha }] });
    assert_acknowledged(&session.send(matching));
    assert_eq!(versions(&session.connector)[1]["nature"], "force_save", "the hash of the opened version matches");

    let url = session.ds.publish(&session.key, "docx", fixture("rapport-modifie.docx"));
    let mut foreign = ds::status2(&session.key, &url, EDITOR);
    foreign["history"]["changes"][0]["documentSha256"] = json!("0".repeat(64));
    assert_acknowledged(&session.send(foreign));
    let versions = versions(&session.connector);
    assert_eq!(versions[2]["nature"], "conflict");
    assert_eq!(metadata(&session.connector)["version"], 2, "the conflict copy does not become current");
}

#[test]
fn reopening_during_save_window_keeps_key_until_commit() {
    let session = open_session();
    assert_acknowledged(&session.send(ds::status4(&session.key, EDITOR)));
    let token_key = |connector: &Connector| {
        let (binaire, _) = connector.acces(EDITOR, DOC);
        let reply = connector.as_user(EDITOR, "POST", "/api/only-office/token", Some(json!({ "document": { "url": binaire } }).to_string().as_bytes()));
        verified_claims(reply.json()["token"].as_str().unwrap(), DS_SECRET)["document"]["key"].as_str().unwrap().to_owned()
    };
    assert_eq!(token_key(&session.connector), session.key, "reopened before the save: same session key");
    let url = session.ds.publish(&session.key, "docx", fixture("rapport-modifie.docx"));
    assert_acknowledged(&session.send(ds::status2(&session.key, &url, EDITOR)));
    assert_ne!(token_key(&session.connector), session.key, "reopened after the save: a new key");
}

#[test]
fn clock_skew_within_leeway_is_accepted() {
    let session = open_session();
    let now = support::connector::now() as i64;
    let signed = |issued: i64, expires: i64| {
        let mut body = ds::status1(&session.key, &[EDITOR], EDITOR);
        let mut claims = body.as_object().unwrap().clone();
        claims.insert("iat".to_owned(), json!(issued));
        claims.insert("exp".to_owned(), json!(expires));
        body["token"] = json!(support::connector::raw_hs256(&Value::Object(claims), DS_SECRET));
        body
    };
    let options = || CallbackOptions { body_token: false, header_token: false, ..fast_retries() };
    let ahead = session.ds.send_callback_with(&session.callback_url(), signed(now + 45, now + 270), options());
    assert_acknowledged(&ahead);
    let expired = session.ds.send_callback_with(&session.callback_url(), signed(now - 400, now - 90), options());
    assert_eq!(expired.attempts[0].status, Some(401));
}

#[test]
fn ds_downloads_binaire_with_its_header_token() {
    let session = open_session();
    let outcome = session.ds.download_as(&session.binaire, &session.connector.local(&session.binaire));
    assert_eq!(outcome.status, 200);
    assert!(outcome.body == fixture("rapport.docx"));
    assert_eq!(outcome.header("content-length"), Some(fixture("rapport.docx").len().to_string().as_str()));
}
