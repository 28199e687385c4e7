//! `POST /api/only-office/token` is no signing oracle for the Document Server secret.
//!
//! Each row posts a configuration with values the server must not sign as given: foreign URLs,
//! another document's key, another user's id, rights the user does not have, plugins and
//! macros, reserved top-level fields. A row is either refused with no token in the response
//! (400 when the configuration names no document of this connector, 403 `non_habilite` when it
//! names two documents or one the user may not read) or signed. A signed token is decoded with the Document Server secret and every
//! value in it is compared with the server's own data, including the query tokens of the
//! signed URLs.

mod support;

use std::collections::BTreeSet;

use jwt_simple::reexports::ct_codecs::{Base64UrlSafeNoPadding, Decoder as _};
use serde_json::{Value, json};
use support::attack::{hs256, short, unsigned_jws};
use support::connector::{CONNECTOR_SECRET, Connector, DS_SECRET, PUBLIC_BASE, USER_SECRET, fixture, now, verified_claims};
use support::host::Reply;

const DOC: &str = "8c4d2e6f-1a3b-4c5d-9e7f-0a1b2c3d4e5f";
const OTHER_DOC: &str = "8c4d2e6f-1a3b-4c5d-9e7f-0a1b2c3d4e60";
const OWNER: &str = "u-101";
const READER: &str = "u-202";
const COEDITOR: &str = "u-404";
const STRANGER: &str = "u-303";

/// Strings planted in posted configurations. None may appear in a signed token.
const PLANTED: [&str; 9] =
    ["evil.example.test", "169.254.169.254", "u-999", "planted", "Administrateur", "pluginsData", "goback", "4711-v7", "script"];

/// Every name of `document.permissions`, which the server always writes in full.
const PERMISSIONS: [&str; 11] =
    ["edit", "review", "comment", "fillForms", "modifyFilter", "modifyContentControl", "protect", "chat", "download", "print", "copy"];

/// Permissions that change the document or the shared session, granted only in edit mode.
const EDITING_PERMISSIONS: [&str; 8] = ["edit", "review", "comment", "fillForms", "modifyFilter", "modifyContentControl", "protect", "chat"];

/// `editorConfig.customization` fields the server may keep from a client.
const CUSTOMIZATION_FIELDS: [&str; 18] = [
    "autosave",
    "forcesave",
    "compactHeader",
    "compactToolbar",
    "toolbarNoTabs",
    "toolbarHideFileName",
    "hideRightMenu",
    "hideRulers",
    "hideNotes",
    "showReviewChanges",
    "spellcheck",
    "help",
    "uiTheme",
    "zoom",
    "unit",
    "reviewDisplay",
    "macros",
    "macrosMode",
];

/// What a posted configuration must lead to.
enum Outcome {
    /// 400 without `code` and nothing signed: no URL of the configuration is one of this
    /// connector's.
    NoDocument,
    /// 403 `non_habilite` and nothing signed.
    Refused,
    /// A signed configuration for `user`, in edit mode when `edit` is true.
    Signed { edit: bool },
}

struct Row {
    label: &'static str,
    user: &'static str,
    posted: Value,
    outcome: Outcome,
}

/// A connector with two documents of OWNER: DOC is readable by READER and writable by COEDITOR.
struct Bench {
    connector: Connector,
    key: String,
    owner_binaire: String,
    owner_callback: String,
    reader_binaire: String,
    reader_callback: String,
    other_binaire: String,
    other_callback: String,
}

impl Bench {
    fn open() -> Bench {
        let connector = Connector::start();
        for id in [DOC, OTHER_DOC] {
            let uploaded = connector.upload(OWNER, id, "rapport.docx", &fixture("rapport.docx"));
            assert_eq!(uploaded.status, 201, "{}", uploaded.text());
        }
        connector.grant(OWNER, DOC, &[READER], &[COEDITOR]);
        let (owner_binaire, owner_callback) = connector.acces(OWNER, DOC);
        let (reader_binaire, reader_callback) = connector.acces(READER, DOC);
        let (other_binaire, other_callback) = connector.acces(OWNER, OTHER_DOC);
        let metadata = connector.as_user(OWNER, "GET", &format!("/api/documents/{DOC}"), None).json();
        let key = metadata["cle_onlyoffice"].as_str().unwrap().to_owned();
        Bench { connector, key, owner_binaire, owner_callback, reader_binaire, reader_callback, other_binaire, other_callback }
    }

    fn post(&self, user: &str, posted: &Value) -> Reply {
        self.connector.as_user(user, "POST", "/api/only-office/token", Some(posted.to_string().as_bytes()))
    }

    fn run(&self, rows: Vec<Row>) {
        let mut failures = Vec::new();
        let count = rows.len();
        for row in rows {
            let reply = self.post(row.user, &row.posted);
            match row.outcome {
                Outcome::NoDocument => failures.extend(refusal_problems(row.label, &reply, 400, None)),
                Outcome::Refused => failures.extend(refusal_problems(row.label, &reply, 403, Some("non_habilite"))),
                Outcome::Signed { edit } => failures.extend(self.signed_problems(row.label, row.user, edit, &row.posted, &reply)),
            }
        }
        assert!(failures.is_empty(), "{} failed check(s) over {count} rows:\n{}", failures.len(), failures.join("\n"));
    }

    /// Returns a message for each signed value that is not the server's own.
    fn signed_problems(&self, label: &str, user: &str, edit: bool, posted: &Value, reply: &Reply) -> Vec<String> {
        let mut problems = Vec::new();
        let mut check = |condition: bool, what: String| {
            if !condition {
                problems.push(format!("{label}: {what}"));
            }
        };
        if reply.status != 200 {
            check(false, format!("status {} instead of 200: {}", reply.status, short(&reply.text())));
            return problems;
        }
        let answer = reply.json();
        let Some(token) = answer["token"].as_str() else {
            check(false, format!("no token in {answer}"));
            return problems;
        };
        check(token_header(token) == json!({ "alg": "HS256", "typ": "JWT" }), format!("header {}", token_header(token)));
        let signed = verified_claims(token, DS_SECRET);
        let text = signed.to_string();
        for planted in PLANTED {
            check(!text.contains(planted), format!("{planted:?} was signed: {}", short(&text)));
        }

        let top_level = set(&["document", "documentType", "editorConfig", "type", "width", "height", "iat", "exp"]);
        check(key_set(&signed).is_subset(&top_level), format!("top-level fields {:?}", key_set(&signed)));
        let now = now() as i64;
        let issued = signed["iat"].as_i64().unwrap_or(0);
        let expires = signed["exp"].as_i64().unwrap_or(0);
        check((now - 120..=now + 5).contains(&issued), format!("iat {issued} is not the signing time {now}"));
        check(expires > issued && expires - issued <= 600, format!("lifetime {} s is not within 10 minutes", expires - issued));

        let document = &signed["document"];
        check(key_set(document) == set(&["key", "url", "fileType", "title", "permissions"]), format!("document fields {:?}", key_set(document)));
        check(document["key"] == self.key.as_str(), format!("document.key {}", document["key"]));
        check(document["fileType"] == "docx", format!("document.fileType {}", document["fileType"]));
        check(document["title"] == "rapport.docx", format!("document.title {}", document["title"]));
        check(signed["documentType"] == "word", format!("documentType {}", signed["documentType"]));

        let url = document["url"].as_str().unwrap_or_default();
        check(url.starts_with(&format!("{PUBLIC_BASE}/api/only-office/{DOC}/binaire?authorization=")), format!("document.url {}", short(url)));
        check(url.matches("authorization=").count() == 1, format!("document.url has several tokens: {}", short(url)));

        let permissions = &document["permissions"];
        check(key_set(permissions) == set(&PERMISSIONS), format!("permission names {:?}", key_set(permissions)));
        for name in PERMISSIONS {
            let granted = if EDITING_PERMISSIONS.contains(&name) { edit } else { true };
            check(permissions[name] == granted, format!("permissions.{name} is {} instead of {granted}", permissions[name]));
        }

        let editor = &signed["editorConfig"];
        let editor_fields = set(&["mode", "callbackUrl", "user", "lang", "region", "customization"]);
        check(key_set(editor).is_subset(&editor_fields), format!("editorConfig fields {:?}", key_set(editor)));
        check(editor["mode"] == if edit { "edit" } else { "view" }, format!("mode {}", editor["mode"]));
        check(editor["user"] == json!({ "id": user, "name": format!("Utilisateur {user}") }), format!("user {}", editor["user"]));
        for field in ["lang", "region"] {
            if let Some(value) = editor.get(field) {
                check(posted["editorConfig"][field] == *value, format!("editorConfig.{field} {value} was not posted"));
            }
        }
        let callback = editor.get("callbackUrl").and_then(Value::as_str);
        check(callback.is_some() == edit, format!("callbackUrl {callback:?} in {} mode", editor["mode"]));
        if let Some(callback) = callback {
            let prefix = format!("{PUBLIC_BASE}/api/only-office/{DOC}/remplacer?authorization=");
            check(callback.starts_with(&prefix), format!("callbackUrl {}", short(callback)));
        }

        let customization = &editor["customization"];
        check(key_set(customization).is_subset(&set(&CUSTOMIZATION_FIELDS)), format!("customization fields {:?}", key_set(customization)));
        check(customization["macros"] == false, format!("customization.macros {}", customization["macros"]));
        check(customization["macrosMode"] == "disable", format!("customization.macrosMode {}", customization["macrosMode"]));

        let mut returned = answer["config"].clone();
        let mut signed_config = signed.clone();
        for config in [&mut returned, &mut signed_config] {
            if let Some(fields) = config.as_object_mut() {
                fields.remove("iat");
                fields.remove("exp");
            }
        }
        check(returned == signed_config, "the returned config differs from the signed one".to_owned());

        problems.extend(access_token_problems(label, url, "oo-binaire", user, "lecture"));
        if let Some(callback) = callback {
            problems.extend(access_token_problems(label, callback, "oo-callback", user, "ecriture"));
        }
        problems
    }
}

/// Returns a message for each way `reply` is not a refusal with `status`, `code` and nothing
/// signed.
fn refusal_problems(label: &str, reply: &Reply, status: u16, code: Option<&str>) -> Vec<String> {
    let mut problems = Vec::new();
    if reply.status != status {
        problems.push(format!("{label}: status {} instead of {status}: {}", reply.status, short(&reply.text())));
        return problems;
    }
    if reply.json().get("code").and_then(Value::as_str) != code {
        problems.push(format!("{label}: code {} instead of {code:?}", reply.json()["code"]));
    }
    if reply.text().contains("eyJ") {
        problems.push(format!("{label}: a refusal carries a token: {}", short(&reply.text())));
    }
    problems
}

/// Checks the query token of a URL signed into a configuration: connector secret, audience,
/// document, user and right.
fn access_token_problems(label: &str, url: &str, audience: &str, user: &str, right: &str) -> Vec<String> {
    let Some((_, query)) = url.split_once('?') else { return vec![format!("{label}: {} has no query", short(url))] };
    let Some(token) = url::form_urlencoded::parse(query.as_bytes()).find(|(name, _)| name == "authorization").map(|(_, value)| value.into_owned()) else {
        return vec![format!("{label}: {} has no token", short(url))];
    };
    let claims = verified_claims(&token, CONNECTOR_SECRET);
    let mut problems = Vec::new();
    for (name, expected) in [("aud", audience), ("doc", DOC), ("sub", user), ("droit", right)] {
        if claims[name] != expected {
            problems.push(format!("{label}: {audience} token has {name} {} instead of {expected}", claims[name]));
        }
    }
    problems
}

fn token_header(token: &str) -> Value {
    let header = token.split('.').next().unwrap_or_default();
    let bytes = Base64UrlSafeNoPadding::decode_to_vec(header, None).unwrap_or_default();
    serde_json::from_slice(&bytes).unwrap_or(Value::Null)
}

fn key_set(value: &Value) -> BTreeSet<String> {
    value.as_object().map(|fields| fields.keys().cloned().collect()).unwrap_or_default()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|name| (*name).to_owned()).collect()
}

/// Replaces the `authorization` token of an `/acces` URL.
fn with_token(url: &str, token: &str) -> String {
    format!("{}?authorization={token}", url.split_once('?').unwrap().0)
}

#[test]
fn foreign_references_are_refused() {
    let bench = Bench::open();
    let token = bench.owner_binaire.split_once("authorization=").unwrap().1.to_owned();
    let path = format!("/api/only-office/{DOC}/binaire?authorization={token}");
    let foreign = |label: &'static str, posted: Value| Row { label, user: OWNER, posted, outcome: Outcome::NoDocument };
    let refused = |label: &'static str, posted: Value| Row { label, user: OWNER, posted, outcome: Outcome::Refused };
    bench.run(vec![
        foreign("metadata address as document.url", json!({ "document": { "url": "http://169.254.169.254/latest/meta-data/" } })),
        foreign("binaire path on another host", json!({ "document": { "url": format!("https://evil.example.test{path}") } })),
        foreign("binaire path over http", json!({ "document": { "url": format!("http://ged.example.test{path}") } })),
        foreign("binaire path on another port", json!({ "document": { "url": format!("https://ged.example.test:8443{path}") } })),
        foreign("user info before the connector host", json!({ "document": { "url": format!("https://evil.example.test@ged.example.test{path}") } })),
        foreign("fragment after the binaire URL", json!({ "document": { "url": format!("{}#evil.example.test", bench.owner_binaire) } })),
        foreign("callback path as document.url", json!({ "document": { "url": bench.owner_callback } })),
        foreign("document.url not a string", json!({ "document": { "url": { "href": bench.owner_binaire } } })),
        foreign("foreign callbackUrl alone", json!({ "editorConfig": { "callbackUrl": "https://evil.example.test/cb" } })),
        foreign(
            "own document.url with a foreign callbackUrl",
            json!({ "document": { "url": bench.owner_binaire }, "editorConfig": { "callbackUrl": "https://evil.example.test/cb" } }),
        ),
        refused(
            "own document.url with another document's callbackUrl",
            json!({ "document": { "url": bench.owner_binaire }, "editorConfig": { "callbackUrl": bench.other_callback } }),
        ),
        refused(
            "another document's document.url with the own callbackUrl",
            json!({ "document": { "url": bench.other_binaire }, "editorConfig": { "callbackUrl": bench.owner_callback } }),
        ),
        Row { label: "stranger posting the owner's URLs", user: STRANGER, posted: json!({ "document": { "url": bench.owner_binaire } }), outcome: Outcome::Refused },
        Row {
            label: "reader posting a document it cannot read",
            user: READER,
            posted: json!({ "document": { "url": bench.other_binaire } }),
            outcome: Outcome::Refused,
        },
    ]);
}

#[test]
fn signed_values_come_from_the_server() {
    let bench = Bench::open();
    let now = now() as i64;
    let expired = hs256(
        &json!({ "aud": "oo-binaire", "doc": DOC, "sub": OWNER, "droit": "lecture", "iat": now - 7200, "exp": now - 3600, "jti": "planted" }),
        CONNECTOR_SECRET,
    );
    let unsigned = unsigned_jws(
        &json!({ "alg": "none" }),
        &json!({ "aud": "oo-binaire", "doc": DOC, "sub": OWNER, "droit": "lecture", "iat": now, "exp": now + 600, "jti": "planted" }),
    );
    let signed = |label: &'static str, user: &'static str, edit: bool, posted: Value| Row { label, user, posted, outcome: Outcome::Signed { edit } };
    let everything = json!({ "edit": true, "review": true, "comment": true, "fillForms": true, "modifyFilter": true,
        "modifyContentControl": true, "protect": true, "chat": true, "download": true, "print": true, "copy": true });

    bench.run(vec![
        signed("owner's own configuration", OWNER, true, json!({ "document": { "url": bench.owner_binaire }, "editorConfig": { "callbackUrl": bench.owner_callback } })),
        signed("foreign document.key", OWNER, true, json!({ "document": { "url": bench.owner_binaire, "key": "4711-v7-planted" } })),
        signed(
            "another user's id and name",
            OWNER,
            true,
            json!({ "document": { "url": bench.owner_binaire }, "editorConfig": { "user": { "id": "u-999", "name": "Administrateur", "group": "planted", "image": "https://evil.example.test/a.png" } } }),
        ),
        signed(
            "foreign file type, title, document type and extra document fields",
            OWNER,
            true,
            json!({ "document": { "url": bench.owner_binaire, "fileType": "planted", "title": "planted.exe", "referenceData": { "fileKey": "planted" },
                "info": { "owner": "Administrateur" } }, "documentType": "planted" }),
        ),
        signed("reader with every permission", READER, false, json!({ "document": { "url": bench.reader_binaire, "permissions": everything } })),
        signed("reader asking for edit mode", READER, false, json!({ "document": { "url": bench.reader_binaire }, "editorConfig": { "mode": "edit" } })),
        signed(
            "reader posting the owner's URLs",
            READER,
            false,
            json!({ "document": { "url": bench.owner_binaire }, "editorConfig": { "callbackUrl": bench.owner_callback, "mode": "edit" } }),
        ),
        signed(
            "reader posting its own read-only callback URL",
            READER,
            false,
            json!({ "document": { "url": bench.reader_binaire }, "editorConfig": { "callbackUrl": bench.reader_callback, "mode": "edit" } }),
        ),
        signed(
            "co-editor posting the owner's callback URL",
            COEDITOR,
            true,
            json!({ "document": { "url": bench.owner_binaire }, "editorConfig": { "callbackUrl": bench.owner_callback } }),
        ),
        signed("owner asking for view mode", OWNER, false, json!({ "document": { "url": bench.owner_binaire }, "editorConfig": { "mode": "view" } })),
        signed(
            "plugins and macros",
            OWNER,
            true,
            json!({
                "document": { "url": bench.owner_binaire },
                "plugins": { "autostart": ["asc.{planted}"], "pluginsData": ["https://evil.example.test/config.json"] },
                "editorConfig": {
                    "plugins": { "pluginsData": ["https://evil.example.test/config.json"] },
                    "customization": {
                        "macros": true, "macrosMode": "warn", "plugins": true, "autosave": true, "zoom": 100, "uiTheme": "theme-dark",
                        "goback": { "url": "https://evil.example.test/" }, "logo": { "image": "https://evil.example.test/logo.png" },
                        "customer": { "www": "https://evil.example.test" }, "feedback": { "url": "https://evil.example.test" },
                        "uiTheme2": "planted"
                    }
                }
            }),
        ),
        signed(
            "reserved top-level fields",
            OWNER,
            true,
            json!({ "document": { "url": bench.owner_binaire }, "url": "http://169.254.169.254/", "key": "4711-v7-planted", "payload": { "planted": true },
                "token": "eyJplanted", "status": 2, "iat": 0, "exp": 99_999_999_999_i64, "nbf": 0, "jti": "planted" }),
        ),
        signed(
            "editor fields that carry URLs or identities",
            OWNER,
            true,
            json!({ "document": { "url": bench.owner_binaire }, "editorConfig": { "lang": "fr", "region": "fr-FR",
                "templates": [{ "url": "https://evil.example.test/t" }], "recent": [{ "url": "https://evil.example.test/r" }],
                "createUrl": "https://evil.example.test/new", "coEditing": { "mode": "planted" }, "actionLink": { "planted": 1 } } }),
        ),
        signed(
            "markup in language and size fields",
            OWNER,
            true,
            json!({ "document": { "url": bench.owner_binaire }, "width": "100%;background:url(https://evil.example.test)",
                "height": "<script>", "type": "planted", "editorConfig": { "lang": "fr\"><script>", "region": "planted-region-value" } }),
        ),
        signed(
            "document.url reaching the document through another one",
            OWNER,
            true,
            json!({ "document": { "url": format!("{PUBLIC_BASE}/api/only-office/{OTHER_DOC}/../{DOC}/binaire?authorization=planted") } }),
        ),
        signed("expired download token in document.url", OWNER, true, json!({ "document": { "url": with_token(&bench.owner_binaire, &expired) } })),
        signed("unsigned download token in document.url", OWNER, true, json!({ "document": { "url": with_token(&bench.owner_binaire, &unsigned) } })),
        signed(
            "download token signed with the user secret",
            OWNER,
            true,
            json!({ "document": { "url": with_token(&bench.owner_binaire, &hs256(&json!({ "aud": "oo-binaire", "doc": DOC, "sub": OWNER,
                "droit": "lecture", "iat": now, "exp": now + 600, "jti": "planted" }), USER_SECRET)) } }),
        ),
        signed(
            "second authorization parameter after a valid one",
            OWNER,
            true,
            json!({ "document": { "url": format!("{}&authorization=planted", bench.owner_binaire) } }),
        ),
        signed("callbackUrl alone", OWNER, true, json!({ "editorConfig": { "callbackUrl": bench.owner_callback } })),
    ]);
}

#[test]
fn own_valid_urls_are_signed_byte_for_byte() {
    let bench = Bench::open();
    let reply = bench.post(OWNER, &json!({ "document": { "url": bench.owner_binaire }, "editorConfig": { "callbackUrl": bench.owner_callback } }));
    assert_eq!(reply.status, 200, "{}", reply.text());
    let signed = verified_claims(reply.json()["token"].as_str().unwrap(), DS_SECRET);
    assert_eq!(signed["document"]["url"], bench.owner_binaire.as_str());
    assert_eq!(signed["editorConfig"]["callbackUrl"], bench.owner_callback.as_str());

    let reply = bench.post(READER, &json!({ "document": { "url": bench.owner_binaire } }));
    let signed = verified_claims(reply.json()["token"].as_str().unwrap(), DS_SECRET);
    assert_ne!(signed["document"]["url"], bench.owner_binaire.as_str(), "a reader never gets the owner's URL signed");
}
