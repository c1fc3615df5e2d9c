//! Parsing a plugin's configuration text.

use crate::PluginError;
use serde::de::DeserializeOwned;

/// Parses a plugin's configuration, written in RON, into `T`.
///
/// The host hands a plugin the `config` value of a system file as RON text. Derive
/// `Deserialize` with `#[serde(deny_unknown_fields)]` on `T` so that a typo is an error that names
/// the field. An empty text is read as `()`, which suits a struct whose fields all have defaults.
pub fn parse_config<T: DeserializeOwned>(text: &str) -> Result<T, PluginError> {
    let text = if text.trim().is_empty() { "()" } else { text };
    ron::Options::default()
        .with_default_extension(ron::extensions::Extensions::IMPLICIT_SOME)
        .from_str(text)
        .map_err(|e| PluginError::new(format!("invalid plugin configuration: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize, Debug, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Cfg {
        #[serde(default)]
        a: f64,
        #[serde(default)]
        b: Option<u32>,
    }

    #[test]
    fn unknown_field_is_named() {
        let err = parse_config::<Cfg>("(a: 1.0, bb: 2)").unwrap_err();
        assert!(err.message().contains("bb"), "{}", err.message());
    }

    #[test]
    fn empty_text_means_defaults() {
        assert_eq!(parse_config::<Cfg>("  ").unwrap(), Cfg { a: 0.0, b: None });
        assert_eq!(
            parse_config::<Cfg>("(b: 3)").unwrap(),
            Cfg { a: 0.0, b: Some(3) }
        );
    }
}
