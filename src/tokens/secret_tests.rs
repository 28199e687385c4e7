use super::*;
use crate::tokens::UserJwtSettings;
use crate::tokens::test_support::{
    CONNECTOR_SECRET, DS_SECRET, connector_secret, ds_secret, hs256_user_verifier,
};

fn ds_rejection(value: &str) -> Option<&'static str> {
    match DsSecret::new(value) {
        Err(TokenError::WeakSecret { setting, .. }) => Some(setting),
        _ => None,
    }
}

#[test]
fn ds_secret_rejects_empty() {
    assert_eq!(ds_rejection(""), Some("onlyoffice_jwt_secret"));
}

#[test]
fn ds_secret_rejects_known_defaults() {
    for value in [
        "secret",
        "SECRET",
        "changeme",
        "onlyoffice",
        "a-string-secret-at-least-256-bits-long",
    ] {
        assert_eq!(
            ds_rejection(value),
            Some("onlyoffice_jwt_secret"),
            "{value}"
        );
    }
}

#[test]
fn ds_secret_rejects_31_bytes() {
    assert_eq!(
        ds_rejection(&DS_SECRET[..31]),
        Some("onlyoffice_jwt_secret")
    );
}

#[test]
fn ds_secret_accepts_32_bytes() {
    assert!(DsSecret::new(&DS_SECRET[..32]).is_ok());
}

#[test]
fn ds_secret_rejects_surrounding_whitespace() {
    assert!(ds_rejection(&format!("{DS_SECRET}\n")).is_some());
    assert!(ds_rejection(&format!(" {DS_SECRET}")).is_some());
}

#[test]
fn ds_secret_rejects_one_repeated_character() {
    assert!(ds_rejection(&"a".repeat(40)).is_some());
}

#[test]
fn weak_secret_message_names_setting_and_rule() {
    let message = DsSecret::new("").unwrap_err().to_string();

    assert!(message.contains("onlyoffice_jwt_secret"), "{message}");
    assert!(message.contains("32 bytes"), "{message}");
}

#[test]
fn weak_secret_message_omits_the_value() {
    let value = "short-but-distinctive-9q8w7e";
    let message = DsSecret::new(value).unwrap_err().to_string();

    assert!(!message.contains(value), "{message}");
}

#[test]
fn connector_secret_names_its_setting() {
    let error = ConnectorSecret::new("changeme").unwrap_err();

    assert!(matches!(
        error,
        TokenError::WeakSecret {
            setting: "connector_secret",
            ..
        }
    ));
}

#[test]
fn debug_output_hides_secrets() {
    let debug = format!("{:?} {:?}", ds_secret(), connector_secret());

    assert!(!debug.contains(DS_SECRET), "{debug}");
    assert!(!debug.contains(CONNECTOR_SECRET), "{debug}");
}

#[test]
fn distinct_secrets_pass() {
    let user = hs256_user_verifier();

    assert_eq!(
        ensure_distinct_secrets(&ds_secret(), &connector_secret(), Some(&user)),
        Ok(())
    );
}

#[test]
fn connector_equal_to_ds_is_rejected() {
    let connector = ConnectorSecret::new(DS_SECRET).unwrap();
    let error = ensure_distinct_secrets(&ds_secret(), &connector, None).unwrap_err();

    assert!(matches!(
        error,
        TokenError::WeakSecret {
            setting: "connector_secret",
            ..
        }
    ));
}

#[test]
fn user_secret_equal_to_ds_is_rejected() {
    let user = UserVerifier::from_settings(&UserJwtSettings {
        secret: Some(DS_SECRET.to_owned()),
        ..UserJwtSettings::default()
    })
    .unwrap();
    let error =
        ensure_distinct_secrets(&ds_secret(), &connector_secret(), Some(&user)).unwrap_err();

    assert!(matches!(
        error,
        TokenError::WeakSecret {
            setting: "user_jwt_secret",
            ..
        }
    ));
}

#[test]
fn user_secret_equal_to_connector_is_rejected() {
    let user = UserVerifier::from_settings(&UserJwtSettings {
        secret: Some(CONNECTOR_SECRET.to_owned()),
        ..UserJwtSettings::default()
    })
    .unwrap();
    let error =
        ensure_distinct_secrets(&ds_secret(), &connector_secret(), Some(&user)).unwrap_err();

    assert!(matches!(
        error,
        TokenError::WeakSecret {
            setting: "user_jwt_secret",
            ..
        }
    ));
}

#[test]
fn weak_user_secret_names_its_setting() {
    let error = UserVerifier::from_settings(&UserJwtSettings {
        secret: Some("secret".to_owned()),
        ..UserJwtSettings::default()
    })
    .unwrap_err();

    assert!(matches!(
        error,
        TokenError::WeakSecret {
            setting: "user_jwt_secret",
            ..
        }
    ));
}
