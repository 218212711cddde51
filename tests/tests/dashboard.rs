//! The dashboard in a real browser: a synced hierarchy of real processes
//! (national ← 河南 ← 郑州 ← 中原区, and 济源 directly under 河南), the
//! national hub serving `--http 127.0.0.1:0`, and headless Chromium reading
//! its pages: the national page's figures equal the national node's
//! `coverage --format json`; the link to 河南 found in the page leads to
//! 河南's page, whose figures match too; a screenshot of it is kept under
//! `target/test-artifacts/`.
//!
//! Needs Chromium (`apt-get install -y chromium`; `.ci/run` installs it).
//! Without it the test installs it (as root, with apt-get), or fails saying
//! how to, unless `LUNXUN_SKIP_BROWSER=1`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use lunxun_tests::bins::target_dir;
use lunxun_tests::{Node, World, parent_of, seed};
use serde_json::Value;

/// Longest one Chromium run may take.
const BROWSER_MAX: Duration = Duration::from_secs(120);

/// Where Chromium is: on the PATH under one of its Debian/Ubuntu names.
fn find_chromium() -> Option<PathBuf> {
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
    let root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if !root || !std::path::Path::new("/usr/bin/apt-get").exists() {
        return false;
    }
    eprintln!("the dashboard's browser test installs Debian's chromium (apt-get, once)");
    let apt = |args: &[&str]| {
        std::process::Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .is_ok_and(|s| s.success())
    };
    apt(&["update", "-qq"]) && apt(&["install", "-y", "-qq", "chromium", "fonts-noto-cjk"])
}

/// Chromium, or None when it is missing and `LUNXUN_SKIP_BROWSER=1`.
fn chromium_or_skip() -> Option<PathBuf> {
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

/// Headless Chromium, a fresh profile for every run.
struct Browser {
    bin: PathBuf,
    work: PathBuf,
    runs: u32,
}

impl Browser {
    /// Runs Chromium on `url` with `args`; returns its stdout.
    fn run(&mut self, url: &str, args: &[String]) -> String {
        self.runs += 1;
        let profile = self.work.join(format!("profile-{}", self.runs));
        let out = self.work.join(format!("chromium-{}.out", self.runs));
        let err = self.work.join(format!("chromium-{}.err", self.runs));
        let mut child = Command::new(&self.bin)
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
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .args(args)
            .arg(url)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out).expect("chromium's stdout file"))
            .stderr(std::fs::File::create(&err).expect("chromium's stderr file"))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.bin.display()));
        let start = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait for chromium") {
                break status;
            }
            if start.elapsed() > BROWSER_MAX {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "chromium did not finish {url} within {BROWSER_MAX:?}; stderr:\n{}",
                    std::fs::read_to_string(&err).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(
            status.success(),
            "chromium exited {status} on {url}; stderr:\n{}",
            std::fs::read_to_string(&err).unwrap_or_default()
        );
        let _ = std::fs::remove_dir_all(&profile);
        std::fs::read_to_string(&out).expect("chromium's output")
    }

    /// The page's DOM once loaded, as Chromium serializes it.
    fn dom(&mut self, url: &str) -> String {
        let dom = self.run(url, &["--dump-dom".into()]);
        assert!(dom.contains("</html>"), "no page from {url}:\n{dom}");
        dom
    }

    /// A 1280×1600 screenshot of the page at `path`.
    fn screenshot(&mut self, url: &str, path: &Path) {
        let _ = std::fs::remove_file(path);
        self.run(
            url,
            &[
                format!("--screenshot={}", path.display()),
                "--window-size=1280,1600".into(),
                "--hide-scrollbars".into(),
            ],
        );
        let png = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(png.starts_with(b"\x89PNG"), "{} is no PNG", path.display());
    }
}

/// The text of the element with `data-org="org" data-field="field"`.
fn field(dom: &str, org: &str, field: &str) -> Option<String> {
    let key = format!(r#"data-org="{org}" data-field="{field}">"#);
    let start = dom.find(&key)? + key.len();
    let end = dom[start..].find('<')? + start;
    Some(dom[start..end].to_owned())
}

fn percent(rate: &Value) -> String {
    lunxun_node::render::percent(rate.as_f64())
}

/// Checks every figure the page shows for `node` (a node of the coverage
/// JSON) against the JSON: `own` for the page's org, else a child's row.
fn check_figures(dom: &str, node: &Value, own: bool, problems: &mut Vec<String>) {
    let org = node["org"].as_str().expect("org");
    let mut expect = |name: &str, want: String| {
        let got = field(dom, org, name);
        if got.as_deref() != Some(want.as_str()) {
            problems.push(format!("{org} {name}: page {got:?}, coverage {want}"));
        }
    };
    let mut prefixes = vec!["subtree."];
    if own {
        prefixes.push("");
    }
    for prefix in prefixes {
        let rotation = if prefix.is_empty() {
            &node["rotation"]
        } else {
            &node["subtree"]["rotation"]
        };
        let hours = if prefix.is_empty() {
            &node["hours"]
        } else {
            &node["subtree"]["hours"]
        };
        let counts: &[&str] = if own {
            &["roster", "current", "due", "new", "overdue", "covered"]
        } else {
            &["roster", "covered", "overdue"]
        };
        for count in counts {
            expect(
                &format!("{prefix}rotation.{count}"),
                rotation[count].to_string(),
            );
        }
        expect(
            &format!("{prefix}rotation.rate"),
            percent(&rotation["rate"]),
        );
        for rule in ["leading", "general", "online"] {
            for n in ["people", "compliant"] {
                expect(
                    &format!("{prefix}hours.{rule}.{n}"),
                    hours[rule][n].to_string(),
                );
            }
        }
    }
    expect("subtree.nodes", node["subtree"]["nodes"].to_string());
    expect("subtree.expected", node["subtree"]["expected"].to_string());
    // Freshness: the contract's timestamp for a reporting node, else silent.
    match node["freshness"].as_str() {
        Some(ts) => {
            let key = format!(r#"datetime="{ts}" title="{ts}" data-org="{org}""#);
            if !dom.contains(&key) {
                problems.push(format!("{org}: freshness {ts} not on the page"));
            }
        }
        None => {
            if !field(dom, org, "freshness").is_some_and(|f| f.contains("未报送")) {
                problems.push(format!("{org}: silent, but the page does not say 未报送"));
            }
        }
    }
}

/// Checks the page of `org` against the national node's coverage JSON: the
/// org's own and subtree figures, and every child's row.
fn check_page(dom: &str, coverage: &BTreeMap<String, Value>, org: &str) {
    let mut problems = Vec::new();
    check_figures(dom, &coverage[org], true, &mut problems);
    let children: Vec<&Value> = coverage.values().filter(|n| n["parent"] == org).collect();
    assert!(!children.is_empty(), "{org} has children");
    for child in &children {
        check_figures(dom, child, false, &mut problems);
    }
    assert!(
        problems.is_empty(),
        "the page of {org} differs from coverage in {} places:\n{}",
        problems.len(),
        problems.join("\n")
    );
    // Every child is listed once, as a link, and drawn on the map if it
    // has coordinates.
    let links = dom.matches(r#"<a class="child""#).count();
    assert_eq!(links, children.len(), "{org}: one row per child");
    let circles = dom.matches("<circle data-org=").count();
    assert!(
        circles > children.len() / 2,
        "{org}: the map has {circles} circles"
    );
}

/// The `href` of the link to `child` in the children table.
fn child_link(dom: &str, child: &str) -> String {
    let key = format!(r#"<a class="child" data-child="{child}" href=""#);
    let start = dom
        .find(&key)
        .unwrap_or_else(|| panic!("no link to {child} in the page"))
        + key.len();
    let end = dom[start..].find('"').expect("the href ends") + start;
    dom[start..end].replace("&amp;", "&")
}

#[test]
fn a_browser_drills_from_the_national_page_into_a_province() {
    let Some(bin) = chromium_or_skip() else {
        return;
    };
    let started = Instant::now();
    let world = World::new("dashboard", seed("dashboard", 41));
    let tree = ["100000", "410000", "410100", "410102", "419001"];
    let mut nodes: BTreeMap<&str, Node> = BTreeMap::new();
    for org in tree {
        let upstream = parent_of(org).map(|p| nodes[p].url());
        let mut node = world.node(org, upstream.as_deref());
        if org == "100000" {
            node.serve_with(&["--http", "127.0.0.1:0"]);
        } else if node.is_hub() {
            node.serve();
        }
        nodes.insert(org, node);
    }
    let mut total = 0;
    for org in tree {
        let node = nodes.get_mut(org).expect("a node of the tree");
        node.import_data(&world.data(org));
        total += node.own_seq();
    }
    // Bottom-up, each session complete.
    for org in ["410102", "419001", "410100", "410000"] {
        nodes[org].sync_ok();
    }
    let national = nodes.get_mut("100000").expect("the national node");
    national.wait_for_changes(tree.len() as u64, total);
    let as_of = world.as_of();
    let coverage: BTreeMap<String, Value> = national.coverage_json(&as_of)["nodes"]
        .as_array()
        .expect("coverage nodes")
        .iter()
        .map(|n| (n["org"].as_str().expect("org").to_owned(), n.clone()))
        .collect();
    assert_eq!(coverage["100000"]["subtree"]["nodes"], 5, "all five report");
    let base = format!("http://{}", national.http_addr());

    let mut browser = Browser {
        bin,
        work: world.root().join("browser"),
        runs: 0,
    };
    std::fs::create_dir_all(&browser.work).expect("the browser's work dir");
    let dom = browser.dom(&format!("{base}/?as_of={as_of}"));
    assert!(dom.contains(r#"<html lang="zh-CN">"#));
    check_page(&dom, &coverage, "100000");

    // Drill down: the link the page gives for 河南.
    let link = child_link(&dom, "410000");
    assert_eq!(link, format!("/org/410000?as_of={as_of}"));
    let province_url = format!("{base}{link}");
    let dom = browser.dom(&province_url);
    assert!(
        dom.contains(r#"<span class="here">河南省</span>"#),
        "breadcrumb"
    );
    check_page(&dom, &coverage, "410000");
    for child in ["410100", "419001"] {
        assert!(
            dom.contains(&format!(r#"<circle data-org="{child}""#)),
            "{child} on the map"
        );
    }

    let artifacts = target_dir().join("test-artifacts");
    std::fs::create_dir_all(&artifacts).expect("the artifacts dir");
    let shot = artifacts.join("dashboard-province.png");
    browser.screenshot(&province_url, &shot);
    println!("screenshot of 河南's page: {}", shot.display());
    println!(
        "browser test: {:.1} s, {} Chromium runs",
        started.elapsed().as_secs_f64(),
        browser.runs
    );
    // The dashboard stops with the daemon, within its grace.
    nodes.get_mut("100000").expect("the national node").stop();
}
