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
//!
//! An acknowledgement carries the trainings its parent returns
//! ([`EncodedAnswer`]: the chunks of a `Sync.Trainings` answer, each
//! compressed); [`decode_returned`] bounds their number, each one's claimed
//! size and people and their sums before it decompresses any (never beyond
//! its claim), then reads them as a stream's ([`AnswerReader`]).

use std::collections::BTreeMap;

use bytes::Bytes;
use lunxun_proto::v1 as pb;
use prost::Message;

use super::trainings::{
    ANSWER_BYTES_MAX, ANSWER_PEOPLE_MAX, AnswerReader, CHUNK_BYTES_MAX, CHUNK_PEOPLE_MAX,
};
use super::{BATCH_BYTES_MAX, ZSTD_LEVEL, invalid};
use crate::model::Invalid;
use crate::orgs::OrgDirectory;
use lunxun_core::returns::child::Answer;
use lunxun_core::returns::{DIGEST_LEN, Digest};

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
/// Most chunks of returned trainings in one acknowledgement (a parent
/// fills each up to [`CHUNK_PEOPLE_MAX`] people or [`CHUNK_BYTES_MAX`]
/// bytes; the answer's own bounds come first).
pub const RETURNED_CHUNKS_MAX: usize = 4_096;

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
    /// The combined digest of the trainings the child holds as returned
    /// (None: an older child, which does not say).
    pub returned: Option<Digest>,
}

/// The trainings a parent returns in an acknowledgement, as the file
/// carries them: the answer's chunks, each encoded and compressed. Read
/// with [`decode_returned`]; empty when the file returns none.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EncodedAnswer {
    chunks: Vec<pb::Batch>,
}

impl EncodedAnswer {
    /// Whether the file returns no trainings at all (not even an empty
    /// answer): an older parent, or an answer too large for the file.
    pub fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    /// Compressed bytes, in all.
    pub fn bytes(&self) -> usize {
        self.chunks.iter().map(|c| c.zstd.len()).sum()
    }
}

/// An acknowledgement's header (all of it: it carries no batches).
#[derive(Debug, Clone, Default, PartialEq)]
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
    /// The trainings returned to the child.
    pub returned: EncodedAnswer,
    /// What the child held when it wrote the bundle: an answer that is not
    /// `full` holds the changes since that set.
    pub returned_base: Option<Digest>,
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
        returned: digest_bytes(header.returned.as_ref()),
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

fn digest_bytes(digest: Option<&Digest>) -> Bytes {
    digest.map_or_else(Bytes::new, |d| Bytes::copy_from_slice(d))
}

fn digest_from(bytes: &[u8], field: &str) -> Result<Option<Digest>, Invalid> {
    if bytes.is_empty() {
        return Ok(None);
    }
    Digest::try_from(bytes)
        .map(Some)
        .map_err(|_| invalid(format!("malformed header: {field}: not {DIGEST_LEN} bytes")))
}

/// A parent's answer as an acknowledgement carries it: each chunk encoded
/// and compressed.
pub fn encode_returned(chunks: &[pb::TrainingsChunk]) -> Result<EncodedAnswer, Invalid> {
    let chunks = chunks
        .iter()
        .enumerate()
        .map(|(i, chunk)| {
            let raw = chunk.encode_to_vec();
            let zstd = zstd::bulk::compress(&raw, ZSTD_LEVEL)
                .map_err(|e| invalid(format!("returned chunk {} does not compress: {e}", i + 1)))?;
            Ok(pb::Batch {
                batch_no: i as u64 + 1,
                count: chunk.people.len() as u32,
                raw_bytes: raw.len() as u32,
                zstd: Bytes::from(zstd),
            })
        })
        .collect::<Result<_, Invalid>>()?;
    Ok(EncodedAnswer { chunks })
}

/// The answer an acknowledgement returns, decoded against `orgs` (the
/// directory in force once the file's bulletins are), and when the parent
/// computed it. Every chunk's claimed size and people are bounded before it
/// is decompressed (never beyond its claim), their sum too, and the chunks
/// are read as a stream's: the last one last, nothing after it.
pub fn decode_returned(
    orgs: &OrgDirectory,
    returned: &EncodedAnswer,
) -> Result<(Answer, i64), Invalid> {
    let chunks = &returned.chunks;
    if chunks.len() > RETURNED_CHUNKS_MAX {
        return Err(invalid(format!(
            "returned: {} chunks, more than {RETURNED_CHUNKS_MAX}",
            chunks.len()
        )));
    }
    // Every claim first, so nothing is decompressed of a file whose
    // claims already exceed a bound.
    let (mut raw_total, mut people) = (0usize, 0usize);
    for (i, chunk) in chunks.iter().enumerate() {
        let raw = chunk.raw_bytes as usize;
        if raw > CHUNK_BYTES_MAX {
            return Err(invalid(format!(
                "returned[{i}]: claims {raw} bytes, more than {CHUNK_BYTES_MAX}"
            )));
        }
        if chunk.count as usize > CHUNK_PEOPLE_MAX {
            return Err(invalid(format!(
                "returned[{i}]: claims {} people, more than {CHUNK_PEOPLE_MAX}",
                chunk.count
            )));
        }
        raw_total += raw;
        people += chunk.count as usize;
    }
    if raw_total > ANSWER_BYTES_MAX {
        return Err(invalid(format!(
            "returned: claims {raw_total} bytes, more than {ANSWER_BYTES_MAX} in all"
        )));
    }
    if people > ANSWER_PEOPLE_MAX {
        return Err(invalid(format!(
            "returned: claims {people} people, more than {ANSWER_PEOPLE_MAX}"
        )));
    }
    let mut reader = AnswerReader::default();
    for (i, chunk) in chunks.iter().enumerate() {
        let raw = chunk.raw_bytes as usize;
        let bytes = zstd::bulk::decompress(&chunk.zstd, raw)
            .map_err(|e| invalid(format!("returned[{i}]: does not decompress: {e}")))?;
        if bytes.len() != raw {
            return Err(invalid(format!(
                "returned[{i}]: decompresses to {} bytes, not the {raw} it claims",
                bytes.len()
            )));
        }
        let decoded = pb::TrainingsChunk::decode(bytes.as_slice())
            .map_err(|e| invalid(format!("returned[{i}]: malformed: {e}")))?;
        if decoded.people.len() != chunk.count as usize {
            return Err(invalid(format!(
                "returned[{i}]: holds {} people, not the {} it claims",
                decoded.people.len(),
                chunk.count
            )));
        }
        let last = reader
            .push(orgs, decoded, raw)
            .map_err(|e| invalid(format!("returned: {}", e.0)))?;
        if last != (i + 1 == chunks.len()) {
            return Err(invalid(format!(
                "returned[{i}]: {}",
                if last {
                    "the last chunk comes before the end"
                } else {
                    "the answer ends without its last chunk"
                }
            )));
        }
    }
    Ok(reader.finish())
}

/// An acknowledgement's bytes up to its seal; refused when its header
/// would exceed [`HEADER_BYTES_MAX`] (no child would read it).
pub fn ack_content(ack: &AckHeader) -> Result<Vec<u8>, Invalid> {
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
        returned: ack.returned.chunks.clone(),
        returned_base: digest_bytes(ack.returned_base.as_ref()),
    }
    .encode_to_vec();
    if h.len() > HEADER_BYTES_MAX {
        return Err(invalid(format!(
            "an acknowledgement header of {} bytes, more than {HEADER_BYTES_MAX}",
            h.len()
        )));
    }
    Ok(start(Kind::Ack, &h))
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
        returned: digest_from(&h.returned, "returned")?,
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
        returned: EncodedAnswer { chunks: h.returned },
        returned_base: digest_from(&h.returned_base, "returned_base")?,
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

    use crate::model::{Attendance, Class, Hours, Mode, Outcome, PersonId};
    use lunxun_core::returns::child::PersonAnswer;
    use lunxun_core::returns::{Returned, person_digest};
    use std::collections::BTreeMap;

    /// Two people of 中原区 trained by 郑州: a whole answer with its digest.
    fn answer(orgs: &OrgDirectory) -> Answer {
        let people: Vec<PersonId> = ["410102198001010018", "410102198505050021"]
            .iter()
            .map(|p| p.parse().unwrap())
            .collect();
        let origin = orgs.get("410100").unwrap();
        let mut digests = BTreeMap::new();
        let people = people
            .into_iter()
            .map(|person| {
                let class = Class {
                    class_id: "Z1".parse().unwrap(),
                    title: "信访业务培训班".into(),
                    category: "履职能力".into(),
                    mode: Mode::Centralized,
                    off_job: true,
                    start: "2024-03-01".parse().unwrap(),
                    end: "2024-03-05".parse().unwrap(),
                    hours: Hours::from_whole(40),
                    days: Some(5),
                };
                let items = vec![Returned {
                    origin,
                    class: Some(class),
                    attendance: Attendance {
                        class_id: "Z1".parse().unwrap(),
                        person,
                        hours: Hours::from_whole(40),
                        outcome: Outcome::Completed,
                        name: "甲".into(),
                    },
                }];
                digests.insert(person, person_digest(orgs, &items));
                PersonAnswer { person, items }
            })
            .collect();
        Answer {
            full: true,
            people,
            digest: lunxun_core::returns::combined(&digests),
        }
    }

    fn ack_with(returned: EncodedAnswer) -> AckHeader {
        AckHeader {
            org: "410100".into(),
            child: "410102".into(),
            returned,
            returned_base: Some([3; DIGEST_LEN]),
            ..Default::default()
        }
    }

    /// The ack's returned part after the file round trip.
    fn round_trip(returned: EncodedAnswer) -> Result<(Answer, i64), Invalid> {
        let orgs = OrgDirectory::builtin();
        let file = seal(
            ack_content(&ack_with(returned)).unwrap(),
            Bytes::new(),
            Vec::new(),
        );
        let p = parse(&file)?;
        let ack = decode_ack(p.header)?;
        assert_eq!(ack.returned_base, Some([3; DIGEST_LEN]));
        decode_returned(&orgs, &ack.returned)
    }

    fn chunk_of(raw: &[u8], count: u32) -> pb::Batch {
        pb::Batch {
            batch_no: 1,
            count,
            raw_bytes: raw.len() as u32,
            zstd: Bytes::from(zstd::bulk::compress(raw, 1).unwrap()),
        }
    }

    #[test]
    fn an_acks_returned_trainings_read_back_as_the_parent_answered() {
        let orgs = OrgDirectory::builtin();
        let sent = answer(&orgs);
        let chunks = super::super::answer_chunks(&orgs, &sent, 1_234);
        let (back, at_ms) = round_trip(encode_returned(&chunks).unwrap()).unwrap();
        assert_eq!((back, at_ms), (sent, 1_234));
        // An older parent's file, or one too large: nothing returned.
        let (none, _) = round_trip(EncodedAnswer::default()).unwrap();
        assert!(none.people.is_empty() && none.digest == [0; DIGEST_LEN]);
        // A bundle says what its child holds; an older child's says nothing.
        let mut header = BundleHeader {
            org: "410102".into(),
            returned: Some([9; DIGEST_LEN]),
            ..Default::default()
        };
        for returned in [Some([9; DIGEST_LEN]), None] {
            header.returned = returned;
            let file = seal(bundle_content(&header, &[]), Bytes::new(), Vec::new());
            let back = decode_bundle_header(parse(&file).unwrap().header).unwrap();
            assert_eq!(back.returned, returned);
        }
        let h = pb::BundleHeader {
            returned: Bytes::from_static(b"short"),
            ..Default::default()
        };
        let e = decode_bundle_header(&h.encode_to_vec()).unwrap_err();
        assert!(e.0.contains("returned: not 32 bytes"), "{e:?}");
    }

    #[test]
    fn a_hostile_returned_part_is_refused_before_it_costs_anything() {
        let orgs = OrgDirectory::builtin();
        let chunks = super::super::answer_chunks(&orgs, &answer(&orgs), 1);
        let good = encode_returned(&chunks).unwrap();
        let raw = chunks[0].encode_to_vec();
        let with = |edit: &dyn Fn(&mut Vec<pb::Batch>)| {
            let mut c = good.chunks.clone();
            edit(&mut c);
            EncodedAnswer { chunks: c }
        };
        let bomb = zstd::bulk::compress(&vec![0u8; 64 * 1024 * 1024], 3).unwrap();
        let mut not_last = chunks[0].clone();
        not_last.last = false;
        let mut stranger = chunks[0].clone();
        stranger.people[0].items[0].origin = "999999".into();
        let cases: Vec<(&str, EncodedAnswer, &str)> = vec![
            (
                "too many chunks",
                with(&|c| *c = vec![c[0].clone(); RETURNED_CHUNKS_MAX + 1]),
                "chunks, more than",
            ),
            (
                "a chunk claiming more than a chunk's bytes",
                with(&|c| c[0].raw_bytes = CHUNK_BYTES_MAX as u32 + 1),
                "more than",
            ),
            (
                "a chunk claiming more people than a chunk holds",
                with(&|c| c[0].count = CHUNK_PEOPLE_MAX as u32 + 1),
                "people, more than",
            ),
            (
                "a zstd bomb: 64 MiB of zeros claimed as 1 KiB",
                with(&|c| {
                    c[0].raw_bytes = 1024;
                    c[0].zstd = Bytes::from(bomb.clone());
                }),
                "does not decompress",
            ),
            (
                "a chunk shorter than it claims",
                with(&|c| c[0].raw_bytes += 1),
                "returned[0]",
            ),
            (
                "another count of people than it claims",
                with(&|c| c[0].count = 1),
                "holds 2 people, not the 1",
            ),
            (
                "garbage that decompresses",
                with(&|c| *c = vec![chunk_of(&[0xff; 64], 0)]),
                "malformed",
            ),
            (
                "an answer without its last chunk",
                with(&|c| *c = vec![chunk_of(&not_last.encode_to_vec(), 2)]),
                "without its last chunk",
            ),
            (
                "a chunk after the last",
                with(&|c| c.push(chunk_of(&raw, 2))),
                "the last chunk comes before the end",
            ),
            (
                "an unknown organizer",
                with(&|c| *c = vec![chunk_of(&stranger.encode_to_vec(), 2)]),
                "people[0].items[0].origin 999999: an unknown org",
            ),
        ];
        for (what, returned, says) in cases {
            let e = round_trip(returned).expect_err(what);
            assert!(e.0.contains(says), "{what}: {e:?}");
            assert!(!e.0.contains('\n'), "{what}: {e:?}");
        }
        // The whole answer's bytes are bounded too, before anything is
        // decompressed (each chunk here would fail to).
        let claims = ANSWER_BYTES_MAX / CHUNK_BYTES_MAX + 1;
        assert!(claims <= RETURNED_CHUNKS_MAX);
        let big = vec![
            pb::Batch {
                raw_bytes: CHUNK_BYTES_MAX as u32,
                ..Default::default()
            };
            claims
        ];
        let e = decode_returned(&orgs, &EncodedAnswer { chunks: big }).unwrap_err();
        assert!(e.0.contains("in all"), "{e:?}");
        // An acknowledgement too large for any child to read is not written.
        let huge: Vec<pb::Batch> = (0..3)
            .map(|_| pb::Batch {
                zstd: Bytes::from(vec![7u8; HEADER_BYTES_MAX / 2]),
                ..Default::default()
            })
            .collect();
        let e = ack_content(&ack_with(EncodedAnswer { chunks: huge })).unwrap_err();
        assert!(e.0.contains("more than"), "{e:?}");
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
