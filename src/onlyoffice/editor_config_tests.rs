use serde_json::json;

use super::*;

const KEY: &str = "0b6f4f345a474d3c9a513f0e8e6c4711-v8-Ab3dE6gH9jK1";
const BINAIRE: &str = "https://ged.example.test/api/only-office/0b6f4f34-5a47-4d3c-9a51-3f0e8e6c4711/binaire?authorization=eyJ.bin.sig";
const CALLBACK: &str = "https://ged.example.test/api/only-office/0b6f4f34-5a47-4d3c-9a51-3f0e8e6c4711/remplacer?authorization=eyJ.cb.sig";

/// URLs that outlive the [`EditorConfigInput`] values borrowing them.
struct Fixture {
    binaire: Url,
    callback: Url,
}

impl Fixture {
    fn new() -> Self {
        Self {
            binaire: Url::parse(BINAIRE).unwrap(),
            callback: Url::parse(CALLBACK).unwrap(),
        }
    }

    /// Input of user u-101 with write and download rights on a docx file.
    fn editor(&self) -> EditorConfigInput<'_> {
        EditorConfigInput {
            key: KEY,
            binaire_url: &self.binaire,
            callback_url: Some(&self.callback),
            file_type: FileType::from_extension("docx").unwrap(),
            title: "Procès-verbal été 2026.docx",
            can_edit: true,
            can_download: true,
            user_id: "u-101",
            user_name: "Utilisateur A",
        }
    }

    /// Input of user u-202 with the read right only, so no callback URL.
    fn reader(&self) -> EditorConfigInput<'_> {
        EditorConfigInput {
            callback_url: None,
            can_edit: false,
            user_id: "u-202",
            user_name: "Utilisateur B",
            ..self.editor()
        }
    }
}

/// The client body of the signing-oracle case: foreign URL, callback, key and user.
fn attacker_body() -> Value {
    json!({
        "document": {
            "key": "4711-v7-9f2c",
            "url": "http://169.254.169.254/latest/meta-data/",
            "fileType": "docx",
            "title": "x.docx",
            "permissions": { "edit": true, "download": true }
        },
        "documentType": "word",
        "editorConfig": {
            "callbackUrl": "https://attacker.example/cb",
            "mode": "edit",
            "user": { "id": "u-999", "name": "Admin" }
        }
    })
}

fn build(input: EditorConfigInput<'_>, client: &Value) -> Value {
    Value::Object(build_editor_config(input, client).unwrap())
}

#[test]
fn attacker_values_never_signed() {
    let fixture = Fixture::new();

    for input in [fixture.editor(), fixture.reader()] {
        let config = build(input, &attacker_body());
        let text = config.to_string();

        for foreign in [
            "169.254.169.254",
            "attacker.example",
            "u-999",
            "Admin",
            "4711-v7-9f2c",
            "x.docx",
        ] {
            assert!(!text.contains(foreign), "{foreign} in {text}");
        }
        assert_eq!(config["document"]["key"], KEY);
        assert_eq!(config["document"]["url"], BINAIRE);
        assert_eq!(config["editorConfig"]["user"]["id"], input.user_id);
    }
}

#[test]
fn reader_gets_view_mode() {
    let fixture = Fixture::new();
    let client = json!({ "editorConfig": { "mode": "edit" } });

    let config = build(fixture.reader(), &client);

    assert_eq!(config["editorConfig"]["mode"], "view");
    assert_eq!(config["document"]["permissions"]["edit"], false);
    assert_eq!(config["document"]["permissions"]["download"], true);
    assert_eq!(config["document"]["permissions"]["print"], true);
    assert!(config["editorConfig"].get("callbackUrl").is_none());
}

#[test]
fn reader_callback_url_ignored() {
    let fixture = Fixture::new();
    let input = EditorConfigInput {
        callback_url: Some(&fixture.callback),
        ..fixture.reader()
    };

    let config = build(input, &json!({}));

    assert_eq!(config["editorConfig"]["mode"], "view");
    assert!(config["editorConfig"].get("callbackUrl").is_none());
}

#[test]
fn editor_gets_edit_mode_and_callback() {
    let fixture = Fixture::new();

    let config = build(fixture.editor(), &json!({}));

    assert_eq!(config["editorConfig"]["mode"], "edit");
    assert_eq!(config["editorConfig"]["callbackUrl"], CALLBACK);
    assert_eq!(config["document"]["url"], BINAIRE);
    assert_eq!(config["document"]["permissions"]["edit"], true);
}

#[test]
fn document_fields_from_server_data() {
    let fixture = Fixture::new();

    let config = build(fixture.editor(), &json!({}));

    assert_eq!(config["documentType"], "word");
    assert_eq!(config["document"]["fileType"], "docx");
    assert_eq!(config["document"]["title"], "Procès-verbal été 2026.docx");
    assert_eq!(
        config["editorConfig"]["user"],
        json!({ "id": "u-101", "name": "Utilisateur A" })
    );
}

#[test]
fn view_only_formats_open_in_view_mode() {
    let fixture = Fixture::new();

    for (extension, document_type) in [
        ("pdf", "pdf"),
        ("doc", "word"),
        ("xls", "cell"),
        ("ppt", "slide"),
    ] {
        let input = EditorConfigInput {
            file_type: FileType::from_extension(extension).unwrap(),
            ..fixture.editor()
        };
        let config = build(input, &json!({}));

        assert_eq!(config["editorConfig"]["mode"], "view", "{extension}");
        assert_eq!(
            config["document"]["permissions"]["edit"], false,
            "{extension}"
        );
        assert!(
            config["editorConfig"].get("callbackUrl").is_none(),
            "{extension}"
        );
        assert_eq!(config["documentType"], document_type, "{extension}");
    }
}

#[test]
fn client_view_request_downgrades_editor() {
    let fixture = Fixture::new();
    let client = json!({ "editorConfig": { "mode": "view" } });

    let config = build(fixture.editor(), &client);

    assert_eq!(config["editorConfig"]["mode"], "view");
    assert_eq!(config["document"]["permissions"]["edit"], false);
    assert!(config["editorConfig"].get("callbackUrl").is_none());
}

#[test]
fn decide_mode_rules() {
    let docx = FileType::from_extension("docx").unwrap();
    let pdf = FileType::from_extension("pdf").unwrap();
    let no_request = json!({});
    let view_request = json!({ "editorConfig": { "mode": "view" } });
    let odd_request = json!({ "editorConfig": { "mode": "review" } });

    assert_eq!(decide_mode(true, docx, &no_request), EditorMode::Edit);
    assert_eq!(decide_mode(true, docx, &odd_request), EditorMode::Edit);
    assert_eq!(decide_mode(true, docx, &view_request), EditorMode::View);
    assert_eq!(decide_mode(false, docx, &no_request), EditorMode::View);
    assert_eq!(decide_mode(true, pdf, &no_request), EditorMode::View);
}

#[test]
fn edit_mode_without_callback_rejected() {
    let fixture = Fixture::new();
    let input = EditorConfigInput {
        callback_url: None,
        ..fixture.editor()
    };

    assert_eq!(
        build_editor_config(input, &json!({})),
        Err(OnlyOfficeError::MissingCallbackUrl)
    );
}

#[test]
fn permissions_complete_booleans() {
    let fixture = Fixture::new();

    for (can_edit, can_download) in [(true, true), (true, false), (false, true), (false, false)] {
        let input = EditorConfigInput {
            can_edit,
            can_download,
            ..fixture.editor()
        };
        let config = build(
            input,
            &json!({ "document": { "permissions": { "edit": true, "rename": true } } }),
        );
        let permissions = config["document"]["permissions"].as_object().unwrap();

        assert_eq!(permissions.len(), PERMISSION_NAMES.len());
        for name in PERMISSION_NAMES {
            let expected = match name {
                "download" | "print" | "copy" => can_download,
                _ => can_edit,
            };
            assert_eq!(
                permissions.get(name),
                Some(&Value::Bool(expected)),
                "{name} for {can_edit}/{can_download}"
            );
        }
    }
}

#[test]
fn permission_names_cover_ds_rights() {
    let expected = [
        "edit",
        "download",
        "print",
        "copy",
        "review",
        "comment",
        "fillForms",
        "modifyFilter",
        "modifyContentControl",
        "chat",
        "protect",
    ];

    for name in expected {
        assert!(PERMISSION_NAMES.contains(&name), "{name}");
    }
}

#[test]
fn plugins_macros_and_tokens_dropped() {
    let fixture = Fixture::new();
    let client = json!({
        "token": "eyJ.forged.sig",
        "payload": { "document": { "url": "http://evil.test/" } },
        "url": "http://evil.test/",
        "key": "stolen-key",
        "plugins": { "pluginsData": ["http://evil.test/config.json"] },
        "editorConfig": {
            "plugins": {
                "autostart": ["asc.{evil}"],
                "pluginsData": ["http://evil.test/config.json"]
            },
            "customization": { "macros": true, "macrosMode": "enable", "plugins": true }
        }
    });

    let config = build(fixture.editor(), &client);
    let text = config.to_string();

    assert!(!text.contains("evil"), "{text}");
    assert!(!text.contains("stolen-key"), "{text}");
    assert!(config["editorConfig"].get("plugins").is_none());
    assert_eq!(config["editorConfig"]["customization"]["macros"], false);
    assert_eq!(
        config["editorConfig"]["customization"]["macrosMode"],
        "disable"
    );
    assert!(
        config["editorConfig"]["customization"]
            .get("plugins")
            .is_none()
    );
}

#[test]
fn top_level_fields_limited() {
    let fixture = Fixture::new();
    let mut client = attacker_body();
    client["url"] = json!("http://evil.test/");
    client["key"] = json!("k");
    client["payload"] = json!({});
    client["token"] = json!("t");
    client["iat"] = json!(1);
    client["exp"] = json!(99_999_999_999_u64);
    client["status"] = json!(2);
    client["type"] = json!("desktop");
    client["width"] = json!("100%");
    client["height"] = json!("800px");

    let config = build_editor_config(fixture.editor(), &client).unwrap();
    let mut names: Vec<&str> = config.keys().map(String::as_str).collect();
    names.sort_unstable();

    assert_eq!(
        names,
        [
            "document",
            "documentType",
            "editorConfig",
            "height",
            "type",
            "width"
        ]
    );
}

#[test]
fn client_language_kept_when_valid() {
    let fixture = Fixture::new();
    let client = json!({ "editorConfig": { "lang": "fr", "region": "fr-FR" } });

    let config = build(fixture.editor(), &client);

    assert_eq!(config["editorConfig"]["lang"], "fr");
    assert_eq!(config["editorConfig"]["region"], "fr-FR");
}

#[test]
fn invalid_language_dropped() {
    let fixture = Fixture::new();
    let invalid = [
        json!("f".repeat(200)),
        json!(""),
        json!("fr_FR"),
        json!("fr\"><script>"),
        json!(7),
        json!(["fr"]),
    ];

    for value in invalid {
        let client = json!({ "editorConfig": { "lang": value, "region": value } });
        let config = build(fixture.editor(), &client);

        assert!(config["editorConfig"].get("lang").is_none(), "{value}");
        assert!(config["editorConfig"].get("region").is_none(), "{value}");
    }
}

#[test]
fn layout_fields_validated() {
    let fixture = Fixture::new();
    let valid = json!({ "type": "mobile", "width": "42.5em", "height": "600" });
    let invalid = [
        json!({ "type": "desktop\n", "width": "100%;background:url(x)", "height": 600 }),
        json!({ "type": "full", "width": "1.2.3px", "height": ".5px" }),
        json!({ "type": null, "width": "9".repeat(17), "height": "px" }),
    ];

    let config = build(fixture.editor(), &valid);
    assert_eq!(config["type"], "mobile");
    assert_eq!(config["width"], "42.5em");
    assert_eq!(config["height"], "600");

    for client in invalid {
        let config = build(fixture.editor(), &client);
        assert!(config.get("type").is_none(), "{client}");
        assert!(config.get("width").is_none(), "{client}");
        assert!(config.get("height").is_none(), "{client}");
    }
}

#[test]
fn customization_allow_list_kept() {
    let fixture = Fixture::new();
    let client = json!({ "editorConfig": { "customization": {
        "autosave": false,
        "forcesave": true,
        "compactHeader": true,
        "hideRulers": true,
        "uiTheme": "theme-dark",
        "zoom": -2,
        "unit": "cm",
        "spellcheck": false,
    } } });

    let config = build(fixture.editor(), &client);
    let customization = &config["editorConfig"]["customization"];

    assert_eq!(customization["autosave"], false);
    assert_eq!(customization["forcesave"], true);
    assert_eq!(customization["compactHeader"], true);
    assert_eq!(customization["hideRulers"], true);
    assert_eq!(customization["uiTheme"], "theme-dark");
    assert_eq!(customization["zoom"], -2);
    assert_eq!(customization["unit"], "cm");
    assert_eq!(customization["spellcheck"], false);
}

#[test]
fn customization_unsafe_fields_dropped() {
    let fixture = Fixture::new();
    let client = json!({ "editorConfig": { "customization": {
        "goback": { "url": "https://evil.test/back" },
        "logo": { "image": "https://evil.test/logo.png" },
        "customer": { "www": "evil.test" },
        "loaderLogo": "https://evil.test/l.png",
        "uiTheme": "https://evil.test/theme.css",
        "autosave": "false",
        "zoom": 10_000,
        "unit": "furlong",
        "compactHeader": 1,
    } } });

    let config = build(fixture.editor(), &client);
    let customization = config["editorConfig"]["customization"].as_object().unwrap();
    let mut names: Vec<&str> = customization.keys().map(String::as_str).collect();
    names.sort_unstable();

    assert_eq!(names, ["macros", "macrosMode"]);
}

#[test]
fn customization_of_wrong_type_ignored() {
    let fixture = Fixture::new();

    for customization in [json!("autosave"), json!(null), json!([true])] {
        let client = json!({ "editorConfig": { "customization": customization } });
        let config = build(fixture.editor(), &client);

        assert_eq!(
            config["editorConfig"]["customization"],
            json!({ "macros": false, "macrosMode": "disable" })
        );
    }
}

#[test]
fn client_body_of_any_shape_accepted() {
    let fixture = Fixture::new();

    for client in [
        json!(null),
        json!("config"),
        json!([1, 2]),
        json!({ "editorConfig": "x", "document": 3 }),
    ] {
        let config = build(fixture.editor(), &client);

        assert_eq!(config["document"]["key"], KEY, "{client}");
        assert_eq!(config["editorConfig"]["mode"], "edit", "{client}");
    }
}

#[test]
fn invalid_key_rejected() {
    let fixture = Fixture::new();

    for key in ["", "with space", "a/b", &"k".repeat(129)] {
        let input = EditorConfigInput {
            key,
            ..fixture.editor()
        };

        assert_eq!(
            build_editor_config(input, &json!({})),
            Err(OnlyOfficeError::InvalidDocumentKey),
            "{key}"
        );
    }
}

#[test]
fn empty_user_id_rejected() {
    let fixture = Fixture::new();
    let input = EditorConfigInput {
        user_id: "",
        ..fixture.editor()
    };

    assert_eq!(
        build_editor_config(input, &json!({})),
        Err(OnlyOfficeError::MissingUserId)
    );
}

#[test]
fn empty_user_name_shows_id() {
    let fixture = Fixture::new();
    let input = EditorConfigInput {
        user_name: "",
        ..fixture.editor()
    };

    let config = build(input, &json!({}));

    assert_eq!(config["editorConfig"]["user"]["name"], "u-101");
}

#[test]
fn long_title_keeps_extension() {
    let fixture = Fixture::new();
    let title = format!("{}.docx", "é".repeat(300));
    let input = EditorConfigInput {
        title: &title,
        ..fixture.editor()
    };

    let config = build(input, &json!({}));
    let signed_title = config["document"]["title"].as_str().unwrap();

    assert_eq!(signed_title.chars().count(), MAX_TITLE_CHARS);
    assert!(signed_title.ends_with("é.docx"), "{signed_title}");
}

#[test]
fn long_title_without_short_extension_cut() {
    let title = format!("a.{}", "b".repeat(200));

    let shortened = document_title(&title, FileType::from_extension("txt").unwrap());

    assert_eq!(shortened.chars().count(), MAX_TITLE_CHARS);
    assert!(shortened.starts_with("a.bbb"), "{shortened}");
}

#[test]
fn title_at_limit_unchanged() {
    let title = format!("{}.pdf", "t".repeat(MAX_TITLE_CHARS - 4));

    assert_eq!(
        document_title(&title, FileType::from_extension("pdf").unwrap()),
        title
    );
}

#[test]
fn empty_title_gets_default() {
    let fixture = Fixture::new();
    let input = EditorConfigInput {
        title: "",
        ..fixture.editor()
    };

    let config = build(input, &json!({}));

    assert_eq!(config["document"]["title"], "Unnamed.docx");
}

#[test]
fn config_signs_and_verifies() {
    use crate::tokens::{DsSecret, sign_config, verify_ds_body_token};

    let fixture = Fixture::new();
    let secret = DsSecret::new("onlyoffice-module-test-secret-4c7e1a9b").unwrap();
    let now = 1_767_600_000;
    let config = build_editor_config(fixture.editor(), &attacker_body()).unwrap();

    let token = sign_config(&config, &secret, now, 300).unwrap();
    let mut claims = verify_ds_body_token(&secret, &token, now).unwrap();
    claims.remove("iat");
    claims.remove("exp");

    assert_eq!(claims, config);
}
