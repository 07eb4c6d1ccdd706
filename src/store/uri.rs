//! Store addresses (docs/stores.md): `local:PATH`, `avp:ID`,
//! `avp:policy-store-alias/NAME`, or a name from `[stores]` in avpctl.toml.

use std::path::{Path, PathBuf};

use crate::config::{Config, StoreConfig};
use crate::error::Error;

/// The store of a project that names none: the embedded store inside it.
pub const DEFAULT_STORE: &str = "local:.avpctl/store.json";

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
            StoreAddress::Local(path) => format!(
                "local:{}",
                crate::source::display_path(path).trim_start_matches("./")
            ),
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

/// The default store lives in the project, wherever avpctl runs from.
pub fn default_relative_to_project(text: &str, address: StoreAddress, root: &Path) -> StoreAddress {
    match address {
        StoreAddress::Local(path) if text == DEFAULT_STORE => StoreAddress::Local(root.join(path)),
        other => other,
    }
}

/// How reports name a store: by its name in avpctl.toml, with the address
/// (`tenant-a (avp:PS…)`), or by the address alone.
pub fn label(name: Option<&str>, described: String) -> String {
    match name {
        Some(name) => format!("{name} ({described})"),
        None => described,
    }
}

/// What `--store TEXT` names: a `[store_groups]` entry (each member), or
/// one store; each with its name in avpctl.toml when it has one. The
/// default store is relative to the project wherever avpctl runs from.
pub fn named_addresses(
    text: &str,
    config: &Config,
    project_root: &Path,
) -> Result<Vec<(Option<String>, StoreAddress)>, Error> {
    let members: Vec<&str> = match config.store_groups.get(text) {
        Some(group) => group.iter().map(String::as_str).collect(),
        None => vec![text],
    };
    members
        .into_iter()
        .map(|member| {
            let address = resolve_address(member, config, project_root)?;
            let address = default_relative_to_project(member, address, project_root);
            let name = config
                .stores
                .contains_key(member)
                .then(|| member.to_string());
            Ok((name, address))
        })
        .collect()
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
            // A store named in avpctl.toml is the project's: it may not be
            // a file elsewhere that a deploy would overwrite.
            Some(base) => {
                crate::files::resolve_inside_for_write(base, &path).map_err(|err| {
                    format!("{err}; a store file named in avpctl.toml must be inside the project")
                })?;
                base.join(path)
            }
            None => path,
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
        let endpoint_url = named.and_then(|n| n.endpoint_url.clone());
        if let Some(url) = &endpoint_url
            && !is_loopback_url(url)
        {
            return Err(format!(
                "`endpoint_url` may only name this machine (http://127.0.0.1:PORT, http://localhost:PORT or http://[::1]:PORT), not `{url}`: avpctl.toml is part of the repository, and a pull request could send the runner's signed requests to any host; give other endpoints with --endpoint-url or AWS_ENDPOINT_URL"
            ));
        }
        return Ok(StoreAddress::Avp {
            id: id.to_string(),
            region: named.and_then(|n| n.region.clone()),
            profile: named.and_then(|n| n.profile.clone()),
            endpoint_url,
        });
    }
    Err(format!(
        "`{text}` is not a store address: use local:PATH, avp:ID, avp:policy-store-alias/NAME, or a name from [stores] in avpctl.toml"
    ))
}

/// Whether `url` is `http(s)://HOST[:PORT][/…]` with HOST a loopback name
/// or address. User information (`user@host`) is refused outright: it is
/// the classic way to make a URL look local.
fn is_loopback_url(url: &str) -> bool {
    let Some(rest) = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
    else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return false;
    }
    let host = match authority.strip_prefix('[') {
        Some(bracketed) => match bracketed.split_once(']') {
            Some((host, port)) if port.is_empty() || port.starts_with(':') => host,
            _ => return false,
        },
        None => authority.split(':').next().unwrap_or_default(),
    };
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    host.parse::<std::net::IpAddr>()
        .is_ok_and(|address| address.is_loopback())
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
        let project = tempfile::tempdir().unwrap();
        assert_eq!(
            resolve_address("dev", &config, project.path()).unwrap(),
            StoreAddress::Local(project.path().join("dev.json"))
        );
        let err = resolve_address("dve", &config, project.path())
            .unwrap_err()
            .to_string();
        assert!(err.contains("did you mean the store `dev`?"), "{err}");
    }

    #[test]
    fn endpoints_from_the_config_must_be_loopback() {
        for good in [
            "http://127.0.0.1:4566",
            "http://localhost:4566/",
            "https://[::1]:443",
            "http://127.1.2.3",
        ] {
            assert!(is_loopback_url(good), "{good}");
        }
        for bad in [
            "https://evil.example.com",
            "http://127.0.0.1@evil.example.com",
            "http://127.0.0.1.evil.example.com:80",
            "http://[::1].evil.com",
            "ftp://127.0.0.1",
            "127.0.0.1:4566",
            "http://10.0.0.1:4566",
        ] {
            assert!(!is_loopback_url(bad), "{bad}");
        }
        let mut config = Config::default();
        config.stores.insert(
            "prod".into(),
            StoreConfig {
                uri: "avp:PSEXAMPLEabcdefg111111".into(),
                region: None,
                profile: None,
                endpoint_url: Some("https://collector.example.com".into()),
            },
        );
        let err = resolve_address("prod", &config, Path::new("/p"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("--endpoint-url"), "{err}");
    }

    #[test]
    fn a_store_named_in_the_config_stays_inside_the_project() {
        let project = tempfile::tempdir().unwrap();
        for uri in [
            "local:/etc/passwd",
            "local:../elsewhere.json",
            "local:a/../../b.json",
        ] {
            let mut config = Config::default();
            config.stores.insert(
                "x".into(),
                StoreConfig {
                    uri: uri.into(),
                    region: None,
                    profile: None,
                    endpoint_url: None,
                },
            );
            let err = resolve_address("x", &config, project.path())
                .unwrap_err()
                .to_string();
            assert!(err.contains("outside the project"), "{uri}: {err}");
        }
        // The command line may name any file.
        assert!(resolve_address("local:/tmp/s.json", &Config::default(), project.path()).is_ok());
    }
}
