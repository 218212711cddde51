//! Signing and verifying checkpoints (DESIGN.md "Origin signatures").
//!
//! An origin signs `(origin, seq, hash)` with the key of its own node
//! certificate after every write ([`Signer`]); a receiver verifies the
//! signature, and the certificate chain the checkpoint carries to the
//! national root at the time it was signed, with lunxun's chain rule (every
//! CA an ancestor of the org) and nothing in the chain revoked ([`Trust`]).
//! The chain is verified once per distinct chain and remembered; each
//! checkpoint then costs one signature verification.
//!
//! The key is read from the tls dir at every write, so a renewed certificate
//! (`certs issue` into the same dir) signs from the next write on, without a
//! restart; checkpoints signed with the old one stay valid, since each is
//! verified at its own signing time with the chain it carries.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use prost::Message;
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair};
use rustls_pki_types::{CertificateDer, SignatureVerificationAlgorithm, TrustAnchor, UnixTime};
use webpki::{EndEntityCert, KeyUsage};

use super::check::{chain_org, chain_serials, pem_certificates};
use super::{CA_FILE, CERT_FILE, KEY_FILE};
use crate::changelog::Hash;
use crate::checkpoint::{Checkpoint, Rejected, Signed, signed_bytes};
use crate::config::Revoked;
use crate::model::Invalid;
use crate::orgs::{NATIONAL, OrgDirectory, OrgId};
use lunxun_core::bulletin::{self, Sealed};
use lunxun_proto::v1 as pb;

/// Most bytes of one encoded checkpoint (a signature and a chain of a few
/// certificates): anything larger is refused before it is decoded.
pub const CHECKPOINT_BYTES_MAX: usize = 16 * 1024;
/// Most certificates in a checkpoint's chain (the signer's and the CAs
/// between it and the root: national, province, prefecture at most).
pub const CHAIN_CERTS_MAX: usize = 4;
/// Distinct certificate chains remembered as verified, at most (one per
/// signer and certificate generation; beyond this, the memory is cleared).
const CHAINS_REMEMBERED_MAX: usize = 65_536;

/// Why a node cannot sign.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("{path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {reason}")]
    Key { path: PathBuf, reason: String },
}

enum Key {
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

/// A node's signing identity: the key of its node certificate and the chain
/// a receiver needs to verify it.
pub struct Signer {
    key: Key,
    chain: Vec<Bytes>,
    rng: SystemRandom,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("chain", &self.chain.len())
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// The identity in a tls dir (`node.key`, `node.pem`), checked to be a
    /// certificate for `org`.
    pub fn load(dir: &Path, org: &str) -> Result<Signer, SignError> {
        let read = |file: &str| {
            let path = dir.join(file);
            std::fs::read(&path).map_err(|source| SignError::Read { path, source })
        };
        let key_path = dir.join(KEY_FILE);
        let key_pem = read(KEY_FILE)?;
        let key_err = |reason: String| SignError::Key {
            path: key_path.clone(),
            reason,
        };
        let parsed = pem::parse(&key_pem).map_err(|e| key_err(e.to_string()))?;
        if parsed.tag() != "PRIVATE KEY" {
            return Err(key_err(format!(
                "expected a PKCS#8 PRIVATE KEY, found {}",
                parsed.tag()
            )));
        }
        let der = parsed.contents();
        let rng = SystemRandom::new();
        let key = match EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, der, &rng) {
            Ok(k) => Key::Ecdsa(k),
            Err(_) => Key::Ed25519(
                Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
                    .map_err(|_| key_err("not an ECDSA P-256 or Ed25519 key".into()))?,
            ),
        };
        let cert_path = dir.join(CERT_FILE);
        let text = String::from_utf8(read(CERT_FILE)?).map_err(|_| SignError::Key {
            path: cert_path.clone(),
            reason: "not PEM text".into(),
        })?;
        let chain: Vec<Bytes> = pem_certificates(&text)
            .into_iter()
            .map(Bytes::from)
            .collect();
        let cert_err = |reason: String| SignError::Key {
            path: cert_path.clone(),
            reason,
        };
        let leaf = chain
            .first()
            .ok_or_else(|| cert_err("no certificate".into()))?;
        let public = match &key {
            Key::Ecdsa(k) => k.public_key().as_ref().to_vec(),
            Key::Ed25519(k) => k.public_key().as_ref().to_vec(),
        };
        let facts = x509_parser::parse_x509_certificate(leaf)
            .map_err(|e| cert_err(format!("does not parse: {e}")))?
            .1;
        if facts.public_key().subject_public_key.data.as_ref() != public.as_slice() {
            return Err(cert_err(format!(
                "the certificate is not for the key in {}",
                key_path.display()
            )));
        }
        let orgs = super::info(leaf).map(|i| i.orgs).unwrap_or_default();
        if orgs.as_slice() != [org.to_owned()] {
            return Err(cert_err(format!(
                "the certificate is for {orgs:?}, not this node's org {org}"
            )));
        }
        // The chain a receiver needs: the leaf and the CAs under the root.
        let chain = chain.into_iter().take(CHAIN_CERTS_MAX).collect();
        Ok(Signer { key, chain, rng })
    }

    /// Whether a checkpoint's chain is this signer's (same certificate).
    pub fn signs_with(&self, chain: &[Bytes]) -> bool {
        chain.first() == self.chain.first()
    }

    /// An encoded checkpoint of `origin` at `seq` (whose change has `hash`).
    pub fn sign(&self, origin: &str, seq: u64, hash: &Hash, signed_at_ms: i64) -> Bytes {
        let message = signed_bytes(origin, seq, hash, signed_at_ms);
        let signature = self.signature(&message);
        encode(&Checkpoint {
            origin: origin.to_owned(),
            seq,
            hash: *hash,
            signed_at_ms,
            signature: Bytes::from(signature),
            chain: self.chain.clone(),
        })
    }
}

impl Signer {
    /// A bulletin's seal: the signature over its bytes and this signer's chain.
    pub fn seal_bulletin(&self, bytes: Bytes) -> Sealed {
        let message = bulletin::signed_bytes(&bytes);
        let signature = self.signature(&message);
        Sealed {
            bytes,
            signature: Bytes::from(signature),
            chain: self.chain.clone(),
        }
    }

    /// A signature over `bytes` for one use only, `context` (say
    /// `lunxun.bundle.v1`): what is signed is `context ‖ 0x00 ‖ bytes`, so
    /// no signature made for one use verifies for another. Returns the
    /// signature and this signer's chain.
    pub fn sign_bytes(&self, context: &[u8], bytes: &[u8]) -> (Bytes, Vec<Bytes>) {
        let signature = self.signature(&with_context(context, bytes));
        (Bytes::from(signature), self.chain.clone())
    }

    fn signature(&self, message: &[u8]) -> Vec<u8> {
        match &self.key {
            // Signing fails only if the system's random source does, which
            // ring treats as fatal too.
            Key::Ecdsa(k) => k
                .sign(&self.rng, message)
                .map(|s| s.as_ref().to_vec())
                .unwrap_or_default(),
            Key::Ed25519(k) => k.sign(message).as_ref().to_vec(),
        }
    }
}

/// The message [`Signer::sign_bytes`] signs: the context, a zero byte, the bytes.
fn with_context(context: &[u8], bytes: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(context.len() + 1 + bytes.len());
    m.extend_from_slice(context);
    m.push(0);
    m.extend_from_slice(bytes);
    m
}

/// Encodes a checkpoint.
pub fn encode(c: &Checkpoint) -> Bytes {
    Bytes::from(
        pb::Checkpoint {
            origin: c.origin.clone(),
            seq: c.seq,
            hash: Bytes::copy_from_slice(&c.hash),
            signed_at_ms: c.signed_at_ms,
            signature: c.signature.clone(),
            chain: c.chain.clone(),
        }
        .encode_to_vec(),
    )
}

/// Decodes a checkpoint within its bounds.
pub fn decode(bytes: &Bytes) -> Result<Checkpoint, Invalid> {
    if bytes.len() > CHECKPOINT_BYTES_MAX {
        return Err(Invalid(format!(
            "checkpoint of {} bytes exceeds {CHECKPOINT_BYTES_MAX}",
            bytes.len()
        )));
    }
    let msg = pb::Checkpoint::decode(bytes.clone())
        .map_err(|e| Invalid(format!("malformed checkpoint: {e}")))?;
    if msg.seq == 0 {
        return Err(Invalid(format!("checkpoint of {} has seq 0", msg.origin)));
    }
    let hash: Hash = msg.hash.as_ref().try_into().map_err(|_| {
        Invalid(format!(
            "checkpoint of {} seq {} has a hash of {} bytes",
            msg.origin,
            msg.seq,
            msg.hash.len()
        ))
    })?;
    if msg.chain.is_empty() || msg.chain.len() > CHAIN_CERTS_MAX {
        return Err(Invalid(format!(
            "checkpoint of {} seq {} carries {} certificates (1 to {CHAIN_CERTS_MAX})",
            msg.origin,
            msg.seq,
            msg.chain.len()
        )));
    }
    Ok(Checkpoint {
        origin: msg.origin,
        seq: msg.seq,
        hash,
        signed_at_ms: msg.signed_at_ms,
        signature: msg.signature,
        chain: msg.chain,
    })
}

/// A chain verified once: whose it is and when all its certificates are valid.
#[derive(Debug, Clone)]
struct KnownChain {
    org: String,
    serials: Vec<String>,
    /// Seconds since the epoch: the chain verified at any time in this window.
    valid: (i64, i64),
}

/// What a receiver trusts: the national root(s) from its `ca.pem`.
pub struct Trust {
    roots: Vec<CertificateDer<'static>>,
    chains: Mutex<HashMap<[u8; 32], KnownChain>>,
}

impl std::fmt::Debug for Trust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trust")
            .field("roots", &self.roots.len())
            .finish_non_exhaustive()
    }
}

/// Signature algorithms a checkpoint may use (what `certs issue` makes, and
/// the common alternatives).
static ALGORITHMS: &[&dyn SignatureVerificationAlgorithm] = &[
    webpki::ring::ECDSA_P256_SHA256,
    webpki::ring::ECDSA_P384_SHA384,
    webpki::ring::ED25519,
];

impl Trust {
    /// The roots in a tls dir's `ca.pem`.
    pub fn load(dir: &Path) -> Result<Trust, SignError> {
        let path = dir.join(CA_FILE);
        let text = std::fs::read_to_string(&path).map_err(|source| SignError::Read {
            path: path.clone(),
            source,
        })?;
        Trust::from_roots(pem_certificates(&text)).map_err(|reason| SignError::Key { path, reason })
    }

    /// Trust in these root certificates (DER).
    pub fn from_roots(roots: Vec<Vec<u8>>) -> Result<Trust, String> {
        let roots: Vec<CertificateDer<'static>> =
            roots.into_iter().map(CertificateDer::from).collect();
        for r in &roots {
            webpki::anchor_from_trusted_cert(r)
                .map_err(|e| format!("not a usable root certificate: {e:?}"))?;
        }
        if roots.is_empty() {
            return Err("no root certificate".into());
        }
        Ok(Trust {
            roots,
            chains: Mutex::new(HashMap::new()),
        })
    }

    /// Verifies one encoded checkpoint of a batch from `sender`: decoded, of
    /// an origin inside the sender's subtree (else the whole batch is the
    /// sender's fault: `Err(Err(..))`), then signed by a certificate for that
    /// origin's org, valid at signing time, chaining to our root, every CA an
    /// ancestor, none revoked (else it vouches for nothing: `Err(Ok(..))`).
    /// A checkpoint of an origin the directory does not know vouches for
    /// nothing here either (its changes are held): `Err(Ok(None))`.
    pub fn verify(
        &self,
        orgs: &OrgDirectory,
        revoked: &Revoked,
        sender: OrgId,
        bytes: Bytes,
    ) -> Result<Signed, Result<Option<Rejected>, String>> {
        let c = decode(&bytes).map_err(|e| Err(e.0))?;
        let Some(org) = orgs.get(&c.origin) else {
            return Err(Ok(None));
        };
        if !orgs.is_within(org, sender) {
            return Err(Err(format!(
                "checkpoint of origin {}, outside {}'s subtree",
                c.origin,
                orgs.code(sender)
            )));
        }
        let reject = |reason: String| {
            Err(Ok(Some(Rejected {
                org,
                origin: c.origin.clone(),
                seq: c.seq,
                reason,
            })))
        };
        let known = match self.chain(orgs, &c.chain, c.signed_at_ms) {
            Ok(k) => k,
            Err(reason) => return reject(reason),
        };
        if known.org != c.origin {
            return reject(format!(
                "signed by a certificate for {}, not for the origin",
                known.org
            ));
        }
        if let Some(serial) = known.serials.iter().find(|s| revoked.serials.contains(s)) {
            return reject(format!("signed by revoked certificate {serial}"));
        }
        let leaf = CertificateDer::from(c.chain[0].as_ref());
        let ee = match EndEntityCert::try_from(&leaf) {
            Ok(ee) => ee,
            Err(e) => return reject(format!("the signer's certificate does not parse: {e:?}")),
        };
        let message = c.signed_bytes();
        let good = ALGORITHMS
            .iter()
            .any(|alg| ee.verify_signature(*alg, &message, &c.signature).is_ok());
        if !good {
            return reject("the signature does not verify".into());
        }
        Ok(Signed {
            org,
            origin: c.origin,
            seq: c.seq,
            hash: c.hash,
            bytes,
        })
    }

    /// Verifies a sealed bulletin's signature: by a certificate for the
    /// national org, valid when it signed, chaining to our root (every CA an
    /// ancestor, none revoked).
    pub fn verify_bulletin(
        &self,
        orgs: &OrgDirectory,
        revoked: &Revoked,
        sealed: &Sealed,
        signed_at_ms: i64,
    ) -> Result<(), String> {
        let known = self.chain(orgs, &sealed.chain, signed_at_ms)?;
        if known.org != NATIONAL {
            return Err(format!(
                "signed by a certificate for {}, not for the national bureau {NATIONAL}",
                known.org
            ));
        }
        if let Some(serial) = known.serials.iter().find(|s| revoked.serials.contains(s)) {
            return Err(format!("signed by revoked certificate {serial}"));
        }
        let leaf = CertificateDer::from(sealed.chain[0].as_ref());
        let ee = EndEntityCert::try_from(&leaf)
            .map_err(|e| format!("the signer's certificate does not parse: {e:?}"))?;
        let message = bulletin::signed_bytes(&sealed.bytes);
        let good = ALGORITHMS.iter().any(|alg| {
            ee.verify_signature(*alg, &message, &sealed.signature)
                .is_ok()
        });
        if !good {
            return Err("the signature does not verify".into());
        }
        Ok(())
    }

    /// Verifies a [`Signer::sign_bytes`] signature made for `context` at
    /// `signed_at_ms`: the chain to our roots at that time (every CA an
    /// ancestor, none revoked), then the signature. Returns the org the
    /// signer's certificate stands for; the caller says whose it must be.
    #[allow(clippy::too_many_arguments)]
    pub fn verify_bytes(
        &self,
        orgs: &OrgDirectory,
        revoked: &Revoked,
        context: &[u8],
        bytes: &[u8],
        signature: &[u8],
        chain: &[Bytes],
        signed_at_ms: i64,
    ) -> Result<String, String> {
        if chain.len() > CHAIN_CERTS_MAX {
            return Err(format!(
                "the signer's chain holds {} certificates, more than {CHAIN_CERTS_MAX}",
                chain.len()
            ));
        }
        let known = self.chain(orgs, chain, signed_at_ms)?;
        if let Some(serial) = known.serials.iter().find(|s| revoked.serials.contains(s)) {
            return Err(format!("signed by revoked certificate {serial}"));
        }
        let leaf = CertificateDer::from(chain[0].as_ref());
        let ee = EndEntityCert::try_from(&leaf)
            .map_err(|e| format!("the signer's certificate does not parse: {e:?}"))?;
        let message = with_context(context, bytes);
        let good = ALGORITHMS
            .iter()
            .any(|alg| ee.verify_signature(*alg, &message, signature).is_ok());
        if !good {
            return Err("the signature does not verify".into());
        }
        Ok(known.org)
    }

    /// The checkpoint's chain, verified to our roots at its signing time and
    /// for lunxun's chain rule (remembered per distinct chain).
    fn chain(
        &self,
        orgs: &OrgDirectory,
        chain: &[Bytes],
        signed_at_ms: i64,
    ) -> Result<KnownChain, String> {
        if chain.is_empty() {
            return Err("no certificate chain".into());
        }
        let mut hasher = blake3::Hasher::new();
        for cert in chain {
            hasher.update(&(cert.len() as u64).to_be_bytes());
            hasher.update(cert);
        }
        let id = *hasher.finalize().as_bytes();
        let at = signed_at_ms.div_euclid(1000);
        {
            let chains = self.chains.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(known) = chains.get(&id) {
                if (known.valid.0..=known.valid.1).contains(&at) {
                    return Ok(known.clone());
                }
                return Err("the signer's certificate was not valid when it signed".into());
            }
        }
        let known = self.verify_chain(orgs, chain, at)?;
        let mut chains = self.chains.lock().unwrap_or_else(|p| p.into_inner());
        if chains.len() >= CHAINS_REMEMBERED_MAX {
            chains.clear();
        }
        chains.insert(id, known.clone());
        Ok(known)
    }

    fn verify_chain(
        &self,
        orgs: &OrgDirectory,
        chain: &[Bytes],
        at: i64,
    ) -> Result<KnownChain, String> {
        let Ok(at_unsigned) = u64::try_from(at) else {
            return Err("signed before 1970".into());
        };
        let anchors: Vec<TrustAnchor<'_>> = self
            .roots
            .iter()
            .filter_map(|r| webpki::anchor_from_trusted_cert(r).ok())
            .collect();
        let leaf = CertificateDer::from(chain[0].as_ref());
        let intermediates: Vec<CertificateDer<'_>> = chain[1..]
            .iter()
            .map(|d| CertificateDer::from(d.as_ref()))
            .collect();
        let ee = EndEntityCert::try_from(&leaf)
            .map_err(|e| format!("the signer's certificate does not parse: {e:?}"))?;
        ee.verify_for_usage(
            ALGORITHMS,
            &anchors,
            &intermediates,
            UnixTime::since_unix_epoch(Duration::from_secs(at_unsigned)),
            KeyUsage::client_auth(),
            None,
            None,
        )
        .map_err(|e| match e {
            webpki::Error::CertNotValidYet { .. } | webpki::Error::CertExpired { .. } => {
                format!("the signer's certificate was not valid at signing time ({e:?})")
            }
            e => format!("the signer's certificate does not chain to our root: {e:?}"),
        })?;
        let ders: Vec<&[u8]> = chain.iter().map(|d| d.as_ref()).collect();
        let org = chain_org(&ders, orgs)?;
        let mut valid = (i64::MIN, i64::MAX);
        for der in &ders {
            let (_, cert) = x509_parser::parse_x509_certificate(der)
                .map_err(|e| format!("a certificate of the chain does not parse: {e}"))?;
            valid.0 = valid.0.max(cert.validity().not_before.timestamp());
            valid.1 = valid.1.min(cert.validity().not_after.timestamp());
        }
        Ok(KnownChain {
            org,
            serials: chain_serials(&ders),
            valid,
        })
    }
}

#[cfg(test)]
mod tests;
