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

/// Appends values to a buffer.
#[derive(Debug, Default)]
pub struct Writer {
    pub out: Vec<u8>,
}

impl Writer {
    pub fn u8(&mut self, v: u8) {
        self.out.push(v);
    }

    pub fn u64(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.out.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.out.push(v as u8);
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
    }

    pub fn str(&mut self, s: &str) {
        self.len(s.len());
        self.out.extend_from_slice(s.as_bytes());
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
