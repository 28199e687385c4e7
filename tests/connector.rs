//! The connector component in the real host: documents, `/acces`, `binaire` and `/token`.

mod support;

use serde_json::{Value, json};
use support::connector::{
    CONNECTOR_SECRET, Connector, DS_SECRET, PUBLIC_BASE, ds_token, fixture, user_token, verified_claims,
};
use support::host::{Setup, get, send};

const DOC: &str = "0f4e6c1a-3b2d-4c5e-8f90-123456789abc";
const OWNER: &str = "u-101";
const READER: &str = "u-202";
const STRANGER: &str = "u-303";

fn connector_with_document(name: &str) -> Connector {
    let connector = Connector::start();
    let reply = connector.upload(OWNER, DOC, name, &fixture(name));
    assert_eq!(reply.status, 201, "{}", reply.text());
    connector.grant(OWNER, DOC, &[READER], &[]);
    connector
}

fn post_config(connector: &Connector, user: &str, config: &Value) -> support::host::Reply {
    connector.as_user(user, "POST", "/api/only-office/token", Some(config.to_string().as_bytes()))
}

#[test]
fn health_answers_ok() {
    let connector = Connector::start();
    let reply = get(&connector.url("/health"));
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["status"], "ok");
}

#[test]
fn health_names_unusable_settings() {
    let connector = Connector::start_with(
        &[("onlyoffice_jwt_secret", "short"), ("max_document_bytes", "5k"), ("connector_secret", support::connector::USER_SECRET)],
        Setup::default(),
    );
    let reply = get(&connector.url("/health"));
    assert_eq!(reply.status, 503);
    let names: Vec<String> = reply.json()["parametres"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect();
    assert_eq!(names, ["onlyoffice_jwt_secret", "connector_secret", "max_document_bytes"]);
    assert!(!reply.text().contains("short"), "values never appear");
}

#[test]
fn missing_version_is_404() {
    let connector = connector_with_document("rapport.docx");
    let reply = connector.as_user(OWNER, "GET", &format!("/api/documents/{DOC}/versions/99/binaire"), None);
    assert_eq!(reply.status, 404);
    assert_eq!(reply.json()["message"], "La version 99 n'existe pas");
}

#[test]
fn office_files_round_trip_through_binaire() {
    let connector = Connector::start();
    let cases = [
        ("rapport.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
        ("tableau.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        ("presentation.pptx", "application/vnd.openxmlformats-officedocument.presentationml.presentation"),
        ("rapport.odt", "application/vnd.oasis.opendocument.text"),
        ("rapport.pdf", "application/pdf"),
    ];
    for (index, (name, mime)) in cases.iter().enumerate() {
        let id = format!("0f4e6c1a-3b2d-4c5e-8f90-00000000000{index}");
        let bytes = fixture(name);
        let uploaded = connector.upload(OWNER, &id, name, &bytes);
        assert_eq!(uploaded.status, 201, "{name}: {}", uploaded.text());
        let (binaire, _) = connector.acces(OWNER, &id);
        let download = connector.ds_download(&binaire);
        assert_eq!(download.status, 200, "{name}: {}", download.text());
        assert!(download.body == bytes, "{name}: downloaded bytes differ");
        assert_eq!(download.header("content-type"), Some(*mime), "{name}");
        assert_eq!(download.header("content-length"), Some(bytes.len().to_string().as_str()), "{name}");
        let disposition = download.header("content-disposition").unwrap_or_default();
        assert!(disposition.contains(&format!("filename*=UTF-8''{name}")), "{name}: {disposition}");
    }
}

#[test]
fn acces_urls_are_absolute_without_file_name() {
    let connector = connector_with_document("rapport.docx");
    let (binaire, callback) = connector.acces(OWNER, DOC);
    for url in [&binaire, &callback] {
        assert!(url.starts_with(&format!("{PUBLIC_BASE}/api/only-office/{DOC}/")), "{url}");
        assert!(!url.contains("rapport"), "{url}");
        assert!(!url.contains("/?"), "{url}");
        assert!(!url.ends_with('/'), "{url}");
    }
    assert!(binaire.contains("/binaire?authorization="), "{binaire}");
    assert!(callback.contains("/remplacer?authorization="), "{callback}");
}

#[test]
fn acces_tokens_have_own_audiences_and_rights() {
    let connector = connector_with_document("rapport.docx");
    let token_of = |url: &str| url.split("authorization=").nth(1).unwrap().to_owned();

    let (binaire, callback) = connector.acces(OWNER, DOC);
    let download = verified_claims(&token_of(&binaire), CONNECTOR_SECRET);
    assert_eq!(download["aud"], "oo-binaire");
    assert_eq!(download["doc"], DOC);
    assert_eq!(download["droit"], "lecture");
    let owner_callback = verified_claims(&token_of(&callback), CONNECTOR_SECRET);
    assert_eq!(owner_callback["aud"], "oo-callback");
    assert_eq!(owner_callback["droit"], "ecriture");

    let (_, reader_callback) = connector.acces(READER, DOC);
    let reader_callback = verified_claims(&token_of(&reader_callback), CONNECTOR_SECRET);
    assert_eq!(reader_callback["droit"], "lecture", "a reader's callback token has no write right");
}

#[test]
fn acces_refuses_user_without_rights() {
    let connector = connector_with_document("rapport.docx");
    let reply = connector.as_user(STRANGER, "GET", &format!("/api/only-office/{DOC}/acces"), None);
    assert_eq!(reply.status, 403);
    assert_eq!(reply.json()["code"], "non_habilite");
    assert_eq!(reply.json()["message"], "L'utilisateur n'est pas habilité à faire l'action");
}

#[test]
fn user_routes_refuse_bad_tokens() {
    let connector = connector_with_document("rapport.docx");
    let path = format!("/api/only-office/{DOC}/acces");
    let missing = send("GET", &connector.url(&path), &[], None);
    assert_eq!(missing.status, 401);
    assert!(missing.json()["message"].is_string());

    let expired = {
        let claims = jwt_simple::prelude::Claims::create(jwt_simple::prelude::Duration::from_secs(1))
            .with_subject(OWNER)
            .invalid_before(jwt_simple::prelude::Clock::now_since_epoch() - jwt_simple::prelude::Duration::from_hours(2));
        let mut claims = claims;
        claims.expires_at = Some(jwt_simple::prelude::Clock::now_since_epoch() - jwt_simple::prelude::Duration::from_mins(5));
        use jwt_simple::prelude::MACLike as _;
        jwt_simple::prelude::HS256Key::from_bytes(support::connector::USER_SECRET.as_bytes()).authenticate(claims).unwrap()
    };
    let reply = send("GET", &connector.url(&path), &[("authorization", &format!("Bearer {expired}"))], None);
    assert_eq!(reply.status, 401);
    assert_eq!(reply.json()["message"], "Le JWT a expiré");

    let ds_signed = ds_token(json!({ "sub": OWNER }));
    let reply = send("GET", &connector.url(&path), &[("authorization", &format!("Bearer {ds_signed}"))], None);
    assert_eq!(reply.status, 401, "a token signed with the DS secret is no user token");

    let (binaire, _) = connector.acces(OWNER, DOC);
    let download_token = binaire.split("authorization=").nth(1).unwrap();
    let reply = send("GET", &connector.url(&path), &[("authorization", &format!("Bearer {download_token}"))], None);
    assert_eq!(reply.status, 401, "a download token is no user token");
}

#[test]
fn password_change_claim_gives_403_everywhere() {
    let connector = connector_with_document("rapport.docx");
    let token = user_token(OWNER, json!({ "changement_mot_de_passe_requis": true }));
    let authorization = format!("Bearer {token}");
    for (method, path) in [
        ("GET", format!("/api/only-office/{DOC}/acces")),
        ("POST", "/api/only-office/token".to_owned()),
        ("GET", format!("/api/documents/{DOC}")),
    ] {
        let reply = send(method, &connector.url(&path), &[("authorization", &authorization), ("content-type", "application/json")], Some(b"{}"));
        assert_eq!(reply.status, 403, "{method} {path}");
        assert_eq!(reply.json()["code"], "changement_mot_de_passe_requis", "{method} {path}");
    }
}

#[test]
fn binaire_bad_token_is_json_401() {
    let connector = connector_with_document("rapport.docx");
    let (binaire, callback) = connector.acces(OWNER, DOC);

    let expired = support::connector::connector_token(
        json!({ "aud": "oo-binaire", "doc": DOC, "sub": OWNER, "droit": "lecture", "jti": "expired" }),
        -120,
    );
    let expired_url = format!("{}?authorization={expired}", binaire.split('?').next().unwrap());
    let reply = connector.ds_download(&expired_url);
    assert_eq!(reply.status, 401);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(reply.json()["message"], "Le JWT a expiré");
    assert!(reply.header("location").is_none());

    let with_callback_token = connector.ds_download(&callback.replace("/remplacer?", "/binaire?"));
    assert_eq!(with_callback_token.status, 401, "a callback token is no download token");
    assert_eq!(with_callback_token.header("content-type"), Some("application/json"));

    let other_document = "0f4e6c1a-3b2d-4c5e-8f90-fffffffffff0";
    let moved = binaire.replace(DOC, other_document);
    let reply = connector.ds_download(&moved);
    assert!(reply.status == 403 || reply.status == 401, "a token for another document: {}", reply.status);

    let without_token = get(&connector.url(&format!("/api/only-office/{DOC}/binaire")));
    assert_eq!(without_token.status, 401);
}

#[test]
fn binaire_ignores_ds_header_for_identity() {
    let connector = connector_with_document("rapport.docx");
    let (binaire, _) = connector.acces(READER, DOC);
    let download = connector.ds_download(&binaire);
    assert_eq!(download.status, 200, "{}", download.text());
    assert!(download.body == fixture("rapport.docx"));

    let forged = format!("Bearer {}", user_token(OWNER, json!({})));
    let reply = send("GET", &connector.local(&binaire), &[("authorization", &forged)], None);
    assert_eq!(reply.status, 401, "a header token not signed by the DS is refused");
}

#[test]
fn token_for_editor_signs_server_values() {
    let connector = connector_with_document("rapport.docx");
    let (binaire, callback) = connector.acces(OWNER, DOC);
    let key = connector.as_user(OWNER, "GET", &format!("/api/documents/{DOC}"), None).json()["cle_onlyoffice"]
        .as_str()
        .unwrap()
        .to_owned();
    let posted = json!({
        "document": { "url": binaire, "key": "client-key", "fileType": "docx", "title": "x.docx" },
        "documentType": "word",
        "editorConfig": { "callbackUrl": callback, "lang": "fr", "mode": "edit" },
    });
    let reply = post_config(&connector, OWNER, &posted);
    assert_eq!(reply.status, 200, "{}", reply.text());
    let answer = reply.json();
    let signed = verified_claims(answer["token"].as_str().unwrap(), DS_SECRET);
    assert_eq!(signed["document"]["key"], key.as_str());
    assert_eq!(signed["document"]["url"], binaire.as_str(), "document.url is the /acces URL, byte for byte");
    assert_eq!(signed["editorConfig"]["callbackUrl"], callback.as_str());
    assert_eq!(signed["document"]["fileType"], "docx");
    assert_eq!(signed["document"]["title"], "rapport.docx");
    assert_eq!(signed["documentType"], "word");
    assert_eq!(signed["editorConfig"]["mode"], "edit");
    assert_eq!(signed["editorConfig"]["user"]["id"], OWNER);
    assert_eq!(signed["editorConfig"]["lang"], "fr");
    assert_eq!(signed["document"]["permissions"]["edit"], true);
    assert!(signed.get("iat").is_some(), "iat is signed");
    assert!(signed.get("exp").is_some(), "exp is signed");
    for (name, value) in answer["config"].as_object().unwrap() {
        assert_eq!(&signed[name], value, "returned config differs from the signed one at {name}");
    }
}

#[test]
fn token_for_reader_is_view_only() {
    let connector = connector_with_document("rapport.docx");
    let (binaire, callback) = connector.acces(READER, DOC);
    let posted = json!({
        "document": { "url": binaire },
        "editorConfig": { "callbackUrl": callback, "mode": "edit" },
    });
    let reply = post_config(&connector, READER, &posted);
    assert_eq!(reply.status, 200, "{}", reply.text());
    let signed = verified_claims(reply.json()["token"].as_str().unwrap(), DS_SECRET);
    assert_eq!(signed["editorConfig"]["mode"], "view");
    assert_eq!(signed["document"]["permissions"]["edit"], false);
    assert!(signed["editorConfig"].get("callbackUrl").is_none(), "no callback in view mode");
    assert_eq!(signed["editorConfig"]["user"]["id"], READER);
}

#[test]
fn token_refuses_user_without_rights() {
    let connector = connector_with_document("rapport.docx");
    let (binaire, _) = connector.acces(OWNER, DOC);
    let reply = post_config(&connector, STRANGER, &json!({ "document": { "url": binaire } }));
    assert_eq!(reply.status, 403);
    assert_eq!(reply.json()["code"], "non_habilite");
}

#[test]
fn token_never_signs_foreign_values() {
    let connector = connector_with_document("rapport.docx");
    let posted = json!({
        "document": { "key": "4711-v7-9f2c", "url": "http://169.254.169.254/latest/meta-data/", "fileType": "docx", "title": "x.docx" },
        "documentType": "word",
        "editorConfig": { "callbackUrl": "https://attacker.example/cb", "mode": "edit", "user": { "id": "u-999", "name": "Admin" } },
    });
    let reply = post_config(&connector, OWNER, &posted);
    assert!(reply.status == 400 || reply.status == 403, "{}", reply.text());
    assert!(!reply.text().contains("eyJ"), "nothing was signed: {}", reply.text());

    let (binaire, _) = connector.acces(OWNER, DOC);
    let foreign_callback = json!({
        "document": { "url": binaire },
        "editorConfig": { "callbackUrl": "https://attacker.example/cb" },
    });
    let reply = post_config(&connector, OWNER, &foreign_callback);
    assert_eq!(reply.status, 400, "a foreign callbackUrl is refused: {}", reply.text());
    assert!(reply.json()["message"].as_str().unwrap().contains("/acces"));

    let mixed = json!({
        "document": { "url": binaire, "key": "4711-v7-9f2c", "permissions": { "edit": true } },
        "editorConfig": { "user": { "id": "u-999", "name": "Admin" }, "plugins": true },
        "plugins": { "pluginsData": ["https://attacker.example/plugin.json"] },
        "token": "x", "payload": {}, "url": "http://169.254.169.254/",
    });
    let reply = post_config(&connector, OWNER, &mixed);
    assert_eq!(reply.status, 200, "{}", reply.text());
    let signed = verified_claims(reply.json()["token"].as_str().unwrap(), DS_SECRET).to_string();
    for foreign in ["attacker.example", "169.254.169.254", "u-999", "4711-v7-9f2c", "pluginsData"] {
        assert!(!signed.contains(foreign), "{foreign} was signed: {signed}");
    }
}

#[test]
fn token_uses_new_key_after_replacement() {
    let connector = connector_with_document("rapport.docx");
    let metadata = |c: &Connector| c.as_user(OWNER, "GET", &format!("/api/documents/{DOC}"), None).json();
    let first_key = metadata(&connector)["cle_onlyoffice"].as_str().unwrap().to_owned();
    let replaced = connector.upload(OWNER, DOC, "rapport.docx", &fixture("rapport.docx"));
    assert_eq!(replaced.status, 200, "{}", replaced.text());
    let second_key = metadata(&connector)["cle_onlyoffice"].as_str().unwrap().to_owned();
    assert_ne!(first_key, second_key);

    let (binaire, _) = connector.acces(OWNER, DOC);
    let posted = json!({ "document": { "url": binaire, "key": first_key } });
    let signed = verified_claims(post_config(&connector, OWNER, &posted).json()["token"].as_str().unwrap(), DS_SECRET);
    assert_eq!(signed["document"]["key"], second_key.as_str());
}

#[test]
fn weak_ds_secret_refused() {
    for secret in ["", "secret"] {
        let connector = Connector::start_with(&[("onlyoffice_jwt_secret", secret)], Setup::default());
        assert_eq!(connector.upload(OWNER, DOC, "rapport.docx", &fixture("rapport.docx")).status, 201);
        let reply = connector.as_user(OWNER, "GET", &format!("/api/only-office/{DOC}/acces"), None);
        assert_eq!(reply.status, 500, "secret {secret:?}: {}", reply.text());
        assert!(!reply.text().contains("eyJ"));
    }
}

#[test]
fn maintenance_gives_503_with_retry_after() {
    let connector = Connector::start_with(&[("maintenance", "true")], Setup::default());
    let reply = connector.as_user(OWNER, "GET", &format!("/api/only-office/{DOC}/acces"), None);
    assert_eq!(reply.status, 503);
    assert_eq!(reply.json()["code"], "mise_a_jour_api_en_cours");
    assert!(reply.header("retry-after").is_some());
}

#[test]
fn bad_requests_get_clear_errors() {
    let connector = connector_with_document("rapport.docx");
    let invalid_id = connector.as_user(OWNER, "GET", "/api/only-office/not-a-uuid/acces", None);
    assert_eq!(invalid_id.status, 400);
    assert!(invalid_id.json()["message"].as_str().unwrap().contains("UUID"));

    let unknown = connector.as_user(OWNER, "GET", "/api/only-office/00000000-0000-4000-8000-000000000000/acces", None);
    assert_eq!(unknown.status, 404);

    let wrong_method = connector.as_user(OWNER, "DELETE", &format!("/api/only-office/{DOC}/acces"), None);
    assert_eq!(wrong_method.status, 405);
    assert_eq!(wrong_method.header("allow"), Some("GET"));

    let malformed = post_config(&connector, OWNER, &Value::Null);
    assert_eq!(malformed.status, 400);
    let broken = connector.as_user(OWNER, "POST", "/api/only-office/token", Some(b"{\"document\": "));
    assert_eq!(broken.status, 400);
    assert!(broken.json()["message"].as_str().unwrap().contains("ligne 1"), "{}", broken.text());

    let token = user_token(OWNER, json!({}));
    let form = send(
        "POST",
        &connector.url("/api/only-office/token"),
        &[("authorization", &format!("Bearer {token}")), ("content-type", "application/x-www-form-urlencoded")],
        Some(b"a=b"),
    );
    assert_eq!(form.status, 415);

    let trailing_slash = connector.as_user(OWNER, "GET", &format!("/api/only-office/{DOC}/acces/"), None);
    assert_eq!(trailing_slash.status, 404, "never a redirect");
}

#[test]
fn upload_rejects_oversized_and_mismatched_files() {
    let connector = Connector::start_with(&[("max_document_bytes", "10000")], Setup::default());
    let too_large = connector.upload(OWNER, DOC, "rapport.pdf", &fixture("rapport.pdf"));
    assert_eq!(too_large.status, 413, "{}", too_large.text());
    let mismatch = connector.upload(OWNER, DOC, "rapport.docx", b"%PDF-1.7 not a docx");
    assert_eq!(mismatch.status, 400, "{}", mismatch.text());
    let unknown_type = connector.upload(OWNER, DOC, "script.exe", b"MZ");
    assert_eq!(unknown_type.status, 415, "{}", unknown_type.text());
    assert!(unknown_type.json()["message"].as_str().unwrap().contains("« exe »"));
    let with_path = connector.upload(OWNER, DOC, "../../etc/rapport.docx", &fixture("rapport.docx"));
    assert_eq!(with_path.status, 400, "a file name with a path is refused");
    let missing = connector.as_user(OWNER, "GET", &format!("/api/documents/{DOC}"), None);
    assert_eq!(missing.status, 404, "nothing was stored");
}

#[test]
fn large_file_streams_with_bounded_guest_memory() {
    let setup = Setup { max_instance_memory: 24 << 20, ..Setup::default() };
    let mut setup = setup;
    setup.limits.max_request_body = 64 << 20;
    let connector = Connector::start_with(&[("max_document_bytes", "67108864")], setup);
    let mut bytes = fixture("rapport.pdf");
    let mut state = 0x2545_f491_u32;
    while bytes.len() < 50 * 1000 * 1000 {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        bytes.extend_from_slice(&state.to_le_bytes());
    }
    // A PDF must end with its end-of-file marker, or the upload is refused as cut short.
    bytes.extend_from_slice(b"\n%%EOF\n");
    let uploaded = connector.upload(OWNER, DOC, "grand.pdf", &bytes);
    assert_eq!(uploaded.status, 201, "{}", uploaded.text());
    let (binaire, _) = connector.acces(OWNER, DOC);
    let download = connector.ds_download(&binaire);
    assert_eq!(download.status, 200);
    assert_eq!(download.body.len(), bytes.len());
    assert!(download.body == bytes, "50 MB file differs after the round trip");
}
