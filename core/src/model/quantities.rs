//! Quantities and identifiers: hours in exact tenths, class ids.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use super::values::{CLASS_HOURS_MAX_TENTHS, CLASS_ID_CHARS_MAX, Invalid, check_text, invalid};

/// Hours in tenths of an hour, so sums are exact and nothing hashed is a float.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Hours(u32);

impl Hours {
    pub const ZERO: Hours = Hours(0);

    pub fn from_tenths(tenths: u32) -> Hours {
        Hours(tenths)
    }

    pub fn tenths(self) -> u32 {
        self.0
    }

    /// Whole hours, for thresholds written as whole numbers.
    pub fn from_whole(hours: u32) -> Hours {
        Hours(hours.saturating_mul(10))
    }

    pub fn as_f64(self) -> f64 {
        f64::from(self.0) / 10.0
    }

    /// Parses `12`, `12.5` or `12.0`; at most one decimal place, not negative,
    /// at most [`CLASS_HOURS_MAX_TENTHS`].
    pub fn parse(field: &str, text: &str) -> Result<Hours, Invalid> {
        let t = text.trim();
        let bad = || invalid(format!("{field} {t:?} is not a number of hours"));
        if t.starts_with('-') {
            return Err(invalid(format!("{field} {t} is negative")));
        }
        let (whole, frac) = match t.split_once('.') {
            Some((w, f)) => (w, f.trim_end_matches('0')),
            None => (t, ""),
        };
        if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        if !frac.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        if frac.len() > 1 {
            return Err(invalid(format!(
                "{field} {t} has more than one decimal place"
            )));
        }
        let whole: u64 = whole.parse().map_err(|_| bad())?;
        let tenth: u64 = frac.parse().unwrap_or(0);
        let tenths = whole.saturating_mul(10).saturating_add(tenth);
        Self::checked(field, tenths)
    }

    /// From a spreadsheet number: must be a whole number of tenths (allowing
    /// for binary floating-point noise).
    pub fn from_f64(field: &str, value: f64) -> Result<Hours, Invalid> {
        if !value.is_finite() {
            return Err(invalid(format!("{field} is not a number")));
        }
        if value < 0.0 {
            return Err(invalid(format!("{field} {value} is negative")));
        }
        let tenths = (value * 10.0).round();
        if ((value * 10.0) - tenths).abs() > 1e-6 {
            return Err(invalid(format!(
                "{field} {value} has more than one decimal place"
            )));
        }
        Self::checked(field, tenths as u64)
    }

    fn checked(field: &str, tenths: u64) -> Result<Hours, Invalid> {
        if tenths > u64::from(CLASS_HOURS_MAX_TENTHS) {
            return Err(invalid(format!(
                "{field} {} exceeds the maximum of {} hours",
                Hours(tenths.min(u64::from(u32::MAX)) as u32),
                CLASS_HOURS_MAX_TENTHS / 10
            )));
        }
        Ok(Hours(tenths as u32))
    }
}

impl std::ops::Add for Hours {
    type Output = Hours;
    fn add(self, rhs: Hours) -> Hours {
        Hours(self.0.saturating_add(rhs.0))
    }
}

impl std::ops::AddAssign for Hours {
    fn add_assign(&mut self, rhs: Hours) {
        *self = *self + rhs;
    }
}

/// Reports and JSON show hours as a plain number: `12` or `12.5`, as
/// [`Hours`]'s `Display` writes them.
impl Serialize for Hours {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0.is_multiple_of(10) {
            s.serialize_u32(self.0 / 10)
        } else {
            s.serialize_f64(self.as_f64())
        }
    }
}

impl fmt::Display for Hours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_multiple_of(10) {
            write!(f, "{}", self.0 / 10)
        } else {
            write!(f, "{}.{}", self.0 / 10, self.0 % 10)
        }
    }
}

/// A class id, unique within its organizing node.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClassId(String);

impl ClassId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for ClassId {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Invalid> {
        let s = s.trim();
        if s.is_empty() {
            return Err(invalid("class id is empty"));
        }
        check_text("class id", s, CLASS_ID_CHARS_MAX)?;
        Ok(ClassId(s.to_owned()))
    }
}

impl std::borrow::Borrow<str> for ClassId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClassId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
