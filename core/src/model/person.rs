//! A person's identity: the resident ID number (GB 11643 check digit, packed
//! in a `u64`) and gender.

use std::fmt;
use std::str::FromStr;

use chrono::NaiveDate;
use serde::Serialize;

use super::values::{Date, EPOCH, Invalid, invalid};

/// A resident ID number (公民身份号码, GB 11643-1999): 17 digits and a check
/// character, the identity of a person across the whole tree.
///
/// Stored packed in a `u64` (the 17 digits, then the check value 0..=10), so
/// indexes over a million people stay small and `Copy`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PersonId(u64);

const ID_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const ID_CHECK_CHARS: [u8; 11] = *b"10X98765432";

impl PersonId {
    /// The check character GB 11643 prescribes for these 17 digits.
    pub fn check_char(digits: &[u8; 17]) -> char {
        let sum: u32 = digits
            .iter()
            .zip(ID_WEIGHTS)
            .map(|(d, w)| u32::from(d - b'0') * w)
            .sum();
        char::from(ID_CHECK_CHARS[(sum % 11) as usize])
    }

    /// `410102********1234`: enough to tell people apart in a list, not enough
    /// to identify them outside it.
    pub fn masked(&self) -> String {
        let full = self.to_string();
        format!("{}********{}", &full[..6], &full[14..])
    }

    /// The holder's date of birth, encoded in digits 7–14.
    pub fn birth_date(&self) -> Date {
        let s = self.to_string();
        // Validated at construction; the fallback is never taken.
        NaiveDate::parse_from_str(&s[6..14], "%Y%m%d").unwrap_or(EPOCH)
    }

    /// Gender from digit 17: odd is male, even is female.
    pub fn gender(&self) -> Gender {
        if (self.0 / 11) % 2 == 1 {
            Gender::Male
        } else {
            Gender::Female
        }
    }

    /// The packed form, for compact keys.
    pub fn to_u64(self) -> u64 {
        self.0
    }

    /// Rebuilds an id from [`PersonId::to_u64`], checking it as
    /// [`PersonId::from_str`] does (17 digits, the check digit, a birth
    /// date), by arithmetic: snapshots read millions.
    pub fn from_u64(packed: u64) -> Option<PersonId> {
        let number = packed / 11;
        let check = packed % 11;
        if number >= 100_000_000_000_000_000 {
            return None;
        }
        let mut digits = [0u8; 17];
        let mut rest = number;
        for d in digits.iter_mut().rev() {
            *d = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
        let expected = Self::check_char(&digits);
        let given = if check == 10 {
            'X'
        } else {
            char::from(b'0' + check as u8)
        };
        if given != expected {
            return None;
        }
        let birth = number / 1_000 % 100_000_000;
        NaiveDate::from_ymd_opt(
            (birth / 10_000) as i32,
            (birth / 100 % 100) as u32,
            (birth % 100) as u32,
        )?;
        Some(PersonId(packed))
    }
}

impl FromStr for PersonId {
    type Err = Invalid;

    fn from_str(text: &str) -> Result<Self, Invalid> {
        let text = text.trim();
        let bytes = text.as_bytes();
        if bytes.len() != 18 {
            return Err(invalid(format!(
                "ID number must have 18 characters, found {}",
                text.chars().count()
            )));
        }
        let mut digits = [0u8; 17];
        digits.copy_from_slice(&bytes[..17]);
        if let Some(pos) = digits.iter().position(|b| !b.is_ascii_digit()) {
            return Err(invalid(format!(
                "ID number has a non-digit at position {}",
                pos + 1
            )));
        }
        let last = bytes[17].to_ascii_uppercase();
        let check_value = match last {
            b'0'..=b'9' => u64::from(last - b'0'),
            b'X' => 10,
            _ => return Err(invalid("ID number must end in a digit or X")),
        };
        let expected = Self::check_char(&digits);
        if char::from(last) != expected {
            return Err(invalid(format!(
                "ID number check digit is {}, expected {expected} (GB 11643)",
                char::from(last)
            )));
        }
        let birth = std::str::from_utf8(&digits[6..14]).unwrap_or_default();
        if NaiveDate::parse_from_str(birth, "%Y%m%d").is_err() {
            return Err(invalid(format!(
                "ID number has no valid birth date (digits 7-14: {birth})"
            )));
        }
        let number = std::str::from_utf8(&digits)
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or_else(|| invalid("ID number is not numeric"))?;
        Ok(PersonId(number * 11 + check_value))
    }
}

impl fmt::Display for PersonId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let check = self.0 % 11;
        write!(f, "{:017}", self.0 / 11)?;
        if check == 10 {
            f.write_str("X")
        } else {
            write!(f, "{check}")
        }
    }
}

impl fmt::Debug for PersonId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PersonId({})", self.masked())
    }
}

/// Derived from the ID number, never stored separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Gender {
    Male,
    Female,
}

impl Gender {
    pub fn zh(self) -> &'static str {
        match self {
            Gender::Male => "男",
            Gender::Female => "女",
        }
    }
}
