//! Tests of the domain model: ID numbers, dates, hours, record validation.

use super::*;
use chrono::NaiveDate;

fn id_with_check(first17: &str) -> String {
    let mut d = [0u8; 17];
    d.copy_from_slice(first17.as_bytes());
    format!("{first17}{}", PersonId::check_char(&d))
}

#[test]
fn gb11643_known_numbers() {
    // The standard's own example number.
    assert!("11010519491231002X".parse::<PersonId>().is_ok());
    assert!("110105194912310021".parse::<PersonId>().is_err());
    let id: PersonId = "11010519491231002x".parse().unwrap();
    assert_eq!(id.to_string(), "11010519491231002X");
    assert_eq!(id.gender(), Gender::Female);
    assert_eq!(
        id.birth_date(),
        NaiveDate::from_ymd_opt(1949, 12, 31).unwrap()
    );
    assert_eq!(id.masked(), "110105********002X");
}

#[test]
fn id_rejections_say_why() {
    let e = |s: &str| s.parse::<PersonId>().unwrap_err().0;
    assert!(e("1234").contains("18 characters"));
    assert!(e("41010219800101A23X").contains("non-digit at position 15"));
    assert!(
        e("41010219801301123X").contains("birth date")
            || e("41010219801301123X").contains("check digit")
    );
    let bad_birth = id_with_check("41010219801301123");
    assert!(e(&bad_birth).contains("birth date"));
}

#[test]
fn packed_roundtrip() {
    for s in ["11010519491231002X", &id_with_check("41010219800229123")] {
        let id: PersonId = s.parse().unwrap();
        assert_eq!(PersonId::from_u64(id.to_u64()), Some(id));
        assert_eq!(id.to_string(), *s);
    }
}

#[test]
fn hours_parse() {
    assert_eq!(Hours::parse("h", "12").unwrap().tenths(), 120);
    assert_eq!(Hours::parse("h", "12.5").unwrap().tenths(), 125);
    assert_eq!(Hours::parse("h", "12.50").unwrap().tenths(), 125);
    assert_eq!(Hours::parse("h", " 0 ").unwrap().tenths(), 0);
    assert!(Hours::parse("h", "-1").unwrap_err().0.contains("negative"));
    assert!(Hours::parse("h", "1.25").unwrap_err().0.contains("decimal"));
    assert!(Hours::parse("h", "abc").is_err());
    assert!(Hours::parse("h", "").is_err());
    assert!(
        Hours::parse("h", "99999")
            .unwrap_err()
            .0
            .contains("maximum")
    );
    assert_eq!(Hours::from_f64("h", 7.499_999_999_9).unwrap().tenths(), 75);
    assert!(Hours::from_f64("h", 7.25).is_err());
    assert_eq!(Hours::from_tenths(125).to_string(), "12.5");
    assert_eq!(Hours::from_tenths(120).to_string(), "12");
}

#[test]
fn dates() {
    assert_eq!(
        parse_date("d", "2024/02/29").unwrap(),
        NaiveDate::from_ymd_opt(2024, 2, 29).unwrap()
    );
    assert!(parse_date("d", "2023-02-29").is_err());
    assert!(
        parse_date("d", "9999-01-01")
            .unwrap_err()
            .0
            .contains("outside")
    );
    let d = NaiveDate::from_ymd_opt(2024, 2, 29).unwrap();
    assert_eq!(days_to_date(date_to_days(d)), Some(d));
}

#[test]
fn choices_in_both_languages() {
    assert_eq!("县处级及以上".parse::<Rank>().unwrap(), Rank::Leading);
    assert_eq!("General".parse::<Rank>().unwrap(), Rank::General);
    assert_eq!("村(社区)".parse::<Rank>().unwrap(), Rank::Grassroots);
    assert!("boss".parse::<Rank>().is_err());
    assert_eq!(
        "无故缺席".parse::<Outcome>().unwrap(),
        Outcome::AbsentUnjustified
    );
    assert_eq!("网络自学".parse::<Mode>().unwrap(), Mode::Online);
    assert!(!Outcome::AbsentJustified.attended());
    assert!(Outcome::Failed.attended());
}

#[test]
fn class_days() {
    let d = |s: &str| s.parse::<Date>().unwrap();
    let mut c = Class {
        class_id: "C1".parse().unwrap(),
        title: "t".into(),
        category: String::new(),
        mode: Mode::Centralized,
        off_job: true,
        start: d("2024-03-01"),
        end: d("2024-03-05"),
        hours: Hours::from_whole(40),
        days: None,
    };
    assert_eq!(c.credited_days(), 5);
    c.days = Some(3);
    assert_eq!(c.credited_days(), 3);
    assert!(c.validate().is_ok());
    c.days = Some(6);
    assert!(c.validate().is_err());
}

#[test]
fn ids_in_text_are_masked() {
    for (text, masked) in [
        (
            r#"args=["person","410102198001010018"]"#,
            r#"args=["person","410102********0018"]"#,
        ),
        ("id 11010519491231002X.", "id 110105********002X."),
        (
            r#"since "4101021980..." is not a date"#,
            r#"since "410102****..." is not a date"#,
        ),
        (
            "two 410102198001010018,410102200512310022",
            "two 410102********0018,410102********0022",
        ),
        ("ID410102198001010018", "ID410102********0018"),
        // Not IDs: timestamps, short numbers.
        ("written_at_ms=1764683451000", "written_at_ms=1764683451000"),
        ("seq 220070 of 410102", "seq 220070 of 410102"),
        ("郑州市 410100", "郑州市 410100"),
    ] {
        assert_eq!(mask_ids(text), masked, "{text}");
    }
    let id: PersonId = "410102198001010018".parse().unwrap();
    assert_eq!(mask_ids(&id.to_string()), id.masked());
}

/// The arithmetic `from_u64` accepts exactly what the text form does.
#[test]
fn packed_ids_check_like_their_text() {
    use rand::{RngExt, SeedableRng};
    let reference = |packed: u64| -> Option<PersonId> {
        let (number, check) = (packed / 11, packed % 11);
        if number >= 100_000_000_000_000_000 {
            return None;
        }
        let last = if check == 10 {
            'X'
        } else {
            char::from(b'0' + check as u8)
        };
        format!("{number:017}{last}").parse().ok()
    };
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    let valid: PersonId = "11010519491231002X".parse().expect("valid");
    for i in 0..200_000u64 {
        let packed = match i % 3 {
            0 => rng.random::<u64>(),
            1 => rng.random_range(0..1_100_000_000_000_000_000),
            // Near a valid id: every check value, nearby dates.
            _ => valid
                .to_u64()
                .wrapping_add(rng.random_range(0..2_000_000) * 11 + i % 11),
        };
        assert_eq!(PersonId::from_u64(packed), reference(packed), "{packed}");
    }
}
