//! What the dashboard remembers about who is logged in: sessions (random
//! tokens, in memory, each with an expiry), the throttle on failed logins
//! (per account name and per client address), the key CSRF tokens are
//! derived with, and the [`Viewer`] every handler behind the login sees.
//! Plain state with its limits; the HTTP side is `auth`'s.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use lunxun_node::accounts::{Action, Event, Role};
use lunxun_node::node::now_ms;
use lunxun_node::orgs::OrgId;
use ring::rand::{SecureRandom, SystemRandom};
use ring::{aead, hmac};
use tokio::sync::Semaphore;

/// How long a session lasts: a working day.
pub const SESSION_MS: i64 = 8 * 3_600 * 1_000;
/// Sessions held at once; the oldest goes first beyond it.
pub const SESSIONS_MAX: usize = 10_000;
/// Password checks running at once (each takes 19 MiB and tens of ms).
pub const LOGIN_JOBS_MAX: usize = 2;
/// Failed logins of one account or address before each attempt waits.
pub const FREE_FAILURES: u32 = 5;
/// The longest wait between attempts.
pub const LOCK_MAX_MS: i64 = 15 * 60 * 1_000;
/// Quiet after which failures are forgotten.
const FORGET_AFTER_MS: i64 = 60 * 60 * 1_000;
/// Accounts and addresses the throttle remembers; the stalest goes first.
pub const THROTTLE_KEYS_MAX: usize = 10_000;

/// Who is asking, as every handler behind `auth::require_viewer` sees it.
#[derive(Debug, Clone)]
pub(super) struct Viewer {
    pub(super) account: String,
    /// The root of what the account sees.
    pub(super) org: OrgId,
    pub(super) role: Role,
    /// The token every form of this viewer carries.
    pub(super) csrf: String,
    pub(super) address: Option<IpAddr>,
    /// Whether a trusted proxy vouched for the viewer (then there is no
    /// logout here).
    pub(super) via_proxy: bool,
}

impl Viewer {
    /// An audit event by this viewer, at its address.
    pub(super) fn event(&self, action: Action, org: &str, detail: impl Into<String>) -> Event {
        let event = Event::new(&self.account, action, detail).org(org);
        match self.address {
            Some(a) => event.address(a),
            None => event,
        }
    }
}

struct Session {
    account: String,
    expires_ms: i64,
}

/// Failed logins of one key.
struct Failures {
    count: u32,
    last_ms: i64,
}

/// What the dashboard knows about logins.
pub(super) struct Auth {
    sessions: Mutex<HashMap<String, Session>>,
    failures: Mutex<HashMap<String, Failures>>,
    csrf_key: hmac::Key,
    /// Seals a value into a page (a person's ID behind a download button)
    /// so that only this process, for the same viewer, can read it back.
    seal_key: aead::LessSafeKey,
    rng: SystemRandom,
    pub(super) logins: Semaphore,
}

impl Auth {
    pub(super) fn new() -> Auth {
        let rng = SystemRandom::new();
        let csrf_key = hmac::Key::generate(hmac::HMAC_SHA256, &rng)
            .unwrap_or_else(|_| hmac::Key::new(hmac::HMAC_SHA256, &now_ms().to_be_bytes()));
        let mut key = [0u8; 32];
        if rng.fill(&mut key).is_err() {
            key.copy_from_slice(&hmac::sign(&csrf_key, b"seal").as_ref()[..32]);
        }
        let seal_key = aead::LessSafeKey::new(
            aead::UnboundKey::new(&aead::AES_256_GCM, &key)
                .unwrap_or_else(|_| unreachable!("a 32-byte key is an AES-256 key")),
        );
        Auth {
            sessions: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
            csrf_key,
            seal_key,
            rng,
            logins: Semaphore::new(LOGIN_JOBS_MAX),
        }
    }

    pub(super) fn token(&self) -> Option<String> {
        let mut bytes = [0u8; 32];
        self.rng.fill(&mut bytes).ok()?;
        Some(hex(&bytes))
    }

    /// `plain`, sealed for the viewer whose CSRF token is `csrf`: hex of a
    /// random nonce and the AES-GCM ciphertext, the token as associated data.
    pub(super) fn seal(&self, csrf: &str, plain: &str) -> Option<String> {
        let mut nonce = [0u8; aead::NONCE_LEN];
        self.rng.fill(&mut nonce).ok()?;
        let mut bytes = plain.as_bytes().to_vec();
        self.seal_key
            .seal_in_place_append_tag(
                aead::Nonce::assume_unique_for_key(nonce),
                aead::Aad::from(csrf.as_bytes()),
                &mut bytes,
            )
            .ok()?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&bytes);
        Some(hex(&out))
    }

    /// What [`Auth::seal`] sealed for this viewer; None for anything else
    /// (another viewer's, another process's, altered, or not hex).
    pub(super) fn open(&self, csrf: &str, sealed: &str) -> Option<String> {
        if sealed.len() > 512 || !sealed.len().is_multiple_of(2) {
            return None;
        }
        let bytes: Vec<u8> = (0..sealed.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(sealed.get(i..i + 2)?, 16).ok())
            .collect::<Option<_>>()?;
        if bytes.len() < aead::NONCE_LEN {
            return None;
        }
        let (nonce, sealed) = bytes.split_at(aead::NONCE_LEN);
        let nonce = aead::Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut sealed = sealed.to_vec();
        let plain = self
            .seal_key
            .open_in_place(nonce, aead::Aad::from(csrf.as_bytes()), &mut sealed)
            .ok()?;
        String::from_utf8(plain.to_vec()).ok()
    }

    pub(super) fn csrf_for(&self, what: &str) -> String {
        hex(&hmac::sign(&self.csrf_key, what.as_bytes()).as_ref()[..16])
    }

    pub(super) fn start(&self, account: &str) -> Option<String> {
        let token = self.token()?;
        let now = now_ms();
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        if sessions.len() >= SESSIONS_MAX {
            sessions.retain(|_, s| s.expires_ms > now);
        }
        if sessions.len() >= SESSIONS_MAX
            && let Some(oldest) = sessions
                .iter()
                .min_by_key(|(_, s)| s.expires_ms)
                .map(|(k, _)| k.clone())
        {
            sessions.remove(&oldest);
        }
        sessions.insert(
            token.clone(),
            Session {
                account: account.to_owned(),
                expires_ms: now + SESSION_MS,
            },
        );
        Some(token)
    }

    pub(super) fn session(&self, token: &str) -> Option<String> {
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        match sessions.get(token) {
            Some(s) if s.expires_ms > now_ms() => Some(s.account.clone()),
            Some(_) => {
                sessions.remove(token);
                None
            }
            None => None,
        }
    }

    pub(super) fn end(&self, token: &str) {
        self.sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(token);
    }

    /// How long `key` must still wait before its next attempt, if at all.
    pub(super) fn wait_ms(&self, key: &str, now: i64) -> Option<i64> {
        let failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let f = failures.get(key)?;
        if f.count < FREE_FAILURES || now - f.last_ms > FORGET_AFTER_MS {
            return None;
        }
        let shift = (f.count - FREE_FAILURES).min(20);
        let wait = (1_000i64 << shift).min(LOCK_MAX_MS);
        let left = f.last_ms + wait - now;
        (left > 0).then_some(left)
    }

    pub(super) fn failed(&self, key: String, now: i64) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if !failures.contains_key(&key) && failures.len() >= THROTTLE_KEYS_MAX {
            failures.retain(|_, f| now - f.last_ms <= FORGET_AFTER_MS);
            if failures.len() >= THROTTLE_KEYS_MAX
                && let Some(stalest) = failures
                    .iter()
                    .min_by_key(|(_, f)| f.last_ms)
                    .map(|(k, _)| k.clone())
            {
                failures.remove(&stalest);
            }
        }
        let f = failures.entry(key).or_insert(Failures {
            count: 0,
            last_ms: now,
        });
        if now - f.last_ms > FORGET_AFTER_MS {
            f.count = 0;
        }
        f.count += 1;
        f.last_ms = now;
    }

    pub(super) fn succeeded(&self, key: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }
}

/// Whether two tokens are equal, in time that depends on their length only.
pub(super) fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
