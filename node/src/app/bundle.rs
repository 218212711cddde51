//! Offline bundles (DESIGN.md "Offline bundle"): a session's guarantees
//! through files on a USB stick, both ways.
//!
//! - [`export`] (child): every change above what the parent last
//!   acknowledged (by a session or a bundle acknowledgement), in runs
//!   ending at stored checkpoints as a session sends them
//!   ([`crate::sync::outbound`]), compressed into batches
//!   ([`codec::BatchFiller`]), with a header and the child's signature.
//! - [`import`] of a bundle (parent): bounded parsing ([`codec::bundle`]),
//!   the signer checked to be a direct child, then every batch through the
//!   same verification and placement as a live session
//!   ([`ingest::verify_contents_holding_unknown`], [`Node::ingest`]): a
//!   change already held is skipped, a gap held, a fork refused, a bad
//!   record quarantined. Then an acknowledgement file beside it: the
//!   parent's vector for the child's subtree, the bulletins it lacks and
//!   the trainings returned to it ([`Node::returning`]: what a session's
//!   `Sync.Trainings` would answer, only the changes when the bundle says
//!   the child holds the last answer), signed by the parent.
//! - [`import`] of an acknowledgement (child): the signer checked to be this
//!   node's parent, then its bulletins and returned trainings taken whole or
//!   not at all ([`Node::receive_ack`]), then its vector learned (the next
//!   export starts above it).
//!
//! A bundle's batches are applied group by group as they verify, as a
//! session's are: one whose signature verifies but whose batch `k` is
//! refused (only a faulty child writes one) keeps the batches before `k`.
//! Everything refused before the batches (a cut, a flipped byte, another
//! child's or another hierarchy's file) changes nothing.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use lunxun_core::session::parent::GROUP_BATCHES_MAX;
use tracing::{debug, info, warn};

use crate::codec::{self, bundle as file};
use crate::ingest::{self, Checked, Refusal};
use crate::node::{AckRefused, AckReturned, Node, ReturnedTaken, now_ms};
use crate::orgs::OrgId;
use crate::store::Hold;
use crate::sync::children::ChildState;
use crate::sync::outbound;
use crate::sync::worker::UpstreamState;

/// What the acknowledgement of `FILE` is called: `FILE.ack`.
pub const ACK_SUFFIX: &str = ".ack";
/// Most changes one bundle carries; the rest go in the next one (a live
/// session carries as many, `sync::client::SESSION_CHANGES_MAX`).
pub const BUNDLE_CHANGES_MAX: u64 = crate::sync::client::SESSION_CHANGES_MAX;
/// Largest `--since` vector file read.
pub const SINCE_FILE_BYTES_MAX: u64 = 4 * 1024 * 1024;

/// Why a bundle or an acknowledgement was not written or not taken. Each
/// names the file; a refused file changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// The file cannot be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Not a whole, well-formed bundle or acknowledgement (cut, garbled,
    /// beyond a bound).
    #[error("{}: {reason}", path.display())]
    Malformed { path: PathBuf, reason: String },
    /// Well-formed, but not this node's to take: its signer, its
    /// recipient, or what it carries.
    #[error("{}: {reason}", path.display())]
    Refused { path: PathBuf, reason: String },
    /// The store failed; nothing was acknowledged.
    #[error("{}: {source}", path.display())]
    Store {
        path: PathBuf,
        source: crate::error::Error,
    },
}

/// Where an export starts.
#[derive(Debug, Clone)]
pub enum Since {
    /// Above what the parent last acknowledged (a session or a bundle).
    Acked,
    /// Everything this node may send.
    All,
    /// Above this vector (origin → seq).
    Vector(BTreeMap<String, u64>),
}

/// A bundle written.
#[derive(Debug, Clone)]
pub struct Exported {
    pub path: PathBuf,
    pub bytes: u64,
    pub changes: u64,
    pub batches: u32,
    pub origins: usize,
    /// Changes left for the next bundle ([`BUNDLE_CHANGES_MAX`]).
    pub left: u64,
}

/// A bundle imported at the parent.
#[derive(Debug, Clone)]
pub struct BundleImported {
    pub child: String,
    pub ack: PathBuf,
    pub changes: u64,
    pub applied: u64,
    pub skipped: u64,
    /// Origins held back: (origin, seq, reason).
    pub held: Vec<(String, u64, String)>,
    pub bulletins: usize,
    /// The trainings the acknowledgement returns: None when it returns
    /// none (an answer too large for the file).
    pub returned: Option<ReturnedSent>,
}

/// The trainings returned in an acknowledgement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReturnedSent {
    /// People named: everyone with a returned training (`full`), or those
    /// whose set changed since the answer the child holds.
    pub people: usize,
    pub full: bool,
}

/// An acknowledgement imported at the child.
#[derive(Debug, Clone)]
pub struct AckImported {
    pub parent: String,
    /// The parent's vector, as this node now knows it.
    pub vector: BTreeMap<String, u64>,
    pub held: Vec<(String, u64, String)>,
    /// Bulletins new here.
    pub bulletins: usize,
    /// What became of the trainings it returns.
    pub returned: ReturnedTaken,
}

/// What `bundle import` did.
#[derive(Debug, Clone)]
pub enum Imported {
    Bundle(BundleImported),
    Ack(AckImported),
}

/// Reads a `--since` vector file: a JSON object of origin → seq.
pub fn read_since(path: &Path) -> Result<BTreeMap<String, u64>, BundleError> {
    let bytes = read_bounded(path, SINCE_FILE_BYTES_MAX)?;
    serde_json::from_slice(&bytes).map_err(|e| BundleError::Malformed {
        path: path.to_path_buf(),
        reason: format!("not a JSON object of origin to seq: {e}"),
    })
}

fn read_bounded(path: &Path, max: u64) -> Result<Vec<u8>, BundleError> {
    let io = |source| BundleError::Io {
        path: path.to_path_buf(),
        source,
    };
    let f = std::fs::File::open(path).map_err(io)?;
    let len = f.metadata().map_err(io)?.len();
    if len > max {
        return Err(BundleError::Malformed {
            path: path.to_path_buf(),
            reason: format!("{len} bytes, more than {max}"),
        });
    }
    let mut bytes = Vec::with_capacity(len as usize);
    f.take(max + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > max {
        return Err(BundleError::Malformed {
            path: path.to_path_buf(),
            reason: format!("more than {max} bytes"),
        });
    }
    Ok(bytes)
}

/// Writes `bytes` to `path` whole or not at all (a temporary file beside
/// it, synced, then renamed).
fn write_whole(path: &Path, bytes: &[u8]) -> Result<(), BundleError> {
    let io = |source| BundleError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".part");
    let tmp = PathBuf::from(tmp);
    let mut f = std::fs::File::create(&tmp).map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(io)
}

/// The signature over a file's content, or none on a node without a tls dir.
fn sign(node: &Node, path: &Path, content: &[u8]) -> Result<(Bytes, Vec<Bytes>), BundleError> {
    match node.signer() {
        Ok(Some(signer)) => Ok(signer.sign_bytes(file::SIGNED_CONTEXT, content)),
        Ok(None) => Ok((Bytes::new(), Vec::new())),
        Err(source) => Err(BundleError::Store {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Writes a bundle of every change above `since` to `out`; `progress` is
/// told the changes written so far and the total.
pub fn export(
    node: &Node,
    out: &Path,
    since: Since,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Exported, BundleError> {
    let refused = |reason: String| BundleError::Refused {
        path: out.to_path_buf(),
        reason,
    };
    let orgs = node.orgs();
    let me = node.me();
    let parent = orgs
        .parent(me)
        .ok_or_else(|| refused(format!("{} has no parent to send a bundle to", node.code())))?;
    let from = match since {
        Since::Acked => UpstreamState::load(node).parent,
        Since::All => BTreeMap::new(),
        Since::Vector(v) => v,
    };
    // What may go up: our subtree's origins, up to each one's newest
    // checkpoint (as a session sends them).
    let heads: Vec<(String, u64, u64)> = node
        .sendable_heads()
        .into_iter()
        .filter(|(code, _)| orgs.get(code).is_some_and(|o| orgs.is_within(o, me)))
        .map(|(code, (seq, _))| {
            let above = from.get(&code).copied().unwrap_or(0).min(seq);
            (code, above, seq)
        })
        .filter(|(_, above, seq)| seq > above)
        .collect();
    let total: u64 = heads.iter().map(|(_, a, s)| s - a).sum();
    let mut filler = codec::BatchFiller::default();
    let mut batches = Vec::new();
    let mut header = file::BundleHeader {
        org: node.code().to_owned(),
        parent: orgs.code(parent).to_owned(),
        created_at_ms: now_ms(),
        bulletins: node.bulletins_held(),
        incarnation: node.incarnation().to_vec(),
        returned: Some(node.returned_digest()),
        ..Default::default()
    };
    let encode_failed = |e: crate::model::Invalid| refused(e.0);
    let scan_failed = |e: crate::store::StoreError| BundleError::Store {
        path: out.to_path_buf(),
        source: e.into(),
    };
    'origins: for (origin, above, head) in heads {
        let mut next = above + 1;
        while next <= head {
            if header.changes >= BUNDLE_CHANGES_MAX {
                break 'origins;
            }
            let room = outbound::Room {
                changes: codec::BATCH_CHANGES_MAX,
                bytes: codec::BATCH_BYTES_MAX,
                empty: true,
            };
            let Some(run) =
                outbound::next_run(node, &origin, next, head, room).map_err(scan_failed)?
            else {
                break;
            };
            header.changes += run.changes.len() as u64;
            next = run.upto + 1;
            header.since.entry(origin.clone()).or_insert(above);
            header.upto.insert(origin.clone(), run.upto);
            if let Some(batch) = filler.push_run(run.changes, run.checkpoint) {
                batches.push(batch.map_err(encode_failed)?);
            }
            progress(header.changes, total);
        }
    }
    if let Some(batch) = filler.finish() {
        batches.push(batch.map_err(encode_failed)?);
    }
    header.batches = batches.len() as u32;
    let content = file::bundle_content(&header, &batches);
    let (signature, chain) = sign(node, out, &content)?;
    let bytes = file::seal(content, signature, chain);
    write_whole(out, &bytes)?;
    info!(
        changes = header.changes,
        batches = header.batches,
        bytes = bytes.len(),
        "bundle written"
    );
    Ok(Exported {
        path: out.to_path_buf(),
        bytes: bytes.len() as u64,
        changes: header.changes,
        batches: header.batches,
        origins: header.upto.len(),
        left: total - header.changes,
    })
}

/// Imports a bundle (at the parent) or an acknowledgement (at the child),
/// told apart by the file's header.
pub fn import(node: &Node, path: &Path) -> Result<Imported, BundleError> {
    let bytes = read_bounded(path, file::BUNDLE_BYTES_MAX)?;
    let malformed = |reason: String| BundleError::Malformed {
        path: path.to_path_buf(),
        reason,
    };
    let parsed = file::parse(&bytes).map_err(|e| malformed(e.0))?;
    match parsed.kind {
        file::Kind::Bundle => import_bundle(node, path, &bytes, &parsed).map(Imported::Bundle),
        file::Kind::Ack => import_ack(node, path, &parsed).map(Imported::Ack),
    }
}

/// Checks a file's seal: signed by a certificate that stands for `org`
/// (chained to our roots at `signed_at_ms`, every CA an ancestor, none
/// revoked). A node without a tls dir takes files unsigned, as it takes
/// `--insecure` sessions.
fn check_seal(
    node: &Node,
    parsed: &file::Parsed<'_>,
    org: &str,
    signed_at_ms: i64,
) -> Result<(), String> {
    let revoked = node.revoked_with(&node.config().revoked);
    if revoked.orgs.iter().any(|o| o == org) {
        return Err(format!("{org} is revoked"));
    }
    match node.signing() {
        None => Ok(()),
        Some(Err(e)) => Err(format!("this node cannot verify signatures: {e}")),
        Some(Ok(trust)) => {
            let signer = trust
                .verify_bytes(
                    &node.orgs(),
                    &revoked,
                    file::SIGNED_CONTEXT,
                    parsed.signed,
                    &parsed.signature,
                    &parsed.chain,
                    signed_at_ms,
                )
                .map_err(|e| format!("its signature is refused: {e}"))?;
            if signer != org {
                return Err(format!(
                    "signed by a certificate for {signer}, not for {org} that it names"
                ));
            }
            Ok(())
        }
    }
}

fn import_bundle(
    node: &Node,
    path: &Path,
    bytes: &[u8],
    parsed: &file::Parsed<'_>,
) -> Result<BundleImported, BundleError> {
    let refused = |reason: String| BundleError::Refused {
        path: path.to_path_buf(),
        reason,
    };
    let malformed = |reason: String| BundleError::Malformed {
        path: path.to_path_buf(),
        reason,
    };
    let store_failed = |source: crate::error::Error| BundleError::Store {
        path: path.to_path_buf(),
        source,
    };
    let header = file::decode_bundle_header(parsed.header).map_err(|e| malformed(e.0))?;
    let orgs = node.orgs();
    let child: OrgId = orgs.get(&header.org).ok_or_else(|| {
        refused(format!(
            "a bundle of {}, which is not in the org directory",
            header.org
        ))
    })?;
    if orgs.parent(child) != Some(node.me()) {
        return Err(refused(format!(
            "a bundle of {}, which is not a direct child of this node ({})",
            header.org,
            node.code()
        )));
    }
    if header.parent != node.code() {
        return Err(refused(format!(
            "a bundle for {}, not for this node ({})",
            header.parent,
            node.code()
        )));
    }
    check_seal(node, parsed, &header.org, header.created_at_ms).map_err(refused)?;
    let revoked = node.revoked_with(&node.config().revoked);
    let digest = blake3::hash(bytes);
    let mut result = BundleImported {
        child: header.org.clone(),
        ack: ack_path(path),
        changes: 0,
        applied: 0,
        skipped: 0,
        held: Vec::new(),
        bulletins: 0,
        returned: None,
    };
    let mut group: Vec<Checked> = Vec::new();
    let mut unknown_held = Vec::new();
    let apply = |group: Vec<Checked>, result: &mut BundleImported| -> Result<(), BundleError> {
        for p in node.ingest(group).map_err(store_failed)? {
            result.applied += u64::from(p.applied);
            result.skipped += u64::from(p.skipped);
            result.held.extend(
                p.held
                    .iter()
                    .map(|h| (h.origin.clone(), h.seq, h.reason.to_string())),
            );
        }
        Ok(())
    };
    for (i, raw) in parsed.batches.iter().enumerate() {
        let batch = file::decode_file_batch(raw)
            .and_then(|b| codec::decode_batch(&b))
            .map_err(|e| malformed(format!("batch {}: {}", i + 1, e.0)))?;
        result.changes += batch.changes.len() as u64;
        let (checked, unknown) =
            ingest::verify_contents_holding_unknown(&orgs, node.signing(), &revoked, child, batch)
                .map_err(|e| match e {
                    Refusal::Malformed(m) => malformed(format!("batch {}: {m}", i + 1)),
                    e => refused(format!("batch {}: {e}", i + 1)),
                })?;
        unknown_held.extend(unknown.held);
        group.push(checked);
        if group.len() >= GROUP_BATCHES_MAX {
            apply(std::mem::take(&mut group), &mut result)?;
        }
    }
    if !group.is_empty() {
        apply(group, &mut result)?;
    }
    if result.changes != header.changes {
        warn!(
            claimed = header.changes,
            carried = result.changes,
            "the bundle carried another number of changes than its header says"
        );
    }
    for h in &unknown_held {
        node.store()
            .set_hold(&Hold {
                origin: h.origin.clone(),
                seq: h.seq,
                reason: h.reason.to_string(),
                at_ms: now_ms(),
            })
            .map_err(|e| store_failed(e.into()))?;
        result
            .held
            .push((h.origin.clone(), h.seq, h.reason.to_string()));
    }
    // Recorded before the acknowledgement is written: a bundle imported
    // again (after a crash, or by mistake) is counted again, and changes
    // nothing else.
    let now = now_ms();
    let covered: BTreeMap<String, (u64, u64)> = header
        .upto
        .iter()
        .map(|(o, &upto)| {
            (
                o.clone(),
                (header.since.get(o).copied().unwrap_or(0) + 1, upto),
            )
        })
        .collect();
    ChildState::update(node, &header.org, |s| {
        s.bundles += 1;
        s.last_bundle = Some(now);
        s.last_bundle_covered = covered;
        s.applied += result.applied;
        s.skipped += result.skipped;
    })
    .map_err(store_failed)?;
    let vector: BTreeMap<String, u64> = {
        let view = node.view();
        view.heads()
            .filter(|(org, _)| orgs.is_within(*org, child))
            .map(|(org, head)| (orgs.code(org).to_owned(), head.seq))
            .collect()
    };
    let bulletins = node
        .bulletins_above(header.bulletins)
        .map_err(store_failed)?;
    result.bulletins = bulletins.len();
    let mut ack = file::AckHeader {
        org: node.code().to_owned(),
        child: header.org.clone(),
        created_at_ms: now,
        incarnation: node.incarnation().to_vec(),
        vector,
        held: result.held.clone(),
        bulletins,
        bundle: digest.as_bytes().to_vec(),
        applied: result.applied,
        skipped: result.skipped,
        returned: file::EncodedAnswer::default(),
        returned_base: header.returned,
    };
    // The trainings returned, as a session would answer them, computed
    // after this bundle's changes are in (its roster among them).
    let returning = node.returning(child, header.returned.as_ref());
    if returning.left_out > 0 {
        warn!(child = %header.org, people = returning.left_out, "people whose returned trainings exceed the limits were left out");
    }
    let chunks = codec::answer_chunks(&orgs, &returning.answer, now);
    ack.returned = file::encode_returned(&chunks).map_err(|e| refused(e.0))?;
    let content = match file::ack_content(&ack) {
        Ok(content) => {
            result.returned = Some(ReturnedSent {
                people: returning.answer.people.len(),
                full: returning.answer.full,
            });
            content
        }
        Err(e) => {
            // Only the answer can make the header that large: the file goes
            // without it, and the child gets the whole set by a session.
            warn!(child = %header.org, returned_bytes = ack.returned.bytes(), reason = %e.0, "the returned trainings do not fit the acknowledgement; left out");
            ack.returned = file::EncodedAnswer::default();
            file::ack_content(&ack).map_err(|e| refused(e.0))?
        }
    };
    let (signature, chain) = sign(node, &result.ack, &content)?;
    write_whole(&result.ack, &file::seal(content, signature, chain))?;
    if result.returned.is_some() {
        node.remember_returned(child, returning.sent);
    }
    info!(
        child = %header.org,
        applied = result.applied,
        skipped = result.skipped,
        held = result.held.len(),
        returned = result.returned.map_or(0, |r| r.people),
        "bundle imported"
    );
    Ok(result)
}

/// `FILE.ack`.
pub fn ack_path(bundle: &Path) -> PathBuf {
    let mut name = bundle.as_os_str().to_owned();
    name.push(ACK_SUFFIX);
    PathBuf::from(name)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn import_ack(
    node: &Node,
    path: &Path,
    parsed: &file::Parsed<'_>,
) -> Result<AckImported, BundleError> {
    let refused = |reason: String| BundleError::Refused {
        path: path.to_path_buf(),
        reason,
    };
    let ack = file::decode_ack(parsed.header).map_err(|e| BundleError::Malformed {
        path: path.to_path_buf(),
        reason: e.0,
    })?;
    let orgs = node.orgs();
    let parent = orgs
        .parent(node.me())
        .map(|p| orgs.code(p).to_owned())
        .ok_or_else(|| refused(format!("{} has no parent", node.code())))?;
    if ack.child != node.code() {
        return Err(refused(format!(
            "an acknowledgement for {}, not for this node ({})",
            ack.child,
            node.code()
        )));
    }
    if ack.org != parent {
        return Err(refused(format!(
            "an acknowledgement by {}, not by this node's parent {parent}",
            ack.org
        )));
    }
    check_seal(node, parsed, &parent, ack.created_at_ms).map_err(refused)?;
    // Bulletins and returned trainings first, whole or not at all; the
    // vector after them, so a refused file changes nothing.
    let taken = node
        .receive_ack(
            &ack.bulletins,
            AckReturned {
                encoded: &ack.returned,
                parent: &parent,
                base: ack.returned_base.as_ref(),
            },
        )
        .map_err(|e| match e {
            AckRefused::Malformed(_) => BundleError::Malformed {
                path: path.to_path_buf(),
                reason: e.to_string(),
            },
            AckRefused::Store(source) => BundleError::Store {
                path: path.to_path_buf(),
                source,
            },
            e => refused(e.to_string()),
        })?;
    let incarnation = hex(&ack.incarnation);
    let mut state = UpstreamState::load(node);
    // Within one incarnation of the parent's store its vector only grows,
    // so an older acknowledgement (or one older than the last session)
    // takes nothing back. Across incarnations the newest word wins: a
    // vector too low only makes the next bundle carry changes the parent
    // skips; one too high would leave changes out.
    if state.parent_incarnation.as_deref() == Some(incarnation.as_str()) {
        for (origin, seq) in &ack.vector {
            let held = state.parent.entry(origin.clone()).or_default();
            *held = (*held).max(*seq);
        }
    } else {
        state.parent = ack.vector.clone();
        state.parent_incarnation = Some(incarnation);
    }
    state.held = ack.held.clone();
    state.last_bundle_ack = Some(now_ms());
    if matches!(taken.returned, ReturnedTaken::Taken { .. }) {
        state.returned_at = state.last_bundle_ack;
    }
    node.store()
        .set_upstream_state(&state)
        .map_err(|e| BundleError::Store {
            path: path.to_path_buf(),
            source: e.into(),
        })?;
    match &taken.returned {
        ReturnedTaken::Stale { why, .. } => {
            info!(parent = %parent, reason = %why, "the returned trainings are not newer than those held; left")
        }
        ReturnedTaken::None => debug!(parent = %parent, "the acknowledgement returns no trainings"),
        ReturnedTaken::Taken { .. } => {}
    }
    info!(parent = %parent, bulletins = taken.bulletins, "bundle acknowledgement imported");
    Ok(AckImported {
        parent,
        vector: state.parent,
        held: ack.held,
        bulletins: taken.bulletins,
        returned: taken.returned,
    })
}
