//! A compact binary encoding for what a node keeps of its own derived state
//! (the view's snapshot, see [`crate::view::snapshot`]): LEB128 varints,
//! length-prefixed UTF-8, fixed-width hashes. Every read is bounded by the
//! bytes left, so a truncated or corrupted file is an error, never a panic
//! or an allocation larger than the input.

use crate::model::Date;

/// Why bytes do not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Malformed(pub String);

fn malformed(what: impl Into<String>) -> Malformed {
    Malformed(what.into())
}

/// Where a [`Writer`]'s bytes go once it holds [`DRAIN_AT`] of them (the
/// node's snapshot file), so that encoding a large state does not hold all
/// of its bytes in memory at once.
pub trait Drain {
    /// Appends `bytes` after everything given before.
    fn write(&mut self, bytes: &[u8]);
    /// Overwrites bytes given before, from offset `at` (a length written
    /// later, [`Writer::set_len`]).
    fn overwrite(&mut self, at: u64, bytes: &[u8]);
}

/// A writer with a [`Drain`] passes its buffer on past this many bytes.
pub const DRAIN_AT: usize = 1 << 20;

/// The bytes of a length reserved by [`Writer::len_later`]: a varint padded
/// with continuation bytes, which [`Reader::u64`] reads like any other.
const PADDED: usize = 10;

/// Appends values to a buffer, and with a [`Drain`], passes the buffer on
/// whenever it grows past [`DRAIN_AT`].
#[derive(Default)]
pub struct Writer<'d> {
    /// The bytes written and not yet drained (all of them, without a drain).
    pub out: Vec<u8>,
    /// Bytes passed to the drain before `out`.
    drained: u64,
    drain: Option<&'d mut dyn Drain>,
}

impl std::fmt::Debug for Writer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("buffered", &self.out.len())
            .field("drained", &self.drained)
            .finish()
    }
}

impl<'d> Writer<'d> {
    /// A writer that passes its bytes on to `drain`; call
    /// [`Writer::finish`] at the end.
    pub fn draining(drain: &'d mut dyn Drain) -> Writer<'d> {
        Writer {
            out: Vec::with_capacity(DRAIN_AT + (64 << 10)),
            drained: 0,
            drain: Some(drain),
        }
    }

    /// Bytes written so far, drained or not.
    pub fn position(&self) -> u64 {
        self.drained + self.out.len() as u64
    }

    /// Passes the buffer on if it has grown past [`DRAIN_AT`].
    fn spill(&mut self) {
        if self.out.len() >= DRAIN_AT {
            self.finish();
        }
    }

    /// Passes on what is buffered (nothing without a drain): call it at the
    /// end.
    pub fn finish(&mut self) {
        if let Some(drain) = self.drain.as_mut() {
            drain.write(&self.out);
            self.drained += self.out.len() as u64;
            self.out.clear();
        }
    }

    /// Reserves a length to be set by [`Writer::set_len`] once known;
    /// returns where it is.
    pub fn len_later(&mut self) -> u64 {
        let at = self.position();
        self.out.extend_from_slice(&padded(0));
        at
    }

    /// Sets the length reserved at `at` to `n`.
    pub fn set_len(&mut self, at: u64, n: usize) {
        let bytes = padded(n as u64);
        match at.checked_sub(self.drained) {
            Some(i) => {
                let i = i as usize;
                self.out[i..i + PADDED].copy_from_slice(&bytes);
            }
            None => {
                if let Some(drain) = self.drain.as_mut() {
                    drain.overwrite(at, &bytes);
                }
            }
        }
    }

    pub fn u8(&mut self, v: u8) {
        self.out.push(v);
    }

    pub fn u64(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.out.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.out.push(v as u8);
        self.spill();
    }

    pub fn u32(&mut self, v: u32) {
        self.u64(u64::from(v));
    }

    pub fn len(&mut self, n: usize) {
        self.u64(n as u64);
    }

    pub fn i64(&mut self, v: i64) {
        self.out.extend_from_slice(&v.to_le_bytes());
    }

    pub fn bytes(&mut self, b: &[u8]) {
        self.out.extend_from_slice(b);
        self.spill();
    }

    pub fn str(&mut self, s: &str) {
        self.len(s.len());
        self.bytes(s.as_bytes());
    }

    pub fn date(&mut self, d: Date) {
        use chrono::Datelike;
        self.u32(d.num_days_from_ce().max(0) as u32);
    }

    /// `None` as 0, a date as its day number plus one.
    pub fn opt_date(&mut self, d: Option<Date>) {
        use chrono::Datelike;
        match d {
            None => self.u32(0),
            Some(d) => self.u32(d.num_days_from_ce().max(0) as u32 + 1),
        }
    }
}

/// `v` as a varint of exactly [`PADDED`] bytes.
fn padded(v: u64) -> [u8; PADDED] {
    let mut out = [0u8; PADDED];
    for (i, b) in out.iter_mut().enumerate() {
        *b = ((v >> (7 * i)) & 0x7f) as u8 | if i + 1 < PADDED { 0x80 } else { 0 };
    }
    out
}

/// Reads values back, each bounded by what is left.
#[derive(Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf }
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.buf.len()
    }

    pub fn u8(&mut self) -> Result<u8, Malformed> {
        let (&b, rest) = self
            .buf
            .split_first()
            .ok_or_else(|| malformed("truncated"))?;
        self.buf = rest;
        Ok(b)
    }

    pub fn u64(&mut self) -> Result<u64, Malformed> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(malformed("a number is longer than 64 bits"))
    }

    pub fn u32(&mut self) -> Result<u32, Malformed> {
        u32::try_from(self.u64()?).map_err(|_| malformed("a number is out of range"))
    }

    /// A count of items each taking at least `min_bytes`: larger than the
    /// bytes left could hold is an error (so no allocation follows it).
    pub fn count(&mut self, min_bytes: usize) -> Result<usize, Malformed> {
        let n = self.u64()?;
        let fits = (self.buf.len() / min_bytes.max(1)) as u64;
        if n > fits {
            return Err(malformed(format!(
                "a count of {n} exceeds the {} bytes left",
                self.buf.len()
            )));
        }
        Ok(n as usize)
    }

    pub fn i64(&mut self) -> Result<i64, Malformed> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(i64::from_le_bytes(a))
    }

    pub fn take(&mut self, n: usize) -> Result<&'a [u8], Malformed> {
        if n > self.buf.len() {
            return Err(malformed("truncated"));
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], Malformed> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    pub fn str(&mut self) -> Result<&'a str, Malformed> {
        let n = self.count(1)?;
        std::str::from_utf8(self.take(n)?).map_err(|_| malformed("text is not UTF-8"))
    }

    pub fn bool(&mut self) -> Result<bool, Malformed> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            b => Err(malformed(format!("{b} is not a flag"))),
        }
    }

    pub fn date(&mut self) -> Result<Date, Malformed> {
        let n = self.u32()?;
        day(n)
    }

    pub fn opt_date(&mut self) -> Result<Option<Date>, Malformed> {
        match self.u32()? {
            0 => Ok(None),
            n => day(n - 1).map(Some),
        }
    }

    /// One of `all`, by its position.
    pub fn choice<T: Copy>(&mut self, all: &[T], what: &str) -> Result<T, Malformed> {
        let i = self.u8()?;
        all.get(i as usize)
            .copied()
            .ok_or_else(|| malformed(format!("{i} is not a {what}")))
    }
}

fn day(n: u32) -> Result<Date, Malformed> {
    i32::try_from(n)
        .ok()
        .and_then(Date::from_num_days_from_ce_opt)
        .ok_or_else(|| malformed(format!("day {n} is out of range")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_and_truncation_is_an_error() {
        let mut w = Writer::default();
        w.u64(u64::MAX);
        w.u32(300);
        w.str("王五");
        w.date("2025-03-01".parse().unwrap());
        w.opt_date(None);
        w.i64(-5);
        let mut r = Reader::new(&w.out);
        assert_eq!(r.u64().unwrap(), u64::MAX);
        assert_eq!(r.u32().unwrap(), 300);
        assert_eq!(r.str().unwrap(), "王五");
        assert_eq!(r.date().unwrap().to_string(), "2025-03-01");
        assert_eq!(r.opt_date().unwrap(), None);
        assert_eq!(r.i64().unwrap(), -5);
        assert_eq!(r.remaining(), 0);
        for cut in 0..w.out.len() {
            let mut r = Reader::new(&w.out[..cut]);
            let all = (|| -> Result<(), Malformed> {
                r.u64()?;
                r.u32()?;
                r.str()?;
                r.date()?;
                r.opt_date()?;
                r.i64()?;
                Ok(())
            })();
            assert!(all.is_err(), "cut at {cut}");
        }
    }

    /// A drain that keeps what it is given.
    #[derive(Default)]
    struct Kept(Vec<u8>);

    impl Drain for Kept {
        fn write(&mut self, bytes: &[u8]) {
            self.0.extend_from_slice(bytes);
        }
        fn overwrite(&mut self, at: u64, bytes: &[u8]) {
            let at = at as usize;
            self.0[at..at + bytes.len()].copy_from_slice(bytes);
        }
    }

    /// Lengths set later, some after their bytes were drained: the bytes
    /// are the buffered writer's, and every length reads back.
    fn write_parts(w: &mut Writer<'_>) {
        for part in 0..5u64 {
            let at = w.len_later();
            let start = w.position();
            for i in 0..part * 90_000 {
                w.u64(i * 977);
                w.str("训");
            }
            w.set_len(at, (w.position() - start) as usize);
        }
    }

    #[test]
    fn a_draining_writer_writes_what_a_buffer_holds() {
        let mut plain = Writer::default();
        write_parts(&mut plain);
        let mut kept = Kept::default();
        let mut w = Writer::draining(&mut kept);
        write_parts(&mut w);
        assert!(w.out.len() < DRAIN_AT, "the buffer was drained");
        w.finish();
        drop(w);
        assert!(kept.0 == plain.out, "the same bytes");
        let mut r = Reader::new(&kept.0);
        for part in 0..5u64 {
            let n = r.count(1).expect("a padded length reads");
            let mut body = Reader::new(r.take(n).expect("the part"));
            for i in 0..part * 90_000 {
                assert_eq!(body.u64().unwrap(), i * 977);
                assert_eq!(body.str().unwrap(), "训");
            }
            assert_eq!(body.remaining(), 0);
        }
        assert_eq!(r.remaining(), 0);
        for v in [0, 1, 127, 128, u64::from(u32::MAX), (1 << 63) - 1] {
            assert_eq!(Reader::new(&padded(v)).u64().unwrap(), v);
        }
    }

    #[test]
    fn a_huge_count_is_refused_before_anything_is_allocated() {
        let mut w = Writer::default();
        w.u64(u64::MAX / 2);
        w.bytes(&[0; 16]);
        let mut r = Reader::new(&w.out);
        assert!(r.count(1).is_err());
        let mut w = Writer::default();
        w.u64(4);
        w.bytes(&[0; 16]);
        assert_eq!(Reader::new(&w.out).count(4).unwrap(), 4);
        assert!(Reader::new(&w.out).count(5).is_err());
    }
}
