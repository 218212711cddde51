//! A node's configuration: `config.toml` in its data dir, written by `init`.
//!
//! The data dir holds everything a node is:
//!
//! - `config.toml` — this file: who the node is and where its parent is;
//! - `policy.toml` — optional policy overrides (see `policy show`);
//! - `orgs.csv` — optional org-directory extension (units without a region code);
//! - `store/` — the sled store.

use std::path::{Path, PathBuf};

use std::collections::BTreeMap;

use lunxun_core::session::quota::Limits;
use serde::{Deserialize, Serialize};

use crate::orgs::{OrgDirectory, OrgError};
use crate::policy::{Policy, PolicyError};

/// File name of the configuration inside the data dir.
pub const CONFIG_FILE: &str = "config.toml";
/// File name of the policy overrides inside the data dir.
pub const POLICY_FILE: &str = "policy.toml";
/// File name of the org-directory extension inside the data dir.
pub const ORGS_FILE: &str = "orgs.csv";
/// Directory of the store inside the data dir.
pub const STORE_DIR: &str = "store";

/// Why a configuration is unusable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file is not valid TOML of the expected shape.
    #[error("{path}: {reason}")]
    Parse { path: PathBuf, reason: String },
    /// A value is out of range or inconsistent.
    #[error("{path}: {field}: {reason}")]
    Invalid {
        path: PathBuf,
        field: &'static str,
        reason: String,
    },
}

/// `config.toml`. `Default` leaves `org` empty, which `validate` refuses:
/// it is the base of `Config { org, ..Default::default() }`, every other
/// setting as a file without it would have it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// This node's org code. Name, level and parent come from the org directory.
    pub org: String,
    /// The parent's sync endpoint: `https://host:port` (mTLS) or, with
    /// `insecure`, `http://host:port`. None for the national bureau, or a node
    /// that keeps its records to itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream: Option<String>,
    /// Directory holding `ca.pem`, `node.pem` and `node.key` for mTLS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_dir: Option<PathBuf>,
    /// Plaintext links, for tests and closed networks only: logs a warning.
    #[serde(default)]
    pub insecure: bool,
    /// What this node refuses from its children (a hub re-reads it without
    /// restarting, at every new session).
    #[serde(default, skip_serializing_if = "Revoked::is_empty")]
    pub revoked: Revoked,
    /// The bureau's time zone (IANA name): what "today" is for `as_of` and how
    /// times are shown. Default `Asia/Shanghai`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    /// What each direct child may send in a day and hold (a hub reads it at
    /// start). Absent: the defaults of `lunxun_core::session::quota`.
    #[serde(default, skip_serializing_if = "Quotas::is_default")]
    pub quotas: Quotas,
    /// `[dashboard]`: cookies and a trusted single-sign-on proxy.
    #[serde(default, skip_serializing_if = "DashboardConfig::is_default")]
    pub dashboard: DashboardConfig,
    /// `[store]`: the disk the store is on.
    #[serde(default, skip_serializing_if = "StoreConfig::is_default")]
    pub store: StoreConfig,
    /// `[alerts]`: when a direct subordinate is alerted as silent.
    #[serde(default, skip_serializing_if = "AlertsConfig::is_default")]
    pub alerts: AlertsConfig,
}

/// `[alerts]`: what `status`, the dashboard and `/metrics` alert on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsConfig {
    /// Days a direct subordinate may go without a completed session and
    /// without new data before it is alerted as silent (default 7, at most
    /// [`AlertsConfig::SILENT_DAYS_MAX`]; 0 alerts every one not heard from
    /// this very moment, for drills and tests).
    #[serde(default = "AlertsConfig::default_silent_days")]
    pub silent_days: u32,
}

impl AlertsConfig {
    pub const DEFAULT_SILENT_DAYS: u32 = 7;
    /// Ten years: beyond that a threshold is a typo, not a policy.
    pub const SILENT_DAYS_MAX: u32 = 3_650;

    fn default_silent_days() -> u32 {
        Self::DEFAULT_SILENT_DAYS
    }

    pub fn is_default(&self) -> bool {
        *self == AlertsConfig::default()
    }

    fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.silent_days > Self::SILENT_DAYS_MAX {
            return Err((
                "alerts.silent_days",
                format!(
                    "{} days is more than {} (ten years)",
                    self.silent_days,
                    Self::SILENT_DAYS_MAX
                ),
            ));
        }
        Ok(())
    }
}

impl Default for AlertsConfig {
    fn default() -> AlertsConfig {
        AlertsConfig {
            silent_days: Self::DEFAULT_SILENT_DAYS,
        }
    }
}

/// `[store]`: how much of its disk the store leaves free, and how often the
/// view's snapshot is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// MiB of the store's file system a write never eats into: a write that
    /// would leave less is refused whole (and goes through once space is
    /// freed), so the store's files are never cut by a full disk. 0 turns the
    /// check off.
    #[serde(default = "StoreConfig::default_keep_free_mib")]
    pub keep_free_mib: u64,
    /// Changes applied after which the daemon writes the view's snapshot
    /// (`view.snapshot`: the next start reads it and replays only the log
    /// after it). It also writes one ten minutes after any change, and on a
    /// clean stop.
    #[serde(default = "StoreConfig::default_snapshot_after_changes")]
    pub snapshot_after_changes: u64,
}

impl StoreConfig {
    pub const DEFAULT_KEEP_FREE_MIB: u64 = 64;
    pub const DEFAULT_SNAPSHOT_AFTER_CHANGES: u64 = 200_000;

    fn default_keep_free_mib() -> u64 {
        Self::DEFAULT_KEEP_FREE_MIB
    }

    fn default_snapshot_after_changes() -> u64 {
        Self::DEFAULT_SNAPSHOT_AFTER_CHANGES
    }

    pub fn is_default(&self) -> bool {
        *self == StoreConfig::default()
    }
}

impl Default for StoreConfig {
    fn default() -> StoreConfig {
        StoreConfig {
            keep_free_mib: Self::DEFAULT_KEEP_FREE_MIB,
            snapshot_after_changes: Self::DEFAULT_SNAPSHOT_AFTER_CHANGES,
        }
    }
}

/// `[dashboard]`: how the dashboard knows who is asking.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DashboardConfig {
    /// Mark session cookies `Secure` (set it when the dashboard is reached
    /// over HTTPS, through a TLS-terminating proxy).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub secure_cookies: bool,
    /// A bureau's single-sign-on proxy that authenticates its staff and names
    /// the account in a header. Absent: accounts log in with passwords only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trusted_proxy: Option<TrustedProxy>,
    /// Networks besides loopback whose connections may read `GET /metrics`
    /// (no login), e.g. `["10.0.0.0/8", "192.0.2.7"]`: the monitoring
    /// server's. Empty: loopback only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metrics_from: Vec<Network>,
}

impl DashboardConfig {
    pub fn is_default(&self) -> bool {
        *self == DashboardConfig::default()
    }

    /// Whether a connection from `ip` may read `GET /metrics`: loopback, or
    /// one of [`DashboardConfig::metrics_from`].
    pub fn metrics_allowed(&self, ip: std::net::IpAddr) -> bool {
        let ip = match ip {
            std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, std::net::IpAddr::V4),
            v4 => v4,
        };
        ip.is_loopback() || self.metrics_from.iter().any(|n| n.contains(ip))
    }
}

/// An address block, `ADDRESS/PREFIX` (`10.0.0.0/8`, `fd00::/8`) or one
/// address (`192.0.2.7`), as written in `config.toml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Network {
    pub addr: std::net::IpAddr,
    /// Leading bits that must match: 0..=32 for IPv4, 0..=128 for IPv6.
    pub prefix: u8,
}

impl Network {
    /// Whether `ip` lies in the block (an IPv4 address never lies in an
    /// IPv6 block, nor the other way round).
    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        use std::net::IpAddr::{V4, V6};
        let mask = |bits: u32, width: u32| -> u128 {
            if bits == 0 {
                0
            } else {
                (!0u128 << (width - bits)) & (u128::MAX >> (128 - width))
            }
        };
        match (self.addr, ip) {
            (V4(net), V4(ip)) => {
                let m = mask(u32::from(self.prefix), 32);
                u128::from(u32::from(net)) & m == u128::from(u32::from(ip)) & m
            }
            (V6(net), V6(ip)) => {
                let m = mask(u32::from(self.prefix), 128);
                u128::from(net) & m == u128::from(ip) & m
            }
            _ => false,
        }
    }
}

impl TryFrom<String> for Network {
    type Error = String;

    fn try_from(text: String) -> Result<Network, String> {
        let bad = || format!("{text:?} is not an address or ADDRESS/PREFIX (e.g. 10.0.0.0/8)");
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text.as_str(), None),
        };
        let addr: std::net::IpAddr = addr.trim().parse().map_err(|_| bad())?;
        let width = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => width,
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= width)
                .ok_or_else(bad)?,
        };
        Ok(Network { addr, prefix })
    }
}

impl From<Network> for String {
    fn from(n: Network) -> String {
        format!("{}/{}", n.addr, n.prefix)
    }
}

/// `[dashboard.trusted_proxy]`: the header naming the account, believed only
/// on connections from these addresses (the proxy's); the account must
/// exist here (its org and role come from it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustedProxy {
    /// e.g. `X-Remote-User`.
    pub header: String,
    /// The proxy's addresses, e.g. `["127.0.0.1"]`.
    pub from: Vec<std::net::IpAddr>,
}

/// `[quotas]`: per-child limits at a parent, and `[quotas.children."CODE"]`
/// for one child. A key left out takes the next level's value (the child's
/// table, then `[quotas]`, then the built-in default).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quotas {
    /// Changes one child may have applied here per day (the bureau's day).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changes_per_day: Option<u64>,
    /// Bytes of changes one child may have applied here per day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes_per_day: Option<u64>,
    /// Current roster entries one child's subtree may hold here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roster_entries: Option<u64>,
    /// Overrides for single children, by org code.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub children: BTreeMap<String, ChildQuotas>,
}

/// `[quotas.children."CODE"]`: one child's overrides.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChildQuotas {
    /// Changes this child may have applied here per day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changes_per_day: Option<u64>,
    /// Bytes of changes this child may have applied here per day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes_per_day: Option<u64>,
    /// Current roster entries this child's subtree may hold here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roster_entries: Option<u64>,
}

impl Quotas {
    pub fn is_default(&self) -> bool {
        *self == Quotas::default()
    }

    /// The limits of `child`.
    pub fn limits(&self, child: &str) -> Limits {
        let defaults = Limits::default();
        let own = self.children.get(child);
        let pick =
            |own: Option<u64>, all: Option<u64>, default: u64| own.or(all).unwrap_or(default);
        Limits {
            changes_per_day: pick(
                own.and_then(|c| c.changes_per_day),
                self.changes_per_day,
                defaults.changes_per_day,
            ),
            bytes_per_day: pick(
                own.and_then(|c| c.bytes_per_day),
                self.bytes_per_day,
                defaults.bytes_per_day,
            ),
            roster_entries: pick(
                own.and_then(|c| c.roster_entries),
                self.roster_entries,
                defaults.roster_entries,
            ),
        }
    }

    fn validate(&self) -> Result<(), (&'static str, String)> {
        for code in self.children.keys() {
            if !crate::orgs::is_valid_code(code) {
                return Err(("quotas.children", format!("{code:?} is not an org code")));
            }
        }
        Ok(())
    }
}

/// A deny-list: certificates and orgs refused whatever their certificate says.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Revoked {
    /// Certificate serial numbers, lowercase hex (as `certs issue` and `certs show` print them).
    #[serde(default)]
    pub serials: Vec<String>,
    /// Org codes cut off entirely (until their entry is removed).
    #[serde(default)]
    pub orgs: Vec<String>,
}

impl Revoked {
    pub fn is_empty(&self) -> bool {
        self.serials.is_empty() && self.orgs.is_empty()
    }
}

impl Config {
    /// The bureau's time zone (validated at load; the default otherwise).
    pub fn zone(&self) -> chrono_tz::Tz {
        self.time_zone
            .as_deref()
            .and_then(|z| crate::clock::parse_zone(z).ok())
            .unwrap_or(crate::clock::DEFAULT_TIME_ZONE)
    }

    /// Reads and validates `config.toml` from `dir`.
    pub fn load(dir: &Path) -> Result<Config, ConfigError> {
        let path = dir.join(CONFIG_FILE);
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Io {
            path: path.clone(),
            source,
        })?;
        let config: Config = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.clone(),
            reason: e.message().to_owned(),
        })?;
        let mut config = config;
        for s in &mut config.revoked.serials {
            *s = s
                .trim()
                .trim_start_matches("0x")
                .to_ascii_lowercase()
                .replace(':', "");
        }
        config.validate(&path)?;
        Ok(config)
    }

    /// Checks the values that do not need the org directory.
    pub fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let invalid = |field: &'static str, reason: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            field,
            reason,
        };
        if !crate::orgs::is_valid_code(&self.org) {
            return Err(invalid("org", format!("{:?} is not an org code", self.org)));
        }
        if let Some(zone) = &self.time_zone {
            crate::clock::parse_zone(zone).map_err(|e| invalid("time_zone", e))?;
        }
        self.quotas
            .validate()
            .map_err(|(field, reason)| invalid(field, reason))?;
        self.alerts
            .validate()
            .map_err(|(field, reason)| invalid(field, reason))?;
        if let Some(url) = &self.upstream {
            let scheme_ok = if self.insecure {
                url.starts_with("http://") || url.starts_with("https://")
            } else {
                url.starts_with("https://")
            };
            if !scheme_ok {
                return Err(invalid(
                    "upstream",
                    format!("{url} must start with https:// (or http:// with insecure = true)"),
                ));
            }
            if !self.insecure && self.tls_dir.is_none() {
                return Err(invalid(
                    "tls_dir",
                    "an https upstream needs tls_dir (ca.pem, node.pem, node.key)".into(),
                ));
            }
        }
        Ok(())
    }

    /// Writes `config.toml` into `dir`.
    pub fn save(&self, dir: &Path) -> Result<(), ConfigError> {
        let path = dir.join(CONFIG_FILE);
        let text = toml::to_string_pretty(self).map_err(|e| ConfigError::Parse {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        let header = "# lunxun node configuration, written by `init`.\n\
                      # org: this node's org code; upstream: the parent's sync endpoint;\n\
                      # tls_dir: ca.pem, node.pem, node.key; insecure: plaintext links;\n\
                      # [revoked] serials / orgs: certificates and orgs refused from children;\n\
                      # [quotas] changes_per_day / bytes_per_day / roster_entries: per child,\n\
                      # [quotas.children.\"CODE\"] for one child;\n\
                      # [alerts] silent_days: days before a quiet subordinate is alerted;\n\
                      # [dashboard] metrics_from: networks that may read /metrics.\n\n";
        // Written aside and renamed over: a reader (a hub re-reading its
        // revocation list) sees the old file or the new one, never a part.
        let partial = dir.join(format!("{CONFIG_FILE}.partial"));
        std::fs::write(&partial, format!("{header}{text}"))
            .and_then(|()| std::fs::rename(&partial, &path))
            .map_err(|source| ConfigError::Io { path, source })
    }
}

/// The built-in org directory extended by the local file at `path` (if it
/// exists).
pub fn load_orgs(path: &Path) -> Result<OrgDirectory, OrgError> {
    let mut dir = OrgDirectory::builtin();
    if path.exists() {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| OrgError::Io {
            file: file.clone(),
            source,
        })?;
        dir.add_csv(&file, &text)?;
    }
    Ok(dir)
}

/// Loads the policy at `path`, or the defaults when there is no such file
/// (a node without a policy file follows the national documents).
pub fn load_policy(path: &Path) -> Result<Policy, PolicyError> {
    let file = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => Policy::from_toml(&text, &file),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Policy::default()),
        Err(source) => Err(PolicyError::Io { file, source }),
    }
}

/// Makes `dir` (the data dir) readable by its owner only: created 0700 if
/// missing; if it exists, the dir and everything in it are tightened (dirs
/// 0700, files 0600). Returns the paths that were open to others before, so
/// the caller can warn. Every record in it is a person's file.
pub fn private_data_dir(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(DATA_DIR_MODE)
            .create(dir)?;
    }
    let mut loosened = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        let meta = std::fs::symlink_metadata(&path)?;
        if meta.file_type().is_symlink() {
            continue;
        }
        let want = if meta.is_dir() {
            DATA_DIR_MODE
        } else {
            DATA_FILE_MODE
        };
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            // Owner bits as they are (a socket stays usable), others' cleared.
            let tightened = (mode & 0o700) | (want & 0o700);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(tightened))?;
            loosened.push(path.clone());
        }
        if meta.is_dir() {
            for entry in std::fs::read_dir(&path)? {
                stack.push(entry?.path());
            }
        }
    }
    Ok(loosened)
}

/// The data dir and its subdirs: the owner only.
pub const DATA_DIR_MODE: u32 = 0o700;
/// Files in the data dir: the owner only.
pub const DATA_FILE_MODE: u32 = 0o600;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_validation() {
        let dir = tempfile::tempdir().unwrap();
        let c = Config {
            org: "410102".into(),
            upstream: Some("http://127.0.0.1:7000".into()),
            tls_dir: None,
            insecure: true,
            revoked: Revoked::default(),
            time_zone: None,
            quotas: Default::default(),
            dashboard: Default::default(),
            store: Default::default(),
            alerts: Default::default(),
        };
        c.save(dir.path()).unwrap();
        assert_eq!(Config::load(dir.path()).unwrap(), c);

        let p = Path::new("config.toml");
        let secure_http = Config {
            insecure: false,
            ..c.clone()
        };
        assert!(
            secure_http
                .validate(p)
                .unwrap_err()
                .to_string()
                .contains("https://")
        );
        let no_tls = Config {
            upstream: Some("https://h:1".into()),
            insecure: false,
            ..c.clone()
        };
        assert!(
            no_tls
                .validate(p)
                .unwrap_err()
                .to_string()
                .contains("tls_dir")
        );
        std::fs::write(
            dir.path().join(CONFIG_FILE),
            "org = \"410102\"\nbogus = 1\n",
        )
        .unwrap();
        assert!(
            Config::load(dir.path())
                .unwrap_err()
                .to_string()
                .contains("bogus")
        );
    }

    #[test]
    fn quotas_default_are_overridden_per_parent_and_per_child() {
        use lunxun_core::session::quota::CHANGES_PER_DAY_DEFAULT;
        let dir = tempfile::tempdir().unwrap();
        // An old config, without [quotas], loads with the defaults.
        std::fs::write(dir.path().join(CONFIG_FILE), "org = \"410100\"\n").unwrap();
        let old = Config::load(dir.path()).unwrap();
        assert_eq!(old.quotas.limits("410102"), Limits::default());
        std::fs::write(
            dir.path().join(CONFIG_FILE),
            "org = \"410100\"\n[quotas]\nbytes_per_day = 5000\n\
             [quotas.children.\"410102\"]\nchanges_per_day = 10\n",
        )
        .unwrap();
        let c = Config::load(dir.path()).unwrap();
        let own = c.quotas.limits("410102");
        assert_eq!((own.changes_per_day, own.bytes_per_day), (10, 5000));
        let other = c.quotas.limits("410103");
        assert_eq!(
            (other.changes_per_day, other.bytes_per_day),
            (CHANGES_PER_DAY_DEFAULT, 5000)
        );
        // Written back and read again, the same.
        c.save(dir.path()).unwrap();
        assert_eq!(Config::load(dir.path()).unwrap(), c);
        for (text, named) in [
            ("[quotas]\nchanges_per_dya = 1\n", "changes_per_dya"),
            (
                "[quotas.children.\"x\"]\nchanges_per_day = 1\n",
                "quotas.children",
            ),
            ("[quotas.children.\"410102\"]\nbytes = 1\n", "bytes"),
        ] {
            std::fs::write(
                dir.path().join(CONFIG_FILE),
                format!("org = \"410100\"\n{text}"),
            )
            .unwrap();
            let e = Config::load(dir.path()).unwrap_err().to_string();
            assert!(e.contains(named), "{e}");
        }
    }

    #[test]
    fn alerts_and_metrics_networks_are_validated() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(CONFIG_FILE), "org = \"410100\"\n").unwrap();
        let c = Config::load(dir.path()).unwrap();
        assert_eq!(c.alerts.silent_days, AlertsConfig::DEFAULT_SILENT_DAYS);
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        // Loopback only by default, IPv4 mapped into IPv6 included.
        assert!(c.dashboard.metrics_allowed(ip("127.0.0.1")));
        assert!(c.dashboard.metrics_allowed(ip("::1")));
        assert!(c.dashboard.metrics_allowed(ip("::ffff:127.0.0.1")));
        assert!(!c.dashboard.metrics_allowed(ip("10.1.2.3")));
        std::fs::write(
            dir.path().join(CONFIG_FILE),
            "org = \"410100\"\n[alerts]\nsilent_days = 0\n\
             [dashboard]\nmetrics_from = [\"10.0.0.0/8\", \"192.0.2.7\", \"fd00::/8\"]\n",
        )
        .unwrap();
        let c = Config::load(dir.path()).unwrap();
        assert_eq!(c.alerts.silent_days, 0);
        for (addr, allowed) in [
            ("10.200.0.1", true),
            ("::ffff:10.0.0.9", true),
            ("11.0.0.1", false),
            ("192.0.2.7", true),
            ("192.0.2.8", false),
            ("fd12::1", true),
            ("fe80::1", false),
        ] {
            assert_eq!(c.dashboard.metrics_allowed(ip(addr)), allowed, "{addr}");
        }
        // Written back and read again, the same.
        c.save(dir.path()).unwrap();
        assert_eq!(Config::load(dir.path()).unwrap(), c);
        let all = Network::try_from("0.0.0.0/0".to_owned()).unwrap();
        assert!(all.contains(ip("203.0.113.1")) && !all.contains(ip("::2")));
        for (text, named) in [
            ("[alerts]\nsilent_days = 4000\n", "alerts.silent_days"),
            ("[alerts]\nsilent_days = -1\n", "-1"),
            ("[alerts]\nsilent = 1\n", "silent"),
            (
                "[dashboard]\nmetrics_from = [\"10.0.0.0/33\"]\n",
                "10.0.0.0/33",
            ),
            ("[dashboard]\nmetrics_from = [\"intranet\"]\n", "intranet"),
        ] {
            std::fs::write(
                dir.path().join(CONFIG_FILE),
                format!("org = \"410100\"\n{text}"),
            )
            .unwrap();
            let e = Config::load(dir.path()).unwrap_err().to_string();
            assert!(e.contains(named), "{e}");
        }
    }

    #[test]
    fn load_policy_or_default() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("policy.toml");
        assert_eq!(load_policy(&path).unwrap(), Policy::default());
        std::fs::write(&path, "[rotation.county]\nmax_years = 2\n").unwrap();
        assert_eq!(
            load_policy(&path).unwrap().rotation.county,
            crate::policy::Cycle {
                min_years: 1,
                max_years: 2
            }
        );
        std::fs::write(&path, "[rotation.county]\nmax_years = 0\n").unwrap();
        let e = load_policy(&path).unwrap_err().to_string();
        assert!(e.contains(&path.display().to_string()), "{e}");
        // A directory where the file should be is an error, not the default.
        let e = load_policy(dir.path()).unwrap_err();
        assert!(matches!(e, PolicyError::Io { .. }), "{e}");
    }

    #[test]
    fn the_data_dir_is_the_owners_only() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        assert!(private_data_dir(&dir).unwrap().is_empty());
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        // An old data dir, open to every local user, is tightened and named.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::create_dir(dir.join("store")).unwrap();
        std::fs::write(dir.join("store/db"), "x").unwrap();
        std::fs::set_permissions(dir.join("store/db"), std::fs::Permissions::from_mode(0o644))
            .unwrap();
        let loosened = private_data_dir(&dir).unwrap();
        assert!(
            loosened.contains(&dir) && loosened.contains(&dir.join("store/db")),
            "{loosened:?}"
        );
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("store")) & 0o077, 0);
        assert_eq!(mode(&dir.join("store/db")), 0o600);
        assert!(private_data_dir(&dir).unwrap().is_empty());
    }
}
