//! People's data where people touch it, at `RUST_LOG=debug`: a county hub
//! serving its dashboard, driven through imports (good and bad), person
//! lookups on the command line and in the dashboard, an account made with
//! its password on stdin, logins right and wrong, and the audit log. No full
//! ID number and no password may appear in the daemon's log, in any
//! command's output or error, or in any page's URL; the audit log names
//! each lookup's account.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/county-410102")
}

/// Runs the hub's command line at debug: its exit code, stdout and stderr.
fn hub(data: &Path, args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_lunxun-hub"))
        .arg("--data")
        .arg(data)
        .args(args)
        .env("RUST_LOG", "debug")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run lunxun-hub");
    if let Some(mut pipe) = child.stdin.take()
        && let Some(text) = stdin
    {
        pipe.write_all(text.as_bytes()).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// [`hub`], keeping what it printed in `seen`.
fn run(
    data: &Path,
    seen: &mut String,
    args: &[&str],
    stdin: Option<&str>,
) -> (i32, String, String) {
    let (code, out, err) = hub(data, args, stdin);
    seen.push_str(&out);
    seen.push_str(&err);
    (code, out, err)
}

fn wait_for(path: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(text) = std::fs::read_to_string(path)
            && !text.is_empty()
        {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One HTTP/1.1 request; the whole answer (head and body).
fn http(addr: &str, method: &str, path: &str, cookie: &str, body: &str) -> String {
    let mut conn = TcpStream::connect(addr).unwrap();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nCookie: {cookie}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    conn.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer).unwrap();
    answer
}

/// [`http`] for a download: the answer's head only (the body is binary).
fn http_head(addr: &str, path: &str, cookie: &str, body: &str) -> String {
    let mut conn = TcpStream::connect(addr).unwrap();
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nCookie: {cookie}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    conn.write_all(request.as_bytes()).unwrap();
    let mut answer = Vec::new();
    conn.read_to_end(&mut answer).unwrap();
    let end = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(answer.len());
    String::from_utf8_lossy(&answer[..end]).into_owned()
}

fn cookie_of(answer: &str, name: &str) -> String {
    let key = format!("set-cookie: {name}=");
    let lower = answer.to_ascii_lowercase();
    let start = lower
        .find(&key)
        .unwrap_or_else(|| panic!("no {name} in:\n{answer}"))
        + key.len();
    let end = start + answer[start..].find(';').unwrap();
    format!("{name}={}", &answer[start..end])
}

fn csrf_of(answer: &str) -> String {
    let key = r#"name="csrf" value=""#;
    let start = answer.find(key).expect("a form") + key.len();
    answer[start..start + answer[start..].find('"').unwrap()].to_owned()
}

#[test]
fn no_full_id_number_or_password_reaches_a_log_an_error_or_a_url() {
    const PASSWORD: &str = "county clerk password 7";
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let (code, _, err) = hub(&data, &["init", "--org", "410102"], None);
    assert_eq!(code, 0, "{err}");
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
    let mut daemon = Command::new(env!("CARGO_BIN_EXE_lunxun-hub"))
        .arg("--data")
        .arg(&data)
        .args(["serve", "--http", "127.0.0.1:0"])
        .env("RUST_LOG", "debug")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("start serve");
    let addr = wait_for(&data.join("http.addr"));
    let deadline = Instant::now() + Duration::from_secs(60);
    while !data.join("admin.sock").exists() {
        assert!(
            Instant::now() < deadline,
            "serve never opened its admin socket"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let mut seen = String::new();

    run(
        &data,
        &mut seen,
        &["import", "roster", roster.to_str().unwrap()],
        None,
    );
    let trainings = examples().join("trainings.csv");
    run(
        &data,
        &mut seen,
        &["import", "trainings", trainings.to_str().unwrap()],
        None,
    );
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
    let (code, _, _) = run(
        &data,
        &mut seen,
        &["import", "roster", bad.to_str().unwrap()],
        None,
    );
    assert_eq!(code, 3, "the bad file is refused");
    run(&data, &mut seen, &["person", &ids[2]], None);
    // The training archive, to a file named after the number: the file
    // holds it, what is printed does not.
    let archive = tmp.path().join(format!("{}.xlsx", ids[7]));
    let (code, _, err) = run(
        &data,
        &mut seen,
        &[
            "person",
            &ids[7],
            "--format",
            "xlsx",
            "--out",
            archive.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(code, 0, "{err}");
    assert!(archive.exists());
    let (code, _, err) = run(
        &data,
        &mut seen,
        &[
            "user",
            "add",
            "clerk",
            "--org",
            "410102",
            "--password-stdin",
        ],
        Some(&format!("{PASSWORD}\n")),
    );
    assert_eq!(code, 0, "{err}");

    // The dashboard: a wrong login, the right one, lookups by the form.
    let form = http(&addr, "GET", "/login", "", "");
    let login_cookie = cookie_of(&form, "lunxun_login");
    let token = csrf_of(&form);
    let wrong = http(
        &addr,
        "POST",
        "/login",
        &login_cookie,
        &format!("username=clerk&password=wrong+password+1&csrf={token}"),
    );
    assert!(wrong.starts_with("HTTP/1.1 401"), "{wrong}");
    let form = http(&addr, "GET", "/login", "", "");
    let login_cookie = cookie_of(&form, "lunxun_login");
    let token = csrf_of(&form);
    let ok = http(
        &addr,
        "POST",
        "/login",
        &login_cookie,
        &format!(
            "username=clerk&password={}&csrf={token}",
            PASSWORD.replace(' ', "+")
        ),
    );
    assert!(ok.starts_with("HTTP/1.1 303"), "{ok}");
    let session = cookie_of(&ok, "lunxun_session");
    let page = http(&addr, "GET", "/person", &session, "");
    let csrf = csrf_of(&page);
    for id in &ids[3..6] {
        let answer = http(
            &addr,
            "POST",
            "/person",
            &session,
            &format!("id={id}&csrf={csrf}"),
        );
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        seen += &answer;
    }
    // The archive download: the number in the body, not in the head.
    let head = http_head(
        &addr,
        "/person/archive.xlsx",
        &session,
        &format!("id={}&csrf={csrf}", ids[8]),
    );
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("attachment"), "{head}");
    seen += &head;
    // An ID in the URL is refused before anything logs it.
    let answer = http(
        &addr,
        "GET",
        &format!("/person?id={}", ids[6]),
        &session,
        "",
    );
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    seen += &http(&addr, "GET", "/", &session, "");

    let (_, audit, _) = run(&data, &mut seen, &["audit", "--format", "json"], None);
    let _ = daemon.kill();
    let _ = daemon.wait();

    let logs = std::fs::read_to_string(&log).unwrap();
    assert!(
        logs.contains("DEBUG"),
        "the daemon logged nothing at debug: {logs}"
    );
    for id in &ids {
        assert!(
            !logs.contains(id.as_str()),
            "the daemon's log holds {id}:\n{logs}"
        );
        assert!(!seen.contains(id.as_str()), "an output holds {id}:\n{seen}");
    }
    for secret in [PASSWORD, "wrong password 1", "wrong+password+1"] {
        assert!(!logs.contains(secret), "the daemon's log holds a password");
        assert!(!seen.contains(secret), "an output holds a password");
    }
    // The audit log: the clerk's lookups, masked; the command line's own.
    let audit: serde_json::Value =
        serde_json::from_str(&audit).unwrap_or_else(|e| panic!("audit JSON: {e}:\n{audit}"));
    let events = audit["events"].as_array().unwrap();
    let lookups: Vec<_> = events
        .iter()
        .filter(|e| e["action"] == "person" && e["actor"] == "clerk")
        .collect();
    assert_eq!(lookups.len(), 3, "{events:?}");
    assert!(
        events
            .iter()
            .any(|e| e["action"] == "export" && e["actor"] == "clerk")
    );
    assert!(
        events
            .iter()
            .any(|e| e["action"] == "person" && e["actor"] == "cli")
    );
    assert!(
        events
            .iter()
            .any(|e| e["action"] == "login_failed" && e["actor"] == "clerk")
    );
}
