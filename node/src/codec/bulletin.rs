//! Bulletins in their wire form: a `Bulletin` is encoded once, by the
//! national node, and travels inside a `SealedBulletin` as those bytes, so
//! its signature and digest never depend on an encoder.

use bytes::Bytes;
use lunxun_core::bulletin::{
    BULLETIN_BYTES_MAX, Body, Bulletin, REVOKED_MAX, SEALED_BYTES_MAX, Sealed,
};
use lunxun_proto::v1 as pb;
use prost::Message;

use super::{date_from_pb, hash_from, invalid};
use crate::certs::sign::CHAIN_CERTS_MAX;
use crate::model::{Invalid, date_to_days};

/// Encodes a bulletin (the bytes its signature and digest cover).
pub fn encode_bulletin(b: &Bulletin) -> Bytes {
    let body = match &b.body {
        Body::Policy { toml } => {
            pb::bulletin::Body::Policy(pb::PolicyBulletin { toml: toml.clone() })
        }
        Body::Orgs { csv } => pb::bulletin::Body::Orgs(pb::OrgsBulletin { csv: csv.clone() }),
        Body::Revocation { serials, orgs } => {
            pb::bulletin::Body::Revocation(pb::RevocationBulletin {
                serials: serials.clone(),
                orgs: orgs.clone(),
            })
        }
    };
    Bytes::from(
        pb::Bulletin {
            number: b.number,
            prev: Bytes::copy_from_slice(&b.prev),
            signed_at_ms: b.signed_at_ms,
            effective: date_to_days(b.effective),
            body: Some(body),
        }
        .encode_to_vec(),
    )
}

/// Decodes a bulletin within its bounds.
pub fn decode_bulletin(bytes: &[u8]) -> Result<Bulletin, Invalid> {
    if bytes.len() > BULLETIN_BYTES_MAX {
        return Err(invalid(format!(
            "bulletin of {} bytes exceeds {BULLETIN_BYTES_MAX}",
            bytes.len()
        )));
    }
    let msg =
        pb::Bulletin::decode(bytes).map_err(|e| invalid(format!("malformed bulletin: {e}")))?;
    let number = msg.number;
    let prev = hash_from("bulletin prev", &msg.prev)?;
    let effective = date_from_pb("bulletin effective", msg.effective)?;
    let body = match msg.body {
        None => return Err(invalid(format!("bulletin {number} says nothing"))),
        Some(pb::bulletin::Body::Policy(p)) => Body::Policy { toml: p.toml },
        Some(pb::bulletin::Body::Orgs(o)) => Body::Orgs { csv: o.csv },
        Some(pb::bulletin::Body::Revocation(r)) => {
            if r.serials.len() + r.orgs.len() > REVOKED_MAX {
                return Err(invalid(format!(
                    "bulletin {number} revokes more than {REVOKED_MAX} serials and orgs"
                )));
            }
            Body::Revocation {
                serials: r.serials,
                orgs: r.orgs,
            }
        }
    };
    Ok(Bulletin {
        number,
        prev,
        signed_at_ms: msg.signed_at_ms,
        effective,
        body,
    })
}

/// Encodes a sealed bulletin.
pub fn encode_sealed(s: &Sealed) -> Bytes {
    Bytes::from(
        pb::SealedBulletin {
            bulletin: s.bytes.clone(),
            signature: s.signature.clone(),
            chain: s.chain.clone(),
        }
        .encode_to_vec(),
    )
}

/// Decodes a sealed bulletin within its bounds (the bulletin inside is
/// decoded by [`decode_bulletin`]).
pub fn decode_sealed(bytes: &[u8]) -> Result<Sealed, Invalid> {
    if bytes.len() > SEALED_BYTES_MAX {
        return Err(invalid(format!(
            "sealed bulletin of {} bytes exceeds {SEALED_BYTES_MAX}",
            bytes.len()
        )));
    }
    let msg = pb::SealedBulletin::decode(bytes)
        .map_err(|e| invalid(format!("malformed sealed bulletin: {e}")))?;
    if msg.chain.len() > CHAIN_CERTS_MAX {
        return Err(invalid(format!(
            "sealed bulletin carries {} certificates (at most {CHAIN_CERTS_MAX})",
            msg.chain.len()
        )));
    }
    Ok(Sealed {
        bytes: msg.bulletin,
        signature: msg.signature,
        chain: msg.chain,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use lunxun_core::changelog::GENESIS;

    #[test]
    fn bulletins_round_trip_and_bad_bytes_are_refused() {
        let b = Bulletin {
            number: 3,
            prev: GENESIS,
            signed_at_ms: 1_700_000_000_000,
            effective: "2027-01-01".parse().unwrap(),
            body: Body::Revocation {
                serials: vec!["0a".into()],
                orgs: vec![],
            },
        };
        let bytes = encode_bulletin(&b);
        assert_eq!(decode_bulletin(&bytes).unwrap(), b);
        let sealed = Sealed {
            bytes: bytes.clone(),
            signature: Bytes::from_static(b"sig"),
            chain: vec![Bytes::from_static(b"cert")],
        };
        assert_eq!(decode_sealed(&encode_sealed(&sealed)).unwrap(), sealed);
        assert!(decode_bulletin(b"\xff\xff\xff").is_err());
        assert!(decode_bulletin(&vec![0u8; BULLETIN_BYTES_MAX + 1]).is_err());
        assert!(decode_sealed(&vec![0u8; SEALED_BYTES_MAX + 1]).is_err());
        let empty = pb::Bulletin {
            number: 1,
            prev: Bytes::from_static(&[0; 32]),
            ..Default::default()
        };
        assert!(
            decode_bulletin(&empty.encode_to_vec())
                .unwrap_err()
                .0
                .contains("says nothing")
        );
        let short_prev = pb::Bulletin {
            number: 1,
            prev: Bytes::from_static(&[0; 3]),
            body: Some(pb::bulletin::Body::Orgs(pb::OrgsBulletin::default())),
            ..Default::default()
        };
        assert!(decode_bulletin(&short_prev.encode_to_vec()).is_err());
    }
}
