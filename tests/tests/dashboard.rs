//! The dashboard in a real browser: a synced hierarchy of real processes
//! (national ← 河南 ← 郑州 ← 中原区, and 济源 directly under 河南), the
//! national hub serving `--http 127.0.0.1:0`, accounts made with `user add`
//! through the daemon, and headless Chromium using it as people do: without
//! a session it lands on the login page; 河南's viewer logs in and sees
//! 河南's subtree, whose figures equal the national node's `coverage
//! --format json`, drills down by the page's own links, gets a 404 for
//! anything outside, searches a person by the form; the national admin sees
//! the national page and the audit log; a brute-force loop is slowed. The
//! maps are boundary choropleths: every province with data is a coloured
//! `<path>` of its band on the national map, every child of a page is drawn
//! or listed as without a boundary, and the national map has its 南海诸岛
//! inset. Screenshots of the national and 河南's pages are kept under
//! `target/test-artifacts/`.
//!
//! Needs Chromium (see [`lunxun_tests::browser`]).

use std::collections::BTreeMap;
use std::time::Instant;

use lunxun_tests::bins::target_dir;
use lunxun_tests::browser::{Browser, chromium_or_skip};
use lunxun_tests::{Node, World, parent_of, seed};
use serde_json::Value;

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
    // Every child is listed once, as a link, and on the map: an area of
    // its boundary, or named under the map as without one.
    let links = dom.matches(r#"<a class="child""#).count();
    assert_eq!(links, children.len(), "{org}: one row per child");
    let mut drawn = 0;
    for child in &children {
        let code = child["org"].as_str().expect("org");
        let area = dom.contains(&format!(r#"<path data-org="{code}""#));
        let listed = dom.contains(&format!(r#"data-unmapped="{code}""#));
        assert!(
            area != listed,
            "{org}: {code} drawn {area}, listed {listed}"
        );
        drawn += usize::from(area);
    }
    assert!(drawn > children.len() / 2, "{org}: {drawn} areas drawn");
    assert!(dom.contains(r#"<section class="trend">"#), "{org}: trends");
}

/// The band class the dashboard gives a coverage rate.
fn band(rate: &Value) -> &'static str {
    match rate.as_f64() {
        None => "b0",
        Some(r) if r >= 0.9 => "b5",
        Some(r) if r >= 0.75 => "b4",
        Some(r) if r >= 0.6 => "b3",
        Some(r) if r >= 0.4 => "b2",
        Some(_) => "b1",
    }
}

/// Checks the map's areas in the browser's DOM: each province of the
/// coverage JSON is a `<path>` whose class is its band, one with data is
/// filled in colour (not the no-data grey), and the 南海诸岛 inset with
/// the ten-dash line is there.
fn check_national_map(
    browser: &mut Browser,
    page: &lunxun_tests::browser::Page,
    coverage: &BTreeMap<String, Value>,
) {
    let areas = browser.eval(
        page,
        "JSON.stringify(Array.from(document.querySelectorAll('.map path[data-org]')).map(p => [p.getAttribute('data-org'), p.getAttribute('class'), getComputedStyle(p).fill]))",
    );
    let areas: Vec<(String, String, String)> =
        serde_json::from_str(areas.as_str().expect("the areas")).expect("areas JSON");
    let provinces: Vec<&Value> = coverage
        .values()
        .filter(|n| n["level"] == "province")
        .collect();
    assert_eq!(provinces.len(), 31);
    let grey = "rgb(163, 172, 185)";
    let mut with_data = 0;
    for p in &provinces {
        let code = p["org"].as_str().expect("org");
        let (_, class, fill) = areas
            .iter()
            .find(|(org, _, _)| org == code)
            .unwrap_or_else(|| panic!("no area for province {code}"));
        let want = band(&p["subtree"]["rotation"]["rate"]);
        assert_eq!(class, &format!("area {want}"), "{code}");
        if p["subtree"]["rotation"]["roster"].as_u64() > Some(0) {
            with_data += 1;
            assert_ne!(want, "b0", "{code} has data");
            assert!(
                fill.starts_with("rgb(") && fill != grey,
                "{code}: fill {fill}"
            );
        } else {
            assert_eq!(fill, grey, "{code} has no data");
        }
    }
    assert!(with_data >= 1, "a province with data");
    let count = |browser: &mut Browser, selector: &str| {
        browser
            .eval(
                page,
                &format!("document.querySelectorAll('{selector}').length"),
            )
            .as_u64()
    };
    assert_eq!(
        count(browser, ".map .inset path.dash"),
        Some(1),
        "the ten-dash line"
    );
    assert!(
        count(browser, ".map .inset path.area").is_some_and(|n| n >= 3),
        "广东, 广西, 海南 in the inset"
    );
    assert!(
        count(browser, ".map path.ctx").is_some_and(|n| n >= 3),
        "台湾, 香港, 澳门 on the map"
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

/// The password of the test's accounts.
const PASSWORD: &str = "a long test password";

#[test]
fn a_browser_logs_in_sees_its_subtree_only_and_drills_down() {
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

    // Accounts, made through the running daemon (the password on stdin).
    for (name, org, role) in [
        ("boss", "100000", "admin"),
        ("henan", "410000", "viewer"),
        ("target", "419001", "viewer"),
    ] {
        let args = [
            "user",
            "add",
            name,
            "--org",
            org,
            "--role",
            role,
            "--password-stdin",
        ];
        let out = national.run_with_input(&args, &format!("{PASSWORD}\n"));
        assert_eq!(out.code, 0, "user add {name}: {}", out.stderr);
        assert!(out.stdout.contains(&format!("account {name} added")));
    }
    let list = national.ok(&["user", "list"]);
    assert!(list.contains("henan") && list.contains("410000") && list.contains("viewer"));
    assert!(!list.contains("argon2"), "no hash is ever printed");

    let mut browser = Browser::start(&bin, &world.root().join("browser"));
    // Without a session: the login page; the API is refused.
    let page = browser.incognito();
    browser.goto(&page, &format!("{base}/org/410000?as_of={as_of}"));
    assert_eq!(browser.path(&page), "/login");
    browser.goto(&page, &format!("{base}/api/coverage?depth=1"));
    assert_eq!(browser.status(&page), 401);
    assert!(!browser.html(&page).contains("410000"));

    // A wrong password, then the right one.
    browser.goto(&page, &format!("{base}/login"));
    browser.fill_and_submit(
        &page,
        "/login",
        &[("username", "henan"), ("password", "not the password")],
    );
    assert_eq!(browser.status(&page), 401, "{}", browser.html(&page));
    assert!(
        browser
            .html(&page)
            .contains("Wrong account name or password")
    );
    browser.fill_and_submit(
        &page,
        "/login",
        &[("username", "henan"), ("password", PASSWORD)],
    );
    assert_eq!(browser.path(&page), "/");
    assert_eq!(
        browser.eval(&page, "document.cookie"),
        "",
        "the cookie is HttpOnly"
    );
    let dom = browser.html(&page);
    assert!(
        dom.contains(r#"<span class="here">河南省</span>"#),
        "home is 河南"
    );
    assert!(dom.contains(r#"data-field="account">henan<"#));

    // 河南's page for the date: its figures, then a drill-down to 郑州.
    let province_url = format!("{base}/org/410000?as_of={as_of}");
    browser.goto(&page, &province_url);
    let dom = browser.html(&page);
    check_page(&dom, &coverage, "410000");
    assert!(!dom.contains(r#"href="/org/100000"#), "no way up from 河南");
    for child in ["410100", "419001"] {
        assert!(
            dom.contains(&format!(r#"<path data-org="{child}" class="area b"#)),
            "{child} on the map"
        );
    }
    let link = child_link(&dom, "410100");
    assert_eq!(link, format!("/org/410100?as_of={as_of}"));
    browser.goto(&page, &format!("{base}{link}"));
    check_page(&browser.html(&page), &coverage, "410100");
    let artifacts = target_dir().join("test-artifacts");
    std::fs::create_dir_all(&artifacts).expect("the artifacts dir");
    let shot = artifacts.join("dashboard-province.png");
    browser.goto(&page, &province_url);
    browser.screenshot(&page, &shot);
    println!("screenshot of 河南's page: {}", shot.display());

    // Outside the subtree: 404, whatever the way in.
    for path in [
        "/org/100000".to_owned(),
        "/org/420000".to_owned(),
        format!("/report.csv?org=420000&as_of={as_of}"),
        "/api/coverage?org=100000".to_owned(),
        "/admin".to_owned(),
    ] {
        browser.goto(&page, &format!("{base}{path}"));
        assert_eq!(browser.status(&page), 404, "{path}");
    }

    // A person search, by the form: the ID is posted, never in the URL.
    let person = world.data("410102").roster[0].person;
    browser.goto(&page, &format!("{base}/person"));
    browser.fill_and_submit(&page, "/person", &[("id", &person.to_string())]);
    assert_eq!(browser.status(&page), 200);
    assert_eq!(browser.eval(&page, "location.search"), "");
    let dom = browser.html(&page);
    assert!(
        dom.contains(&person.masked()),
        "the person is shown, masked"
    );
    assert!(!dom.contains(&person.to_string()), "never the full ID");

    // Logging out ends the session.
    browser.fill_and_submit(&page, "/logout", &[]);
    assert_eq!(browser.path(&page), "/login");
    browser.goto(&page, &format!("{base}/"));
    assert_eq!(browser.path(&page), "/login");

    // The national admin: the national page, the drill-down, the audit log.
    let admin = browser.incognito();
    browser.goto(&admin, &format!("{base}/login"));
    browser.fill_and_submit(
        &admin,
        "/login",
        &[("username", "boss"), ("password", PASSWORD)],
    );
    browser.goto(&admin, &format!("{base}/?as_of={as_of}"));
    let dom = browser.html(&admin);
    assert!(dom.contains(r#"<html lang="zh-CN">"#));
    check_page(&dom, &coverage, "100000");
    check_national_map(&mut browser, &admin, &coverage);
    let shot = artifacts.join("dashboard-national.png");
    browser.screenshot(&admin, &shot);
    println!("screenshot of the national page: {}", shot.display());
    assert_eq!(
        child_link(&dom, "410000"),
        format!("/org/410000?as_of={as_of}")
    );
    browser.goto(&admin, &format!("{base}/admin"));
    assert_eq!(browser.status(&admin), 200);
    let dom = browser.html(&admin);
    assert!(
        dom.contains(r#"<td data-field="actor">henan</td><td data-field="action">person</td>"#),
        "the admin page lists henan's lookup"
    );

    // A brute-force loop is slowed: after a few failures every attempt
    // waits, even with the right password.
    let attacker = browser.incognito();
    let mut statuses = Vec::new();
    for i in 0..7 {
        browser.goto(&attacker, &format!("{base}/login"));
        let password = if i == 6 {
            PASSWORD.to_owned()
        } else {
            format!("guess {i}")
        };
        browser.fill_and_submit(
            &attacker,
            "/login",
            &[("username", "target"), ("password", &password)],
        );
        statuses.push(browser.status(&attacker));
    }
    assert_eq!(
        statuses,
        [401, 401, 401, 401, 401, 429, 429],
        "{statuses:?}"
    );
    assert!(browser.html(&attacker).contains("Too many failed logins"));

    // The audit log, from the command line (through the daemon).
    let audit: Value =
        serde_json::from_str(&national.ok(&["audit", "--format", "json"])).expect("audit JSON");
    let events = audit["events"].as_array().expect("events");
    let has = |actor: &str, action: &str| {
        events
            .iter()
            .any(|e| e["actor"] == actor && e["action"] == action)
    };
    assert!(has("cli", "account_added"));
    assert!(has("henan", "login") && has("henan", "login_failed") && has("henan", "logout"));
    assert!(has("henan", "person"));
    assert!(has("target", "login_failed"));
    let text = audit.to_string();
    assert!(text.contains(&person.masked()));
    assert!(
        !text.contains(&person.to_string()),
        "no full ID in the audit log"
    );
    assert!(
        events[0]["at"]
            .as_str()
            .is_some_and(|t| t.ends_with("+08:00"))
    );
    println!("browser test: {:.1} s", started.elapsed().as_secs_f64(),);
    drop(browser);
    // The dashboard stops with the daemon, within its grace.
    nodes.get_mut("100000").expect("the national node").stop();
}
