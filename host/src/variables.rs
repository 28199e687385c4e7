//! Component variables served through `wasi:config/store@0.2.0-draft-2024-09-27`.

use std::collections::BTreeMap;
use std::sync::Arc;

use wasmtime::component::HasData;

use crate::bindings::wasi::config::store;

/// Values a component reads with `wasi:config/store`, by name.
///
/// Names follow Spin's variable rule, checked by [`is_valid_variable_name`], so the same names work
/// as Spin variables.
#[derive(Debug, Clone, Default)]
pub struct Variables {
    values: BTreeMap<String, String>,
}

impl Variables {
    /// Builds the set from name-value pairs.
    ///
    /// # Errors
    /// Fails on the first name that breaks the variable rule.
    pub fn new(values: impl IntoIterator<Item = (String, String)>) -> anyhow::Result<Self> {
        let values: BTreeMap<String, String> = values.into_iter().collect();
        if let Some(name) = values.keys().find(|name| !is_valid_variable_name(name)) {
            anyhow::bail!("{}", invalid_name_message(name));
        }
        Ok(Self { values })
    }

    /// Returns the value of `name`, if set.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// Iterates over every pair, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.values.iter().map(|(name, value)| (name.as_str(), value.as_str()))
    }
}

/// Returns the error text for a variable name that breaks the rule.
pub(crate) fn invalid_name_message(name: &str) -> String {
    format!(
        "invalid variable name {name:?}: use lowercase ASCII letters, digits and single `_`, \
         starting with a letter and ending with a letter or digit"
    )
}

/// Checks Spin's variable-name rule: lowercase ASCII letters, digits and single underscores,
/// starting with a letter and ending with a letter or a digit.
pub fn is_valid_variable_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    let Some((&first, _)) = bytes.split_first() else { return false };
    first.is_ascii_lowercase()
        && !name.ends_with('_')
        && !name.contains("__")
        && bytes.iter().all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Per-request view that implements the `wasi:config/store` host trait.
pub struct VariablesView<'a> {
    pub(crate) variables: &'a Arc<Variables>,
}

impl<'a> VariablesView<'a> {
    /// Builds the view that serves `variables`.
    pub fn new(variables: &'a Arc<Variables>) -> Self {
        Self { variables }
    }
}

impl HasData for VariablesView<'static> {
    type Data<'a> = VariablesView<'a>;
}

impl store::Host for VariablesView<'_> {
    async fn get(&mut self, key: String) -> wasmtime::Result<Result<Option<String>, store::Error>> {
        // As in Spin, an invalid name reads as unset rather than failing.
        Ok(Ok(self.variables.get(&key).map(str::to_owned)))
    }

    async fn get_all(&mut self) -> wasmtime::Result<Result<Vec<(String, String)>, store::Error>> {
        let pairs = self.variables.iter().map(|(name, value)| (name.to_owned(), value.to_owned()));
        Ok(Ok(pairs.collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variable_names_follow_spin_rule() {
        for valid in ["a", "public_base_url", "max_document_bytes", "v2", "a_1"] {
            assert!(is_valid_variable_name(valid), "{valid} should be valid");
        }
        for invalid in ["", "_a", "a_", "a__b", "A", "Public", "1a", "a-b", "a.b", "é"] {
            assert!(!is_valid_variable_name(invalid), "{invalid} should be invalid");
        }
    }

    #[test]
    fn invalid_name_is_rejected_by_new() {
        let err = Variables::new([("Bad".to_owned(), "x".to_owned())]).unwrap_err();
        assert!(err.to_string().contains("\"Bad\""), "{err}");
    }
}
