//! Store addresses (SPEC section 4): `local:PATH`, `avp:ID`,
//! `avp:policy-store-alias/NAME`, or a name from `[stores]` in avpctl.toml.

use std::path::{Path, PathBuf};

use crate::config::{Config, StoreConfig};
use crate::error::Error;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreAddress {
    Local(PathBuf),
    Avp {
        /// A policy store id, or `policy-store-alias/NAME`.
        id: String,
        region: Option<String>,
        profile: Option<String>,
        endpoint_url: Option<String>,
    },
}

impl StoreAddress {
    pub fn describe(&self) -> String {
        match self {
            StoreAddress::Local(path) => format!("local:{}", path.display()),
            StoreAddress::Avp { id, .. } => format!("avp:{id}"),
        }
    }
}

/// Resolves what the user typed. A name from the project's avpctl.toml wins
/// over the URI forms; a `local:` path in the config is relative to the
/// project, on the command line to the working directory.
pub fn resolve_address(
    text: &str,
    config: &Config,
    project_root: &Path,
) -> Result<StoreAddress, Error> {
    if let Some(named) = config.stores.get(text) {
        return parse(&named.uri, Some(named), Some(project_root))
            .map_err(|message| Error::Usage(format!("[stores.{text}] in avpctl.toml: {message}")));
    }
    parse(text, None, None).map_err(|message| {
        let known: Vec<&str> = config.stores.keys().map(String::as_str).collect();
        let mut message = message;
        if let Some(closest) = crate::suggest::closest(text, known.iter().copied()) {
            message.push_str(&format!(" (did you mean the store `{closest}`?)"));
        }
        Error::Usage(message)
    })
}

fn parse(
    text: &str,
    named: Option<&StoreConfig>,
    base: Option<&Path>,
) -> Result<StoreAddress, String> {
    if let Some(path) = text.strip_prefix("local:") {
        if path.is_empty() {
            return Err("`local:` needs a path, e.g. local:.avpctl/store.json".into());
        }
        let path = PathBuf::from(path);
        let path = match base {
            Some(base) if path.is_relative() => base.join(path),
            _ => path,
        };
        return Ok(StoreAddress::Local(path));
    }
    if let Some(id) = text.strip_prefix("avp:") {
        let valid = if let Some(alias) = id.strip_prefix("policy-store-alias/") {
            !alias.is_empty()
                && alias
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '/'))
        } else {
            !id.is_empty()
                && id.len() <= 200
                && id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
        };
        if !valid {
            return Err(format!(
                "`{text}` is not a store address: an AVP store is avp:<policy store id> or avp:policy-store-alias/<name>"
            ));
        }
        return Ok(StoreAddress::Avp {
            id: id.to_string(),
            region: named.and_then(|n| n.region.clone()),
            profile: named.and_then(|n| n.profile.clone()),
            endpoint_url: named.and_then(|n| n.endpoint_url.clone()),
        });
    }
    Err(format!(
        "`{text}` is not a store address: use local:PATH, avp:ID, avp:policy-store-alias/NAME, or a name from [stores] in avpctl.toml"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse() {
        let config = Config::default();
        let root = Path::new("/p");
        assert_eq!(
            resolve_address("local:s.json", &config, root).unwrap(),
            StoreAddress::Local("s.json".into())
        );
        assert!(
            matches!(resolve_address("avp:PSEXAMPLEabcdefg111111", &config, root).unwrap(), StoreAddress::Avp { id, .. } if id == "PSEXAMPLEabcdefg111111")
        );
        assert!(
            matches!(resolve_address("avp:policy-store-alias/prod", &config, root).unwrap(), StoreAddress::Avp { id, .. } if id == "policy-store-alias/prod")
        );
        for bad in ["local:", "avp:", "avp:has space", "s3:bucket", "prod"] {
            assert!(resolve_address(bad, &config, root).is_err(), "{bad}");
        }
    }

    #[test]
    fn named_stores_come_from_the_config_relative_to_the_project() {
        let mut config = Config::default();
        config.stores.insert(
            "dev".into(),
            StoreConfig {
                uri: "local:dev.json".into(),
                region: None,
                profile: None,
                endpoint_url: None,
            },
        );
        assert_eq!(
            resolve_address("dev", &config, Path::new("/p")).unwrap(),
            StoreAddress::Local("/p/dev.json".into())
        );
        let err = resolve_address("dve", &config, Path::new("/p"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("did you mean the store `dev`?"), "{err}");
    }
}
