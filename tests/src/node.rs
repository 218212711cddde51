//! One node under test: a data dir driven through the real binary, and its
//! `serve` daemon.
//!
//! Every command runs as its own process with `--data DIR`, its output going
//! to files (no pipe can fill up and stall it) and a bounded wait. The
//! daemon's stdout and stderr go to files in the node's work dir; when a
//! test panics, dropping the node prints their tails and kills the daemon,
//! so no test leaks a process, even a failing one.

use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use lunxun_gen::NodeData;
use lunxun_node::model::Level;
use serde_json::Value;

use crate::bins::bins;
use crate::logs::Logs;
use crate::pki::Pki;
use crate::{WAIT_MAX, orgs, wait_until};

/// Longest a single command may run before the test fails.
pub const COMMAND_MAX: Duration = Duration::from_secs(240);
/// Longest a daemon may take to stop after SIGTERM (it allows its tasks
/// 10 s of grace).
pub const STOP_MAX: Duration = Duration::from_secs(30);
/// Lines of each daemon log printed when a test fails.
const LOG_TAIL_LINES: usize = 60;

/// The daemon writes its bound address here (`serve --listen …:0`).
const LISTEN_ADDR_FILE: &str = "listen.addr";
/// The hub writes its dashboard's address here (`serve --http …:0`).
const HTTP_ADDR_FILE: &str = "http.addr";

/// Distinguishes the output files of concurrent commands.
static COMMANDS: AtomicU64 = AtomicU64::new(0);

/// How nodes authenticate each other.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Security {
    /// `--insecure`: plaintext, the child's claimed org taken at its word.
    #[default]
    Insecure,
    /// Mutual TLS: every node has a certificate of the world's root in its
    /// work dir's `tls/` (hubs for 127.0.0.1), is initialised with
    /// `--tls-dir` and an `https://` upstream, and hubs serve without
    /// `--insecure`.
    Tls,
}

impl Security {
    /// The URL a child is given to reach a parent listening on `addr`.
    pub fn url(self, addr: SocketAddr) -> String {
        match self {
            Security::Insecure => format!("http://{addr}"),
            Security::Tls => format!("https://{addr}"),
        }
    }

    /// Arguments `init` needs (next to `--upstream` for plaintext; always
    /// for TLS, which a hub needs to serve).
    fn init_args(self, tls_dir: &Path, upstream: bool) -> Vec<String> {
        match self {
            Security::Insecure if upstream => vec!["--insecure".into()],
            Security::Insecure => Vec::new(),
            Security::Tls => vec!["--tls-dir".into(), tls_dir.display().to_string()],
        }
    }

    /// Arguments `serve` needs.
    fn serve_args(self) -> Vec<String> {
        match self {
            Security::Insecure => vec!["--insecure".into()],
            Security::Tls => Vec::new(),
        }
    }
}

/// What a command did.
#[derive(Debug, Clone)]
pub struct Output {
    /// The exit code (-1 when killed by a signal).
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// A command running in the background (see [`Node::spawn`]).
pub struct Running {
    what: String,
    child: Child,
    out: PathBuf,
    err: PathBuf,
}

impl Running {
    /// Waits for the command to end (at most [`COMMAND_MAX`]).
    pub fn wait(mut self) -> Output {
        let start = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait for a command") {
                break status;
            }
            if start.elapsed() > COMMAND_MAX {
                let _ = self.child.kill();
                let _ = self.child.wait();
                let stderr = std::fs::read_to_string(&self.err).unwrap_or_default();
                panic!(
                    "{} did not end within {COMMAND_MAX:?}; stderr:\n{stderr}",
                    self.what
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let output = Output {
            code: status.code().unwrap_or(-1),
            stdout: std::fs::read_to_string(&self.out).unwrap_or_default(),
            stderr: std::fs::read_to_string(&self.err).unwrap_or_default(),
        };
        let _ = std::fs::remove_file(&self.out);
        let _ = std::fs::remove_file(&self.err);
        output
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// One node: its data dir, the binary its level runs, and its daemon.
pub struct Node {
    /// The org code.
    pub org: String,
    /// `--data`.
    dir: PathBuf,
    /// Generated files, command output and daemon logs.
    work: PathBuf,
    bin: PathBuf,
    is_hub: bool,
    security: Security,
    daemon: Option<Child>,
    /// The port the daemon listens on (hubs), kept across restarts.
    port: Option<u16>,
    /// Daemon logs so far, oldest first.
    daemon_logs: Vec<PathBuf>,
    /// Generated file sets written so far (names their folders).
    file_sets: u32,
}

impl Node {
    /// Creates (`init`) the node of `org` under `root`, syncing to `upstream`
    /// if given. Counties run `lunxun-node`, every other level `lunxun-hub`.
    /// With [`Security::Tls`], `pki` issues the node's certificate first.
    pub fn init(
        root: &Path,
        org: &str,
        upstream: Option<&str>,
        security: Security,
        pki: Option<&Pki>,
    ) -> Node {
        Node::init_using(root, org, upstream, security, pki, None)
    }

    /// [`Node::init`] with another binary (`bin`: another release's
    /// `lunxun-node` or `lunxun-hub`), used for every command of the node.
    pub fn init_using(
        root: &Path,
        org: &str,
        upstream: Option<&str>,
        security: Security,
        pki: Option<&Pki>,
        bin: Option<PathBuf>,
    ) -> Node {
        let id = orgs()
            .get(org)
            .unwrap_or_else(|| panic!("{org} is not in the org directory"));
        let is_hub = orgs().org(id).level != Level::County;
        let work = root.join(org);
        std::fs::create_dir_all(&work).expect("create the node's work dir");
        let node = Node {
            org: org.to_owned(),
            dir: work.join("data"),
            work,
            bin: bin.unwrap_or_else(|| {
                if is_hub {
                    bins().hub.clone()
                } else {
                    bins().node.clone()
                }
            }),
            is_hub,
            security,
            daemon: None,
            port: None,
            daemon_logs: Vec::new(),
            file_sets: 0,
        };
        if security == Security::Tls {
            let pki = pki.unwrap_or_else(|| panic!("{org}: a TLS node needs a PKI"));
            pki.issue(org, is_hub, &node.tls_dir());
        }
        let mut args = vec!["init".to_owned(), "--org".into(), org.into()];
        if let Some(url) = upstream {
            args.extend(["--upstream".into(), url.into()]);
        }
        args.extend(security.init_args(&node.tls_dir(), upstream.is_some()));
        node.ok(&args);
        node
    }

    /// Creates (`init`) a plaintext node of `org`, a unit the built-in
    /// directory does not know, with `orgs_csv` as its data dir's `orgs.csv`
    /// (which must define it): hubs when `is_hub`, else `lunxun-node`.
    pub fn init_unit(
        root: &Path,
        org: &str,
        upstream: Option<&str>,
        is_hub: bool,
        orgs_csv: &str,
    ) -> Node {
        let work = root.join(org);
        let node = Node {
            org: org.to_owned(),
            dir: work.join("data"),
            work,
            bin: if is_hub {
                bins().hub.clone()
            } else {
                bins().node.clone()
            },
            is_hub,
            security: Security::Insecure,
            daemon: None,
            port: None,
            daemon_logs: Vec::new(),
            file_sets: 0,
        };
        std::fs::create_dir_all(&node.dir).expect("create the node's data dir");
        std::fs::write(node.dir.join("orgs.csv"), orgs_csv).expect("write orgs.csv");
        let mut args = vec!["init".to_owned(), "--org".into(), org.into()];
        if let Some(url) = upstream {
            args.extend(["--upstream".into(), url.into()]);
        }
        args.extend(Security::Insecure.init_args(&node.tls_dir(), upstream.is_some()));
        node.ok(&args);
        node
    }

    /// Creates (`init --orgs`) the node of `org`, a code the built-in
    /// directory does not know (a county a directory bulletin created),
    /// with `orgs_csv` (which must define it) as its `--orgs` extension;
    /// with [`Security::Tls`], `pki` issues its certificate (`certs issue
    /// --orgs`) first. A county (`lunxun-node`) unless `is_hub`.
    pub fn init_new(
        root: &Path,
        org: &str,
        upstream: Option<&str>,
        security: Security,
        pki: Option<&Pki>,
        is_hub: bool,
        orgs_csv: &str,
    ) -> Node {
        let work = root.join(org);
        std::fs::create_dir_all(&work).expect("create the node's work dir");
        let node = Node {
            org: org.to_owned(),
            dir: work.join("data"),
            work,
            bin: if is_hub {
                bins().hub.clone()
            } else {
                bins().node.clone()
            },
            is_hub,
            security,
            daemon: None,
            port: None,
            daemon_logs: Vec::new(),
            file_sets: 0,
        };
        let extension = node.work.join("orgs-extension.csv");
        std::fs::write(&extension, orgs_csv).expect("write the orgs extension");
        let extension = extension.display().to_string();
        if security == Security::Tls {
            let pki = pki.unwrap_or_else(|| panic!("{org}: a TLS node needs a PKI"));
            pki.issue_with(org, is_hub, &node.tls_dir(), &["--orgs", &extension]);
        }
        let mut args = vec![
            "init".to_owned(),
            "--org".into(),
            org.into(),
            "--orgs".into(),
            extension,
        ];
        if let Some(url) = upstream {
            args.extend(["--upstream".into(), url.into()]);
        }
        args.extend(security.init_args(&node.tls_dir(), upstream.is_some()));
        node.ok(&args);
        node
    }

    /// The node's tls dir (`ca.pem`, `node.pem`, `node.key`) with
    /// [`Security::Tls`]: its work dir's `tls/`.
    pub fn tls_dir(&self) -> PathBuf {
        self.work.join("tls")
    }

    /// The daemon logs (stderr and stdout of every `serve` so far), oldest
    /// first.
    pub fn daemon_logs(&self) -> &[PathBuf] {
        &self.daemon_logs
    }

    /// Everything the daemons of this node wrote to stderr so far.
    pub fn daemon_stderr(&self) -> String {
        self.daemon_logs
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "err"))
            .filter_map(|p| std::fs::read_to_string(p).ok())
            .collect()
    }

    /// The data dir.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The node's work dir (files, logs).
    pub fn work(&self) -> &Path {
        &self.work
    }

    pub fn is_hub(&self) -> bool {
        self.is_hub
    }

    /// The address children reach this hub's daemon on.
    pub fn addr(&self) -> SocketAddr {
        let port = self
            .port
            .unwrap_or_else(|| panic!("{} has never served", self.org));
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    /// The URL children are given as `--upstream`.
    pub fn url(&self) -> String {
        self.security.url(self.addr())
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.arg("--data")
            .arg(&self.dir)
            .current_dir(&self.work)
            .env_remove("RUST_LOG")
            .env_remove("LUNXUN_DATA")
            .stdin(Stdio::null());
        cmd
    }

    /// Starts `args` in the background.
    pub fn spawn<S: AsRef<str>>(&self, args: &[S]) -> Running {
        let n = COMMANDS.fetch_add(1, Ordering::Relaxed);
        let out = self.work.join(format!("command-{n}.out"));
        let err = self.work.join(format!("command-{n}.err"));
        let args: Vec<&str> = args.iter().map(AsRef::as_ref).collect();
        let child = self
            .command()
            .args(&args)
            .stdout(File::create(&out).expect("create a command's output file"))
            .stderr(File::create(&err).expect("create a command's error file"))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.bin.display()));
        Running {
            what: format!("{} {}", self.org, args.join(" ")),
            child,
            out,
            err,
        }
    }

    /// Runs `args` with `input` as its stdin (e.g. `user add
    /// --password-stdin`), and waits for it.
    pub fn run_with_input<S: AsRef<str>>(&self, args: &[S], input: &str) -> Output {
        use std::io::Write as _;
        let args: Vec<&str> = args.iter().map(AsRef::as_ref).collect();
        let mut child = self
            .command()
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.bin.display()));
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(input.as_bytes());
        }
        let out = child.wait_with_output().expect("wait for a command");
        Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs `args` and waits for it.
    pub fn run<S: AsRef<str>>(&self, args: &[S]) -> Output {
        self.spawn(args).wait()
    }

    /// Runs `args`, which must succeed; returns its stdout.
    pub fn ok<S: AsRef<str>>(&self, args: &[S]) -> String {
        let out = self.run(args);
        self.expect_code(args, &out, 0);
        out.stdout
    }

    /// Panics with the command's output unless it exited with `code`.
    pub fn expect_code<S: AsRef<str>>(&self, args: &[S], out: &Output, code: i32) {
        if out.code != code {
            let args: Vec<&str> = args.iter().map(AsRef::as_ref).collect();
            panic!(
                "{}: `{}` exited {} (expected {code})\nstdout:\n{}\nstderr:\n{}",
                self.org,
                args.join(" "),
                out.code,
                out.stdout,
                out.stderr
            );
        }
    }

    /// Imports a roster file.
    pub fn import_roster(&self, file: &Path) -> String {
        self.ok(&["import", "roster", &file.display().to_string()])
    }

    /// Imports a trainings file.
    pub fn import_trainings(&self, file: &Path) -> String {
        self.ok(&["import", "trainings", &file.display().to_string()])
    }

    /// Writes `data` as CSV files in a new folder of the work dir (English
    /// and Chinese headers in turn) and imports them: the roster if it has
    /// entries, the trainings if they have attendance.
    pub fn import_data(&mut self, data: &NodeData) {
        let set = self.file_sets;
        self.file_sets += 1;
        let dir = self.work.join(format!("files-{set}"));
        lunxun_gen::write_csv(data, &dir, set % 2 == 1).expect("write generated files");
        if !data.roster.is_empty() {
            self.import_roster(&dir.join("roster.csv"));
        }
        if !data.attendance.is_empty() {
            self.import_trainings(&dir.join("trainings.csv"));
        }
    }

    /// `status --format json`.
    pub fn status_json(&self) -> Value {
        let text = self.ok(&["status", "--format", "json"]);
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{}: status is not JSON ({e}): {text}", self.org))
    }

    /// This node's own seq, from `status`.
    pub fn own_seq(&self) -> u64 {
        self.status_json()["own_seq"]
            .as_u64()
            .expect("status has own_seq")
    }

    /// `coverage --format json --as-of AS_OF` of the node's whole subtree.
    pub fn coverage_json(&self, as_of: &str) -> Value {
        let text = self.ok(&["coverage", "--format", "json", "--as-of", as_of]);
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{}: coverage is not JSON ({e})", self.org))
    }

    /// `sync --once`; returns the exit code (0 complete, 4 incomplete).
    pub fn sync_once(&self) -> Output {
        self.run(&["sync", "--once"])
    }

    /// `sync --once`, which must complete.
    pub fn sync_ok(&self) -> String {
        self.ok(&["sync", "--once"])
    }

    /// Points the node at another parent URL (its `config.toml`'s
    /// `upstream`, as an operator would edit it), with no daemon serving.
    pub fn set_upstream(&self, url: &str) {
        let mut config = lunxun_node::config::Config::load(&self.dir)
            .unwrap_or_else(|e| panic!("{}: config.toml: {e}", self.org));
        config.upstream = Some(url.to_owned());
        config
            .save(&self.dir)
            .unwrap_or_else(|e| panic!("{}: config.toml: {e}", self.org));
    }

    /// Starts `serve` (hubs listen on 127.0.0.1, on the port they had
    /// before if they served already, else on one the system picks), and
    /// waits until its admin socket and listening address are up.
    pub fn serve(&mut self) {
        self.serve_with(&[]);
    }

    /// [`Node::serve`] with more arguments (`--http 127.0.0.1:0`).
    pub fn serve_with(&mut self, extra: &[&str]) {
        assert!(self.daemon.is_none(), "{} is already serving", self.org);
        // A killed daemon leaves these behind; they must not be mistaken
        // for the new one's.
        let _ = std::fs::remove_file(self.dir.join(LISTEN_ADDR_FILE));
        let _ = std::fs::remove_file(self.dir.join(HTTP_ADDR_FILE));
        let _ = std::fs::remove_file(self.dir.join(lunxun_node::admin::SOCKET_FILE));
        let mut args = vec!["serve".to_owned()];
        args.extend(self.security.serve_args());
        args.extend(extra.iter().map(|a| (*a).to_owned()));
        if self.is_hub {
            args.push("--listen".into());
            args.push(format!("127.0.0.1:{}", self.port.unwrap_or(0)));
        }
        // The same port may take a moment to be free again after a kill.
        let mut attempts = 0;
        loop {
            attempts += 1;
            let n = self.daemon_logs.len();
            let out = self.work.join(format!("serve-{n}.out"));
            let err = self.work.join(format!("serve-{n}.err"));
            self.daemon_logs.push(err.clone());
            self.daemon_logs.push(out.clone());
            let child = self
                .command()
                .args(&args)
                .stdout(File::create(&out).expect("create the daemon's stdout file"))
                .stderr(File::create(&err).expect("create the daemon's stderr file"))
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.bin.display()));
            self.daemon = Some(child);
            match self.wait_for_daemon() {
                Ok(()) => return,
                Err(status) if attempts < 5 && self.port.is_some() => {
                    eprintln!(
                        "{}: serve exited {status} at start; retrying on port {:?}",
                        self.org, self.port
                    );
                    std::thread::sleep(Duration::from_millis(500));
                }
                Err(status) => {
                    self.print_daemon_logs();
                    panic!("{}: serve exited {status} at start", self.org);
                }
            }
        }
    }

    /// Waits for the admin socket and (hubs) the listening address; Err
    /// with the exit status if the daemon ended instead.
    fn wait_for_daemon(&mut self) -> Result<(), ExitStatus> {
        let start = Instant::now();
        loop {
            let child = self.daemon.as_mut().expect("a daemon was just started");
            if let Some(status) = child.try_wait().expect("poll the daemon") {
                self.daemon = None;
                return Err(status);
            }
            let socket = self.dir.join(lunxun_node::admin::SOCKET_FILE).exists();
            let addr = if self.is_hub {
                std::fs::read_to_string(self.dir.join(LISTEN_ADDR_FILE))
                    .ok()
                    .and_then(|text| text.trim().parse::<SocketAddr>().ok())
            } else {
                None
            };
            if socket && (!self.is_hub || addr.is_some()) {
                if let Some(addr) = addr {
                    if let Some(port) = self.port {
                        assert_eq!(addr.port(), port, "{} came back on another port", self.org);
                    }
                    self.port = Some(addr.port());
                }
                return Ok(());
            }
            if start.elapsed() > WAIT_MAX {
                self.print_daemon_logs();
                panic!("{}: serve did not come up within {WAIT_MAX:?}", self.org);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The address of the daemon's dashboard (`serve_with(&["--http", …])`),
    /// once it is up.
    pub fn http_addr(&mut self) -> SocketAddr {
        let org = self.org.clone();
        let file = self.dir.join(HTTP_ADDR_FILE);
        let mut addr = None;
        wait_until(&format!("{org}'s dashboard address"), || {
            self.assert_serving();
            addr = std::fs::read_to_string(&file)
                .ok()
                .and_then(|text| text.trim().parse::<SocketAddr>().ok());
            addr.is_some()
        });
        addr.expect("the address was read")
    }

    /// Whether the daemon runs.
    pub fn is_serving(&mut self) -> bool {
        match self.daemon.as_mut() {
            None => false,
            Some(child) => matches!(child.try_wait(), Ok(None)),
        }
    }

    /// Panics (with its logs) if the daemon died.
    pub fn assert_serving(&mut self) {
        if !self.is_serving() {
            self.print_daemon_logs();
            panic!("{}: the daemon is not running", self.org);
        }
    }

    /// Kills the daemon with SIGKILL: no shutdown, no final flush.
    pub fn kill9(&mut self) {
        let mut child = self
            .daemon
            .take()
            .unwrap_or_else(|| panic!("{} is not serving", self.org));
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Stops the daemon with SIGTERM and waits for a clean exit.
    pub fn stop(&mut self) {
        let mut child = self
            .daemon
            .take()
            .unwrap_or_else(|| panic!("{} is not serving", self.org));
        let pid = child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -TERM {pid} failed");
        let start = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().expect("poll the daemon") {
                break status;
            }
            if start.elapsed() > STOP_MAX {
                let _ = child.kill();
                let _ = child.wait();
                self.print_daemon_logs();
                panic!("{}: the daemon did not stop within {STOP_MAX:?}", self.org);
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        if !status.success() {
            self.print_daemon_logs();
            panic!("{}: the daemon exited {status} after SIGTERM", self.org);
        }
        // A clean stop: every task ended within the daemon's grace.
        let log = self
            .daemon_logs
            .iter()
            .rev()
            .find(|p| p.extension().is_some_and(|e| e == "err"))
            .and_then(|p| std::fs::read_to_string(p).ok())
            .unwrap_or_default();
        if log.contains("did not stop in time") {
            self.print_daemon_logs();
            panic!(
                "{}: a task did not stop within the daemon's grace",
                self.org
            );
        }
    }

    /// Every origin's log in the store. The daemon must be stopped (sled
    /// allows one process per store; this one opens it in-process).
    pub fn logs(&self) -> Logs {
        assert!(
            self.daemon.is_none(),
            "{}: stop the daemon before reading the store",
            self.org
        );
        Logs::read(&self.dir)
    }

    /// Waits until this node's status counts `changes` changes of
    /// `origins` origins (through its daemon if it serves).
    pub fn wait_for_changes(&mut self, origins: u64, changes: u64) {
        let what = format!(
            "{} to hold {changes} changes of {origins} origins",
            self.org
        );
        crate::wait_for(&what, WAIT_MAX, || {
            if self.daemon.is_some() {
                self.assert_serving();
            }
            let counts = self.status_json()["counts"].clone();
            if counts["origins"].as_u64() == Some(origins)
                && counts["changes"].as_u64() == Some(changes)
            {
                Ok(())
            } else {
                Err(format!("counts {counts}"))
            }
        })
    }

    /// Prints the tail of every daemon log of this node to stderr.
    pub fn print_daemon_logs(&self) {
        for path in &self.daemon_logs {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            if text.trim().is_empty() {
                continue;
            }
            let lines: Vec<&str> = text.lines().collect();
            let from = lines.len().saturating_sub(LOG_TAIL_LINES);
            eprintln!(
                "----- {} {} (last {} lines) -----",
                self.org,
                path.display(),
                lines.len() - from
            );
            for line in &lines[from..] {
                eprintln!("{line}");
            }
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(mut child) = self.daemon.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            self.print_daemon_logs();
        }
    }
}

/// Waits until `node`'s daemon is up and its status answers: a helper for
/// tests that restart daemons while children keep trying.
pub fn wait_serving(node: &mut Node) {
    wait_until(&format!("{} to answer status", node.org), || {
        node.assert_serving();
        node.run(&["status", "--format", "json"]).code == 0
    });
}
