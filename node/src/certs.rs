//! Certificates for links between bureaus.
//!
//! - The national bureau runs the root CA (`certs init-ca`).
//! - A province can run an intermediate CA for its own subtree (`certs
//!   init-ca --ca ROOT_DIR --org 410000`), so it issues its prefectures' and
//!   counties' certificates itself. Every CA certificate carries its org in a
//!   URI SAN, and a parent accepts a chain only if every CA in it is an
//!   ancestor of the leaf's org: a province's CA can issue for its subtree and
//!   nothing else.
//! - A node's certificate (`certs issue`) carries its org code in the URI SAN
//!   `lunxun://org/<code>` — the only identity a parent believes — and, for a
//!   hub that serves, its DNS names or IP addresses (`--host`).
//!
//! A CA dir holds `ca.pem` (the CA's certificate), `ca.key` (its key, 0600),
//! `root.pem` (the national root, the trust anchor) and `chain.pem` (the CA
//! certificates between this CA and the root, this CA first; empty for the
//! root). A node's tls dir holds `ca.pem` (the root), `node.pem` (its
//! certificate followed by the chain) and `node.key` (0600).

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use time::{Duration, OffsetDateTime};
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::orgs::{NATIONAL, OrgDirectory};
use crate::tls::{CA_FILE, CERT_FILE, KEY_FILE};

/// The URI SAN prefix that carries a node's (or a CA's) org code.
pub const ORG_URI_PREFIX: &str = "lunxun://org/";
/// A CA's key, in its CA dir.
pub const CA_KEY_FILE: &str = "ca.key";
/// The trust anchor (the national root), in a CA dir.
pub const ROOT_FILE: &str = "root.pem";
/// The CA certificates between a CA and the root, in its CA dir.
pub const CHAIN_FILE: &str = "chain.pem";
/// Default validity of the root CA.
pub const ROOT_DAYS: u32 = 3_650;
/// Default validity of an intermediate CA.
pub const INTERMEDIATE_DAYS: u32 = 1_825;
/// Default validity of a node certificate.
pub const NODE_DAYS: u32 = 397;
/// Longest validity accepted.
pub const DAYS_MAX: u32 = 7_300;

/// Why a certificate operation failed.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A file is not what it should be.
    #[error("{path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
    /// The request makes no sense (unknown org, outside the CA's subtree...).
    #[error("{0}")]
    Refused(String),
    /// rcgen failed.
    #[error("certificate generation: {0}")]
    Generate(#[from] rcgen::Error),
}

fn read(path: &Path) -> Result<String, CertError> {
    std::fs::read_to_string(path).map_err(|source| CertError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes a file, private (0600) when `secret`, refusing to overwrite.
fn write(path: &Path, text: &str, secret: bool) -> Result<(), CertError> {
    let io = |source| CertError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    if secret {
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(io)?;
    file.write_all(text.as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)
}

fn create_dir(dir: &Path) -> Result<(), CertError> {
    std::fs::create_dir_all(dir).map_err(|source| CertError::Io {
        path: dir.to_path_buf(),
        source,
    })
}

/// Facts about one certificate, for `certs show` and for checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    pub subject: String,
    /// Serial number, lowercase hex: what a revocation list names.
    pub serial: String,
    pub orgs: Vec<String>,
    pub is_ca: bool,
    pub not_before: String,
    pub not_after: String,
    pub hosts: Vec<String>,
}

/// Parses DER into [`CertInfo`].
pub fn info(der: &[u8]) -> Option<CertInfo> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    let mut orgs = Vec::new();
    let mut hosts = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::URI(uri) => {
                    if let Some(org) = uri.strip_prefix(ORG_URI_PREFIX) {
                        orgs.push(org.to_owned());
                    }
                }
                GeneralName::DNSName(d) => hosts.push((*d).to_owned()),
                GeneralName::IPAddress(ip) => {
                    let text = match ip.len() {
                        4 => std::net::Ipv4Addr::new(ip[0], ip[1], ip[2], ip[3]).to_string(),
                        16 => {
                            let mut b = [0u8; 16];
                            b.copy_from_slice(ip);
                            std::net::Ipv6Addr::from(b).to_string()
                        }
                        _ => continue,
                    };
                    hosts.push(text);
                }
                _ => {}
            }
        }
    }
    Some(CertInfo {
        subject: cert.subject().to_string(),
        serial: serial_hex(cert.raw_serial()),
        orgs,
        is_ca: cert.is_ca(),
        not_before: cert.validity().not_before.to_string(),
        not_after: cert.validity().not_after.to_string(),
        hosts,
    })
}

/// Lowercase hex without leading zero bytes, as revocation lists name serials.
pub fn serial_hex(raw: &[u8]) -> String {
    let trimmed: &[u8] = match raw.iter().position(|&b| b != 0) {
        Some(i) => &raw[i..],
        None => &raw[raw.len().saturating_sub(1)..],
    };
    trimmed.iter().map(|b| format!("{b:02x}")).collect()
}

/// The DER certificates in a PEM text, in order.
pub fn pem_certificates(text: &str) -> Vec<Vec<u8>> {
    pem::parse_many(text)
        .unwrap_or_default()
        .into_iter()
        .filter(|p| p.tag() == "CERTIFICATE")
        .map(|p| p.into_contents())
        .collect()
}

fn random_serial() -> SerialNumber {
    use rand::Rng;
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    bytes[0] &= 0x7f; // positive
    bytes[0] |= 0x10; // no leading zero byte, so the hex form is stable
    SerialNumber::from_slice(&bytes)
}

fn validity(params: &mut CertificateParams, days: u32) -> Result<(), CertError> {
    if days == 0 || days > DAYS_MAX {
        return Err(CertError::Refused(format!(
            "--days must be within 1..={DAYS_MAX}"
        )));
    }
    let now = OffsetDateTime::now_utc();
    // An hour of slack for clocks that run a little behind.
    params.not_before = now - Duration::hours(1);
    params.not_after = now + Duration::days(i64::from(days));
    Ok(())
}

fn org_uri(code: &str) -> Result<SanType, CertError> {
    let uri = format!("{ORG_URI_PREFIX}{code}");
    Ok(SanType::URI(uri.try_into().map_err(|_| {
        CertError::Refused(format!("org code {code} cannot go in a URI"))
    })?))
}

fn dn(common_name: String) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "lunxun");
    dn.push(DnType::CommonName, common_name);
    dn
}

/// A loaded CA: its issuer, its org, and the chain to put under what it issues.
struct Ca {
    issuer: Issuer<'static, KeyPair>,
    org: String,
    /// This CA's certificate followed by its own chain (PEM).
    chain_pem: String,
    root_pem: String,
}

fn load_ca(dir: &Path) -> Result<Ca, CertError> {
    let cert_pem = read(&dir.join(CA_FILE))?;
    let key =
        KeyPair::from_pem(&read(&dir.join(CA_KEY_FILE))?).map_err(|e| CertError::Invalid {
            path: dir.join(CA_KEY_FILE),
            reason: e.to_string(),
        })?;
    let der = pem_certificates(&cert_pem)
        .into_iter()
        .next()
        .ok_or_else(|| CertError::Invalid {
            path: dir.join(CA_FILE),
            reason: "no certificate in it".into(),
        })?;
    let facts = info(&der).ok_or_else(|| CertError::Invalid {
        path: dir.join(CA_FILE),
        reason: "not an X.509 certificate".into(),
    })?;
    if !facts.is_ca {
        return Err(CertError::Invalid {
            path: dir.join(CA_FILE),
            reason: "not a CA certificate".into(),
        });
    }
    let org = facts
        .orgs
        .first()
        .cloned()
        .ok_or_else(|| CertError::Invalid {
            path: dir.join(CA_FILE),
            reason: format!("the CA carries no org ({ORG_URI_PREFIX}CODE)"),
        })?;
    let issuer = Issuer::from_ca_cert_pem(&cert_pem, key)?;
    let chain = std::fs::read_to_string(dir.join(CHAIN_FILE)).unwrap_or_default();
    let root_pem = read(&dir.join(ROOT_FILE))?;
    let chain_pem = if chain.trim().is_empty() {
        String::new()
    } else {
        cert_pem.clone() + &chain
    };
    // The root's own dir has an empty chain file: its certificate is the anchor.
    let chain_pem = if chain_pem.is_empty() && cert_pem.trim() != root_pem.trim() {
        cert_pem
    } else {
        chain_pem
    };
    Ok(Ca {
        issuer,
        org,
        chain_pem,
        root_pem,
    })
}

/// What `init-ca` made.
#[derive(Debug, Clone)]
pub struct Made {
    pub serial: String,
    pub org: String,
    pub not_after: String,
}

/// `certs init-ca`: a new root CA for `org` (the national bureau by default),
/// or with `parent` an intermediate CA for `org`'s subtree signed by it.
pub fn init_ca(
    out: &Path,
    org: &str,
    parent: Option<&Path>,
    days: Option<u32>,
    orgs: &OrgDirectory,
) -> Result<Made, CertError> {
    let id = orgs
        .get(org)
        .ok_or_else(|| CertError::Refused(format!("org {org} is not in the org directory")))?;
    let parent_ca = parent.map(load_ca).transpose()?;
    if let Some(p) = &parent_ca {
        let pid = orgs.get(&p.org).ok_or_else(|| {
            CertError::Refused(format!(
                "the parent CA's org {} is not in the org directory",
                p.org
            ))
        })?;
        if !orgs.is_within(id, pid) || id == pid {
            return Err(CertError::Refused(format!(
                "an intermediate CA for {org} cannot be signed by the CA of {}: {org} is not below it",
                p.org
            )));
        }
    } else if org != NATIONAL {
        tracing::warn!(org, "a root CA for an org other than the national bureau");
    }
    let mut params = CertificateParams::default();
    params.distinguished_name = dn(format!("lunxun CA {org} {}", orgs.org(id).name));
    params.is_ca = IsCa::Ca(if parent_ca.is_some() {
        // An intermediate may sign node certificates, not further CAs.
        BasicConstraints::Constrained(0)
    } else {
        BasicConstraints::Unconstrained
    });
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.subject_alt_names = vec![org_uri(org)?];
    params.serial_number = Some(random_serial());
    validity(
        &mut params,
        days.unwrap_or(if parent_ca.is_some() {
            INTERMEDIATE_DAYS
        } else {
            ROOT_DAYS
        }),
    )?;
    let key = KeyPair::generate()?;
    let cert = match &parent_ca {
        Some(p) => params.signed_by(&key, &p.issuer)?,
        None => params.self_signed(&key)?,
    };
    create_dir(out)?;
    write(&out.join(CA_KEY_FILE), &key.serialize_pem(), true)?;
    write(&out.join(CA_FILE), &cert.pem(), false)?;
    match &parent_ca {
        Some(p) => {
            write(&out.join(ROOT_FILE), &p.root_pem, false)?;
            write(&out.join(CHAIN_FILE), &p.chain_pem, false)?;
        }
        None => {
            write(&out.join(ROOT_FILE), &cert.pem(), false)?;
            write(&out.join(CHAIN_FILE), "", false)?;
        }
    }
    let facts = info(cert.der())
        .ok_or_else(|| CertError::Refused("generated an unreadable certificate".into()))?;
    Ok(Made {
        serial: facts.serial,
        org: org.to_owned(),
        not_after: facts.not_after,
    })
}

/// `certs issue`: a node certificate for `org`, signed by the CA in `ca`,
/// written to `out` as a ready `--tls-dir`.
pub fn issue(
    ca: &Path,
    org: &str,
    hosts: &[String],
    out: &Path,
    days: Option<u32>,
    orgs: &OrgDirectory,
) -> Result<Made, CertError> {
    let authority = load_ca(ca)?;
    let id = orgs
        .get(org)
        .ok_or_else(|| CertError::Refused(format!("org {org} is not in the org directory")))?;
    let ca_id = orgs.get(&authority.org).ok_or_else(|| {
        CertError::Refused(format!(
            "the CA's org {} is not in the org directory",
            authority.org
        ))
    })?;
    if !orgs.is_within(id, ca_id) {
        return Err(CertError::Refused(format!(
            "the CA of {} cannot issue for {org}: {org} is outside its subtree",
            authority.org
        )));
    }
    let mut params = CertificateParams::default();
    params.distinguished_name = dn(format!("lunxun {org} {}", orgs.org(id).name));
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params.use_authority_key_identifier_extension = true;
    let mut sans = vec![org_uri(org)?];
    for host in hosts {
        sans.push(match host.parse::<std::net::IpAddr>() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => SanType::DnsName(host.clone().try_into().map_err(|_| {
                CertError::Refused(format!("--host {host:?} is not a DNS name or IP address"))
            })?),
        });
    }
    params.subject_alt_names = sans;
    params.serial_number = Some(random_serial());
    validity(&mut params, days.unwrap_or(NODE_DAYS))?;
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &authority.issuer)?;
    create_dir(out)?;
    write(&out.join(KEY_FILE), &key.serialize_pem(), true)?;
    write(
        &out.join(CERT_FILE),
        &(cert.pem() + &authority.chain_pem),
        false,
    )?;
    write(&out.join(CA_FILE), &authority.root_pem, false)?;
    let facts = info(cert.der())
        .ok_or_else(|| CertError::Refused("generated an unreadable certificate".into()))?;
    Ok(Made {
        serial: facts.serial,
        org: org.to_owned(),
        not_after: facts.not_after,
    })
}

/// Checks a presented chain (leaf first, then intermediates) for lunxun's
/// own rules, after TLS verified it to the root: the leaf carries exactly one
/// org, and every CA in the chain carries an org whose subtree holds it.
/// Returns the leaf's org.
pub fn chain_org(chain: &[&[u8]], orgs: &OrgDirectory) -> Result<String, String> {
    let leaf = chain.first().ok_or("no client certificate")?;
    let facts = info(leaf).ok_or("the client certificate does not parse")?;
    let [org] = facts.orgs.as_slice() else {
        return Err(format!(
            "the client certificate must carry exactly one {ORG_URI_PREFIX}CODE, it carries {}",
            facts.orgs.len()
        ));
    };
    let id = orgs
        .get(org)
        .ok_or_else(|| format!("org {org} is not in the org directory"))?;
    for ca in &chain[1..] {
        let ca_facts = info(ca).ok_or("a CA certificate in the chain does not parse")?;
        let ca_org = ca_facts
            .orgs
            .first()
            .ok_or_else(|| format!("the intermediate CA {} carries no org", ca_facts.subject))?;
        let ca_id = orgs.get(ca_org).ok_or_else(|| {
            format!("the intermediate CA's org {ca_org} is not in the org directory")
        })?;
        if !orgs.is_within(id, ca_id) {
            return Err(format!(
                "the CA of {ca_org} may not vouch for {org}, outside its subtree"
            ));
        }
    }
    Ok(org.clone())
}

/// Serials of every certificate in a chain.
pub fn chain_serials(chain: &[&[u8]]) -> Vec<String> {
    chain
        .iter()
        .filter_map(|c| info(c))
        .map(|i| i.serial)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_intermediate_and_node_certificates() {
        let orgs = OrgDirectory::builtin();
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        init_ca(&root, "100000", None, None, &orgs).unwrap();
        let henan = tmp.path().join("henan");
        init_ca(&henan, "410000", Some(&root), None, &orgs).unwrap();
        // Not below the parent CA: refused.
        let err = init_ca(&tmp.path().join("x"), "100000", Some(&henan), None, &orgs).unwrap_err();
        assert!(err.to_string().contains("not below"), "{err}");

        let county = tmp.path().join("county");
        let made = issue(&henan, "410102", &[], &county, None, &orgs).unwrap();
        let mode = std::fs::metadata(county.join(KEY_FILE))
            .unwrap()
            .permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o600
        );
        let mode = std::fs::metadata(henan.join(CA_KEY_FILE))
            .unwrap()
            .permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o600
        );
        let chain = pem_certificates(&std::fs::read_to_string(county.join(CERT_FILE)).unwrap());
        assert_eq!(chain.len(), 2, "leaf and the province's CA");
        let refs: Vec<&[u8]> = chain.iter().map(Vec::as_slice).collect();
        assert_eq!(chain_org(&refs, &orgs).unwrap(), "410102");
        assert_eq!(chain_serials(&refs)[0], made.serial);
        // The root in the tls dir is the national root.
        assert_eq!(
            std::fs::read_to_string(county.join(CA_FILE)).unwrap(),
            std::fs::read_to_string(root.join(CA_FILE)).unwrap()
        );
        // The province's CA cannot issue outside its subtree.
        let err = issue(&henan, "420102", &[], &tmp.path().join("y"), None, &orgs).unwrap_err();
        assert!(err.to_string().contains("outside its subtree"), "{err}");
        // A hub's certificate carries its hosts.
        let hub = tmp.path().join("hub");
        issue(
            &root,
            "410000",
            &["hub.example".into(), "127.0.0.1".into()],
            &hub,
            Some(30),
            &orgs,
        )
        .unwrap();
        let leaf = &pem_certificates(&std::fs::read_to_string(hub.join(CERT_FILE)).unwrap())[0];
        let facts = info(leaf).unwrap();
        assert_eq!(
            facts.hosts,
            vec!["hub.example".to_owned(), "127.0.0.1".to_owned()]
        );
        assert_eq!(facts.orgs, vec!["410000".to_owned()]);
        // Files are never overwritten.
        assert!(issue(&root, "410000", &[], &hub, None, &orgs).is_err());
    }

    #[test]
    fn chain_rules() {
        let orgs = OrgDirectory::builtin();
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        init_ca(&root, "100000", None, None, &orgs).unwrap();
        let hubei = tmp.path().join("hubei");
        init_ca(&hubei, "420000", Some(&root), None, &orgs).unwrap();
        let henan_node = tmp.path().join("n");
        issue(&root, "410102", &[], &henan_node, None, &orgs).unwrap();
        let leaf = pem_certificates(&std::fs::read_to_string(henan_node.join(CERT_FILE)).unwrap())
            .remove(0);
        let hubei_ca =
            pem_certificates(&std::fs::read_to_string(hubei.join(CA_FILE)).unwrap()).remove(0);
        // A chain claiming 湖北's CA vouches for a 河南 county: refused.
        let err = chain_org(&[&leaf, &hubei_ca], &orgs).unwrap_err();
        assert!(err.contains("may not vouch"), "{err}");
        assert!(chain_org(&[], &orgs).is_err());
    }
}
