//! The offline bundle's file format (DESIGN.md "Offline bundle"): a child's
//! batches for its parent, or the parent's acknowledgement, in one signed
//! file. The layout is in `lunxun.proto` beside `BundleHeader`.
//!
//! [`parse`] bounds every length before it reads or allocates anything:
//! the file as a whole ([`BUNDLE_BYTES_MAX`], checked by the caller before
//! reading it), the header ([`HEADER_BYTES_MAX`]), each batch
//! ([`FILE_BATCH_BYTES_MAX`]; its decompression is [`super::decode_batch`]'s,
//! within [`super::BATCH_BYTES_MAX`]), the number of batches
//! ([`BUNDLE_BATCHES_MAX`]) and the seal ([`SEAL_BYTES_MAX`]); and it refuses
//! a file with anything after its seal. What is signed is exactly what is
//! parsed: every byte before the seal.

use std::collections::BTreeMap;

use bytes::Bytes;
use lunxun_proto::v1 as pb;
use prost::Message;

use super::{BATCH_BYTES_MAX, invalid};
use crate::model::Invalid;

/// The first bytes of every bundle and acknowledgement file.
pub const MAGIC: &[u8; 8] = b"LXBUNDLE";
/// The format this code writes and reads.
pub const FORMAT_VERSION: u16 = 1;
/// What a bundle's or an acknowledgement's signature is over: this, a zero
/// byte, then the file up to its seal.
pub const SIGNED_CONTEXT: &[u8] = b"lunxun.bundle.v1";
/// Largest bundle or acknowledgement file read (a county's months offline
/// are a few megabytes compressed).
pub const BUNDLE_BYTES_MAX: u64 = 512 * 1024 * 1024;
/// Largest header: an acknowledgement's vector, holds and bulletins
/// (bulletins are bounded at 2 MiB a message).
pub const HEADER_BYTES_MAX: usize = 8 * 1024 * 1024;
/// Largest encoded batch in a file: a batch's compressed bytes never exceed
/// its raw bound by more than zstd's frame overhead.
pub const FILE_BATCH_BYTES_MAX: usize = BATCH_BYTES_MAX + 64 * 1024;
/// Most batches in one bundle (4,096 changes each at most).
pub const BUNDLE_BATCHES_MAX: u32 = 65_536;
/// Largest seal: a signature and a chain of a few certificates.
pub const SEAL_BYTES_MAX: usize = 16 * 1024;

/// Which of the two a file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Bundle,
    Ack,
}

impl Kind {
    fn byte(self) -> u8 {
        match self {
            Kind::Bundle => 1,
            Kind::Ack => 2,
        }
    }
}

/// A bundle's header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BundleHeader {
    /// The child that wrote it.
    pub org: String,
    /// The parent it is for.
    pub parent: String,
    pub created_at_ms: i64,
    /// The child's highest bulletin number.
    pub bulletins: u64,
    /// Per origin, the seq the bundle starts above.
    pub since: BTreeMap<String, u64>,
    /// Per origin, the last seq it carries.
    pub upto: BTreeMap<String, u64>,
    pub batches: u32,
    pub changes: u64,
    pub incarnation: Vec<u8>,
}

/// An acknowledgement's header (all of it: it carries no batches).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AckHeader {
    /// The parent that wrote it.
    pub org: String,
    /// The child it is for.
    pub child: String,
    pub created_at_ms: i64,
    /// The parent's store incarnation.
    pub incarnation: Vec<u8>,
    /// The parent's vector for the child's subtree after the import.
    pub vector: BTreeMap<String, u64>,
    /// Origins the parent holds back: (origin, seq, reason).
    pub held: Vec<(String, u64, String)>,
    /// Encoded sealed bulletins, in order.
    pub bulletins: Vec<Bytes>,
    /// BLAKE3 of the bundle acknowledged.
    pub bundle: Vec<u8>,
    pub applied: u64,
    pub skipped: u64,
    /// Trainings returned downward: not filled yet (a later version will);
    /// how many batches the file carried.
    pub returned: usize,
}

/// A file taken apart, before its signature is checked.
#[derive(Debug)]
pub struct Parsed<'a> {
    pub kind: Kind,
    pub header: &'a [u8],
    /// Encoded batches (bundles only).
    pub batches: Vec<&'a [u8]>,
    pub signature: Bytes,
    pub chain: Vec<Bytes>,
    /// The bytes the signature covers (without [`SIGNED_CONTEXT`]).
    pub signed: &'a [u8],
}

fn entries(map: &BTreeMap<String, u64>) -> Vec<pb::VectorEntry> {
    map.iter()
        .map(|(origin, &seq)| pb::VectorEntry {
            origin: origin.clone(),
            seq,
            hash: Bytes::new(),
        })
        .collect()
}

fn from_entries(entries: Vec<pb::VectorEntry>) -> BTreeMap<String, u64> {
    entries.into_iter().map(|e| (e.origin, e.seq)).collect()
}

fn put_len(out: &mut Vec<u8>, len: usize) {
    out.extend_from_slice(&(len as u32).to_be_bytes());
}

fn start(kind: Kind, header: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(header.len() + 16);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_be_bytes());
    out.push(kind.byte());
    put_len(&mut out, header.len());
    out.extend_from_slice(header);
    out
}

/// A bundle's bytes up to its seal: the header, then each batch.
pub fn bundle_content(header: &BundleHeader, batches: &[pb::Batch]) -> Vec<u8> {
    let h = pb::BundleHeader {
        org: header.org.clone(),
        parent: header.parent.clone(),
        created_at_ms: header.created_at_ms,
        bulletins: header.bulletins,
        since: entries(&header.since),
        upto: entries(&header.upto),
        batches: header.batches,
        changes: header.changes,
        incarnation: Bytes::from(header.incarnation.clone()),
    }
    .encode_to_vec();
    let mut out = start(Kind::Bundle, &h);
    for b in batches {
        let bytes = b.encode_to_vec();
        put_len(&mut out, bytes.len());
        out.extend_from_slice(&bytes);
    }
    out
}

/// An acknowledgement's bytes up to its seal.
pub fn ack_content(ack: &AckHeader) -> Vec<u8> {
    let h = pb::BundleAck {
        org: ack.org.clone(),
        child: ack.child.clone(),
        created_at_ms: ack.created_at_ms,
        incarnation: Bytes::from(ack.incarnation.clone()),
        entries: entries(&ack.vector),
        held: ack
            .held
            .iter()
            .map(|(origin, seq, reason)| pb::Held {
                origin: origin.clone(),
                seq: *seq,
                reason: reason.clone(),
            })
            .collect(),
        bulletins: ack.bulletins.clone(),
        bundle: Bytes::from(ack.bundle.clone()),
        applied: ack.applied,
        skipped: ack.skipped,
        returned: Vec::new(),
    }
    .encode_to_vec();
    start(Kind::Ack, &h)
}

/// Appends the seal to a file's content.
pub fn seal(mut content: Vec<u8>, signature: Bytes, chain: Vec<Bytes>) -> Vec<u8> {
    let s = pb::Seal { signature, chain }.encode_to_vec();
    put_len(&mut content, s.len());
    content.extend_from_slice(&s);
    content
}

/// Reads lengths and slices off the front of a file.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], Invalid> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        let Some(end) = end else {
            return Err(invalid(format!(
                "truncated: the file ends inside its {what}"
            )));
        };
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn len(&mut self, what: &str, max: usize) -> Result<usize, Invalid> {
        let b = self.take(4, what)?;
        let n = u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize;
        if n > max {
            return Err(invalid(format!(
                "its {what} claims {n} bytes, more than {max}"
            )));
        }
        Ok(n)
    }
}

/// Takes a file apart within the bounds (see the module's doc); nothing is
/// decompressed or verified here.
pub fn parse(bytes: &[u8]) -> Result<Parsed<'_>, Invalid> {
    if bytes.len() as u64 > BUNDLE_BYTES_MAX {
        return Err(invalid(format!(
            "{} bytes, more than {BUNDLE_BYTES_MAX}",
            bytes.len()
        )));
    }
    let mut r = Reader { bytes, at: 0 };
    if r.take(MAGIC.len(), "magic").ok() != Some(MAGIC.as_slice()) {
        return Err(invalid("not a lunxun bundle or acknowledgement"));
    }
    let v = r.take(2, "format version")?;
    let version = u16::from_be_bytes([v[0], v[1]]);
    if version != FORMAT_VERSION {
        return Err(invalid(format!(
            "format version {version}; this node reads version {FORMAT_VERSION}"
        )));
    }
    let kind = match r.take(1, "kind")?[0] {
        1 => Kind::Bundle,
        2 => Kind::Ack,
        k => return Err(invalid(format!("unknown kind {k}"))),
    };
    let n = r.len("header", HEADER_BYTES_MAX)?;
    let header = r.take(n, "header")?;
    let mut batches = Vec::new();
    if kind == Kind::Bundle {
        let count = pb::BundleHeader::decode(header)
            .map_err(|e| invalid(format!("malformed header: {e}")))?
            .batches;
        if count > BUNDLE_BATCHES_MAX {
            return Err(invalid(format!(
                "it claims {count} batches, more than {BUNDLE_BATCHES_MAX}"
            )));
        }
        // Each batch takes at least its length from the file: a count the
        // file cannot hold is refused before anything is reserved.
        if count as usize > (bytes.len() - r.at) / 4 {
            return Err(invalid(format!(
                "truncated: it claims {count} batches, more than the file holds"
            )));
        }
        batches.reserve(count as usize);
        for _ in 0..count {
            let n = r.len("batch", FILE_BATCH_BYTES_MAX)?;
            batches.push(r.take(n, "batch")?);
        }
    }
    let signed = &bytes[..r.at];
    let n = r.len("seal", SEAL_BYTES_MAX)?;
    let seal = pb::Seal::decode(r.take(n, "seal")?)
        .map_err(|e| invalid(format!("malformed seal: {e}")))?;
    if r.at != bytes.len() {
        return Err(invalid(format!(
            "{} bytes after its seal",
            bytes.len() - r.at
        )));
    }
    if seal.chain.len() > crate::certs::sign::CHAIN_CERTS_MAX {
        return Err(invalid(format!(
            "its seal carries {} certificates, more than {}",
            seal.chain.len(),
            crate::certs::sign::CHAIN_CERTS_MAX
        )));
    }
    Ok(Parsed {
        kind,
        header,
        batches,
        signature: seal.signature,
        chain: seal.chain,
        signed,
    })
}

/// A bundle's header, decoded.
pub fn decode_bundle_header(bytes: &[u8]) -> Result<BundleHeader, Invalid> {
    let h =
        pb::BundleHeader::decode(bytes).map_err(|e| invalid(format!("malformed header: {e}")))?;
    Ok(BundleHeader {
        org: h.org,
        parent: h.parent,
        created_at_ms: h.created_at_ms,
        bulletins: h.bulletins,
        since: from_entries(h.since),
        upto: from_entries(h.upto),
        batches: h.batches,
        changes: h.changes,
        incarnation: h.incarnation.to_vec(),
    })
}

/// A bundle's batch, decoded (not yet decompressed: [`super::decode_batch`]).
pub fn decode_file_batch(bytes: &[u8]) -> Result<pb::Batch, Invalid> {
    pb::Batch::decode(bytes).map_err(|e| invalid(format!("malformed batch: {e}")))
}

/// An acknowledgement's header, decoded.
pub fn decode_ack(bytes: &[u8]) -> Result<AckHeader, Invalid> {
    let h = pb::BundleAck::decode(bytes).map_err(|e| invalid(format!("malformed header: {e}")))?;
    Ok(AckHeader {
        org: h.org,
        child: h.child,
        created_at_ms: h.created_at_ms,
        incarnation: h.incarnation.to_vec(),
        vector: from_entries(h.entries),
        held: h
            .held
            .into_iter()
            .map(|x| (x.origin, x.seq, x.reason))
            .collect(),
        bulletins: h.bulletins,
        bundle: h.bundle.to_vec(),
        applied: h.applied,
        skipped: h.skipped,
        returned: h.returned.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let header = BundleHeader {
            org: "410102".into(),
            parent: "410100".into(),
            batches: 1,
            changes: 0,
            ..Default::default()
        };
        let batch = pb::Batch {
            batch_no: 1,
            count: 0,
            raw_bytes: 0,
            zstd: Bytes::from_static(b"x"),
        };
        seal(
            bundle_content(&header, &[batch]),
            Bytes::from_static(b"sig"),
            Vec::new(),
        )
    }

    #[test]
    fn a_bundle_parses_back_and_every_cut_is_refused() {
        let file = sample();
        let p = parse(&file).unwrap();
        assert_eq!(p.kind, Kind::Bundle);
        assert_eq!(p.batches.len(), 1);
        assert_eq!(p.signature.as_ref(), b"sig");
        assert_eq!(decode_bundle_header(p.header).unwrap().org, "410102");
        for cut in 0..file.len() {
            assert!(parse(&file[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = file.clone();
        longer.push(0);
        assert!(parse(&longer).is_err());
    }

    #[test]
    fn lengths_beyond_their_bounds_are_refused_before_reading() {
        let mut file = start(Kind::Ack, b"");
        // A seal claiming 4 GiB.
        file.extend_from_slice(&u32::MAX.to_be_bytes());
        let e = parse(&file).unwrap_err();
        assert!(e.0.contains("more than"), "{e:?}");
        let mut other = sample();
        other[8] = 9;
        assert!(parse(&other).unwrap_err().0.contains("format version"));
    }
}
