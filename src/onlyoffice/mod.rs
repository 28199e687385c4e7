//! ONLYOFFICE protocol values: file types, document keys and the editor configuration.
