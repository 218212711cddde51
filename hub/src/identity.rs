//! Who is talking: a child's org code comes from its client certificate
//! (the URI SAN `lunxun://org/<code>`), never from what it says, after TLS
//! verified the chain to our root. On top of TLS: every CA in the presented
//! chain must be an ancestor of the leaf's org (a province's CA vouches only
//! for its subtree), and nothing revoked in our config may pass — the list is
//! re-read when `config.toml` changes, without a restart. Only with
//! `--insecure` (tests, closed networks) is the org a child claims taken at
//! its word.

use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use lunxun_node::certs;
use lunxun_node::config::{CONFIG_FILE, Config, Revoked};
use lunxun_node::node::Node;
use tonic::{Request, Status};
use tracing::warn;

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
    /// The revocation list and the config file's mtime it was read at.
    revoked: Mutex<(Option<SystemTime>, Revoked)>,
}

/// A refused peer: the status for it and the reason's short name (counted in
/// `status`).
pub type Refused = (Status, &'static str);

impl Gate {
    pub fn new(node: Arc<Node>, identity: Identity) -> Gate {
        let revoked = node.config().revoked.clone();
        Gate {
            identity,
            node,
            revoked: Mutex::new((None, revoked)),
        }
    }

    pub fn identity(&self) -> Identity {
        self.identity
    }

    /// The revocation list in force, re-read if `config.toml` changed.
    pub fn revoked(&self) -> Revoked {
        let path = self.node.dir().join(CONFIG_FILE);
        let mtime = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
        let mut cached = self.revoked.lock().unwrap_or_else(|p| p.into_inner());
        if mtime.is_some() && mtime != cached.0 {
            match Config::load(self.node.dir()) {
                Ok(config) => *cached = (mtime, config.revoked),
                Err(e) => {
                    warn!(error = %e, "config.toml does not load: keeping the previous revocation list")
                }
            }
        }
        cached.1.clone()
    }

    /// The peer's org: from its certificate chain (checked against our
    /// rules and the revocation list), or with `--insecure` from its claim.
    pub fn peer_org(&self, chain: Option<Vec<Vec<u8>>>, claimed: &str) -> Result<String, Refused> {
        let revoked = self.revoked();
        let org = match (self.identity, chain) {
            (_, Some(chain)) if !chain.is_empty() => {
                let refs: Vec<&[u8]> = chain.iter().map(Vec::as_slice).collect();
                for serial in certs::chain_serials(&refs) {
                    if revoked.serials.contains(&serial) {
                        return Err((
                            Status::permission_denied(format!(
                                "certificate serial {serial} is revoked"
                            )),
                            "revoked",
                        ));
                    }
                }
                let org = certs::chain_org(&refs, self.node.orgs())
                    .map_err(|e| (Status::permission_denied(e), "certificate"))?;
                if !claimed.is_empty() && claimed != org {
                    warn!(certified = %org, claimed, "peer claims another org than its certificate; using the certificate");
                }
                org
            }
            (Identity::Certificate, _) => {
                return Err((
                    Status::unauthenticated(
                        "no client certificate carrying a lunxun org (URI SAN lunxun://org/CODE)",
                    ),
                    "certificate",
                ));
            }
            (Identity::Insecure, _) => claimed.to_owned(),
        };
        if revoked.orgs.contains(&org) {
            return Err((
                Status::permission_denied(format!("org {org} is revoked here")),
                "revoked",
            ));
        }
        Ok(org)
    }
}
