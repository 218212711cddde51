//! Issuing certificates with rcgen: a root or intermediate CA
//! (`certs init-ca`) and node certificates (`certs issue`), written as ready
//! CA and tls dirs.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use time::{Duration, OffsetDateTime};

use super::check::{info, pem_certificates};
use super::{CA_FILE, CERT_FILE, KEY_FILE};
use super::{
    CA_KEY_FILE, CHAIN_FILE, CertError, DAYS_MAX, INTERMEDIATE_DAYS, NODE_DAYS, ORG_URI_PREFIX,
    ROOT_DAYS, ROOT_FILE,
};
use crate::orgs::{NATIONAL, OrgDirectory};

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

#[cfg(test)]
mod tests {
    use super::super::{chain_org, chain_serials};
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
}
