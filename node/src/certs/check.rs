//! Checking certificates: the facts one carries (its org, serial, hosts)
//! and lunxun's chain rules (every CA an ancestor of the leaf's org, none
//! revoked), for the TLS client checking its parent, the hub's identity gate
//! checking its children, and `certs show`. Both ends of a link apply the
//! same rules, through [`checked_org`].

use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::ORG_URI_PREFIX;
use crate::orgs::OrgDirectory;

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

/// Checks a presented chain (leaf first, then intermediates) for lunxun's
/// own rules, after TLS verified it to the root: the leaf carries exactly one
/// org, and every CA in the chain carries an org whose subtree holds it.
/// Returns the leaf's org.
pub fn chain_org(chain: &[&[u8]], orgs: &OrgDirectory) -> Result<String, String> {
    let leaf = chain.first().ok_or("no certificate")?;
    let facts = info(leaf).ok_or("the certificate does not parse")?;
    let [org] = facts.orgs.as_slice() else {
        return Err(format!(
            "the certificate must carry exactly one {ORG_URI_PREFIX}CODE, it carries {}",
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

/// Why a presented chain is refused by lunxun's own rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainRefusal {
    /// A certificate of the chain is on the revocation list.
    #[error("certificate serial {serial} is revoked")]
    Revoked { serial: String },
    /// The chain breaks a rule of [`chain_org`].
    #[error("{0}")]
    Rule(String),
}

/// The org a presented chain (leaf first, then intermediates, already
/// verified to the root by TLS) stands for: no certificate of it on the
/// revocation list `revoked_serials`, and [`chain_org`]'s rules. The one
/// check both ends of a link apply to each other.
pub fn checked_org(
    chain: &[&[u8]],
    orgs: &OrgDirectory,
    revoked_serials: &[String],
) -> Result<String, ChainRefusal> {
    if let Some(serial) = chain_serials(chain)
        .into_iter()
        .find(|s| revoked_serials.contains(s))
    {
        return Err(ChainRefusal::Revoked { serial });
    }
    chain_org(chain, orgs).map_err(ChainRefusal::Rule)
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
    use super::super::{init_ca, issue};
    use super::*;
    use crate::tls::{CA_FILE, CERT_FILE};

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
        // The same through the shared check, and a revoked serial first.
        assert!(matches!(
            checked_org(&[&leaf, &hubei_ca], &orgs, &[]),
            Err(ChainRefusal::Rule(_))
        ));
        assert_eq!(checked_org(&[&leaf], &orgs, &[]).unwrap(), "410102");
        let serial = info(&leaf).unwrap().serial;
        assert_eq!(
            checked_org(&[&leaf], &orgs, std::slice::from_ref(&serial)),
            Err(ChainRefusal::Revoked { serial })
        );
    }
}
