//! The `lunxun-node` command line, driven as the external contract says:
//! real binary, real data dir, exit codes, one-line errors, JSON shape.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

mod support;
use support::*;

#[test]
fn county_walkthrough_and_reimport_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let data = county(tmp.path());
    let ex = examples();
    let roster = ok(
        &data,
        &["import", "roster", ex.join("roster.csv").to_str().unwrap()],
    );
    assert!(roster.contains("12 changes written"), "{roster}");
    ok(
        &data,
        &[
            "import",
            "trainings",
            ex.join("trainings.csv").to_str().unwrap(),
        ],
    );
    let seq = own_seq(&data);
    let again = ok(
        &data,
        &[
            "import",
            "trainings",
            ex.join("trainings.csv").to_str().unwrap(),
        ],
    );
    assert!(again.contains("0 changes written"), "{again}");
    let again = ok(
        &data,
        &["import", "roster", ex.join("roster.csv").to_str().unwrap()],
    );
    assert!(again.contains("0 changes written"), "{again}");
    assert_eq!(own_seq(&data), seq);
    // The English roster lists some of the same people, identically.
    ok(
        &data,
        &[
            "import",
            "roster",
            ex.join("roster-en.csv").to_str().unwrap(),
        ],
    );

    let json: Value = serde_json::from_str(&ok(
        &data,
        &["coverage", "--as-of", "2026-06-30", "--format", "json"],
    ))
    .unwrap();
    assert_eq!(json["as_of"], "2026-06-30");
    let n = &json["nodes"][0];
    assert_eq!(n["org"], "410102");
    assert_eq!(n["name"], "中原区");
    assert_eq!(n["level"], "county");
    assert_eq!(n["parent"], "410100");
    assert_eq!(n["reporting"], true);
    assert!(n["freshness"].as_str().unwrap().ends_with('Z'));
    let r = &n["rotation"];
    let sum = ["current", "due", "new", "overdue"]
        .iter()
        .map(|k| r[*k].as_u64().unwrap())
        .sum::<u64>();
    assert_eq!(r["roster"].as_u64().unwrap(), sum);
    assert_eq!(
        r["covered"].as_u64().unwrap(),
        r["current"].as_u64().unwrap() + r["due"].as_u64().unwrap()
    );
    assert_eq!(n["subtree"]["nodes"], 1);
    assert_eq!(n["subtree"]["expected"], 1);

    let table = ok(&data, &["coverage", "--as-of", "2026-06-30"]);
    assert!(
        table.contains("轮训覆盖率") && table.contains("rotation_rate"),
        "{table}"
    );
    let csv = ok(&data, &["coverage", "--format", "csv", "--lang", "zh"]);
    assert!(csv.starts_with("机构代码,名称"), "{csv}");
}

#[test]
fn a_bad_file_is_refused_whole_with_file_line_and_column() {
    let tmp = tempfile::tempdir().unwrap();
    let data = county(tmp.path());
    let file = tmp.path().join("roster.csv");
    let good = id("41010219800101001");
    std::fs::write(
        &file,
        format!(
            "身份证号,姓名,职级,列入日期\n{good},甲,乡科级及以下,2024-01-01\n410102198001010020,乙,乡科级及以下,2024-01-01\n{},丙,科长,2024-01-01\n",
            id("41010219800101003")
        ),
    )
    .unwrap();
    let out = node(&data, &["import", "roster", file.to_str().unwrap()]);
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert_eq!(out.stderr.lines().count(), 1, "one line: {}", out.stderr);
    assert!(
        out.stderr.contains("roster.csv:3: 身份证号"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("1 more bad row"), "{}", out.stderr);
    assert_eq!(own_seq(&data), 0, "nothing written");

    let check = node(
        &data,
        &["import", "roster", "--check", file.to_str().unwrap()],
    );
    assert_eq!(check.code, 3);
    assert!(
        check.stdout.contains("roster.csv:3: 身份证号"),
        "{}",
        check.stdout
    );
    assert!(
        check.stdout.contains("roster.csv:4: 职级"),
        "{}",
        check.stdout
    );
    // A full ID number never appears in an error.
    assert!(!check.stdout.contains(&id("41010219800101003")));
    assert_eq!(own_seq(&data), 0);
}

#[test]
fn xlsx_trainings_import() {
    let tmp = tempfile::tempdir().unwrap();
    let data = county(tmp.path());
    let person = id("41010219850505123");
    let roster = tmp.path().join("r.csv");
    std::fs::write(
        &roster,
        format!("person_id,name,rank,since\n{person},张三,general,2024-01-01\n"),
    )
    .unwrap();
    ok(&data, &["import", "roster", roster.to_str().unwrap()]);

    let file = tmp.path().join("t.xlsx");
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    let header = [
        "培训班编号",
        "培训班名称",
        "培训方式",
        "开始日期",
        "结束日期",
        "学时",
        "身份证号",
        "结果",
    ];
    for (c, h) in header.iter().enumerate() {
        sheet.write_string(0, c as u16, *h).unwrap();
    }
    let date_format = rust_xlsxwriter::Format::new().set_num_format("yyyy-mm-dd");
    let row = |sheet: &mut rust_xlsxwriter::Worksheet,
               r: u32,
               class: &str,
               mode: &str,
               start: (u16, u8, u8),
               end: (u16, u8, u8),
               hours: f64| {
        sheet.write_string(r, 0, class).unwrap();
        sheet.write_string(r, 1, "培训班").unwrap();
        sheet.write_string(r, 2, mode).unwrap();
        let s = rust_xlsxwriter::ExcelDateTime::from_ymd(start.0, start.1, start.2).unwrap();
        let e = rust_xlsxwriter::ExcelDateTime::from_ymd(end.0, end.1, end.2).unwrap();
        sheet
            .write_datetime_with_format(r, 3, &s, &date_format)
            .unwrap();
        sheet
            .write_datetime_with_format(r, 4, &e, &date_format)
            .unwrap();
        sheet.write_number(r, 5, hours).unwrap();
        sheet.write_string(r, 6, &person).unwrap();
        sheet.write_string(r, 7, "结业").unwrap();
    };
    row(
        sheet,
        1,
        "2026-01",
        "集中培训",
        (2026, 3, 2),
        (2026, 3, 13),
        96.0,
    );
    row(
        sheet,
        2,
        "2026-W",
        "网络自学",
        (2026, 1, 1),
        (2026, 5, 31),
        50.5,
    );
    book.save(&file).unwrap();
    let out = ok(&data, &["import", "trainings", file.to_str().unwrap()]);
    assert!(out.contains("4 changes written"), "{out}");

    let people: Value = serde_json::from_str(&ok(
        &data,
        &[
            "people",
            "--as-of",
            "2026-06-30",
            "--format",
            "json",
            "--show-ids",
        ],
    ))
    .unwrap();
    let p = &people["people"][0];
    assert_eq!(p["person_id"], person);
    assert_eq!(p["rotation"], "current");
    assert_eq!(p["last_trained"], "2026-03-13");
    // 96 hours and 12 days: general's centralized rule met; 50.5 online hours met.
    assert_eq!(p["hours"]["centralized"]["met"], true);
    assert_eq!(p["hours"]["online"]["hours"], 50.5);
    assert_eq!(p["compliant"], true);
}

#[test]
fn people_filters_and_masking() {
    let tmp = tempfile::tempdir().unwrap();
    let data = county(tmp.path());
    let ex = examples();
    ok(
        &data,
        &["import", "roster", ex.join("roster.csv").to_str().unwrap()],
    );
    ok(
        &data,
        &[
            "import",
            "trainings",
            ex.join("trainings.csv").to_str().unwrap(),
        ],
    );
    let all: Value = serde_json::from_str(&ok(
        &data,
        &["people", "--as-of", "2026-06-30", "--format", "json"],
    ))
    .unwrap();
    let all = all["people"].as_array().unwrap().clone();
    assert!(!all.is_empty());
    for p in &all {
        let pid = p["person_id"].as_str().unwrap();
        assert!(pid.contains("********"), "masked by default: {pid}");
    }
    let overdue: Value = serde_json::from_str(&ok(
        &data,
        &[
            "people",
            "--as-of",
            "2026-06-30",
            "--format",
            "json",
            "--status",
            "overdue",
        ],
    ))
    .unwrap();
    let overdue = overdue["people"].as_array().unwrap();
    assert_eq!(
        overdue.len(),
        all.iter().filter(|p| p["rotation"] == "overdue").count()
    );
    let grassroots: Value = serde_json::from_str(&ok(
        &data,
        &[
            "people",
            "--as-of",
            "2026-06-30",
            "--format",
            "json",
            "--rank",
            "grassroots,leading",
        ],
    ))
    .unwrap();
    for p in grassroots["people"].as_array().unwrap() {
        assert!(p["rank"] == "grassroots" || p["rank"] == "leading");
        if p["rank"] == "grassroots" {
            assert_eq!(p["compliant"], Value::Null, "no hour rule for grassroots");
        }
    }
    let table = ok(&data, &["people", "--as-of", "2026-06-30"]);
    assert!(table.contains("身份证号") && table.contains("person_id"));
}

#[test]
fn policy_overrides_change_the_figures() {
    let tmp = tempfile::tempdir().unwrap();
    let data = county(tmp.path());
    let ex = examples();
    ok(
        &data,
        &["import", "roster", ex.join("roster.csv").to_str().unwrap()],
    );
    ok(
        &data,
        &[
            "import",
            "trainings",
            ex.join("trainings.csv").to_str().unwrap(),
        ],
    );
    let rate = |data: &Path| -> Value {
        let json: Value = serde_json::from_str(&ok(
            data,
            &["coverage", "--as-of", "2026-06-30", "--format", "json"],
        ))
        .unwrap();
        json["nodes"][0]["rotation"].clone()
    };
    let before = rate(&data);
    let shown = ok(&data, &["policy", "show"]);
    assert!(shown.contains("the defaults"), "{shown}");
    std::fs::write(
        data.join("policy.toml"),
        "[rotation.county]\nmin_years = 2\nmax_years = 3\n",
    )
    .unwrap();
    let shown = ok(&data, &["policy", "show"]);
    assert!(shown.contains("overridden"), "{shown}");
    let after = rate(&data);
    assert!(
        after["covered"].as_u64().unwrap() > before["covered"].as_u64().unwrap(),
        "a longer county cycle covers more: {before} vs {after}"
    );
    std::fs::write(
        data.join("policy.toml"),
        "[rotation.county]\nmin_years = 3\nmax_years = 2\n",
    )
    .unwrap();
    let out = node(&data, &["coverage"]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("policy.toml") && out.stderr.contains("min_years"),
        "{}",
        out.stderr
    );
}

#[test]
fn usage_and_state_errors_have_exit_codes() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = node(&tmp.path().join("nothing"), &["coverage"]);
    assert_eq!(missing.code, 1);
    assert!(
        missing.stderr.contains("not a lunxun data dir"),
        "{}",
        missing.stderr
    );
    let bad_org = node(&tmp.path().join("x"), &["init", "--org", "999999"]);
    assert_eq!(bad_org.code, 3, "{}", bad_org.stderr);
    let data = county(tmp.path());
    let again = node(&data, &["init", "--org", "410102"]);
    assert_eq!(again.code, 1);
    assert!(
        again.stderr.contains("already holds node 410102"),
        "{}",
        again.stderr
    );
    let unknown = node(&data, &["coverage", "--org", "999999"]);
    assert_eq!(unknown.code, 3);
    let date = node(&data, &["coverage", "--as-of", "2026-02-30"]);
    assert_eq!(date.code, 2);
    let usage = node(&data, &["coverage", "--format", "yaml"]);
    assert_eq!(usage.code, 2);
    let help = ok(&data, &["--help"]);
    assert!(help.contains("Exit codes"), "{help}");
}

/// Waits (bounded) until a `serve` on `data` has opened its admin socket.
fn wait_for_daemon(data: &Path) {
    let socket = data.join("admin.sock");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !socket.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "serve never opened its admin socket"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Runs `lunxun-node` with its address space capped at `bytes`, so a file
/// that makes it allocate without bound fails this test instead of waking the
/// machine's OOM killer.
fn node_capped(data: &Path, bytes: u64, args: &[&str]) -> Out {
    let mut prlimit = Command::new("prlimit");
    prlimit
        .arg(format!("--as={bytes}"))
        .arg(env!("CARGO_BIN_EXE_lunxun-node"));
    run(prlimit, data, args)
}

/// A workbook whose parts are those of `base` plus `extra` (name, bytes),
/// every part deflated.
fn repack(base: &Path, extra: (&str, &[u8]), out: &Path) {
    use std::io::{Read, Write};
    let mut zip = zip::ZipArchive::new(std::fs::File::open(base).unwrap()).unwrap();
    let mut writer = zip::ZipWriter::new(std::fs::File::create(out).unwrap());
    let deflated = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(true);
    for i in 0..zip.len() {
        let mut part = zip.by_index(i).unwrap();
        let name = part.name().unwrap().to_string();
        if name == extra.0 {
            continue;
        }
        let mut bytes = Vec::new();
        part.read_to_end(&mut bytes).unwrap();
        writer.start_file(name, deflated).unwrap();
        writer.write_all(&bytes).unwrap();
    }
    writer.start_file(extra.0, deflated).unwrap();
    writer.write_all(extra.1).unwrap();
    writer.finish().unwrap();
}

#[test]
fn workbook_bombs_are_refused_in_one_line_within_bounded_memory() {
    const CAP_BYTES: u64 = 1 << 30;
    let tmp = tempfile::tempdir().unwrap();
    let data = county(tmp.path());
    ok(
        &data,
        &[
            "import",
            "roster",
            examples().join("roster.csv").to_str().unwrap(),
        ],
    );
    let before = own_seq(&data);

    // Two cells, A1 and XFD1048576: a dense reader would ask for 17 billion cells.
    let grid = tmp.path().join("grid.xlsx");
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    sheet.write_string(0, 0, "身份证号").unwrap();
    sheet.write_string(1_048_575, 16_383, "x").unwrap();
    book.save(&grid).unwrap();
    assert!(std::fs::metadata(&grid).unwrap().len() < 16 * 1024);
    let out = node_capped(
        &data,
        CAP_BYTES,
        &["import", "roster", grid.to_str().unwrap()],
    );
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);
    assert!(out.stderr.contains("grid.xlsx"), "{}", out.stderr);
    assert!(out.stderr.contains("XFD1048576"), "{}", out.stderr);

    // Shared strings that deflate from 300 MiB of one byte to a few hundred KB.
    let strings = tmp.path().join("strings.xlsx");
    let mut book = rust_xlsxwriter::Workbook::new();
    book.add_worksheet().write_string(0, 0, "身份证号").unwrap();
    let small = tmp.path().join("small.xlsx");
    book.save(&small).unwrap();
    let mut xml = b"<?xml version=\"1.0\"?><sst xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\">".to_vec();
    xml.resize(300 << 20, b' ');
    xml.extend_from_slice(b"</sst>");
    repack(&small, ("xl/sharedStrings.xml", &xml), &strings);
    drop(xml);
    assert!(std::fs::metadata(&strings).unwrap().len() < 2 << 20);
    let out = node_capped(
        &data,
        CAP_BYTES,
        &["import", "roster", strings.to_str().unwrap()],
    );
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);
    assert!(out.stderr.contains("sharedStrings.xml"), "{}", out.stderr);

    // Nothing was written, and a good file still imports.
    assert_eq!(own_seq(&data), before);
    let out = node_capped(
        &data,
        CAP_BYTES,
        &[
            "import",
            "trainings",
            examples().join("trainings.csv").to_str().unwrap(),
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
}

#[test]
fn import_errors_never_carry_a_full_id_number() {
    let tmp = tempfile::tempdir().unwrap();
    let data = county(tmp.path());
    let person = id("41010219800101001");
    let file = tmp.path().join("roster.csv");
    // The ID pasted into the since column by mistake.
    std::fs::write(
        &file,
        format!("person_id,name,rank,since\n{person},张三,general,{person}\n"),
    )
    .unwrap();
    let out = node(&data, &["import", "roster", file.to_str().unwrap()]);
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(out.stderr.contains("since"), "{}", out.stderr);
    assert!(!out.stderr.contains(&person), "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!("{}********", &person[..6])),
        "{}",
        out.stderr
    );
}

#[test]
fn the_data_dir_and_its_files_are_the_owners_only() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let open_to_others = |dir: &Path| -> Vec<String> {
        let mut found = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(p) = stack.pop() {
            let m = std::fs::symlink_metadata(&p).unwrap();
            if m.permissions().mode() & 0o077 != 0 && !m.file_type().is_symlink() {
                found.push(format!(
                    "{} {:o}",
                    p.display(),
                    m.permissions().mode() & 0o777
                ));
            }
            if m.is_dir() {
                stack.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
            }
        }
        found
    };
    let tmp = tempfile::tempdir().unwrap();
    let data = county(tmp.path());
    ok(
        &data,
        &[
            "import",
            "roster",
            examples().join("roster.csv").to_str().unwrap(),
        ],
    );
    assert_eq!(mode(&data), 0o700);
    assert_eq!(open_to_others(&data), Vec::<String>::new());

    // A data dir made by an older version, open to every local user: the next
    // command tightens it and says so once.
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(
        data.join("config.toml"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let out = node(&data, &["status"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("readable by other local users"),
        "{}",
        out.stderr
    );
    assert_eq!(open_to_others(&data), Vec::<String>::new());
    let out = node(&data, &["status"]);
    assert!(!out.stderr.contains("readable by other"), "{}", out.stderr);
}

#[test]
fn today_is_the_bureaus_day_whatever_the_hosts_zone() {
    use chrono_tz::Tz;
    let day_in = |zone: Tz| {
        chrono::Utc::now()
            .with_timezone(&zone)
            .date_naive()
            .to_string()
    };
    let as_of_with_host_tz = |data: &Path, host_tz: &str| -> String {
        let out = Command::new(env!("CARGO_BIN_EXE_lunxun-node"))
            .arg("--data")
            .arg(data)
            .args(["coverage", "--depth", "0", "--format", "json"])
            .env("TZ", host_tz)
            .env_remove("RUST_LOG")
            .output()
            .expect("run lunxun-node");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let json: Value = serde_json::from_slice(&out.stdout).unwrap();
        json["as_of"].as_str().unwrap().to_owned()
    };
    let tmp = tempfile::tempdir().unwrap();
    let data = county(tmp.path());
    // Hosts at UTC-12 and UTC+14 disagree on the date for most of every day;
    // the bureau's day is Beijing's either way.
    for host in ["Etc/GMT+12", "Etc/GMT-14", "UTC"] {
        let before = day_in(chrono_tz::Asia::Shanghai);
        let got = as_of_with_host_tz(&data, host);
        let after = day_in(chrono_tz::Asia::Shanghai);
        assert!(
            got == before || got == after,
            "host {host}: as_of {got}, Beijing {before}"
        );
    }
    // A bureau whose config names another zone gets that zone's day.
    let config = data.join("config.toml");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.insert_str(0, "time_zone = \"Etc/GMT+12\"\n");
    std::fs::write(&config, text).unwrap();
    let zone: Tz = "Etc/GMT+12".parse().unwrap();
    let before = day_in(zone);
    let got = as_of_with_host_tz(&data, "Asia/Shanghai");
    assert!(
        got == before || got == day_in(zone),
        "as_of {got}, zone day {before}"
    );
    // A zone that does not exist is refused, naming the field.
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("Etc/GMT+12", "Mars/Olympus");
    std::fs::write(&config, text).unwrap();
    let out = node(&data, &["status"]);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("time_zone"), "{}", out.stderr);
}

#[test]
fn a_command_through_the_daemon_writes_where_its_client_stands() {
    let tmp = tempfile::tempdir().unwrap();
    let data = county(tmp.path());
    ok(
        &data,
        &[
            "import",
            "roster",
            examples().join("roster.csv").to_str().unwrap(),
        ],
    );
    let daemon_cwd = tmp.path().join("daemon-cwd");
    let client_cwd = tmp.path().join("client-cwd");
    std::fs::create_dir_all(&daemon_cwd).unwrap();
    std::fs::create_dir_all(&client_cwd).unwrap();
    let mut daemon = Command::new(env!("CARGO_BIN_EXE_lunxun-node"))
        .arg("--data")
        .arg(&data)
        .arg("serve")
        .current_dir(&daemon_cwd)
        .env_remove("RUST_LOG")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start serve");
    wait_for_daemon(&data);
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_lunxun-node"))
            .arg("--data")
            .arg(&data)
            .args(args)
            .current_dir(&client_cwd)
            .env_remove("RUST_LOG")
            .output()
            .expect("run lunxun-node")
    };
    let lists = run(&[
        "lists",
        "--year",
        "2025",
        "--format",
        "csv",
        "--out",
        "lists.csv",
    ]);
    let report = run(&["report", "--format", "csv", "--out", "report.csv"]);
    let archive = run(&[
        "person",
        "41010219710512105X",
        "--format",
        "xlsx",
        "--out",
        "archive.xlsx",
    ]);
    let _ = daemon.kill();
    let _ = daemon.wait();
    for (out, file) in [
        (lists, "lists.csv"),
        (report, "report.csv"),
        (archive, "archive.xlsx"),
    ] {
        assert!(
            out.status.success(),
            "{file}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            client_cwd.join(file).exists(),
            "{file} is not in the client's directory"
        );
        assert!(
            !daemon_cwd.join(file).exists(),
            "{file} went to the daemon's directory"
        );
    }
}

#[test]
fn a_store_that_lost_own_changes_refuses_writes_and_names_restore() {
    let tmp = tempfile::tempdir().unwrap();
    let data = county(tmp.path());
    ok(
        &data,
        &[
            "import",
            "roster",
            examples().join("roster.csv").to_str().unwrap(),
        ],
    );
    assert_eq!(own_seq(&data), 12);
    // The store file cut short (a disk fault, a bad copy): sled reads what is
    // left as a torn tail, so the store alone cannot tell.
    let store = data.join("store");
    let db = store.join("db");
    std::fs::OpenOptions::new()
        .write(true)
        .open(&db)
        .unwrap()
        .set_len(100)
        .unwrap();
    for entry in std::fs::read_dir(&store).unwrap() {
        let path = entry.unwrap().path();
        if path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("snap.")
        {
            std::fs::remove_file(path).unwrap();
        }
    }
    assert!(own_seq(&data) < 12);
    let out = node(
        &data,
        &[
            "import",
            "trainings",
            examples().join("trainings.csv").to_str().unwrap(),
        ],
    );
    assert_ne!(
        out.code, 0,
        "a write on a store that lost changes: {}",
        out.stdout
    );
    let error = out.stderr.lines().last().unwrap_or_default();
    assert!(error.contains("restore --from-upstream"), "{}", out.stderr);
    assert!(error.contains("seq 12"), "{}", out.stderr);
    // It stays refused at every open, not just the first.
    let out = node(
        &data,
        &[
            "import",
            "roster",
            examples().join("roster.csv").to_str().unwrap(),
        ],
    );
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("restore --from-upstream"),
        "{}",
        out.stderr
    );
}

#[test]
fn no_full_id_number_reaches_a_log_or_an_error_even_at_debug() {
    let tmp = tempfile::tempdir().unwrap();
    let data = county(tmp.path());
    let roster = examples().join("roster.csv");
    let ids: Vec<String> = std::fs::read_to_string(&roster)
        .unwrap()
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').next().map(str::to_owned))
        .filter(|id| id.len() == 18)
        .collect();
    assert!(ids.len() >= 10, "{ids:?}");
    let log = tmp.path().join("daemon.log");
    let mut daemon = Command::new(env!("CARGO_BIN_EXE_lunxun-node"))
        .arg("--data")
        .arg(&data)
        .arg("serve")
        .env("RUST_LOG", "debug")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("start serve");
    wait_for_daemon(&data);
    let debug = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_lunxun-node"))
            .arg("--data")
            .arg(&data)
            .args(args)
            .env("RUST_LOG", "debug")
            .output()
            .expect("run lunxun-node");
        format!(
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };
    let mut seen = String::new();
    seen += &debug(&["import", "roster", roster.to_str().unwrap()]);
    seen += &debug(&[
        "import",
        "trainings",
        examples().join("trainings.csv").to_str().unwrap(),
    ]);
    // A bad file whose bad cells are ID numbers.
    let bad = tmp.path().join("bad.csv");
    std::fs::write(
        &bad,
        format!(
            "person_id,name,rank,since\n{0},张三,general,{0}\n{1}X,李四,general,2024-01-01\n",
            ids[0],
            &ids[1][..17]
        ),
    )
    .unwrap();
    seen += &debug(&["import", "roster", bad.to_str().unwrap()]);
    for id in &ids[..3] {
        seen += &debug(&["person", id]);
    }
    seen += &debug(&["people", "--format", "json"]);
    let _ = daemon.kill();
    let _ = daemon.wait();
    // What a person sees on stdout masks IDs unless asked; logs and errors always do.
    let logs = std::fs::read_to_string(&log).unwrap();
    assert!(
        logs.contains("admin command"),
        "the daemon logged nothing at debug: {logs}"
    );
    for id in &ids {
        assert!(
            !logs.contains(id.as_str()),
            "the daemon's log holds {id}:\n{logs}"
        );
        assert!(
            !seen.contains(id.as_str()),
            "a command's output holds {id}:\n{seen}"
        );
    }
}

/// Runs `args` with `input` on stdin.
fn node_with_input(data: &Path, args: &[&str], input: &[u8]) -> Out {
    use std::io::Write as _;
    let mut child = Command::new(env!("CARGO_BIN_EXE_lunxun-node"))
        .arg("--data")
        .arg(data)
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run lunxun-node");
    let mut stdin = child.stdin.take().unwrap();
    let _ = stdin.write_all(input);
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn accounts_are_managed_on_the_command_line_and_audited() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    ok(&data, &["init", "--org", "410100"]);
    let add = |name: &str, org: &str, input: &[u8]| {
        node_with_input(
            &data,
            &["user", "add", name, "--org", org, "--password-stdin"],
            input,
        )
    };
    let out = add("wang.wu", "410102", b"a good long password\n");
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout
            .contains("account wang.wu added: viewer of 410102 中原区")
    );
    for (name, org, input, code, want) in [
        ("li", "410102", &b"short\n"[..], 3, "at least 10 characters"),
        (
            "li",
            "420100",
            b"a good long password\n",
            3,
            "not in this node's subtree",
        ),
        (
            "li si",
            "410102",
            b"a good long password\n",
            3,
            "account name",
        ),
        (
            "wang.wu",
            "410102",
            b"a good long password\n",
            3,
            "already exists",
        ),
        ("li", "410102", &[b'x'; 5000][..], 2, "more than"),
        ("li", "410102", b"\xff\xfe long password\n", 3, "not UTF-8"),
    ] {
        let out = add(name, org, input);
        assert_eq!(out.code, code, "{name} {org}: {}", out.stderr);
        assert!(out.stderr.contains(want), "{name} {org}: {}", out.stderr);
        assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    }
    // The password never goes on the command line.
    let out = node(&data, &["user", "add", "li", "--org", "410102"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    let list = ok(&data, &["user", "list"]);
    assert!(list.contains("wang.wu") && list.contains("中原区") && list.contains("viewer"));
    assert!(!list.contains("argon2") && !list.contains("password"));
    // The store holds a hash, not the password.
    let store = std::fs::read_dir(&data)
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_file())
        .map(|e| std::fs::read(e.path()).unwrap_or_default())
        .chain(walk_files(&data))
        .any(|bytes| bytes.windows(20).any(|w| w == b"a good long password"));
    assert!(!store, "the password is stored in clear");

    let out = node(&data, &["user", "remove", "nobody"]);
    assert_eq!(out.code, 3, "{}", out.stderr);
    ok(&data, &["user", "remove", "wang.wu"]);
    // The command line's person lookups and exports are audited too.
    let _ = node(&data, &["person", "410102198001010018"]);
    ok(&data, &["report", "--format", "csv"]);
    let audit: Value = serde_json::from_str(&ok(&data, &["audit", "--format", "json"])).unwrap();
    let actions: Vec<&str> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["account_added", "account_removed", "person", "export"],
        "{audit}"
    );
    let table = ok(&data, &["audit"]);
    assert!(table.contains("账号") && table.contains("account_removed") && table.contains("cli"));
    // --since is a day in the bureau's zone: tomorrow holds nothing.
    let tomorrow = (chrono::Utc::now() + chrono::Duration::days(2)).date_naive();
    let later: Value = serde_json::from_str(&ok(
        &data,
        &[
            "audit",
            "--since",
            &tomorrow.to_string(),
            "--format",
            "json",
        ],
    ))
    .unwrap();
    assert_eq!(later["events"].as_array().unwrap().len(), 0);
    let out = node(&data, &["audit", "--since", "2026-02-30"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
}

/// The contents of every file under `dir`.
fn walk_files(dir: &Path) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk_files(&path));
        } else {
            out.push(std::fs::read(&path).unwrap_or_default());
        }
    }
    out
}

/// The county's coverage as JSON, the freshness stripped (it differs between
/// two nodes holding the same records).
fn figures(data: &Path) -> Value {
    let mut v: Value = serde_json::from_str(&ok(
        data,
        &["coverage", "--as-of", "2026-06-30", "--format", "json"],
    ))
    .unwrap();
    for n in v["nodes"].as_array_mut().unwrap() {
        n.as_object_mut().unwrap().remove("freshness");
    }
    v
}

/// `lines` of `file` without the data rows for which `drop` holds.
fn without(file: &Path, out: &Path, drop: impl Fn(usize, &str) -> bool) {
    let text = std::fs::read_to_string(file).unwrap();
    let kept: Vec<&str> = text
        .lines()
        .enumerate()
        .filter(|(i, l)| *i == 0 || !drop(*i, l))
        .map(|(_, l)| l)
        .collect();
    std::fs::write(out, kept.join("\n") + "\n").unwrap();
}

/// The figures of a fresh county node given only `roster` and `trainings`.
fn fresh_figures(data: &Path, roster: &Path, trainings: &Path) -> Value {
    ok(data, &["init", "--org", "410102"]);
    ok(data, &["import", "roster", roster.to_str().unwrap()]);
    ok(data, &["import", "trainings", trainings.to_str().unwrap()]);
    figures(data)
}

#[test]
fn replace_and_delete_correct_records_and_the_figures_follow() {
    let tmp = tempfile::tempdir().unwrap();
    let data = county(tmp.path());
    let ex = examples();
    let roster = ex.join("roster.csv");
    let trainings = ex.join("trainings.csv");
    ok(&data, &["import", "roster", roster.to_str().unwrap()]);
    ok(&data, &["import", "trainings", trainings.to_str().unwrap()]);

    // The clerk fixes the files: one person never attended ZY2024-01, and one
    // roster entry was a mistake.
    let text = std::fs::read_to_string(&trainings).unwrap();
    let wrong_attendance = text.lines().nth(2).unwrap().to_owned();
    assert!(wrong_attendance.starts_with("ZY2024-01,"));
    let fixed_trainings = tmp.path().join("trainings-fixed.csv");
    without(&trainings, &fixed_trainings, |i, _| i == 2);
    let fixed_roster = tmp.path().join("roster-fixed.csv");
    without(&roster, &fixed_roster, |i, _| i == 4);

    // Without --replace nothing is removed, and the import says so.
    let out = ok(
        &data,
        &["import", "trainings", fixed_trainings.to_str().unwrap()],
    );
    assert!(out.contains("0 changes written"), "{out}");
    assert!(
        out.contains("note: 1 attendance records of this file's classes are not in the file"),
        "{out}"
    );
    let before = figures(&data);
    let out = ok(
        &data,
        &[
            "import",
            "trainings",
            fixed_trainings.to_str().unwrap(),
            "--replace",
        ],
    );
    assert!(
        out.contains("1 changes written, 1 removed as not in the file"),
        "{out}"
    );
    let out = ok(
        &data,
        &[
            "import",
            "roster",
            fixed_roster.to_str().unwrap(),
            "--replace",
        ],
    );
    assert!(out.contains("1 removed as not in the file"), "{out}");
    assert_ne!(figures(&data), before, "the figures follow the correction");
    // Replacing again changes nothing.
    let out = ok(
        &data,
        &[
            "import",
            "roster",
            fixed_roster.to_str().unwrap(),
            "--replace",
        ],
    );
    assert!(out.contains("0 changes written"), "{out}");

    // The same as a fresh node importing the corrected files.
    assert_eq!(
        figures(&data),
        fresh_figures(&tmp.path().join("fresh"), &fixed_roster, &fixed_trainings)
    );

    // Deletions: an attendance, a whole class, a roster entry; each once.
    let fields: Vec<&str> = text.lines().nth(1).unwrap().split(',').collect();
    let (class_id, person) = (fields[0], fields[6]);
    let out = ok(&data, &["delete", "attendance", class_id, person]);
    assert!(out.contains("1 changes written"), "{out}");
    assert!(!out.contains(person), "the ID is masked: {out}");
    let out = node(&data, &["delete", "attendance", class_id, person]);
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(out.stderr.contains("nothing deleted"), "{}", out.stderr);
    let last_class = text
        .lines()
        .last()
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .to_owned();
    let out = ok(&data, &["delete", "class", &last_class]);
    assert!(
        out.contains(&format!("deleted class {last_class}")),
        "{out}"
    );
    let roster_text = std::fs::read_to_string(&fixed_roster).unwrap();
    let someone = roster_text
        .lines()
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .to_owned();
    ok(&data, &["delete", "roster", &someone]);
    let out = node(&data, &["delete", "class", "NO-SUCH-CLASS"]);
    assert_eq!(out.code, 3, "{}", out.stderr);
    let out = node(&data, &["delete", "roster", "410102"]);
    assert_eq!(out.code, 2, "{}", out.stderr);

    // Again equal to a fresh import of the files as they now stand.
    let final_trainings = tmp.path().join("trainings-final.csv");
    without(&fixed_trainings, &final_trainings, |_, l| {
        l.starts_with(&format!("{last_class},"))
            || (l.starts_with(&format!("{class_id},")) && l.contains(person))
    });
    let final_roster = tmp.path().join("roster-final.csv");
    without(&fixed_roster, &final_roster, |_, l| l.starts_with(&someone));
    assert_eq!(
        figures(&data),
        fresh_figures(&tmp.path().join("fresh2"), &final_roster, &final_trainings)
    );
    // And the same after a restart (the deletions are in the log).
    let status: Value = serde_json::from_str(&ok(&data, &["status", "--format", "json"])).unwrap();
    assert!(status["own_seq"].as_u64().unwrap() > 0);
}

#[test]
fn undo_reverts_an_import_but_keeps_later_edits_and_history_shows_every_version() {
    let tmp = tempfile::tempdir().unwrap();
    let data = county(tmp.path());
    let ex = examples();
    let roster = ex.join("roster.csv");
    let trainings = ex.join("trainings.csv");
    ok(&data, &["import", "roster", roster.to_str().unwrap()]);
    ok(&data, &["import", "trainings", trainings.to_str().unwrap()]);
    let clean = figures(&data);

    // A wrong file: every roster entry gets another employer, and someone new.
    let text = std::fs::read_to_string(&roster).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    for line in lines.iter_mut().skip(1) {
        let mut cells: Vec<String> = line.split(',').map(str::to_owned).collect();
        cells[4] = "错误的单位".into();
        *line = cells.join(",");
    }
    let newcomer = id("41010219950505123");
    lines.push(format!(
        "{newcomer},新人,乡科级及以下,2025-01-01,某单位,科员,县级信访部门干部,"
    ));
    let wrong = tmp.path().join("roster-wrong.csv");
    std::fs::write(&wrong, lines.join("\n") + "\n").unwrap();
    let out = ok(&data, &["import", "roster", wrong.to_str().unwrap()]);
    assert!(out.contains("import 3"), "{out}");
    // Later, one of those entries is corrected again by another file.
    let first = text.lines().nth(1).unwrap().to_owned();
    let kept_id = first.split(',').next().unwrap().to_owned();
    let mut cells: Vec<&str> = first.split(',').collect();
    cells[4] = "后来改正的单位";
    let later = tmp.path().join("roster-later.csv");
    std::fs::write(
        &later,
        format!("{}\n{}\n", text.lines().next().unwrap(), cells.join(",")),
    )
    .unwrap();
    ok(&data, &["import", "roster", later.to_str().unwrap()]);

    let imports: Value =
        serde_json::from_str(&ok(&data, &["imports", "--format", "json"])).unwrap();
    let list = imports["imports"].as_array().unwrap();
    assert_eq!(list.len(), 4);
    assert_eq!(list[2]["id"], 3);
    assert_eq!(list[2]["rows"], 13);
    assert_eq!(list[2]["written"], 13);
    assert_eq!(list[2]["hash"].as_str().unwrap().len(), 32);
    assert!(
        list[2]["file"]
            .as_str()
            .unwrap()
            .ends_with("roster-wrong.csv")
    );

    let out = ok(&data, &["undo", "3"]);
    assert!(
        out.contains("undid import 3: 12 changes written (1 removed)"),
        "{out}"
    );
    assert!(
        out.contains("left as they are, since a later change replaced them (1)"),
        "{out}"
    );
    assert!(!out.contains(&kept_id), "IDs masked: {out}");
    // Everything is back but the later edit.
    let people: Value = serde_json::from_str(&ok(&data, &["people", "--format", "json"])).unwrap();
    let text_people = people.to_string();
    assert!(!text_people.contains("错误的单位"), "{text_people}");
    assert!(text_people.contains("后来改正的单位"));
    assert!(
        !text_people.contains("新人"),
        "the newcomer the import created is gone"
    );
    // Undoing the undo brings the wrong file back, except the later edit.
    let out = ok(&data, &["undo", "5"]);
    assert!(out.contains("undid import 5"), "{out}");
    ok(&data, &["undo", "6"]);
    ok(&data, &["import", "roster", roster.to_str().unwrap()]);
    assert_eq!(figures(&data), clean);
    let out = node(&data, &["undo", "99"]);
    assert_eq!(out.code, 3, "{}", out.stderr);

    // The kept person's history: every version, with the import that wrote it.
    let history: Value = serde_json::from_str(&ok(
        &data,
        &["history", "person", &kept_id, "--format", "json"],
    ))
    .unwrap();
    let versions = history["versions"].as_array().unwrap();
    let imports_of: Vec<u64> = versions
        .iter()
        .filter(|v| v["record"] == "roster")
        .filter_map(|v| v["import"].as_u64())
        .collect();
    assert_eq!(imports_of[..3], [1, 3, 4], "{history}");
    assert!(versions.iter().any(|v| v["record"] == "attendance"));
    assert!(
        !history.to_string().contains(&kept_id),
        "masked in history too"
    );
    let class_id = trainings_first_class();
    let table = ok(&data, &["history", "class", &class_id]);
    assert!(
        table.contains("记录") && table.contains("class") && table.contains("attendance"),
        "{table}"
    );
}

fn trainings_first_class() -> String {
    let text = std::fs::read_to_string(examples().join("trainings.csv")).unwrap();
    text.lines()
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .to_owned()
}

/// Every non-empty cell of the first sheet of an XLSX file, row by row, as text.
fn xlsx_rows(file: &Path) -> Vec<Vec<String>> {
    use calamine::{Reader, Xlsx};
    let mut book: Xlsx<_> = calamine::open_workbook(file).expect("an XLSX");
    let sheet = book.sheet_names()[0].clone();
    let range = book.worksheet_range(&sheet).unwrap();
    range
        .rows()
        .map(|row| {
            row.iter()
                .map(|c| c.to_string())
                .filter(|c| !c.is_empty())
                .collect()
        })
        .collect()
}

#[test]
fn the_training_archive_lists_every_year_with_trainings_totals_and_consequences() {
    let tmp = tempfile::tempdir().unwrap();
    let data = county(tmp.path());
    let p = id("41010219860714318");
    let other = id("41010219900930385");
    let roster = tmp.path().join("roster.csv");
    std::fs::write(
        &roster,
        format!(
            "person_id,name,rank,since,employer,position,group,until\n\
             {p},陈静,general,2023-03-15,郑州市中原区信访局,接访科科长,县级信访部门干部,\n\
             {other},刘洋,general,2023-03-15,郑州市中原区信访局,科员,县级信访部门干部,\n"
        ),
    )
    .unwrap();
    let trainings = tmp.path().join("trainings.csv");
    std::fs::write(
        &trainings,
        format!(
            "class_id,title,mode,start,end,hours,person_id,result,off_job,days,name\n\
             ZY2024-01,2024年集中轮训班,centralized,2024-04-15,2024-04-19,40,{p},completed,yes,5,陈静\n\
             ZY2024-09,2024年脱产进修班,centralized,2024-09-01,2024-11-09,300,{p},completed,yes,,陈静\n\
             ZY2024-W,2024年网络学习,online,2024-01-01,2024-11-30,30,{p},completed,no,,陈静\n\
             ZY2025-01,2025年集中轮训班,centralized,2025-03-10,2025-03-12,24,{p},failed,yes,,陈静\n\
             ZY2025-02,2025年专题培训,centralized,2025-05-06,2025-05-06,8,{p},absent_unjustified,no,,陈静\n\
             ZY2025-02,2025年专题培训,centralized,2025-05-06,2025-05-06,8,{other},completed,no,,刘洋\n\
             ZY2026-08,2026年集中轮训班,centralized,2026-08-01,2026-08-03,24,{p},completed,yes,,陈静\n"
        ),
    )
    .unwrap();
    ok(&data, &["import", "roster", roster.to_str().unwrap()]);
    ok(&data, &["import", "trainings", trainings.to_str().unwrap()]);

    // An xlsx needs a file, and --out needs the xlsx.
    let out = node(&data, &["person", &p, "--format", "xlsx"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    let out = node(&data, &["person", &p, "--out", "x.xlsx"]);
    assert_eq!(out.code, 2, "{}", out.stderr);

    // Named after the number: the file holds it, no message does.
    let file = tmp.path().join(format!("{p}.xlsx"));
    let out = node(
        &data,
        &[
            "person",
            &p,
            "--as-of",
            "2026-06-30",
            "--format",
            "xlsx",
            "--out",
            file.to_str().unwrap(),
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        !out.stdout.contains(&p) && !out.stderr.contains(&p),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("4 years, 5 trainings"),
        "{}",
        out.stdout
    );
    let rows = xlsx_rows(&file);
    let find = |text: &str| {
        rows.iter()
            .position(|r| r.iter().any(|c| c == text))
            .unwrap_or_else(|| panic!("no cell {text:?} in {rows:?}"))
    };
    let value = |label: &str| rows[find(label)][1].clone();
    assert_eq!(value("姓名 Name"), "陈静");
    assert_eq!(value("身份证号 ID number"), p);
    assert_eq!(value("统计日期 As of"), "2026-06-30");
    assert_eq!(value("制表单位 Prepared by"), "中原区");
    // One block per year, in order, from the roster's first year.
    let years: Vec<usize> = (2023..=2026)
        .map(|y| find(&format!("{y}年 year {y}")))
        .collect();
    assert!(years.windows(2).all(|w| w[0] < w[1]), "{years:?}");
    assert!(!rows.iter().flatten().any(|c| c == "2022年 year 2022"));
    let block = |y: usize| {
        let i = (2023..=2026).position(|x| x == y).unwrap();
        let end = years.get(i + 1).copied().unwrap_or(rows.len());
        &rows[years[i]..end]
    };
    let has = |rows: &[Vec<String>], text: &str| rows.iter().flatten().any(|c| c == text);
    // Every training in the year its class ended; the August 2026 class
    // ends after the as-of date and is left out (and said so); the other
    // person's attendance is not in this file.
    let y2024 = block(2024);
    for class in ["ZY2024-01", "ZY2024-09", "ZY2024-W"] {
        assert!(has(y2024, class), "{class} in 2024: {y2024:?}");
    }
    assert!(!has(block(2023), "ZY2024-01"));
    assert!(!rows.iter().flatten().any(|c| c == "ZY2026-08"));
    assert!(
        rows.iter()
            .flatten()
            .any(|c| c.contains("1 more trainings"))
    );
    assert!(!rows.iter().flatten().any(|c| c == "刘洋"));
    // 2024's totals: 340 centralized hours over 75 days, 30 online.
    let totals = y2024
        .iter()
        .position(|r| r.first().is_some_and(|c| c == "年度合计 Year totals"))
        .unwrap();
    assert_eq!(y2024[totals + 3], ["3", "3", "340", "75", "30", "75"]);
    // The year-end status: trained by the county this year.
    assert!(
        y2024
            .iter()
            .any(|r| r.iter().any(|c| c == "在周期内 current")),
        "{y2024:?}"
    );
    // The consequences of each year, against their class.
    let consequence = |rows: &[Vec<String>], text: &str| -> Vec<String> {
        rows.iter()
            .filter(|r| r.first().is_some_and(|c| c == text))
            .map(|r| r[2].clone())
            .collect()
    };
    let off_job = "脱产培训，记入年度考核登记表";
    let long = "脱产培训两个月以上，记入干部任免审批表";
    let failed = "培训考核不合格，年度考核不得评为优秀";
    let absent = "无正当理由不参加培训，批评教育直至组织处理";
    assert_eq!(consequence(y2024, off_job), ["ZY2024-01", "ZY2024-09"]);
    assert_eq!(consequence(y2024, long), ["ZY2024-09"]);
    assert!(consequence(y2024, failed).is_empty());
    let y2025 = block(2025);
    assert_eq!(consequence(y2025, off_job), ["ZY2025-01"]);
    assert_eq!(consequence(y2025, failed), ["ZY2025-01"]);
    assert_eq!(consequence(y2025, absent), ["ZY2025-02"]);
    assert!(consequence(y2025, long).is_empty());
    assert!(consequence(block(2023), off_job).is_empty());

    // Audited as an export, with the number masked.
    let audit: Value = serde_json::from_str(&ok(&data, &["audit", "--format", "json"])).unwrap();
    let events = audit["events"].as_array().unwrap();
    let export = events
        .iter()
        .find(|e| e["action"] == "export")
        .expect("an export event");
    let detail = export["detail"].as_str().unwrap();
    assert!(detail.starts_with("archive of 410102********"), "{detail}");
    assert!(!audit.to_string().contains(&p), "{audit}");

    // Someone the node does not hold: refused, nothing written.
    let stranger = id("41010219700101001");
    let none = tmp.path().join("none.xlsx");
    let out = node(
        &data,
        &[
            "person",
            &stranger,
            "--format",
            "xlsx",
            "--out",
            none.to_str().unwrap(),
        ],
    );
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(!none.exists());
    assert!(!out.stderr.contains(&stranger), "{}", out.stderr);
}
