//! Who is talking: a child's org code comes from its client certificate
//! (the URI SAN `lunxun://org/<code>`), never from what it says, after TLS
//! verified the chain to our root. On top of TLS: every CA in the presented
//! chain must be an ancestor of the leaf's org (a province's CA vouches only
//! for its subtree), and nothing revoked in our config may pass — the list is
//! re-read from `config.toml` at every session, without a restart. Only with
//! `--insecure` (tests, closed networks) is the org a child claims taken at
//! its word.

use std::sync::{Arc, Mutex};

use lunxun_node::certs;
use lunxun_node::config::{Config, Revoked};
use lunxun_node::node::Node;
use tonic::Request;
use tracing::warn;

use crate::error::Error;

/// How the service learns a peer's identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Identity {
    /// From the verified client certificate (mTLS).
    Certificate,
    /// From the peer's own claim (`--insecure`).
    Insecure,
}

/// The client's certificate chain as presented (leaf first), DER.
pub fn peer_chain<T>(request: &Request<T>) -> Option<Vec<Vec<u8>>> {
    let certs = request.peer_certs()?;
    Some(certs.iter().map(|c| c.as_ref().to_vec()).collect())
}

/// Decides who a peer is, and whether it may talk to us at all.
pub struct Gate {
    identity: Identity,
    node: Arc<Node>,
    /// The revocation list last read.
    revoked: Mutex<Revoked>,
}

impl Gate {
    pub fn new(node: Arc<Node>, identity: Identity) -> Gate {
        let revoked = node.config().revoked.clone();
        Gate {
            identity,
            node,
            revoked: Mutex::new(revoked),
        }
    }

    pub fn identity(&self) -> Identity {
        self.identity
    }

    /// The revocation list in force, read from `config.toml` at every call
    /// (once per session: a small file). A cache keyed by the file's mtime
    /// would miss a second change within one tick of the file system's
    /// clock. If the file does not load, the previous list stays in force.
    pub fn revoked(&self) -> Revoked {
        let mut in_force = self.revoked.lock().unwrap_or_else(|p| p.into_inner());
        match Config::load(self.node.dir()) {
            Ok(config) => *in_force = config.revoked,
            Err(e) => {
                warn!(error = %e, "config.toml does not load: keeping the previous revocation list")
            }
        }
        // And every revocation bulletin held.
        self.node.revoked_with(&in_force)
    }

    /// The peer's org: from its certificate chain (checked against our
    /// rules and the revocation list), or with `--insecure` from its claim.
    pub fn peer_org(&self, chain: Option<Vec<Vec<u8>>>, claimed: &str) -> Result<String, Error> {
        let revoked = self.revoked();
        let org = match (self.identity, chain) {
            (_, Some(chain)) if !chain.is_empty() => {
                let refs: Vec<&[u8]> = chain.iter().map(Vec::as_slice).collect();
                let org = certs::checked_org(&refs, &self.node.orgs(), &revoked.serials).map_err(
                    |e| match e {
                        certs::ChainRefusal::Revoked { serial } => Error::RevokedSerial { serial },
                        certs::ChainRefusal::Rule(reason) => Error::Certificate(reason),
                    },
                )?;
                if !claimed.is_empty() && claimed != org {
                    warn!(certified = %org, claimed, "peer claims another org than its certificate; using the certificate");
                }
                org
            }
            (Identity::Certificate, _) => {
                return Err(Error::NoCertificate);
            }
            (Identity::Insecure, _) => claimed.to_owned(),
        };
        if revoked.orgs.contains(&org) {
            return Err(Error::RevokedOrg { org });
        }
        Ok(org)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lunxun_node::config::CONFIG_FILE;

    fn save(dir: &std::path::Path, serials: &[&str]) {
        let mut config = Config::load(dir).unwrap();
        config.revoked = Revoked {
            serials: serials.iter().map(|s| (*s).to_owned()).collect(),
            orgs: Vec::new(),
        };
        config.save(dir).unwrap();
    }

    #[test]
    fn a_revocation_is_seen_at_the_next_session_even_within_one_timestamp_tick() {
        let tmp = tempfile::tempdir().unwrap();
        let config = Config {
            org: "410100".into(),
            upstream: None,
            tls_dir: None,
            insecure: false,
            revoked: Revoked::default(),
            time_zone: None,
            quotas: Default::default(),
            dashboard: Default::default(),
            store: Default::default(),
            alerts: Default::default(),
        };
        let node = Arc::new(Node::init(tmp.path(), config).unwrap());
        let gate = Gate::new(node, Identity::Certificate);
        let path = tmp.path().join(CONFIG_FILE);
        save(tmp.path(), &["aa"]);
        assert_eq!(gate.revoked().serials, ["aa"]);
        // A second change within the same tick of the file system's clock
        // (coarse: milliseconds) leaves the mtime as it was.
        let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
        save(tmp.path(), &["aa", "bb"]);
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(mtime)
            .unwrap();
        assert_eq!(gate.revoked().serials, ["aa", "bb"]);
        // A config that does not load keeps the list in force.
        std::fs::write(&path, "not toml [").unwrap();
        assert_eq!(gate.revoked().serials, ["aa", "bb"]);
    }
}
