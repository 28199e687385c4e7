//! Adversarial tables of the four token kinds on every route that takes a token.
//!
//! Each route gets every spoiled form of the token it expects and the tokens of the other kinds.
//! A token is spoiled when it is missing or malformed, names `alg: none`, HS384 or HS512, or
//! puts an RSA or EC header over an HMAC with the right secret. It is also spoiled when signed
//! with another key of the system, expired or not yet valid beyond the 60 s leeway, or issued
//! for another audience or document. Each row checks the exact status, the `code` and message
//! the API defines, that the metadata and versions of both documents did not change, that the
//! Document Server double served no file, and that the host still answers `/health`.
//!
//! On the save callback, rejected rows carry a status 2 body, correctly signed by the Document
//! Server double, whose file it publishes: a token wrongly accepted would store a new version,
//! and the state check would see it. Rows that must be accepted carry a status 1 body instead,
//! which stores nothing.

mod support;

use serde_json::{Value, json};
use support::attack::{
    Framing, RawRequest, Recorder, SYSTEM_SECRETS, UNRELATED_SECRET, base64url, document_state, encode_query, exchange,
    health_problem, hmac_jws, hs256, hs384, hs512, short, sign_parts, unsigned_jws, with_claims,
};
use support::connector::{CONNECTOR_SECRET, Connector, DS_SECRET, PUBLIC_BASE, USER_SECRET, fixture, now};
use support::ds::{self, DocumentServer};
use support::host::{Reply, Setup};

const DOC: &str = "5d2f8a10-6c3b-4e7d-9a1f-2b3c4d5e6f70";
const OTHER_DOC: &str = "5d2f8a10-6c3b-4e7d-9a1f-2b3c4d5e6f71";
const OWNER: &str = "u-101";
const READER: &str = "u-202";
const STRANGER: &str = "u-303";

/// The response a row expects.
#[derive(Clone, Copy, Debug)]
struct Expected {
    status: u16,
    /// `code` of the error body; `None` means the body has no `code`.
    code: Option<&'static str>,
    /// `message` of the error body, when the row checks it.
    message: Option<&'static str>,
}

const ACCEPTED: Expected = Expected { status: 200, code: None, message: None };
const MISSING: Expected = Expected { status: 401, code: None, message: Some("Le JWT est absent") };
const INVALID: Expected = Expected { status: 401, code: None, message: Some("Le JWT est invalide") };
const EXPIRED: Expected = Expected { status: 401, code: None, message: Some("Le JWT a expiré") };
const FORBIDDEN: Expected =
    Expected { status: 403, code: Some("non_habilite"), message: Some("L'utilisateur n'est pas habilité à faire l'action") };
const UNSUPPORTED: Expected =
    Expected { status: 415, code: None, message: Some("Le format de la requête n'est pas supporté") };

/// One request of a table and the response it must get.
struct Row {
    label: String,
    request: RawRequest,
    expected: Expected,
}

/// A spoiled (or, for control rows, valid) token and the response a route gives to it.
struct Forgery {
    label: String,
    token: String,
    expected: Expected,
}

fn forgery(label: &str, token: String, expected: Expected) -> Forgery {
    Forgery { label: label.to_owned(), token, expected }
}

/// Returns every spoiled form of an HS256 token signed with `secret`, and three control rows
/// that must pass. Spoiled forms are built from `rejected` claims and control rows from
/// `accepted` claims; both must carry `iat` and `exp`.
fn forgeries(rejected: &Value, accepted: &Value, secret: &str) -> Vec<Forgery> {
    let now = now() as i64;
    let standard_header = json!({ "alg": "HS256", "typ": "JWT" });
    let valid = hs256(rejected, secret);
    let parts: Vec<&str> = valid.split('.').collect();
    let (header_part, payload_part, signature_part) = (parts[0], parts[1], parts[2]);
    let mut altered = rejected.clone();
    altered["sub"] = json!("u-999");

    let mut rows = vec![
        forgery("valid token", hs256(accepted, secret), ACCEPTED),
        forgery(
            "expired 30 s ago, within the leeway",
            hs256(&with_claims(accepted, &[("iat", json!(now - 600)), ("exp", json!(now - 30))]), secret),
            ACCEPTED,
        ),
        forgery("nbf 30 s ahead, within the leeway", hs256(&with_claims(accepted, &[("nbf", json!(now + 30))]), secret), ACCEPTED),
        forgery("empty token", String::new(), MISSING),
        forgery("one part", payload_part.to_owned(), INVALID),
        forgery("two parts", format!("{header_part}.{payload_part}"), INVALID),
        forgery("four parts", format!("{valid}.{signature_part}"), INVALID),
        forgery("header not base64url", format!("e$J.{payload_part}.{signature_part}"), INVALID),
        forgery("payload not base64url, signed", sign_parts(&format!("{header_part}.pay$load"), secret), INVALID),
        forgery("signature not base64url", format!("{header_part}.{payload_part}.sig$nature"), INVALID),
        forgery("header not JSON, signed", sign_parts(&format!("{}.{payload_part}", base64url(b"HS256")), secret), INVALID),
        forgery("payload not JSON, signed", hmac_jws(&standard_header, b"not json", secret), INVALID),
        forgery("payload a JSON array, signed", hmac_jws(&standard_header, b"[1,2]", secret), INVALID),
        forgery("alg none without signature", unsigned_jws(&json!({ "alg": "none", "typ": "JWT" }), rejected), INVALID),
        forgery("alg None without signature", unsigned_jws(&json!({ "alg": "None", "typ": "JWT" }), rejected), INVALID),
        forgery("alg none with an HS256 signature", hmac_jws(&json!({ "alg": "none" }), rejected.to_string().as_bytes(), secret), INVALID),
        forgery("no alg", hmac_jws(&json!({ "typ": "JWT" }), rejected.to_string().as_bytes(), secret), INVALID),
        forgery("alg hs256 in lowercase", hmac_jws(&json!({ "alg": "hs256" }), rejected.to_string().as_bytes(), secret), INVALID),
        forgery("HS384 with the right secret", hs384(rejected, secret), INVALID),
        forgery("HS512 with the right secret", hs512(rejected, secret), INVALID),
        forgery("RS256 header, HMAC with the right secret", hmac_jws(&json!({ "alg": "RS256", "typ": "JWT" }), rejected.to_string().as_bytes(), secret), INVALID),
        forgery("ES256 header, HMAC with the right secret", hmac_jws(&json!({ "alg": "ES256", "typ": "JWT" }), rejected.to_string().as_bytes(), secret), INVALID),
        forgery(
            "jku header naming a key set",
            hmac_jws(&json!({ "alg": "HS256", "jku": "http://127.0.0.1:9/keys.json" }), rejected.to_string().as_bytes(), secret),
            INVALID,
        ),
        forgery(
            "crit header naming an extension",
            hmac_jws(&json!({ "alg": "HS256", "crit": ["exp"] }), rejected.to_string().as_bytes(), secret),
            INVALID,
        ),
        forgery("claims changed after signing", format!("{header_part}.{}.{signature_part}", base64url(altered.to_string().as_bytes())), INVALID),
        forgery("signed with an unrelated secret", hs256(rejected, UNRELATED_SECRET), INVALID),
        forgery(
            "expired 120 s ago, beyond the leeway",
            hs256(&with_claims(rejected, &[("iat", json!(now - 900)), ("exp", json!(now - 120))]), secret),
            EXPIRED,
        ),
        forgery("expired in 1970", hs256(&with_claims(rejected, &[("iat", json!(0)), ("exp", json!(1))]), secret), EXPIRED),
        forgery("nbf 120 s ahead, beyond the leeway", hs256(&with_claims(rejected, &[("nbf", json!(now + 120))]), secret), INVALID),
        forgery("iat 120 s ahead, beyond the leeway", hs256(&with_claims(rejected, &[("iat", json!(now + 120))]), secret), INVALID),
        forgery("no exp", hs256(&with_claims(rejected, &[("exp", Value::Null)]), secret), INVALID),
        forgery("exp not a number", hs256(&with_claims(rejected, &[("exp", json!("tomorrow"))]), secret), INVALID),
    ];
    for (label, other) in SYSTEM_SECRETS {
        if other != secret {
            rows.push(forgery(&format!("signed with the {label}"), hs256(rejected, other), INVALID));
        }
    }
    rows
}

/// Adds `iat` (now) and `exp` (in five minutes) to `fields`.
fn timed(fields: &Value) -> Value {
    let now = now() as i64;
    with_claims(fields, &[("iat", json!(now)), ("exp", json!(now + 300))])
}

fn user_claims(sub: &str) -> Value {
    timed(&json!({ "sub": sub, "name": format!("Utilisateur {sub}") }))
}

/// Claims of a token that `/acces` mints: `audience` is `oo-binaire` or `oo-callback`.
fn access_claims(audience: &str, doc: &str, sub: &str, right: &str) -> Value {
    timed(&json!({ "aud": audience, "doc": doc, "sub": sub, "droit": right, "jti": "0123456789abcdef0123456789abcdef" }))
}

/// Returns the decoded `authorization` parameter of a URL made by `/acces`.
fn query_token(url: &str) -> String {
    let query = url.split_once('?').expect("URL with a query").1;
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(name, _)| name == "authorization")
        .map(|(_, value)| value.into_owned())
        .expect("authorization parameter")
}

/// A connector with two documents of the same owner, a Document Server double, and what an
/// editing session of the first document uses.
struct Bench {
    ds: DocumentServer,
    connector: Connector,
    binaire: String,
    callback: String,
    reader_callback: String,
    other_binaire: String,
    other_callback: String,
    key: String,
    other_key: String,
    /// A file published by the double for `key`, valid 15 minutes.
    save_url: String,
    /// A configuration token that `/token` signed for the owner.
    config_token: String,
}

impl Bench {
    fn open() -> Bench {
        Self::open_with(&[])
    }

    fn open_with(extra: &[(&str, &str)]) -> Bench {
        let ds = DocumentServer::start(DS_SECRET, "https://ds.example.test");
        let internal = ds.internal_base();
        let mut variables = vec![("onlyoffice_internal_url", internal.as_str())];
        variables.extend_from_slice(extra);
        let connector = Connector::start_with(&variables, Setup::default());
        for id in [DOC, OTHER_DOC] {
            let uploaded = connector.upload(OWNER, id, "rapport.docx", &fixture("rapport.docx"));
            assert_eq!(uploaded.status, 201, "{}", uploaded.text());
        }
        connector.grant(OWNER, DOC, &[READER], &[]);
        let (binaire, callback) = connector.acces(OWNER, DOC);
        let (_, reader_callback) = connector.acces(READER, DOC);
        let (other_binaire, other_callback) = connector.acces(OWNER, OTHER_DOC);
        let key = current_key(&connector, DOC);
        let other_key = current_key(&connector, OTHER_DOC);
        let save_url = ds.publish(&key, "docx", fixture("rapport-modifie.docx"));
        let config = json!({ "document": { "url": binaire } }).to_string();
        let signed = connector.as_user(OWNER, "POST", "/api/only-office/token", Some(config.as_bytes()));
        assert_eq!(signed.status, 200, "{}", signed.text());
        let config_token = signed.json()["token"].as_str().unwrap().to_owned();
        Bench { ds, connector, binaire, callback, reader_callback, other_binaire, other_callback, key, other_key, save_url, config_token }
    }

    /// Metadata and versions of both documents.
    fn state(&self) -> Vec<Option<(Value, Value)>> {
        [DOC, OTHER_DOC].iter().map(|id| document_state(&self.connector.host, OWNER, id)).collect()
    }

    /// Requests that reached the double's cache files, i.e. downloads of edited files.
    fn downloads(&self) -> usize {
        self.ds.requests().iter().filter(|request| request.path.starts_with("/cache/")).count()
    }

    /// Status 2 body for the current key, pointing at the published file.
    fn save_fields(&self) -> Value {
        ds::status2(&self.key, &self.save_url, OWNER)
    }

    /// Status 1 body for the current key.
    fn editing_fields(&self) -> Value {
        ds::status1(&self.key, &[OWNER], OWNER)
    }

    /// Returns a token of every kind, each valid for its own use, with a label.
    fn tokens_of_each_kind(&self) -> Vec<(&'static str, String)> {
        vec![
            ("user token", hs256(&user_claims(OWNER), USER_SECRET)),
            ("config token from /token", self.config_token.clone()),
            ("download token from /acces", query_token(&self.binaire)),
            ("callback token from /acces", query_token(&self.callback)),
            ("DS callback body token", hs256(&timed(&self.editing_fields()), DS_SECRET)),
            ("DS download header token", hs256(&timed(&json!({ "payload": { "url": self.binaire } })), DS_SECRET)),
        ]
    }

    /// Sends each row and checks its response, the stored state, the double's downloads and the
    /// host's health; panics listing every failed check.
    fn run(&self, table: &str, rows: Vec<Row>) {
        let mut failures = Vec::new();
        let mut state = self.state();
        let mut downloads = self.downloads();
        let count = rows.len();
        for row in rows {
            let reply = exchange(self.connector.host.address, &row.request);
            failures.extend(reply_problems(&row, &reply));
            let new_state = self.state();
            if new_state != state {
                failures.push(format!("{}: stored metadata or versions changed", row.label));
                state = new_state;
            }
            let new_downloads = self.downloads();
            if new_downloads != downloads {
                failures.push(format!("{}: the connector downloaded {} file(s) from the DS", row.label, new_downloads - downloads));
                downloads = new_downloads;
            }
            if let Some(problem) = health_problem(&self.connector.host) {
                failures.push(format!("{}: {problem}", row.label));
            }
        }
        assert!(failures.is_empty(), "{table}: {} failed check(s) over {count} rows:\n{}", failures.len(), failures.join("\n"));
    }
}

fn current_key(connector: &Connector, id: &str) -> String {
    let metadata = connector.as_user(OWNER, "GET", &format!("/api/documents/{id}"), None).json();
    metadata["cle_onlyoffice"].as_str().unwrap().to_owned()
}

/// Returns a message for each way `reply` differs from what `row` expects.
fn reply_problems(row: &Row, reply: &Reply) -> Vec<String> {
    let label = &row.label;
    let expected = row.expected;
    let on_callback = row.request.target.contains("/remplacer");
    let mut problems = Vec::new();
    if reply.status != expected.status {
        problems.push(format!("{label}: status {} instead of {}: {}", reply.status, expected.status, short(&reply.text())));
        return problems;
    }

    if expected.status == 200 {
        if on_callback && reply.text() != r#"{"error":0}"# {
            problems.push(format!("{label}: callback answer {} instead of {{\"error\":0}}", reply.text()));
        }
        if row.request.target.contains("/binaire?") && reply.body != fixture("rapport.docx") {
            problems.push(format!("{label}: the download is not the stored file"));
        }
        return problems;
    }

    if reply.text().contains("eyJ") {
        problems.push(format!("{label}: the error body contains a token"));
    }
    let Ok(body) = serde_json::from_slice::<Value>(&reply.body) else {
        problems.push(format!("{label}: error body is not JSON: {}", short(&reply.text())));
        return problems;
    };
    if body.get("code").and_then(Value::as_str) != expected.code {
        problems.push(format!("{label}: code {:?} instead of {:?}", body.get("code"), expected.code));
    }
    if let Some(message) = expected.message
        && body["message"] != message
    {
        problems.push(format!("{label}: message {} instead of {message:?}", body["message"]));
    }
    if on_callback && body["error"] != 1 {
        problems.push(format!("{label}: callback error body without \"error\": 1: {body}"));
    }
    problems
}

// ------------------------------------------------------------------------------------------
// User routes: `Authorization: Bearer <user JWT>`

#[derive(Clone, Copy)]
enum UserRoute {
    Acces,
    Token,
    Document,
}

/// Builds a request to `route` with `authorization` as the raw `Authorization` value, if any.
/// `/token` gets a configuration naming `binaire`.
fn user_request(route: UserRoute, binaire: &str, authorization: Option<&[u8]>) -> RawRequest {
    let request = match route {
        UserRoute::Acces => RawRequest::new("GET", &format!("/api/only-office/{DOC}/acces")),
        UserRoute::Token => RawRequest::new("POST", "/api/only-office/token").json(&json!({ "document": { "url": binaire } })),
        UserRoute::Document => RawRequest::new("GET", &format!("/api/documents/{DOC}")),
    };
    match authorization {
        Some(value) => request.header_bytes("authorization", value),
        None => request,
    }
}

impl Bench {
    fn user_rows(&self, route: UserRoute) -> Vec<Row> {
        let bearer = |token: &str| format!("Bearer {token}").into_bytes();
        let row = |label: &str, authorization: Option<Vec<u8>>, expected: Expected| Row {
            label: label.to_owned(),
            request: user_request(route, &self.binaire, authorization.as_deref()),
            expected,
        };
        let claims = user_claims(OWNER);
        let valid = hs256(&claims, USER_SECRET);

        let mut rows: Vec<Row> = forgeries(&claims, &claims, USER_SECRET)
            .into_iter()
            .map(|forged| row(&forged.label, Some(bearer(&forged.token)), forged.expected))
            .collect();
        rows.extend([
            row("no Authorization header", None, MISSING),
            row("scheme without token", Some(b"Bearer".to_vec()), MISSING),
            row("token without the Bearer scheme", Some(valid.clone().into_bytes()), INVALID),
            row("Basic scheme", Some(format!("Basic {}", base64url(b"u-101:secret")).into_bytes()), INVALID),
            row("Token scheme", Some(format!("Token {valid}").into_bytes()), INVALID),
            row("two spaces after Bearer", Some(format!("Bearer  {valid}").into_bytes()), INVALID),
            row("two tokens after Bearer", Some(format!("Bearer {valid} {valid}").into_bytes()), INVALID),
            row("bearer in lowercase", Some(format!("bearer {valid}").into_bytes()), ACCEPTED),
            row("value not UTF-8", Some(b"Bearer \xff\xfe\xfd".to_vec()), MISSING),
            row("user without any right on the document", Some(bearer(&hs256(&user_claims(STRANGER), USER_SECRET))), FORBIDDEN),
            row("empty sub", Some(bearer(&hs256(&with_claims(&claims, &[("sub", json!(""))]), USER_SECRET))), INVALID),
            row("no sub", Some(bearer(&hs256(&with_claims(&claims, &[("sub", Value::Null)]), USER_SECRET))), INVALID),
            row("sub not a string", Some(bearer(&hs256(&with_claims(&claims, &[("sub", json!(101))]), USER_SECRET))), INVALID),
            row(
                "user token with the download audience",
                Some(bearer(&hs256(&with_claims(&claims, &[("aud", json!("oo-binaire"))]), USER_SECRET))),
                INVALID,
            ),
            row(
                "user token with the callback audience",
                Some(bearer(&hs256(&with_claims(&claims, &[("aud", json!("oo-callback"))]), USER_SECRET))),
                INVALID,
            ),
        ]);
        for (kind, token) in self.tokens_of_each_kind() {
            if kind != "user token" {
                rows.push(row(&format!("{kind} as the user token"), Some(bearer(&token)), INVALID));
            }
        }

        // The user token in the query, where the Document Server's routes carry theirs.
        let mut in_query = user_request(route, &self.binaire, None);
        in_query.target.push_str(&format!("?authorization={valid}"));
        rows.push(Row { label: "user token in the authorization query".to_owned(), request: in_query, expected: MISSING });
        rows
    }
}

#[test]
fn acces_rejects_every_bad_user_token() {
    let bench = Bench::open();
    bench.run("GET /acces", bench.user_rows(UserRoute::Acces));
}

#[test]
fn token_route_rejects_every_bad_user_token() {
    let bench = Bench::open();
    bench.run("POST /token", bench.user_rows(UserRoute::Token));
}

#[test]
fn document_api_rejects_every_bad_user_token() {
    let bench = Bench::open();
    bench.run("GET /api/documents/{id}", bench.user_rows(UserRoute::Document));
}

#[test]
fn configured_user_audience_is_required() {
    let connector = Connector::start_with(&[("user_jwt_audience", "efalia-doc")], Setup::default());
    let claims = user_claims(OWNER);
    let owner = hs256(&with_claims(&claims, &[("aud", json!("efalia-doc"))]), USER_SECRET);
    let upload = RawRequest::new("PUT", &format!("/api/documents/{DOC}/binaire?nom=rapport.docx")).bearer(&owner).body(fixture("rapport.docx"));
    let uploaded = exchange(connector.host.address, &upload);
    assert_eq!(uploaded.status, 201, "{}", uploaded.text());
    let acces = exchange(connector.host.address, &RawRequest::new("GET", &format!("/api/only-office/{DOC}/acces")).bearer(&owner));
    assert_eq!(acces.status, 200, "{}", acces.text());
    let binaire = acces.json()["binaire"].as_str().unwrap().to_owned();

    let cases = [
        ("audience of the setting", json!("efalia-doc"), ACCEPTED),
        ("audience list with the setting's", json!(["autre-service", "efalia-doc"]), ACCEPTED),
        ("no audience", Value::Null, INVALID),
        ("another audience", json!("autre-service"), INVALID),
        ("audience list without the setting's", json!(["autre-service"]), INVALID),
        ("download audience", json!("oo-binaire"), INVALID),
        ("audience a number", json!(7), INVALID),
    ];
    // These routes store nothing, and the stored-state check of `Bench` reads documents with
    // tokens that have no audience, so only the responses are checked here.
    let mut failures = Vec::new();
    for (label, audience, expected) in cases {
        let authorization = format!("Bearer {}", hs256(&with_claims(&claims, &[("aud", audience)]), USER_SECRET)).into_bytes();
        for route in [UserRoute::Acces, UserRoute::Token, UserRoute::Document] {
            let request = user_request(route, &binaire, Some(&authorization));
            let row = Row { label: format!("{label} on {} {}", request.method, request.target), request, expected };
            failures.extend(reply_problems(&row, &exchange(connector.host.address, &row.request)));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ------------------------------------------------------------------------------------------
// `GET /binaire?authorization=<download token>`, with the Document Server's header token

/// Target of the `binaire` route of `doc`, with `token` percent-encoded in the query.
fn binaire_target(doc: &str, token: Option<&str>) -> String {
    match token {
        Some(token) => format!("/api/only-office/{doc}/binaire?authorization={}", encode_query(token)),
        None => format!("/api/only-office/{doc}/binaire"),
    }
}

/// Returns the header the Document Server sends when it downloads `target` on the public base.
fn ds_download_header(target: &str) -> String {
    let claims = timed(&json!({ "payload": { "url": format!("{PUBLIC_BASE}{target}") } }));
    format!("Bearer {}", hs256(&claims, DS_SECRET))
}

#[test]
fn binaire_rejects_every_bad_download_token() {
    let bench = Bench::open();
    let row = |label: &str, target: String, expected: Expected| {
        let header = ds_download_header(&target);
        Row { label: label.to_owned(), request: RawRequest::new("GET", &target).header("authorization", &header), expected }
    };
    let claims = access_claims("oo-binaire", DOC, OWNER, "lecture");
    let valid = hs256(&claims, CONNECTOR_SECRET);

    let mut rows: Vec<Row> = forgeries(&claims, &claims, CONNECTOR_SECRET)
        .into_iter()
        .map(|forged| row(&forged.label, binaire_target(DOC, Some(&forged.token)), forged.expected))
        .collect();
    rows.extend([
        row("no authorization parameter", binaire_target(DOC, None), MISSING),
        row("download token of another document", binaire_target(DOC, Some(&query_token(&bench.other_binaire))), FORBIDDEN),
        row(
            "spoiled token first, valid token second",
            format!("{}&authorization={valid}", binaire_target(DOC, Some(&hs256(&claims, UNRELATED_SECRET)))),
            INVALID,
        ),
        row("doc claim missing", binaire_target(DOC, Some(&hs256(&with_claims(&claims, &[("doc", Value::Null)]), CONNECTOR_SECRET))), INVALID),
        row("doc claim not a UUID", binaire_target(DOC, Some(&hs256(&with_claims(&claims, &[("doc", json!("4711"))]), CONNECTOR_SECRET))), INVALID),
        row("sub claim missing", binaire_target(DOC, Some(&hs256(&with_claims(&claims, &[("sub", Value::Null)]), CONNECTOR_SECRET))), INVALID),
        row("unknown right", binaire_target(DOC, Some(&hs256(&with_claims(&claims, &[("droit", json!("admin"))]), CONNECTOR_SECRET))), INVALID),
        row("no audience", binaire_target(DOC, Some(&hs256(&with_claims(&claims, &[("aud", Value::Null)]), CONNECTOR_SECRET))), INVALID),
    ]);
    for (kind, token) in bench.tokens_of_each_kind() {
        if kind != "download token from /acces" {
            rows.push(row(&format!("{kind} as the download token"), binaire_target(DOC, Some(&token)), INVALID));
        }
    }

    // The download token sent the way user routes carry theirs, with nothing in the query.
    let request = RawRequest::new("GET", &binaire_target(DOC, None)).bearer(&valid);
    rows.push(Row { label: "download token in the Authorization header".to_owned(), request, expected: MISSING });
    bench.run("GET /binaire, query token", rows);
}

#[test]
fn binaire_rejects_every_bad_ds_header() {
    let bench = Bench::open();
    let target = binaire_target(DOC, Some(&query_token(&bench.binaire)));
    let row = |label: &str, header: Option<String>, expected: Expected| {
        let request = RawRequest::new("GET", &target);
        let request = match header {
            Some(value) => request.header("authorization", &value),
            None => request,
        };
        Row { label: label.to_owned(), request, expected }
    };
    let claims = timed(&json!({ "payload": { "url": format!("{PUBLIC_BASE}{target}") } }));

    let mut rows: Vec<Row> = forgeries(&claims, &claims, DS_SECRET)
        .into_iter()
        .map(|forged| row(&forged.label, Some(format!("Bearer {}", forged.token)), forged.expected))
        .collect();
    let signed = |claims: &Value| Some(format!("Bearer {}", hs256(&timed(claims), DS_SECRET)));
    rows.extend([
        row("no header token, which the DS may leave out", None, ACCEPTED),
        row("scheme without token", Some("Bearer".to_owned()), MISSING),
        row("token without the Bearer scheme", Some(hs256(&claims, DS_SECRET)), INVALID),
        row("header token for another document's URL", signed(&json!({ "payload": { "url": bench.other_binaire } })), INVALID),
        row("header token for the URL without its query", signed(&json!({ "payload": { "url": format!("{PUBLIC_BASE}/api/only-office/{DOC}/binaire") } })), INVALID),
        row("header token for the URL on another host", signed(&json!({ "payload": { "url": format!("https://evil.example.test{target}") } })), INVALID),
        row("flat claims without payload", signed(&json!({ "url": format!("{PUBLIC_BASE}{target}") })), INVALID),
        row("payload without url", signed(&json!({ "payload": {} })), INVALID),
        row("payload a JSON string", signed(&json!({ "payload": json!({ "url": format!("{PUBLIC_BASE}{target}") }).to_string() })), INVALID),
    ]);
    for (kind, token) in bench.tokens_of_each_kind() {
        if kind != "DS download header token" {
            rows.push(row(&format!("{kind} as the DS header token"), Some(format!("Bearer {token}")), INVALID));
        }
    }
    bench.run("GET /binaire, DS header token", rows);
}

// ------------------------------------------------------------------------------------------
// `POST /remplacer?authorization=<callback token>` with the Document Server's tokens

/// Target of the `remplacer` route of `doc`, with `token` percent-encoded in the query.
fn callback_target(doc: &str, token: Option<&str>) -> String {
    match token {
        Some(token) => format!("/api/only-office/{doc}/remplacer?authorization={}", encode_query(token)),
        None => format!("/api/only-office/{doc}/remplacer"),
    }
}

/// Builds a callback as the Document Server sends it: `fields` with a `token` field when `body_token`
/// is given, and `Authorization: <header>` when `header` is given.
fn callback_request(target: &str, fields: &Value, body_token: Option<Value>, header: Option<String>) -> RawRequest {
    let mut body = fields.clone();
    if let Some(token) = body_token {
        body["token"] = token;
    }
    let request = RawRequest::new("POST", target).json(&body);
    match header {
        Some(value) => request.header("authorization", &value),
        None => request,
    }
}

/// Returns the body token the Document Server computes over `fields`.
fn body_token(fields: &Value) -> Value {
    json!(hs256(&timed(fields), DS_SECRET))
}

/// Returns the header the Document Server sends with a callback whose body is `fields`.
fn header_token(fields: &Value) -> String {
    format!("Bearer {}", hs256(&timed(&json!({ "payload": fields })), DS_SECRET))
}

impl Bench {
    /// Builds a callback to `target` whose fields are a save (status 2) when the row must be rejected
    /// and a status 1 when it must be accepted, both correctly signed in body and header.
    fn signed_callback(&self, label: &str, target: String, expected: Expected) -> Row {
        let fields = if expected.status == 200 { self.editing_fields() } else { self.save_fields() };
        let request = callback_request(&target, &fields, Some(body_token(&fields)), Some(header_token(&fields)));
        Row { label: label.to_owned(), request, expected }
    }
}

#[test]
fn callback_rejects_every_bad_callback_token() {
    let bench = Bench::open();
    let claims = access_claims("oo-callback", DOC, OWNER, "ecriture");
    let valid = hs256(&claims, CONNECTOR_SECRET);
    let reader = query_token(&bench.reader_callback);

    let mut rows: Vec<Row> = forgeries(&claims, &claims, CONNECTOR_SECRET)
        .into_iter()
        .map(|forged| bench.signed_callback(&forged.label, callback_target(DOC, Some(&forged.token)), forged.expected))
        .collect();
    rows.extend([
        bench.signed_callback("no authorization parameter", callback_target(DOC, None), MISSING),
        bench.signed_callback("callback token of another document", callback_target(DOC, Some(&query_token(&bench.other_callback))), FORBIDDEN),
        bench.signed_callback("read-only callback token on a save", callback_target(DOC, Some(&reader)), FORBIDDEN),
        bench.signed_callback("read-only callback token on status 1", callback_target(DOC, Some(&reader)), ACCEPTED),
        bench.signed_callback(
            "spoiled token first, valid token second",
            format!("{}&authorization={valid}", callback_target(DOC, Some(&hs256(&claims, UNRELATED_SECRET)))),
            INVALID,
        ),
        bench.signed_callback(
            "unknown right",
            callback_target(DOC, Some(&hs256(&with_claims(&claims, &[("droit", json!("admin"))]), CONNECTOR_SECRET))),
            INVALID,
        ),
        bench.signed_callback(
            "no jti",
            callback_target(DOC, Some(&hs256(&with_claims(&claims, &[("jti", Value::Null)]), CONNECTOR_SECRET))),
            INVALID,
        ),
    ]);
    for (kind, token) in bench.tokens_of_each_kind() {
        if kind != "callback token from /acces" {
            rows.push(bench.signed_callback(&format!("{kind} as the callback token"), callback_target(DOC, Some(&token)), INVALID));
        }
    }

    // A read-only token on a forcesave (status 6) and on a save error with a file (status 3).
    for (status, label) in [(6, "read-only callback token on a forcesave"), (3, "read-only callback token on a save error")] {
        let mut fields = bench.save_fields();
        fields["status"] = json!(status);
        let request = callback_request(&callback_target(DOC, Some(&reader)), &fields, Some(body_token(&fields)), Some(header_token(&fields)));
        rows.push(Row { label: label.to_owned(), request, expected: FORBIDDEN });
    }

    // The callback token sent the way user routes carry theirs, with nothing in the query.
    let fields = bench.save_fields();
    let request = callback_request(&callback_target(DOC, None), &fields, Some(body_token(&fields)), Some(format!("Bearer {valid}")));
    rows.push(Row { label: "callback token in the Authorization header".to_owned(), request, expected: MISSING });
    bench.run("POST /remplacer, query token", rows);
}

#[test]
fn callback_rejects_every_bad_ds_body_token() {
    let bench = Bench::open();
    let target = callback_target(DOC, Some(&query_token(&bench.callback)));
    let save = bench.save_fields();
    let editing = bench.editing_fields();
    // Every spoiled body token travels with a valid header token over the same save, so falling
    // back to the header would store a version.
    let row = |label: &str, token: Option<Value>, expected: Expected| {
        let fields = if expected.status == 200 { &editing } else { &save };
        Row { label: label.to_owned(), request: callback_request(&target, fields, token, Some(header_token(fields))), expected }
    };

    let mut rows: Vec<Row> = forgeries(&timed(&save), &timed(&editing), DS_SECRET)
        .into_iter()
        .map(|forged| row(&forged.label, Some(json!(forged.token)), forged.expected))
        .collect();
    rows.extend([
        row("no body token, valid header token", None, ACCEPTED),
        row("token field a number", Some(json!(7)), INVALID),
        row("token field null", Some(Value::Null), INVALID),
        row("token field an object", Some(json!({ "alg": "none" })), INVALID),
        row("header-form claims in the body token", Some(json!(hs256(&timed(&json!({ "payload": save })), DS_SECRET))), INVALID),
        row("config token as the body token", Some(json!(bench.config_token)), UNSUPPORTED),
    ]);
    for (kind, token) in bench.tokens_of_each_kind() {
        if !kind.starts_with("DS callback") && !kind.starts_with("config") {
            rows.push(row(&format!("{kind} as the body token"), Some(json!(token)), INVALID));
        }
    }

    let request = callback_request(&target, &save, None, None);
    rows.push(Row { label: "no body token and no header token".to_owned(), request, expected: MISSING });

    let other = ds::status2(&bench.other_key, &bench.save_url, OWNER);
    let request = callback_request(&target, &other, Some(body_token(&other)), Some(header_token(&other)));
    rows.push(Row { label: "key of another document".to_owned(), request, expected: FORBIDDEN });
    bench.run("POST /remplacer, DS body token", rows);
}

#[test]
fn callback_rejects_every_bad_ds_header_token() {
    let bench = Bench::open();
    let target = callback_target(DOC, Some(&query_token(&bench.callback)));
    let save = bench.save_fields();
    let editing = bench.editing_fields();
    let row = |label: &str, header: Option<String>, expected: Expected| {
        let fields = if expected.status == 200 { &editing } else { &save };
        Row { label: label.to_owned(), request: callback_request(&target, fields, None, header), expected }
    };

    let mut rows: Vec<Row> = forgeries(&timed(&json!({ "payload": save })), &timed(&json!({ "payload": editing })), DS_SECRET)
        .into_iter()
        .map(|forged| row(&forged.label, Some(format!("Bearer {}", forged.token)), forged.expected))
        .collect();
    rows.extend([
        row("no header token and no body token", None, MISSING),
        row("scheme without token", Some("Bearer".to_owned()), MISSING),
        row("token without the Bearer scheme", Some(hs256(&timed(&json!({ "payload": save })), DS_SECRET)), INVALID),
        row("Basic scheme", Some(format!("Basic {}", base64url(b"onlyoffice:secret"))), INVALID),
        row("flat claims without payload", Some(format!("Bearer {}", hs256(&timed(&save), DS_SECRET))), INVALID),
        row("payload a JSON string", Some(format!("Bearer {}", hs256(&timed(&json!({ "payload": save.to_string() })), DS_SECRET))), INVALID),
    ]);
    for (kind, token) in bench.tokens_of_each_kind() {
        if !kind.starts_with("DS") {
            rows.push(row(&format!("{kind} as the DS header token"), Some(format!("Bearer {token}")), INVALID));
        }
    }

    let other = ds::status2(&bench.other_key, &bench.save_url, OWNER);
    rows.push(row("key of another document", Some(header_token(&other)), FORBIDDEN));
    bench.run("POST /remplacer, DS header token", rows);
}

#[test]
fn callback_body_token_outranks_header() {
    let bench = Bench::open();
    let recorder = Recorder::start();
    let target = callback_target(DOC, Some(&query_token(&bench.callback)));
    let save = bench.save_fields();
    let editing = bench.editing_fields();
    let foreign_save = ds::status2(&bench.key, &format!("{}/cache/files/data/x/output.docx", recorder.base()), OWNER);

    let mut visible_save = save.clone();
    visible_save["token"] = body_token(&editing);
    let rows = vec![
        Row {
            label: "body token status 1, header token status 2".to_owned(),
            request: callback_request(&target, &editing, Some(body_token(&editing)), Some(header_token(&save))),
            expected: ACCEPTED,
        },
        Row {
            label: "body token saves from elsewhere, header token saves from the DS".to_owned(),
            request: callback_request(&target, &save, Some(body_token(&foreign_save)), Some(header_token(&save))),
            expected: FORBIDDEN,
        },
        Row {
            label: "signed status 1, visible fields of a save".to_owned(),
            request: callback_request(&target, &visible_save, None, Some(header_token(&editing))),
            expected: ACCEPTED,
        },
        Row {
            label: "valid body token status 1, header signed with the user secret".to_owned(),
            request: callback_request(
                &target,
                &editing,
                Some(body_token(&editing)),
                Some(format!("Bearer {}", hs256(&timed(&json!({ "payload": save })), USER_SECRET))),
            ),
            expected: ACCEPTED,
        },
        Row {
            label: "body token signed with the user secret, valid header token".to_owned(),
            request: callback_request(&target, &editing, Some(json!(hs256(&timed(&editing), USER_SECRET))), Some(header_token(&editing))),
            expected: INVALID,
        },
        Row {
            label: "expired body token, valid header token".to_owned(),
            request: callback_request(
                &target,
                &editing,
                Some(json!(hs256(&with_claims(&editing, &[("iat", json!(now() - 900)), ("exp", json!(now() - 120))]), DS_SECRET))),
                Some(header_token(&editing)),
            ),
            expected: EXPIRED,
        },
    ];
    bench.run("POST /remplacer, body and header tokens disagree", rows);
    assert!(recorder.received().is_empty(), "a URL signed only in one token was fetched: {:?}", recorder.received());
}

#[test]
fn callback_content_type_never_replaces_signatures() {
    let bench = Bench::open();
    let target = callback_target(DOC, Some(&query_token(&bench.callback)));
    let save = bench.save_fields();
    let editing = bench.editing_fields();
    let typed = |label: &str, content_type: Option<&str>, fields: &Value, signed: bool, expected: Expected| {
        let mut body = fields.clone();
        if signed {
            body["token"] = body_token(fields);
        }
        let mut request = RawRequest::new("POST", &target).body(body.to_string());
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        if signed {
            request = request.header("authorization", &header_token(fields));
        }
        Row { label: label.to_owned(), request, expected }
    };

    let mut rows = Vec::new();
    // The DS always sends JSON; the connector reads a JSON body whatever its declared type, and
    // never accepts it without a valid signature.
    for (name, content_type) in [
        ("application/json", Some("application/json")),
        ("JSON with a charset", Some("application/json; charset=utf-8")),
        ("text/plain", Some("text/plain")),
        ("form-encoded", Some("application/x-www-form-urlencoded")),
        ("multipart", Some("multipart/form-data; boundary=x")),
        ("no Content-Type", None),
    ] {
        rows.push(typed(&format!("signed status 1 as {name}"), content_type, &editing, true, ACCEPTED));
        rows.push(typed(&format!("unsigned save as {name}"), content_type, &save, false, MISSING));
    }

    // A form-encoded body is no JSON body, even with a valid header token.
    let form = format!("key={}&status=1&token={}", bench.key, body_token(&editing).as_str().unwrap());
    let request = RawRequest::new("POST", &target)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("authorization", &header_token(&editing))
        .body(form);
    rows.push(Row { label: "form-encoded fields with a valid header token".to_owned(), request, expected: UNSUPPORTED });
    bench.run("POST /remplacer, Content-Type", rows);
}

#[test]
fn token_route_requires_json_content_type() {
    let bench = Bench::open();
    let config = json!({ "document": { "url": bench.binaire } }).to_string();
    let valid = hs256(&user_claims(OWNER), USER_SECRET);
    let spoiled = hs256(&user_claims(OWNER), UNRELATED_SECRET);
    let typed = |label: &str, content_type: Option<&str>, token: &str, expected: Expected| {
        let mut request = RawRequest::new("POST", "/api/only-office/token").bearer(token).body(config.clone());
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        Row { label: label.to_owned(), request, expected }
    };
    let rows = vec![
        typed("application/json", Some("application/json"), &valid, ACCEPTED),
        typed("JSON with a charset", Some("application/json; charset=utf-8"), &valid, ACCEPTED),
        typed("JSON in capitals", Some("APPLICATION/JSON"), &valid, ACCEPTED),
        typed("text/plain", Some("text/plain"), &valid, UNSUPPORTED),
        typed("form-encoded", Some("application/x-www-form-urlencoded"), &valid, UNSUPPORTED),
        typed("multipart", Some("multipart/form-data; boundary=x"), &valid, UNSUPPORTED),
        typed("application/jsonp", Some("application/jsonp"), &valid, UNSUPPORTED),
        typed("no Content-Type", None, &valid, UNSUPPORTED),
        typed("text/plain with a spoiled user token", Some("text/plain"), &spoiled, INVALID),
        typed("no Content-Type and a spoiled user token", None, &spoiled, INVALID),
    ];
    bench.run("POST /token, Content-Type", rows);
}

#[test]
fn chunked_callback_is_verified_like_any_other() {
    let bench = Bench::open();
    let target = callback_target(DOC, Some(&query_token(&bench.callback)));
    let save = bench.save_fields();
    let editing = bench.editing_fields();
    let rows = vec![
        Row {
            label: "chunked signed status 1".to_owned(),
            request: callback_request(&target, &editing, Some(body_token(&editing)), Some(header_token(&editing))).framing(Framing::Chunked),
            expected: ACCEPTED,
        },
        Row {
            label: "chunked save signed with the user secret".to_owned(),
            request: callback_request(&target, &save, Some(json!(hs256(&timed(&save), USER_SECRET))), None).framing(Framing::Chunked),
            expected: INVALID,
        },
    ];
    bench.run("POST /remplacer, chunked", rows);
}
