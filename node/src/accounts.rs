//! The dashboard's accounts and the audit log, kept in the node's store.
//!
//! An account is bound to an org of this node's subtree (it sees that org's
//! subtree only) and a [`Role`]. Passwords are kept as argon2id hashes (PHC
//! strings, the crate's default parameters: 19 MiB, 2 passes, which OWASP
//! names as the minimum); a login against an unknown name still runs one
//! hash, so the time taken does not tell which names exist.
//!
//! The audit log records who did what to people's data: logins (ok and
//! failed), person lookups, exports, account changes. Entries are durable
//! when [`record`] returns and name people by masked ID only, like every
//! other output of the node.

use std::sync::OnceLock;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};

use crate::node::{Node, now_ms};
use crate::store::StoreError;

/// Longest account name, in characters.
pub const NAME_CHARS_MAX: usize = 32;
/// Shortest password accepted, in characters.
pub const PASSWORD_CHARS_MIN: usize = 10;
/// Longest password accepted, in bytes (argon2 takes any length; a form or
/// stdin is bounded before it gets here).
pub const PASSWORD_BYTES_MAX: usize = 256;
/// Longest detail kept in an audit entry, in characters.
pub const DETAIL_CHARS_MAX: usize = 200;

/// What an account may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads pages, the API, person search and downloads of its subtree.
    Viewer,
    /// A viewer that also manages the accounts of its subtree and reads the
    /// audit log.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Admin => "admin",
        }
    }
}

/// A dashboard account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub name: String,
    /// The org code whose subtree the account sees.
    pub org: String,
    pub role: Role,
    /// The argon2id hash, as a PHC string.
    hash: String,
    pub created_at_ms: i64,
}

/// Why an account operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("account name {0:?} must be 1–{NAME_CHARS_MAX} letters, digits, '.', '_' or '-'")]
    BadName(String),
    #[error(
        "a password needs at least {PASSWORD_CHARS_MIN} characters and at most {PASSWORD_BYTES_MAX} bytes"
    )]
    BadPassword,
    #[error("org {0} is not in this node's subtree")]
    OutsideSubtree(String),
    #[error("account {0} already exists (remove it first)")]
    Exists(String),
    #[error("no account {0}")]
    Unknown(String),
    #[error("password hash: {0}")]
    Hash(String),
    #[error("account {name}: stored entry is corrupt: {reason}")]
    Corrupt { name: String, reason: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn valid_name(name: &str) -> bool {
    let chars = name.chars().count();
    (1..=NAME_CHARS_MAX).contains(&chars)
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

fn hash_password(password: &str) -> Result<String, AccountError> {
    let mut salt = [0u8; 16];
    SystemRandom::new()
        .fill(&mut salt)
        .map_err(|_| AccountError::Hash("no randomness for the salt".into()))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| AccountError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AccountError::Hash(e.to_string()))
}

fn password_matches(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A hash no password matches in practice, verified against for unknown
/// names so that they take as long as known ones.
fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| hash_password("lunxun decoy password, never set").unwrap_or_default())
}

fn decode(name: &str, bytes: &[u8]) -> Result<Account, AccountError> {
    serde_json::from_slice(bytes).map_err(|e| AccountError::Corrupt {
        name: name.to_owned(),
        reason: e.to_string(),
    })
}

/// Adds account `name` bound to `org` (which must be in `node`'s subtree).
pub fn add(
    node: &Node,
    name: &str,
    org: &str,
    role: Role,
    password: &str,
) -> Result<Account, AccountError> {
    if !valid_name(name) {
        return Err(AccountError::BadName(name.chars().take(40).collect()));
    }
    if password.chars().count() < PASSWORD_CHARS_MIN || password.len() > PASSWORD_BYTES_MAX {
        return Err(AccountError::BadPassword);
    }
    let orgs = node.orgs();
    match orgs.get(org) {
        Some(id) if orgs.is_within(id, node.me()) => {}
        _ => return Err(AccountError::OutsideSubtree(org.chars().take(12).collect())),
    }
    if node.store().account(name)?.is_some() {
        return Err(AccountError::Exists(name.to_owned()));
    }
    let account = Account {
        name: name.to_owned(),
        org: org.to_owned(),
        role,
        hash: hash_password(password)?,
        created_at_ms: now_ms(),
    };
    let bytes = serde_json::to_vec(&account).map_err(|e| AccountError::Hash(e.to_string()))?;
    node.store().put_account(name, &bytes)?;
    Ok(account)
}

/// Every account, by name.
pub fn list(node: &Node) -> Result<Vec<Account>, AccountError> {
    node.store()
        .accounts()?
        .into_iter()
        .map(|(name, bytes)| decode(&name, &bytes))
        .collect()
}

/// The account `name`, if it exists.
pub fn get(node: &Node, name: &str) -> Result<Option<Account>, AccountError> {
    if !valid_name(name) {
        return Ok(None);
    }
    match node.store().account(name)? {
        None => Ok(None),
        Some(bytes) => decode(name, &bytes).map(Some),
    }
}

/// Removes account `name`.
pub fn remove(node: &Node, name: &str) -> Result<(), AccountError> {
    if valid_name(name) && node.store().remove_account(name)? {
        Ok(())
    } else {
        Err(AccountError::Unknown(name.chars().take(40).collect()))
    }
}

/// The account `name` if `password` is its password. Takes about as long
/// whether or not the name exists (one argon2id verification either way).
pub fn check_password(
    node: &Node,
    name: &str,
    password: &str,
) -> Result<Option<Account>, AccountError> {
    let account = get(node, name)?;
    let hash = account.as_ref().map_or(decoy_hash(), |a| a.hash.as_str());
    let ok = password.len() <= PASSWORD_BYTES_MAX && password_matches(hash, password);
    Ok(account.filter(|_| ok))
}

/// What an audit entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Login,
    LoginFailed,
    Logout,
    /// A person's records were shown.
    Person,
    /// A report or list left the node (download or file).
    Export,
    AccountAdded,
    AccountRemoved,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Login => "login",
            Action::LoginFailed => "login_failed",
            Action::Logout => "logout",
            Action::Person => "person",
            Action::Export => "export",
            Action::AccountAdded => "account_added",
            Action::AccountRemoved => "account_removed",
        }
    }
}

/// One audit entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub at_ms: i64,
    /// The account (`cli` for the command line on the data dir).
    pub actor: String,
    pub action: Action,
    /// The org the action concerned, when there is one.
    pub org: Option<String>,
    /// The client's address (the dashboard's), when there is one.
    pub address: Option<String>,
    /// What was looked up or exported (people by masked ID only), or why a
    /// login failed.
    pub detail: String,
}

impl Event {
    /// An event now, by `actor`.
    pub fn new(actor: &str, action: Action, detail: impl Into<String>) -> Event {
        Event {
            at_ms: now_ms(),
            actor: actor.chars().take(NAME_CHARS_MAX + 8).collect(),
            action,
            org: None,
            address: None,
            detail: detail.into(),
        }
    }

    pub fn org(mut self, org: &str) -> Event {
        self.org = Some(org.chars().take(12).collect());
        self
    }

    pub fn address(mut self, address: impl ToString) -> Event {
        self.address = Some(address.to_string());
        self
    }
}

/// Appends `event` to the audit log, durably.
pub fn record(node: &Node, mut event: Event) -> Result<(), StoreError> {
    if event.detail.chars().count() > DETAIL_CHARS_MAX {
        event.detail = event.detail.chars().take(DETAIL_CHARS_MAX).collect();
    }
    let bytes = serde_json::to_vec(&event).unwrap_or_default();
    node.store().append_audit(&bytes)
}

/// Audit entries at or after `since_ms`, oldest first; at most `limit` of the
/// newest when `limit` is set.
pub fn events(node: &Node, since_ms: i64, limit: Option<usize>) -> Result<Vec<Event>, StoreError> {
    let mut out = Vec::new();
    // Newest first, stopping at `since_ms` or the limit; then reversed.
    for item in node.store().audit().rev() {
        let bytes = item?;
        let Ok(event) = serde_json::from_slice::<Event>(&bytes) else {
            continue;
        };
        if event.at_ms < since_ms || limit.is_some_and(|l| out.len() >= l) {
            break;
        }
        out.push(event);
    }
    out.reverse();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(dir: &std::path::Path, org: &str) -> Node {
        let config = crate::config::Config {
            org: org.into(),
            upstream: None,
            tls_dir: None,
            insecure: true,
            ..Default::default()
        };
        Node::init(&dir.join(org), config).expect("init")
    }

    #[test]
    fn accounts_check_passwords_and_stay_in_the_subtree() {
        let tmp = tempfile::tempdir().unwrap();
        let henan = node(tmp.path(), "410000");
        let a = add(
            &henan,
            "zhang.san",
            "410100",
            Role::Viewer,
            "correct horse 1",
        )
        .unwrap();
        assert!(a.hash.starts_with("$argon2id$"), "{}", a.hash);
        assert!(!a.hash.contains("correct horse"));
        assert_eq!(
            check_password(&henan, "zhang.san", "correct horse 1")
                .unwrap()
                .map(|a| a.org),
            Some("410100".to_owned())
        );
        assert_eq!(
            check_password(&henan, "zhang.san", "wrong horse 1").unwrap(),
            None
        );
        assert_eq!(
            check_password(&henan, "nobody", "correct horse 1").unwrap(),
            None
        );
        for (name, org, password, want) in [
            ("li si", "410100", "long enough 1", "account name"),
            (
                "li",
                "420000",
                "long enough 1",
                "not in this node's subtree",
            ),
            (
                "li",
                "999999",
                "long enough 1",
                "not in this node's subtree",
            ),
            ("li", "410100", "short", "at least 10"),
            ("zhang.san", "410100", "long enough 1", "already exists"),
        ] {
            let e = add(&henan, name, org, Role::Viewer, password).unwrap_err();
            assert!(e.to_string().contains(want), "{name} {org}: {e}");
        }
        remove(&henan, "zhang.san").unwrap();
        assert!(remove(&henan, "zhang.san").is_err());
        assert!(list(&henan).unwrap().is_empty());
    }

    #[test]
    fn the_audit_log_keeps_order_and_filters_by_time() {
        let tmp = tempfile::tempdir().unwrap();
        let n = node(tmp.path(), "410000");
        for i in 0..5 {
            let mut e = Event::new("admin", Action::Person, format!("lookup {i}"));
            e.at_ms = 1_000 * i;
            record(&n, e.org("410000")).unwrap();
        }
        let all = events(&n, 0, None).unwrap();
        assert_eq!(all.len(), 5);
        assert_eq!(all[0].detail, "lookup 0");
        let recent = events(&n, 3_000, None).unwrap();
        assert_eq!(
            recent.iter().map(|e| e.at_ms).collect::<Vec<_>>(),
            [3_000, 4_000]
        );
        let last = events(&n, 0, Some(2)).unwrap();
        assert_eq!(last[1].detail, "lookup 4");
        assert_eq!(last.len(), 2);
    }
}
