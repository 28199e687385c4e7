//! `spin.toml` serves the same component with every setting mapped to a Spin variable.

use efalia_onlyoffice::settings::SETTING_NAMES;

fn manifest() -> toml::Table {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/spin.toml")).unwrap();
    text.parse().unwrap()
}

#[test]
fn every_setting_is_a_component_variable() {
    let manifest = manifest();
    let component = &manifest["component"]["efalia-onlyoffice"];
    let variables = component["variables"].as_table().unwrap();
    let application_variables = manifest["variables"].as_table().unwrap();
    for name in SETTING_NAMES {
        assert_eq!(variables[name].as_str(), Some(format!("{{{{ {name} }}}}").as_str()), "{name}");
        assert!(application_variables.contains_key(name), "{name} is not an application variable");
    }
    assert_eq!(variables.len(), SETTING_NAMES.len(), "a component variable the code never reads");
}

#[test]
fn component_uses_default_store_and_ds_allow_list() {
    let manifest = manifest();
    let component = &manifest["component"]["efalia-onlyoffice"];
    assert_eq!(component["source"].as_str(), Some("target/wasm32-wasip2/component/efalia_onlyoffice.wasm"));
    assert_eq!(component["key_value_stores"].as_array().unwrap(), &vec![toml::Value::from("default")]);
    assert_eq!(
        component["allowed_outbound_hosts"].as_array().unwrap(),
        &vec![toml::Value::from("{{ onlyoffice_internal_url }}")]
    );
    let secrets: Vec<&str> = ["onlyoffice_jwt_secret", "connector_secret", "user_jwt_secret"].to_vec();
    for secret in secrets {
        assert_eq!(manifest["variables"][secret]["secret"].as_bool(), Some(true), "{secret} must be secret");
    }
}
