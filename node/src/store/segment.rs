//! Log segments: a run of one origin's consecutive changes stored as one
//! value, keyed by the run's last seq.
//!
//! A received batch is already verified, contiguous and all-or-nothing, and
//! an own write is too, so it is stored the way it arrived: one sled insert
//! per run of up to [`SEGMENT_MAX_BYTES`] instead of one per change. sled's
//! cost is per insert (a copy-on-write of the tree node, page-cache
//! bookkeeping), so the log's write cost becomes its bytes.
//!
//! # Format
//!
//! Key: `origin ‖ 0x00 ‖ last seq (u64 BE)`, as a single change's key was,
//! so one origin's segments sort by seq and the last key of an origin's range
//! is its head.
//!
//! Value: `FORMAT ‖ count (u32 BE) ‖ count × (received_at_ms (i64 BE) ‖ len
//! (u32 BE) ‖ change bytes)`, the changes at seqs `last - count + 1 ..=
//! last` in order.
//!
//! A store written before segments holds one change per key in another
//! tree, valued `received_at_ms (i64 BE) ‖ change bytes`; such a value
//! starts with 0x00 (a time after 1970 and before the year 10,000 in
//! milliseconds is below 2^56), never with [`FORMAT`], and is read as a
//! segment of one.

use bytes::Bytes;

/// The first byte of a segment's value. A single change in the first
/// version's layout starts with 0x00.
pub(super) const FORMAT: u8 = 0x53;

/// A segment holds changes up to about this many bytes (more only for a
/// single larger change): a few dozen changes, so the per-insert cost is
/// spread over them, while a sled leaf (up to 17 values before it splits)
/// stays inline in sled's pages. A leaf over a quarter of sled's 512 KiB
/// segment size is written as a separate blob file on every rewrite, which
/// every flush then `fsync`s: with 32 KiB segments a three-hop propagation
/// took 470–540 ms, against 80–150 ms with 4 KiB under the same load (a
/// store test checks that the log writes no blob files).
pub(super) const SEGMENT_MAX_BYTES: usize = 4 * 1024;

/// Bytes a change costs in a segment's value besides its own.
pub(super) const PER_CHANGE: usize = 12;

/// Bytes of a segment's value before its first change.
pub(super) const HEADER: usize = 5;

/// One change read from a segment.
#[derive(Debug, Clone)]
pub(super) struct Stored {
    pub seq: u64,
    pub received_at_ms: i64,
    pub change: Bytes,
}

/// Appends to `value` the segment of `changes` (received time and bytes),
/// which are consecutive seqs of one origin.
pub(super) fn encode<'c>(
    value: &mut Vec<u8>,
    changes: impl ExactSizeIterator<Item = (i64, &'c [u8])>,
) {
    value.push(FORMAT);
    value.extend_from_slice(&(changes.len() as u32).to_be_bytes());
    for (at, change) in changes {
        value.extend_from_slice(&at.to_be_bytes());
        value.extend_from_slice(&(change.len() as u32).to_be_bytes());
        value.extend_from_slice(change);
    }
}

/// How many changes the segment valued `value` holds, from its header alone
/// (1 for a value of the first version's layout).
pub(super) fn count(value: &[u8]) -> Result<u64, String> {
    match value.first() {
        Some(0) => Ok(1),
        Some(&FORMAT) if value.len() >= HEADER => {
            let count = u32::from_be_bytes([value[1], value[2], value[3], value[4]]);
            if count == 0 {
                return Err("empty segment".into());
            }
            Ok(u64::from(count))
        }
        Some(&FORMAT) => Err("segment header is truncated".into()),
        Some(b) => Err(format!("unknown log value format {b:#04x}")),
        None => Err("empty log value".into()),
    }
}

/// The changes of the segment ending at `last` valued `value`, in seq
/// order; the change bytes share one copy of the value.
pub(super) fn decode(last: u64, value: &[u8]) -> Result<Vec<Stored>, String> {
    let count = count(value)?;
    let first = last
        .checked_sub(count - 1)
        .filter(|&f| f >= 1)
        .ok_or_else(|| format!("segment of {count} changes cannot end at seq {last}"))?;
    if value[0] == 0 {
        if value.len() < 8 {
            return Err("log value is truncated".into());
        }
        let value = Bytes::copy_from_slice(value);
        return Ok(vec![Stored {
            seq: last,
            received_at_ms: i64::from_be_bytes(value[..8].try_into().unwrap_or_default()),
            change: value.slice(8..),
        }]);
    }
    let value = Bytes::copy_from_slice(value);
    // Every change takes at least PER_CHANGE bytes: a count the value cannot
    // hold is refused before anything is allocated for it.
    if (value.len() - HEADER) / PER_CHANGE < count as usize {
        return Err(format!(
            "segment claims {count} changes in {} bytes",
            value.len()
        ));
    }
    let mut out = Vec::with_capacity(count as usize);
    let mut at = HEADER;
    for seq in first..=last {
        let Some(fixed) = value.get(at..at + PER_CHANGE) else {
            return Err(format!("segment is truncated at seq {seq}"));
        };
        let received_at_ms = i64::from_be_bytes(fixed[..8].try_into().unwrap_or_default());
        let len = u32::from_be_bytes(fixed[8..].try_into().unwrap_or_default()) as usize;
        let start = at + PER_CHANGE;
        let end = start
            .checked_add(len)
            .filter(|&e| e <= value.len())
            .ok_or_else(|| format!("segment is truncated at seq {seq}"))?;
        out.push(Stored {
            seq,
            received_at_ms,
            change: value.slice(start..end),
        });
        at = end;
    }
    if at != value.len() {
        return Err(format!(
            "{} bytes after the segment's last change",
            value.len() - at
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(last: u64, changes: &[&[u8]]) -> Vec<u8> {
        let mut v = Vec::new();
        encode(
            &mut v,
            changes.iter().enumerate().map(|(i, c)| (i as i64, *c)),
        );
        let decoded = decode(last, &v).unwrap();
        assert_eq!(decoded.len(), changes.len());
        v
    }

    #[test]
    fn round_trip_and_legacy() {
        let v = segment(7, &[b"a", b"", b"ccc"]);
        let d = decode(7, &v).unwrap();
        assert_eq!(d.iter().map(|s| s.seq).collect::<Vec<_>>(), [5, 6, 7]);
        assert_eq!(&d[2].change[..], b"ccc");
        assert_eq!(d[1].received_at_ms, 1);
        let mut legacy = 1_700_000_000_000i64.to_be_bytes().to_vec();
        legacy.extend_from_slice(b"change");
        let d = decode(3, &legacy).unwrap();
        assert_eq!((d[0].seq, d[0].received_at_ms), (3, 1_700_000_000_000));
        assert_eq!(&d[0].change[..], b"change");
    }

    #[test]
    fn every_damage_is_an_error() {
        let v = segment(9, &[b"one", b"two", b"three"]);
        for cut in 0..v.len() {
            assert!(decode(9, &v[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = v.clone();
        longer.push(0);
        assert!(decode(9, &longer).is_err());
        // A segment of three cannot end at seq 2.
        assert!(decode(2, &v).is_err());
        // A count the value cannot hold allocates nothing.
        let mut bomb = v.clone();
        bomb[1..5].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(decode(u64::MAX, &bomb).is_err());
        for i in 0..v.len() {
            for bit in 0..8 {
                let mut flipped = v.clone();
                flipped[i] ^= 1 << bit;
                // Never a panic; a flip inside change bytes decodes (the
                // node's replay checks each change's hash chain).
                let _ = decode(9, &flipped);
            }
        }
    }
}
