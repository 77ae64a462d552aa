//! Where the client's endpoint, keys and region come from, first found wins:
//! flags, then the environment (`KILN_ENDPOINT`, `KILN_ACCESS_KEY`, `KILN_SECRET_KEY`,
//! `KILN_REGION`), then the `jdc` CLI's own profile, then `<data-dir>/credentials` of a local
//! `kiln serve`. Each setting is resolved on its own; the two keys only as a pair.
//!
//! The `jdc` profile format, as `jdcloud_cli` 1.2.12 (`jdcloud_cli/config.py`) reads and
//! writes it with Python's configparser: `~/.jdc/config` is an INI file with one section
//! per profile holding `access_key`, `secret_key`, `region_id`, `endpoint` (a host without
//! scheme, `www.jdcloud-api.com` by default), `scheme` (`https` by default) and `timeout`
//! (seconds, 20 by default); `~/.jdc/current` holds the current profile's name (no newline;
//! `default` when the file is missing). `jdc configure add` writes all six keys.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{Common, Failure};

pub const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:8700";
pub const DEFAULT_REGION: &str = "cn-north-1";
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The settings in force and where each came from.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub endpoint: String,
    pub endpoint_from: String,
    pub access_key: String,
    pub secret_key: String,
    pub keys_from: String,
    pub region: String,
    pub region_from: String,
    pub timeout: Duration,
}

impl Resolved {
    /// For `--verbose`: one line per setting.
    pub fn describe(&self) -> Vec<String> {
        vec![
            format!("endpoint {} (from {})", self.endpoint, self.endpoint_from),
            format!("region {} (from {})", self.region, self.region_from),
            format!("access key {} (from {})", self.access_key, self.keys_from),
        ]
    }
}

/// One `jdc` profile.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JdcProfile {
    pub name: String,
    pub access_key: Option<String>,
    pub secret_key: Option<String>,
    pub region_id: Option<String>,
    pub endpoint: Option<String>,
    pub scheme: Option<String>,
    pub timeout: Option<String>,
}

impl JdcProfile {
    /// `scheme://endpoint`, as the SDK builds its URLs from the two.
    pub fn url(&self) -> Option<String> {
        let ep = self
            .endpoint
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())?;
        if ep.contains("://") {
            return Some(ep.trim_end_matches('/').to_string());
        }
        let scheme = self
            .scheme
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .unwrap_or("https");
        Some(format!("{scheme}://{}", ep.trim_end_matches('/')))
    }
}

/// Parses an INI file the way Python's configparser does for these files: `[section]`
/// headers, `key = value` or `key: value` (keys lower-cased), `#`/`;` comment lines,
/// indented continuation lines, and `[DEFAULT]` values inherited by every section.
pub fn parse_ini(text: &str) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut sections: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut current: Option<String> = None;
    let mut last_key: Option<String> = None;
    for raw in text.lines() {
        let line = raw.trim_end();
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        let indented = line.len() != trimmed.len();
        if indented {
            if let (Some(sec), Some(key)) = (&current, &last_key) {
                if let Some(v) = sections.get_mut(sec).and_then(|s| s.get_mut(key)) {
                    v.push('\n');
                    v.push_str(trimmed);
                }
                continue;
            }
        }
        if let Some(name) = trimmed.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            sections.entry(name.to_string()).or_default();
            current = Some(name.to_string());
            last_key = None;
            continue;
        }
        let Some(sec) = &current else { continue };
        let split = trimmed.find(['=', ':']);
        let (k, v) = match split {
            Some(i) => (&trimmed[..i], &trimmed[i + 1..]),
            None => (trimmed, ""),
        };
        let key = k.trim().to_ascii_lowercase();
        sections
            .entry(sec.clone())
            .or_default()
            .insert(key.clone(), v.trim().to_string());
        last_key = Some(key);
    }
    if let Some(defaults) = sections.remove("DEFAULT") {
        for s in sections.values_mut() {
            for (k, v) in &defaults {
                s.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
    }
    sections
}

/// The `jdc` profile named `explicit`, else the one in `~/.jdc/current`, else `default`.
/// `None` when there is no `~/.jdc/config` or it has no such profile; an error only when
/// a profile was asked for by name and is not there.
pub fn load_jdc_profile(
    home: &Path,
    explicit: Option<&str>,
) -> Result<Option<JdcProfile>, Failure> {
    let dir = home.join(".jdc");
    let path = dir.join("config");
    let name = match explicit {
        Some(n) => n.to_string(),
        None => std::fs::read_to_string(dir.join("current"))
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "default".into()),
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(_) if explicit.is_none() => return Ok(None),
        Err(e) => {
            return Err(Failure::Usage(format!(
                "--profile {name}: cannot read {}: {e}",
                path.display()
            )))
        }
    };
    let sections = parse_ini(&text);
    let Some(sec) = sections.get(&name) else {
        if explicit.is_some() {
            return Err(Failure::Usage(format!(
                "--profile {name}: no such profile in {}",
                path.display()
            )));
        }
        return Ok(None);
    };
    let get = |k: &str| sec.get(k).cloned().filter(|v| !v.is_empty());
    Ok(Some(JdcProfile {
        name,
        access_key: get("access_key"),
        secret_key: get("secret_key"),
        region_id: get("region_id"),
        endpoint: get("endpoint"),
        scheme: get("scheme"),
        timeout: get("timeout"),
    }))
}

/// The keys in `<data-dir>/credentials` (`KILN_ACCESS_KEY=…`, `KILN_SECRET_KEY=…`).
pub fn credentials_file(data_dir: &Path) -> Option<(String, String, PathBuf)> {
    let path = data_dir.join("credentials");
    let text = std::fs::read_to_string(&path).ok()?;
    let get = |key: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(&format!("{key}=")))
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    Some((get("KILN_ACCESS_KEY")?, get("KILN_SECRET_KEY")?, path))
}

/// An endpoint as typed: with a scheme it is kept; without, JD Cloud hosts get `https://`
/// and anything else (a Kiln server) `http://`.
pub fn normalize_endpoint(s: &str) -> String {
    let s = s.trim().trim_end_matches('/');
    if s.contains("://") {
        return s.to_string();
    }
    let host = s.split(':').next().unwrap_or(s);
    if host.ends_with("jdcloud-api.com") {
        format!("https://{s}")
    } else {
        format!("http://{s}")
    }
}

fn non_empty(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// Resolves the settings from the flags in `c`, the environment `env` and `home`.
pub fn resolve(
    c: &Common,
    env: &dyn Fn(&str) -> Option<String>,
    home: Option<&Path>,
) -> Result<Resolved, Failure> {
    let profile = match home {
        Some(h) => load_jdc_profile(h, c.profile.as_deref())?,
        None if c.profile.is_some() => {
            return Err(Failure::Usage(
                "--profile: HOME is not set, so ~/.jdc/config cannot be found".into(),
            ))
        }
        None => None,
    };
    let profile_src = |p: &JdcProfile| format!("jdc profile [{}] in ~/.jdc/config", p.name);

    let (endpoint, endpoint_from) = if let Some(e) = non_empty(c.endpoint.clone()) {
        (normalize_endpoint(&e), "--endpoint".to_string())
    } else if let Some(e) = non_empty(env("KILN_ENDPOINT")) {
        (normalize_endpoint(&e), "KILN_ENDPOINT".to_string())
    } else if let Some((url, p)) = profile.as_ref().and_then(|p| p.url().map(|u| (u, p))) {
        (url, profile_src(p))
    } else {
        (DEFAULT_ENDPOINT.to_string(), "default".to_string())
    };

    let (region, region_from) = if let Some(r) = non_empty(c.region.clone()) {
        (r, "--region".to_string())
    } else if let Some(r) = non_empty(env("KILN_REGION")) {
        (r, "KILN_REGION".to_string())
    } else if let Some((r, p)) = profile
        .as_ref()
        .and_then(|p| p.region_id.clone().map(|r| (r, p)))
    {
        (r, profile_src(p))
    } else {
        (DEFAULT_REGION.to_string(), "default".to_string())
    };

    let pair =
        |ak: Option<String>, sk: Option<String>, what: &str| match (non_empty(ak), non_empty(sk)) {
            (Some(a), Some(s)) => Ok(Some((a, s))),
            (None, None) => Ok(None),
            _ => Err(Failure::Usage(format!("give both keys or neither: {what}"))),
        };
    let keys = if let Some(k) = pair(
        c.access_key.clone(),
        c.secret_key.clone(),
        "--access-key and --secret-key",
    )? {
        Some((k, "--access-key/--secret-key".to_string()))
    } else if let Some(k) = pair(
        env("KILN_ACCESS_KEY"),
        env("KILN_SECRET_KEY"),
        "KILN_ACCESS_KEY and KILN_SECRET_KEY",
    )? {
        Some((k, "KILN_ACCESS_KEY/KILN_SECRET_KEY".to_string()))
    } else if let Some(p) = profile
        .as_ref()
        .filter(|p| p.access_key.is_some() && p.secret_key.is_some())
    {
        Some((
            (
                p.access_key.clone().unwrap_or_default(),
                p.secret_key.clone().unwrap_or_default(),
            ),
            profile_src(p),
        ))
    } else {
        credentials_file(&c.data_dir).map(|(a, s, path)| ((a, s), path.display().to_string()))
    };
    let Some(((access_key, secret_key), keys_from)) = keys else {
        return Err(Failure::NoCredentials(format!(
            "no credentials: pass --access-key and --secret-key, set KILN_ACCESS_KEY and \
             KILN_SECRET_KEY, add a jdc profile (~/.jdc/config), or run where `kiln serve` \
             keeps its data ({} has no credentials file; see --data-dir)",
            c.data_dir.display()
        )));
    };

    let timeout = profile
        .as_ref()
        .and_then(|p| p.timeout.as_deref())
        .and_then(|t| t.trim().parse::<f64>().ok())
        .filter(|t| *t > 0.0)
        .map(Duration::from_secs_f64)
        .unwrap_or(DEFAULT_TIMEOUT);

    Ok(Resolved {
        endpoint,
        endpoint_from,
        access_key,
        secret_key,
        keys_from,
        region,
        region_from,
        timeout,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::client::{Format, Progress};

    fn common() -> Common {
        Common {
            endpoint: None,
            access_key: None,
            secret_key: None,
            region: None,
            profile: None,
            data_dir: PathBuf::from("/nonexistent-kiln-data"),
            output: Format::Table,
            quiet: false,
            wait_timeout: Duration::from_secs(1),
            progress: Progress::Auto,
            verbose: false,
        }
    }

    /// What `jdc configure add --profile kiln --access-key AK --secret-key SK --endpoint
    /// 127.0.0.1:8700 --scheme http` writes (configparser's own layout).
    const JDC_CONFIG: &str = "[default]\naccess_key = JDAK\nsecret_key = JDSK\nregion_id = cn-north-1\nendpoint = www.jdcloud-api.com\nscheme = https\ntimeout = 20\n\n[kiln]\naccess_key = KAK\nsecret_key = KSK\nregion_id = cn-east-2\nendpoint = 127.0.0.1:8700\nscheme = http\ntimeout = 5\n\n";

    fn home_with(config: &str, current: Option<&str>) -> tempfile::TempDir {
        let h = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(h.path().join(".jdc")).unwrap();
        std::fs::write(h.path().join(".jdc/config"), config).unwrap();
        if let Some(c) = current {
            std::fs::write(h.path().join(".jdc/current"), c).unwrap();
        }
        h
    }

    #[test]
    fn ini_like_configparser() {
        let s = parse_ini(
            "# c\n[DEFAULT]\nscheme = http\n[a]\nAccess_Key: x\n; c\nendpoint=h:1\nlong = one\n  two\n[b]\n",
        );
        assert_eq!(s["a"]["access_key"], "x");
        assert_eq!(s["a"]["endpoint"], "h:1");
        assert_eq!(s["a"]["long"], "one\ntwo");
        assert_eq!(s["a"]["scheme"], "http");
        assert_eq!(s["b"]["scheme"], "http");
        assert!(!s.contains_key("DEFAULT"));
    }

    #[test]
    fn current_profile_file_selects_the_profile() {
        let h = home_with(JDC_CONFIG, Some("kiln"));
        let r = resolve(&common(), &|_| None, Some(h.path())).unwrap();
        assert_eq!(r.endpoint, "http://127.0.0.1:8700");
        assert_eq!(
            (r.access_key.as_str(), r.secret_key.as_str()),
            ("KAK", "KSK")
        );
        assert_eq!(r.region, "cn-east-2");
        assert_eq!(r.timeout, Duration::from_secs(5));
        assert!(r.keys_from.contains("[kiln]"), "{}", r.keys_from);

        // No current file: `default`, whose endpoint is JD Cloud's.
        let h = home_with(JDC_CONFIG, None);
        let r = resolve(&common(), &|_| None, Some(h.path())).unwrap();
        assert_eq!(r.endpoint, "https://www.jdcloud-api.com");
        assert_eq!(r.access_key, "JDAK");

        // --profile wins over the current file; an unknown one is an error.
        let h = home_with(JDC_CONFIG, Some("default"));
        let mut c = common();
        c.profile = Some("kiln".into());
        assert_eq!(
            resolve(&c, &|_| None, Some(h.path())).unwrap().access_key,
            "KAK"
        );
        c.profile = Some("nope".into());
        assert!(matches!(
            resolve(&c, &|_| None, Some(h.path())),
            Err(Failure::Usage(_))
        ));
    }

    #[test]
    fn flags_then_env_then_profile_then_credentials() {
        let h = home_with(JDC_CONFIG, Some("kiln"));
        let env = |k: &str| match k {
            "KILN_ENDPOINT" => Some("127.0.0.1:9999".to_string()),
            "KILN_ACCESS_KEY" => Some("EAK".to_string()),
            "KILN_SECRET_KEY" => Some("ESK".to_string()),
            "KILN_REGION" => Some("cn-south-1".to_string()),
            _ => None,
        };
        let r = resolve(&common(), &env, Some(h.path())).unwrap();
        assert_eq!(r.endpoint, "http://127.0.0.1:9999");
        assert_eq!(r.access_key, "EAK");
        assert_eq!(r.region, "cn-south-1");

        let mut c = common();
        c.endpoint = Some("https://vm.jdcloud-api.com".into());
        c.access_key = Some("FAK".into());
        c.secret_key = Some("FSK".into());
        c.region = Some("cn-east-1".into());
        let r = resolve(&c, &env, Some(h.path())).unwrap();
        assert_eq!(r.endpoint, "https://vm.jdcloud-api.com");
        assert_eq!(
            (r.access_key.as_str(), r.secret_key.as_str()),
            ("FAK", "FSK")
        );
        assert_eq!(r.region, "cn-east-1");

        // Only one key of a pair is a usage error.
        let mut c = common();
        c.access_key = Some("FAK".into());
        assert!(matches!(
            resolve(&c, &env, Some(h.path())),
            Err(Failure::Usage(_))
        ));

        // Nothing but a data directory with credentials.
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join("credentials"),
            "# Kiln account\nKILN_ACCESS_KEY=DAK\nKILN_SECRET_KEY=DSK\n",
        )
        .unwrap();
        let mut c = common();
        c.data_dir = d.path().to_path_buf();
        let r = resolve(&c, &|_| None, None).unwrap();
        assert_eq!(
            (r.access_key.as_str(), r.secret_key.as_str()),
            ("DAK", "DSK")
        );
        assert_eq!(r.endpoint, DEFAULT_ENDPOINT);
        assert_eq!(r.region, DEFAULT_REGION);

        assert!(matches!(
            resolve(&common(), &|_| None, None),
            Err(Failure::NoCredentials(_))
        ));
    }

    #[test]
    fn endpoints() {
        assert_eq!(
            normalize_endpoint("127.0.0.1:8700"),
            "http://127.0.0.1:8700"
        );
        assert_eq!(
            normalize_endpoint("vm.jdcloud-api.com"),
            "https://vm.jdcloud-api.com"
        );
        assert_eq!(normalize_endpoint("http://h:1/"), "http://h:1");
        let c = |e: &str| crate::client::Client::new(e, "a", "s", "r");
        assert_eq!(
            c("https://www.jdcloud-api.com").base_url("disk"),
            "https://disk.jdcloud-api.com"
        );
        assert_eq!(
            c("https://vm.jdcloud-api.com:443").base_url("disk"),
            "https://disk.jdcloud-api.com"
        );
        assert_eq!(
            c("http://127.0.0.1:8700").base_url("disk"),
            "http://127.0.0.1:8700"
        );
        assert_eq!(c("http://kiln:80").base_url("vm"), "http://kiln");
        // The vpc service has its own host too, and an endpoint named after it maps back.
        assert_eq!(
            c("https://www.jdcloud-api.com").base_url("vpc"),
            "https://vpc.jdcloud-api.com"
        );
        assert_eq!(
            c("https://vpc.jdcloud-api.com").base_url("vm"),
            "https://vm.jdcloud-api.com"
        );
        assert_eq!(
            c("http://127.0.0.1:8700").base_url("vpc"),
            "http://127.0.0.1:8700"
        );
    }
}
