//! A full disk, on a small tmpfs: a write that hits it fails in one line; a
//! daemon whose store failed exits with an error (its service manager
//! restarts it) instead of staying up refusing every write; once space is
//! freed the node opens, drops what the failed write left, and the same file
//! imports to exactly what a node that never saw the full disk holds.
//!
//! Mounting needs root (as CI runs); elsewhere the test says so and returns.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

mod support;
use support::*;

/// A roster of `n` people numbered from `first`; returns their ID numbers.
fn roster(path: &Path, first: u32, n: u32) -> Vec<String> {
    let mut out = String::from("person_id,name,rank,since\n");
    let mut ids = Vec::new();
    for i in first..first + n {
        let day = i / 1000;
        let (year, month, dom) = (1970 + day / 336, day / 28 % 12 + 1, day % 28 + 1);
        let person = id(&format!("410102{year}{month:02}{dom:02}{:03}", i % 1000));
        let rank = if i % 5 == 0 { "leading" } else { "general" };
        out.push_str(&format!("{person},职工{i},{rank},2024-01-01\n"));
        ids.push(person);
    }
    std::fs::write(path, out).unwrap();
    ids
}

/// A tmpfs of `bytes` at `dir`, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, bytes: u64) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes},mode=0700")])
            .arg("tmpfs")
            .arg(dir)
            .stderr(Stdio::null())
            .status()
            .expect("run mount");
        status.success().then(|| Tmpfs(dir.to_path_buf()))
    }

    /// Writes a file until the disk is full.
    fn fill(&self) -> PathBuf {
        let path = self.0.join("filler");
        let mut file = std::fs::File::create(&path).unwrap();
        let chunk = vec![0u8; 64 * 1024];
        while file.write_all(&chunk).is_ok() {}
        let _ = file.sync_all();
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn serve(data: &Path, log: &Path) -> Child {
    let child = Command::new(env!("CARGO_BIN_EXE_lunxun-node"))
        .arg("--data")
        .arg(data)
        .arg("serve")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .expect("start serve");
    let socket = data.join("admin.sock");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !socket.exists() {
        assert!(
            Instant::now() < deadline,
            "serve never opened its admin socket: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

/// The node's coverage and people, without the times they were written.
fn figures(data: &Path) -> (Value, Value) {
    let mut coverage: Value = serde_json::from_str(&ok(
        data,
        &["coverage", "--as-of", "2026-06-30", "--format", "json"],
    ))
    .unwrap();
    for node in coverage["nodes"].as_array_mut().unwrap() {
        node.as_object_mut().unwrap().remove("freshness");
    }
    let people: Value = serde_json::from_str(&ok(data, &["people", "--format", "json"])).unwrap();
    (coverage, people)
}

/// Asserts two nodes hold the same figures (without printing a million fields).
fn assert_same_figures(data: &Path, fresh: &Path) {
    let (a, b) = (figures(data), figures(fresh));
    assert_eq!(a.0, b.0, "coverage differs");
    assert_eq!(
        a.1["people"].as_array().map(Vec::len),
        b.1["people"].as_array().map(Vec::len),
        "people differ in number"
    );
    assert!(a.1 == b.1, "people differ");
}

/// Free bytes on the file system holding `path`.
fn free_bytes(path: &Path) -> u64 {
    let out = Command::new("df")
        .args(["--output=avail", "-B1"])
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// Writes a file that leaves `left` bytes free on the file system at `dir`.
fn fill_leaving(dir: &Path, left: u64) -> PathBuf {
    let path = dir.join("filler");
    let size = free_bytes(dir).saturating_sub(left);
    let mut file = std::fs::File::create(&path).unwrap();
    let chunk = vec![0u8; 64 * 1024];
    let mut written = 0;
    while written < size {
        let n = chunk.len().min((size - written) as usize);
        file.write_all(&chunk[..n]).unwrap();
        written += n as u64;
    }
    file.sync_all().unwrap();
    path
}

fn set_keep_free(data: &Path, mib: u64) {
    let config = data.join("config.toml");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!("\n[store]\nkeep_free_mib = {mib}\n"));
    std::fs::write(&config, text).unwrap();
}

/// What both tests stand on: a tmpfs of `bytes` holding a county's data dir
/// that keeps `keep_free_mib` free, a roster of 12 and one of 30,000 on the
/// real disk, and a node that took both without ever seeing a full disk (what
/// the other must end up holding). None where mounting needs root.
struct Bed {
    // Dropped last: unmounted after everything on it is done with.
    _tmp: tempfile::TempDir,
    disk: Tmpfs,
    mnt: PathBuf,
    small: PathBuf,
    big: PathBuf,
    ids: Vec<String>,
    fresh: PathBuf,
    data: PathBuf,
    log: PathBuf,
}

impl Bed {
    fn set_up(bytes: u64, keep_free_mib: u64) -> Option<Bed> {
        let tmp = tempfile::tempdir().unwrap();
        let mnt = tmp.path().join("mnt");
        let Some(disk) = Tmpfs::mount(&mnt, bytes) else {
            assert!(!is_root(), "root could not mount a tmpfs");
            eprintln!("skipped: mounting a tmpfs needs root");
            return None;
        };
        let (small, big) = (tmp.path().join("small.csv"), tmp.path().join("big.csv"));
        roster(&small, 0, 12);
        let ids = roster(&big, 100, 30_000);
        let fresh = tmp.path().join("fresh");
        ok(&fresh, &["init", "--org", "410102"]);
        ok(&fresh, &["import", "roster", small.to_str().unwrap()]);
        ok(&fresh, &["import", "roster", big.to_str().unwrap()]);
        let data = mnt.join("data");
        ok(&data, &["init", "--org", "410102"]);
        set_keep_free(&data, keep_free_mib);
        let log = tmp.path().join("serve.log");
        Some(Bed {
            disk,
            mnt,
            small,
            big,
            ids,
            fresh,
            data,
            log,
            _tmp: tmp,
        })
    }
}

#[test]
fn a_nearly_full_disk_refuses_the_write_whole_and_takes_it_once_freed() {
    // Every field bound (none left to a `..`, which would drop it here).
    let Some(Bed {
        _tmp,
        disk: _disk,
        mnt,
        small,
        big,
        ids,
        fresh,
        data,
        log,
    }) = Bed::set_up(96 << 20, 16)
    else {
        return;
    };
    let carries_an_id = |text: &str| ids.iter().any(|i| text.contains(i.as_str()));
    let mut daemon = serve(&data, &log);
    ok(&data, &["import", "roster", small.to_str().unwrap()]);
    let before = own_seq(&data);

    // 20 MiB left, 16 kept free: the 30,000-row file does not fit.
    let filler = fill_leaving(&mnt, 20 << 20);
    let out = node(&data, &["import", "roster", big.to_str().unwrap()]);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("the disk is nearly full"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("nothing was written"), "{}", out.stderr);
    assert!(!carries_an_id(&out.stderr), "{}", out.stderr);
    assert_eq!(own_seq(&data), before, "nothing was written");
    assert!(daemon.try_wait().unwrap().is_none(), "the daemon stays up");

    // Space freed: the same daemon takes the same file, exactly once.
    std::fs::remove_file(filler).unwrap();
    ok(&data, &["import", "roster", big.to_str().unwrap()]);
    assert_same_figures(&data, &fresh);
    let again = ok(&data, &["import", "roster", big.to_str().unwrap()]);
    assert!(again.contains(" 0 changes written"), "{again}");
    assert_same_figures(&data, &fresh);
    daemon.kill().unwrap();
    daemon.wait().unwrap();
}

#[test]
fn a_disk_filled_by_another_program_fails_one_write_and_ends_the_daemon() {
    // As if another program filled the disk past what the store keeps free.
    let Some(Bed {
        _tmp,
        disk,
        mnt: _,
        small,
        big,
        ids,
        fresh,
        data,
        log,
    }) = Bed::set_up(8 << 20, 0)
    else {
        return;
    };
    let carries_an_id = |text: &str| ids.iter().any(|i| text.contains(i.as_str()));
    let mut daemon = serve(&data, &log);
    ok(&data, &["import", "roster", small.to_str().unwrap()]);

    // The disk fills; the next write fails, in one line, with no ID number.
    let filler = disk.fill();
    let out = node(&data, &["import", "roster", big.to_str().unwrap()]);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);
    assert!(out.stderr.contains("the disk is full"), "{}", out.stderr);
    assert!(!carries_an_id(&out.stderr), "{}", out.stderr);

    // The daemon does not stay up refusing writes: it exits with an error.
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = daemon.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the daemon stayed up on a failed store: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(!status.success(), "the daemon must exit with an error");
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("the store failed"), "{logged}");
    assert!(!carries_an_id(&logged), "{logged}");

    // Still full, without a daemon: the write fails the same way and the
    // process ends.
    let out = node(&data, &["import", "roster", big.to_str().unwrap()]);
    assert_ne!(out.code, 0, "{}", out.stdout);
    assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);

    // Space freed, the node restarts (its service manager's restart). The
    // engine may have been cut mid-write: then the node says, in one line,
    // to restore from the parent, and writes nothing.
    std::fs::remove_file(filler).unwrap();
    let out = node(&data, &["status"]);
    if out.code != 0 {
        // (The engine's own warning may precede the node's one error line.)
        let errors: Vec<&str> = out
            .stderr
            .lines()
            .filter(|l| l.starts_with("error:"))
            .collect();
        assert_eq!(errors.len(), 1, "{}", out.stderr);
        assert!(
            errors[0].contains("restore --from-upstream"),
            "{}",
            out.stderr
        );
        assert!(!carries_an_id(&out.stderr), "{}", out.stderr);
        return;
    }
    // Otherwise it drops what the failed write left, the same file imports,
    // and the node holds exactly what the fresh one does.
    let mut daemon = serve(&data, &log);
    ok(&data, &["import", "roster", big.to_str().unwrap()]);
    assert_same_figures(&data, &fresh);
    // Importing it again changes nothing: nothing is applied twice.
    let again = ok(&data, &["import", "roster", big.to_str().unwrap()]);
    assert!(again.contains(" 0 changes written"), "{again}");
    assert_same_figures(&data, &fresh);
    daemon.kill().unwrap();
    daemon.wait().unwrap();
    drop(disk);
}
