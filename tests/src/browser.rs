//! Headless Chromium driven over the DevTools protocol, for the dashboard's
//! browser tests: pages are loaded, forms filled and submitted, cookies kept,
//! the way a person's browser does it.
//!
//! The protocol runs over a pipe (`--remote-debugging-pipe`: Chromium reads
//! commands from fd 3 and writes answers to fd 4, each a JSON message ending
//! in a NUL byte), so no port is opened and no WebSocket client is needed.
//! One reader thread turns Chromium's output into messages; every wait is
//! bounded ([`BROWSER_MAX`]).
//!
//! Needs Chromium (`apt-get install -y chromium`; `.ci/run` installs it).
//! Without it [`chromium_or_skip`] installs it (as root, with apt-get), or
//! fails saying how to, unless `LUNXUN_SKIP_BROWSER=1`.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// Longest any one step (a page load, an answer) may take.
pub const BROWSER_MAX: Duration = Duration::from_secs(120);

/// Where Chromium is: on the PATH under one of its Debian/Ubuntu names.
pub fn find_chromium() -> Option<PathBuf> {
    let names = ["chromium", "chromium-browser"];
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin")])
        .flat_map(|dir| names.map(|n| dir.join(n)))
        .find(|p| p.is_file())
}

/// Installs Debian's Chromium (and CJK fonts, for the screenshot) when this
/// runs as root on a machine with apt-get, so the README's test command needs
/// nothing installed by hand.
fn install_chromium() -> bool {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if !root || !Path::new("/usr/bin/apt-get").exists() {
        return false;
    }
    eprintln!("the dashboard's browser test installs Debian's chromium (apt-get, once)");
    let apt = |args: &[&str]| {
        Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .is_ok_and(|s| s.success())
    };
    apt(&["update", "-qq"]) && apt(&["install", "-y", "-qq", "chromium", "fonts-noto-cjk"])
}

/// Chromium, or None when it is missing and `LUNXUN_SKIP_BROWSER=1`.
pub fn chromium_or_skip() -> Option<PathBuf> {
    if let Some(bin) = find_chromium() {
        return Some(bin);
    }
    if std::env::var("LUNXUN_SKIP_BROWSER").is_ok_and(|v| v == "1") {
        eprintln!(
            "SKIPPED the dashboard's browser test: Chromium is not installed and LUNXUN_SKIP_BROWSER=1"
        );
        return None;
    }
    if install_chromium()
        && let Some(bin) = find_chromium()
    {
        return Some(bin);
    }
    panic!(
        "the dashboard's browser test needs headless Chromium, which is not installed: \
         install it with `apt-get install -y chromium` (Debian; .ci/run does this), \
         or set LUNXUN_SKIP_BROWSER=1 to skip this test"
    );
}

fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0i32; 2];
    // SAFETY: pipe2 writes two new descriptors into the array we own. They
    // close on exec: the child gets only the two it is given as fds 3 and 4.
    let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(rc, 0, "pipe: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors were just created and are owned by nobody else.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

/// One headless Chromium, killed on drop.
pub struct Browser {
    child: Child,
    commands: std::fs::File,
    messages: mpsc::Receiver<Value>,
    /// Events read while waiting for something else.
    pending: VecDeque<Value>,
    next_id: u64,
    stderr: PathBuf,
}

/// One tab of a [`Browser`], in its own cookie jar when made with
/// [`Browser::incognito`].
pub struct Page {
    session: String,
}

impl Browser {
    /// Starts Chromium with a fresh profile under `work`.
    pub fn start(bin: &Path, work: &Path) -> Browser {
        std::fs::create_dir_all(work).expect("the browser's work dir");
        let (to_chrome_read, to_chrome_write) = pipe();
        let (from_chrome_read, from_chrome_write) = pipe();
        let (r, w) = (to_chrome_read.as_raw_fd(), from_chrome_write.as_raw_fd());
        let stderr = work.join("chromium.err");
        let mut command = Command::new(bin);
        command
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
                "--remote-debugging-pipe",
                "--window-size=1280,1600",
                "--hide-scrollbars",
            ])
            .arg(format!(
                "--user-data-dir={}",
                work.join("profile").display()
            ))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr).expect("chromium's stderr file"));
        // SAFETY: only async-signal-safe calls (fcntl, dup2) between fork and
        // exec. Copied above 10 first, so that neither lands on the other's
        // target; dup2's copies do not close on exec.
        unsafe {
            command.pre_exec(move || {
                let r = libc::fcntl(r, libc::F_DUPFD_CLOEXEC, 10);
                let w = libc::fcntl(w, libc::F_DUPFD_CLOEXEC, 10);
                if r < 0 || w < 0 || libc::dup2(r, 3) < 0 || libc::dup2(w, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        drop(to_chrome_read);
        drop(from_chrome_write);
        let (tx, messages) = mpsc::channel();
        let reader = std::fs::File::from(from_chrome_read);
        std::thread::spawn(move || {
            let mut reader = BufReader::new(reader);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match reader.read_until(0, &mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {
                        if buf.last() == Some(&0) {
                            buf.pop();
                        }
                        if let Ok(v) = serde_json::from_slice::<Value>(&buf)
                            && tx.send(v).is_err()
                        {
                            return;
                        }
                    }
                }
            }
        });
        Browser {
            child,
            commands: std::fs::File::from(to_chrome_write),
            messages,
            pending: VecDeque::new(),
            next_id: 0,
            stderr,
        }
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    fn recv(&mut self, deadline: Instant) -> Value {
        let left = deadline.saturating_duration_since(Instant::now());
        match self.messages.recv_timeout(left) {
            Ok(v) => v,
            Err(e) => panic!(
                "chromium did not answer within {BROWSER_MAX:?} ({e}); stderr:\n{}",
                self.stderr()
            ),
        }
    }

    /// Sends a command (to a page's session, or the browser) and returns its
    /// result; events that arrive meanwhile are kept for [`Browser::wait_event`].
    pub fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({ "id": id, "method": method, "params": params });
        if let Some(s) = session {
            message["sessionId"] = json!(s);
        }
        let mut bytes = serde_json::to_vec(&message).expect("a JSON command");
        bytes.push(0);
        self.commands
            .write_all(&bytes)
            .unwrap_or_else(|e| panic!("chromium's pipe: {e}; stderr:\n{}", self.stderr()));
        let deadline = Instant::now() + BROWSER_MAX;
        loop {
            let v = self.recv(deadline);
            if v["id"].as_u64() == Some(id) {
                if let Some(error) = v.get("error") {
                    panic!("chromium refused {method}: {error}");
                }
                return v["result"].clone();
            }
            if v.get("method").is_some() {
                self.pending.push_back(v);
            }
        }
    }

    /// Waits for event `method` of `session`.
    pub fn wait_event(&mut self, session: &str, method: &str) -> Value {
        let matches = |v: &Value| v["method"] == method && v["sessionId"] == session;
        if let Some(i) = self.pending.iter().position(matches) {
            return self.pending.remove(i).unwrap_or_default();
        }
        let deadline = Instant::now() + BROWSER_MAX;
        loop {
            let v = self.recv(deadline);
            if matches(&v) {
                return v;
            }
            if v.get("method").is_some() {
                self.pending.push_back(v);
            }
        }
    }

    fn open(&mut self, context: Option<String>) -> Page {
        let mut params = json!({ "url": "about:blank" });
        if let Some(c) = context {
            params["browserContextId"] = json!(c);
        }
        let target = self.call(None, "Target.createTarget", params)["targetId"].clone();
        let session = self.call(
            None,
            "Target.attachToTarget",
            json!({ "targetId": target, "flatten": true }),
        )["sessionId"]
            .as_str()
            .expect("a session id")
            .to_owned();
        self.call(Some(&session), "Page.enable", json!({}));
        self.call(Some(&session), "Runtime.enable", json!({}));
        Page { session }
    }

    /// A tab in the default profile (cookies shared with its other tabs).
    pub fn page(&mut self) -> Page {
        self.open(None)
    }

    /// A tab with a cookie jar of its own (like a private window).
    pub fn incognito(&mut self) -> Page {
        let context = self.call(None, "Target.createBrowserContext", json!({}))["browserContextId"]
            .as_str()
            .expect("a browser context")
            .to_owned();
        self.open(Some(context))
    }

    /// Loads `url` in `page` and waits until it has loaded.
    pub fn goto(&mut self, page: &Page, url: &str) {
        self.pending
            .retain(|v| v["sessionId"] != page.session.as_str());
        let result = self.call(Some(&page.session), "Page.navigate", json!({ "url": url }));
        if let Some(error) = result.get("errorText") {
            panic!("chromium could not load {url}: {error}");
        }
        self.wait_event(&page.session, "Page.loadEventFired");
    }

    /// Evaluates `expression` in the page; its value.
    pub fn eval(&mut self, page: &Page, expression: &str) -> Value {
        let result = self.call(
            Some(&page.session),
            "Runtime.evaluate",
            json!({ "expression": expression, "returnByValue": true }),
        );
        if let Some(e) = result.get("exceptionDetails") {
            panic!("{expression}: {e}");
        }
        result["result"]["value"].clone()
    }

    /// Runs `script` (which submits a form or follows a link) and waits for
    /// the next page to load.
    pub fn submit(&mut self, page: &Page, script: &str) {
        self.pending
            .retain(|v| v["sessionId"] != page.session.as_str());
        self.eval(page, script);
        self.wait_event(&page.session, "Page.loadEventFired");
    }

    /// Fills the form fields `fields` (by name) of the form posting to
    /// `action`, submits it as a person clicking its button does, and waits
    /// for the answer to load.
    pub fn fill_and_submit(&mut self, page: &Page, action: &str, fields: &[(&str, &str)]) {
        let mut script = format!(
            "(() => {{ const f = document.querySelector('form[action=\"{action}\"]'); if (!f) throw new Error('no form for {action}');"
        );
        for (name, value) in fields {
            script.push_str(&format!(
                "f.elements[{}].value = {};",
                json!(name),
                json!(value)
            ));
        }
        script.push_str("f.requestSubmit(); })()");
        self.submit(page, &script);
    }

    /// The page's current DOM, serialized.
    pub fn html(&mut self, page: &Page) -> String {
        self.eval(page, "document.documentElement.outerHTML")
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The path of the page's URL (after redirects).
    pub fn path(&mut self, page: &Page) -> String {
        self.eval(page, "location.pathname")
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The HTTP status the current page was served with.
    pub fn status(&mut self, page: &Page) -> u64 {
        self.eval(
            page,
            "performance.getEntriesByType('navigation')[0].responseStatus",
        )
        .as_u64()
        .unwrap_or(0)
    }

    /// A PNG of the page at `path`.
    pub fn screenshot(&mut self, page: &Page, path: &Path) {
        let data = self.call(
            Some(&page.session),
            "Page.captureScreenshot",
            json!({ "format": "png", "captureBeyondViewport": true }),
        )["data"]
            .as_str()
            .expect("screenshot data")
            .to_owned();
        let png = base64_decode(&data);
        assert!(png.starts_with(b"\x89PNG"), "the screenshot is no PNG");
        std::fs::write(path, png).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Standard base64 (what the protocol sends screenshots in).
fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let (mut acc, mut bits) = (0u32, 0u32);
    for v in text.bytes().filter_map(value) {
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_decodes() {
        assert_eq!(super::base64_decode("aGVsbG8gd29ybGQ="), b"hello world");
        assert_eq!(super::base64_decode("iVBORw=="), b"\x89PNG");
    }
}
