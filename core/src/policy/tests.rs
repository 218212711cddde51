//! Tests of the policy document: defaults, parsing, validation, errors naming file, line and field.

use super::*;

fn err(text: &str) -> String {
    Policy::from_toml(text, "p.toml").unwrap_err().to_string()
}

#[test]
fn defaults_are_the_documents_numbers() {
    let p = Policy::default();
    let c = |l| {
        let c = p.cycle(l);
        (c.min_years, c.max_years)
    };
    assert_eq!(c(Level::National), (3, 4));
    assert_eq!(c(Level::Province), (2, 3));
    assert_eq!(c(Level::Prefecture), (1, 2));
    assert_eq!(c(Level::County), (1, 1));
    assert_eq!(
        p.hours.leading,
        CentralizedRule {
            hours: 550,
            days: 90,
            window: Window::PlanPeriod
        }
    );
    assert_eq!(
        p.hours.general,
        CentralizedRule {
            hours: 90,
            days: 12,
            window: Window::CalendarYear
        }
    );
    assert_eq!(
        p.hours.online,
        OnlineRule {
            hours: 50,
            window: Window::CalendarYear
        }
    );
    assert_eq!(
        p.plan_period,
        PlanPeriod {
            start_year: 2023,
            years: 5
        }
    );
    assert_eq!(p.long_off_job_days, 60);
    assert!(p.validate().is_ok());
}

#[test]
fn empty_file_is_the_default() {
    assert_eq!(Policy::from_toml("", "p.toml").unwrap(), Policy::default());
    assert_eq!(
        Policy::from_toml("# nothing\n", "p.toml").unwrap(),
        Policy::default()
    );
}

#[test]
fn to_toml_round_trips() {
    let default = Policy::default();
    let text = default.to_toml();
    assert_eq!(Policy::from_toml(&text, "shown.toml").unwrap(), default);

    // Every field changed, so a field the template forgot would show.
    let mut p = Policy::default();
    p.rotation.national = Cycle {
        min_years: 4,
        max_years: 5,
    };
    p.rotation.province = Cycle {
        min_years: 1,
        max_years: 4,
    };
    p.rotation.prefecture = Cycle {
        min_years: 2,
        max_years: 2,
    };
    p.rotation.county = Cycle {
        min_years: 1,
        max_years: 2,
    };
    p.hours.leading = CentralizedRule {
        hours: 500,
        days: 80,
        window: Window::CalendarYear,
    };
    p.hours.general = CentralizedRule {
        hours: 100,
        days: 14,
        window: Window::PlanPeriod,
    };
    p.hours.online = OnlineRule {
        hours: 40,
        window: Window::PlanPeriod,
    };
    p.plan_period = PlanPeriod {
        start_year: 2021,
        years: 4,
    };
    p.long_off_job_days = 45;
    assert!(p.validate().is_ok());
    assert_eq!(Policy::from_toml(&p.to_toml(), "p.toml").unwrap(), p);
}

#[test]
fn to_toml_is_commented_for_people() {
    let text = Policy::default().to_toml();
    for header in [
        "[rotation.national]",
        "[rotation.county]",
        "[hours.leading]",
        "[hours.general]",
        "[hours.online]",
        "[plan_period]",
    ] {
        assert!(text.contains(header), "missing {header}");
    }
    assert!(text.lines().filter(|l| l.starts_with('#')).count() >= 15);
    assert!(text.contains("window = \"plan_period\""));
}

#[test]
fn partial_file_overrides_only_what_it_names() {
    let p = Policy::from_toml(
        "long_off_job_days = 30\n\
         [rotation.province]\nmax_years = 4\n\
         [hours.general]\nwindow = \"plan_period\"\n",
        "p.toml",
    )
    .unwrap();
    let mut expected = Policy {
        long_off_job_days: 30,
        ..Policy::default()
    };
    // The province's own min_years (2) stays, not some generic default.
    expected.rotation.province.max_years = 4;
    expected.hours.general.window = Window::PlanPeriod;
    assert_eq!(p, expected);

    let p = Policy::from_toml("[hours.leading]\ndays = 60\n", "p.toml").unwrap();
    assert_eq!(p.hours.leading.hours, 550);
    assert_eq!(p.hours.leading.days, 60);
    assert_eq!(p.hours.leading.window, Window::PlanPeriod);
    assert_eq!(p.hours.general, HoursPolicy::default().general);

    let p = Policy::from_toml("[plan_period]\nstart_year = 2021\n", "p.toml").unwrap();
    assert_eq!(p.plan_period.years, 5);
    assert_eq!(p.plan_period.start_year, 2021);
}

#[test]
fn unknown_keys_are_errors_naming_file_line_and_field() {
    let e = err("[rotation.province]\nmin_years = 2\nmax_yeras = 4\n");
    assert!(e.starts_with("p.toml:3: "), "{e}");
    assert!(e.contains("rotation.province.max_yeras"), "{e}");
    assert!(e.contains("unknown field"), "{e}");

    let e = err("[rotaton.province]\nmax_years = 4\n");
    assert!(e.starts_with("p.toml:1: "), "{e}");
    assert!(e.contains("rotaton"), "{e}");

    let e = err("long_off_job = 60\n");
    assert!(e.contains("p.toml:1: long_off_job: unknown field"), "{e}");

    let e = err("[hours.online]\ndays = 3\n");
    assert!(e.contains("hours.online.days"), "{e}");

    let e = err("[rotation]\nprovince = 3\n");
    assert_eq!(
        e,
        "p.toml:2: rotation.province: invalid type: integer `3`, expected a table of min_years and max_years"
    );

    let e = err("[rotation]\nmunicipal = { min_years = 1 }\n");
    assert!(e.contains("rotation.municipal"), "{e}");
}

#[test]
fn wrong_types_are_errors_naming_the_field() {
    let e = err("[hours.leading]\nwindow = \"every_year\"\n");
    assert!(e.starts_with("p.toml:2: hours.leading.window: "), "{e}");
    let e = err("[plan_period]\nyears = \"five\"\n");
    assert!(e.starts_with("p.toml:2: plan_period.years: "), "{e}");
    let e = err("[rotation.county]\nmin_years = -1\n");
    assert!(e.contains("rotation.county.min_years"), "{e}");
    assert!(err("this is not toml").starts_with("p.toml:1: "));
    // One line, as the CLI prints it.
    assert!(!err("[plan_period]\nyears = \"five\"\n").contains('\n'));
}

#[test]
fn invalid_values_are_errors_naming_file_and_field() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "min above max",
            "[rotation.province]\nmin_years = 4\n",
            "p.toml: rotation.province.min_years 4 is greater than max_years 3",
        ),
        (
            "zero-year cycle",
            "[rotation.county]\nmin_years = 0\n",
            "p.toml: rotation.county.min_years 0 is not within 1..=10",
        ),
        (
            "eleven-year cycle",
            "[rotation.national]\nmax_years = 11\n",
            "p.toml: rotation.national.max_years 11 is not within 1..=10",
        ),
        (
            "plan period of zero years",
            "[plan_period]\nyears = 0\n",
            "p.toml: plan_period.years 0 is not within 1..=10",
        ),
        (
            "plan period of eleven years",
            "[plan_period]\nyears = 11\n",
            "p.toml: plan_period.years 11 is not within 1..=10",
        ),
        (
            "start year before 1950",
            "[plan_period]\nstart_year = 1949\n",
            "p.toml: plan_period.start_year 1949 is not within 1950..=2099",
        ),
        (
            "start year after 2099",
            "[plan_period]\nstart_year = 2100\n",
            "p.toml: plan_period.start_year 2100 is not within 1950..=2099",
        ),
        (
            "zero hours",
            "[hours.general]\nhours = 0\n",
            "p.toml: hours.general.hours must be greater than 0",
        ),
        (
            "zero days",
            "[hours.leading]\ndays = 0\n",
            "p.toml: hours.leading.days must be greater than 0",
        ),
        (
            "zero online hours",
            "[hours.online]\nhours = 0\n",
            "p.toml: hours.online.hours must be greater than 0",
        ),
        (
            "400 days in one calendar year",
            "[hours.general]\ndays = 400\n",
            "p.toml: hours.general.days 400 can never be reached in a calendar_year window (at most 366)",
        ),
        (
            "hours beyond 5 years of 24-hour days",
            "[hours.leading]\nhours = 50000\n",
            "p.toml: hours.leading.hours 50000 can never be reached in a plan_period window (at most 43920)",
        ),
        (
            "long off-job of zero days",
            "long_off_job_days = 0\n",
            "p.toml: long_off_job_days 0 is not within 1..=365",
        ),
        (
            "long off-job no class can exceed",
            "long_off_job_days = 366\n",
            "p.toml: long_off_job_days 366 is not within 1..=365",
        ),
    ];
    for (name, text, expected) in cases {
        assert_eq!(err(text), *expected, "case {name}");
    }
    // The same check without a file names the in-memory policy.
    let mut p = Policy::default();
    p.plan_period.years = 0;
    assert_eq!(
        p.validate().unwrap_err().to_string(),
        "policy: plan_period.years 0 is not within 1..=10"
    );
}
