//! The dashboard's routes over an in-process router: a national node holding
//! generated records of 河南 (province), 郑州 (prefecture), 中原区 and 济源
//! (counties) and its own, as if they had synced; and 河南's own node, to
//! see what lies outside a subtree.

use std::io::Cursor;
use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Request, StatusCode, header};
use calamine::{Data, Reader, Xlsx};
use lunxun_gen::{GenParams, NodeData};
use lunxun_hub::dashboard;
use lunxun_node::accounts::{self, Role};
use lunxun_node::config::Config;
use lunxun_node::model::{Date, Record};
use lunxun_node::node::Node;
use lunxun_node::render::Lang;
use lunxun_node::sync::children::ChildState;
use lunxun_node::{ingest, reports};
use tower::ServiceExt;

const AS_OF: &str = "2026-06-30";

struct Fixture {
    _tmp: tempfile::TempDir,
    national: Arc<Node>,
    province: Arc<Node>,
    data: Vec<(&'static str, NodeData)>,
}

fn init(dir: &Path, org: &str) -> Node {
    Node::init(
        &dir.join(org),
        Config {
            org: org.into(),
            upstream: None,
            tls_dir: None,
            insecure: true,
            ..Default::default()
        },
    )
    .expect("init")
}

fn records(data: &NodeData) -> Vec<Record> {
    data.roster
        .iter()
        .cloned()
        .map(Record::Roster)
        .chain(data.classes.iter().cloned().map(Record::Class))
        .chain(data.attendance.iter().cloned().map(Record::Attendance))
        .collect()
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().expect("temp dir");
    let params = GenParams {
        seed: 5,
        county_workers: 40,
        bureau_staff: 5,
        organs_staff: 5,
        ..GenParams::default()
    };
    let national = Arc::new(init(tmp.path(), "100000"));
    let mut province = None;
    let mut data = Vec::new();
    for org in ["100000", "410000", "410100", "410102", "419001"] {
        let orgs = national.orgs();
        let generated =
            lunxun_gen::generate_node(&params, &orgs, orgs.get(org).expect("a known org"));
        if org == "100000" {
            national
                .write_records(records(&generated))
                .expect("national writes");
        } else {
            // The child writes its own log; the national node takes it as a
            // sync would, verified and placed.
            let child = init(tmp.path(), org);
            child.write_records(records(&generated)).expect("writes");
            let changes: Vec<Bytes> = child
                .store()
                .scan(org, 0)
                .map(|e| e.expect("a stored change").change)
                .collect();
            let verified = ingest::verify(&orgs, national.me(), changes).expect("verified");
            national.ingest(vec![verified.into()]).expect("ingested");
            if org == "410000" {
                province = Some(Arc::new(child));
            }
        }
        data.push((org, generated));
    }
    Fixture {
        _tmp: tmp,
        national,
        province: province.expect("the province node"),
        data,
    }
}

fn as_of() -> Date {
    AS_OF.parse().expect("a date")
}

/// The password of every account the tests create.
const PASSWORD: &str = "a long test password";

/// A logged-in browser of one router: its session cookie and form token.
struct Client {
    router: Router,
    cookie: String,
    csrf: String,
}

type Answer = (StatusCode, HeaderMap, Bytes);

async fn send(router: &Router, request: Request<Body>) -> Answer {
    let response = router
        .clone()
        .oneshot(request)
        .await
        .expect("the router answers");
    let status = response.status();
    let headers = response.headers().clone();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("a body");
    (status, headers, body)
}

/// Percent-encodes a form value.
fn enc(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            b' ' => "+".to_owned(),
            b => format!("%{b:02X}"),
        })
        .collect()
}

fn form_body(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{k}={}", enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The value a `Set-Cookie` header gives cookie `name`, and the header.
fn set_cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<(String, &'h str)> {
    headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| {
            let value = v[name.len() + 1..].split(';').next().unwrap_or_default();
            (value.to_owned(), v)
        })
}

/// The value of the first hidden `csrf` field of a page.
fn csrf_of(html: &str) -> String {
    let key = r#"name="csrf" value=""#;
    let start = html.find(key).expect("a form with a csrf field") + key.len();
    html[start..start + html[start..].find('"').unwrap()].to_owned()
}

/// Logs in through the form, from `address`; the answer to the POST.
async fn login_from(
    router: &Router,
    name: &str,
    password: &str,
    address: Option<std::net::SocketAddr>,
) -> Answer {
    let (status, headers, body) =
        send(router, Request::get("/login").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    let (token, _) = set_cookie(&headers, "lunxun_login").expect("the login form's cookie");
    assert_eq!(csrf_of(&text(&body)), token);
    let mut request = Request::post("/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::COOKIE, format!("lunxun_login={token}"))
        .body(Body::from(form_body(&[
            ("username", name),
            ("password", password),
            ("csrf", &token),
        ])))
        .unwrap();
    if let Some(a) = address {
        request
            .extensions_mut()
            .insert(axum::extract::ConnectInfo(a));
    }
    send(router, request).await
}

/// Adds account `name` (unless it exists) and logs it in.
async fn client_as(node: &Arc<Node>, name: &str, org: &str, role: Role) -> Client {
    if accounts::get(node, name).unwrap().is_none() {
        accounts::add(node, name, org, role, PASSWORD).expect("an account");
    }
    let router = dashboard::router(node.clone());
    let (status, headers, body) = login_from(&router, name, PASSWORD, None).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "login: {}", text(&body));
    let (session, _) = set_cookie(&headers, "lunxun_session").expect("a session cookie");
    let cookie = format!("lunxun_session={session}");
    let (_, _, body) = send(
        &router,
        Request::get("/person")
            .header(header::COOKIE, &cookie)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    let csrf = csrf_of(&text(&body));
    Client {
        router,
        cookie,
        csrf,
    }
}

/// The node's own admin, logged in.
async fn admin(node: &Arc<Node>) -> Client {
    let org = node.code().to_owned();
    client_as(node, "admin", &org, Role::Admin).await
}

async fn get(client: &Client, uri: &str) -> Answer {
    send(
        &client.router,
        Request::get(uri)
            .header(header::COOKIE, &client.cookie)
            .body(Body::empty())
            .expect("a request"),
    )
    .await
}

/// Posts a form with the client's token (unless `fields` has its own).
async fn post(client: &Client, uri: &str, fields: &[(&str, &str)]) -> Answer {
    let mut fields = fields.to_vec();
    if !fields.iter().any(|(k, _)| *k == "csrf") {
        fields.push(("csrf", &client.csrf));
    }
    send(
        &client.router,
        Request::post(uri)
            .header(header::COOKIE, &client.cookie)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(form_body(&fields)))
            .expect("a request"),
    )
    .await
}

fn text(body: &Bytes) -> String {
    String::from_utf8(body.to_vec()).expect("UTF-8")
}

fn content_type(headers: &HeaderMap) -> &str {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// The text of the element carrying `data-org="org" data-field="field"`.
fn field(html: &str, org: &str, field: &str) -> Option<String> {
    let key = format!(r#"data-org="{org}" data-field="{field}">"#);
    let start = html.find(&key)? + key.len();
    let end = html[start..].find('<')? + start;
    Some(html[start..end].to_owned())
}

#[tokio::test]
async fn the_api_prints_what_coverage_json_prints() {
    let f = fixture();
    let router = admin(&f.national).await;
    let henan = f.national.orgs().get("410000").unwrap();
    for (uri, root, depth, date) in [
        (
            format!("/api/coverage?org=410000&depth=1&as_of={AS_OF}"),
            henan,
            Some(1),
            as_of(),
        ),
        (
            format!("/api/coverage?org=410000&as_of={AS_OF}"),
            henan,
            None,
            as_of(),
        ),
        (
            "/api/coverage?depth=0".to_owned(),
            f.national.me(),
            Some(0),
            lunxun_node::cli::today(),
        ),
    ] {
        let (status, headers, body) = get(&router, &uri).await;
        assert_eq!(status, StatusCode::OK, "{uri}: {}", text(&body));
        assert_eq!(content_type(&headers), "application/json");
        let report = f.national.coverage(root, depth, date);
        let mut expected = Vec::new();
        lunxun_node::render::json(&mut expected, &report).unwrap();
        assert_eq!(text(&body), String::from_utf8(expected).unwrap(), "{uri}");
        // The contract's fields, through text as a client reads them.
        let parsed: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let text = serde_json::to_string(&report).unwrap();
        assert_eq!(
            parsed,
            serde_json::from_str::<serde_json::Value>(&text).unwrap()
        );
        assert!(parsed["nodes"][0]["rotation"]["rate"].is_number(), "{uri}");
    }
    // Not vacuous: the province's subtree has people and reporting nodes.
    let (_, _, body) = get(&router, &format!("/api/coverage?org=410000&as_of={AS_OF}")).await;
    let parsed: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(parsed["nodes"][0]["subtree"]["nodes"], 4);
    assert!(parsed["nodes"][0]["subtree"]["rotation"]["roster"].as_u64() > Some(50));
}

#[tokio::test]
async fn the_api_refuses_bad_arguments_with_a_json_error() {
    let f = fixture();
    let national = admin(&f.national).await;
    let province = admin(&f.province).await;
    let long = format!("/api/coverage?org={}", "4".repeat(600));
    for (router, uri, want) in [
        (
            &national,
            "/api/coverage?as_of=2026-02-30",
            StatusCode::BAD_REQUEST,
        ),
        (
            &national,
            "/api/coverage?as_of=yesterday",
            StatusCode::BAD_REQUEST,
        ),
        (
            &national,
            "/api/coverage?as_of=1900-01-01",
            StatusCode::BAD_REQUEST,
        ),
        (&national, "/api/coverage?depth=-1", StatusCode::BAD_REQUEST),
        (
            &national,
            "/api/coverage?depth=99999999999",
            StatusCode::BAD_REQUEST,
        ),
        (
            &national,
            "/api/coverage?org=41%3Cb%3E",
            StatusCode::BAD_REQUEST,
        ),
        (
            &national,
            "/api/coverage?org=1&org=2",
            StatusCode::BAD_REQUEST,
        ),
        (
            &national,
            "/api/coverage?as_of=%FF",
            StatusCode::BAD_REQUEST,
        ),
        (&national, long.as_str(), StatusCode::BAD_REQUEST),
        (&national, "/api/coverage?org=999999", StatusCode::NOT_FOUND),
        (&province, "/api/coverage?org=420000", StatusCode::NOT_FOUND),
        (&province, "/api/coverage?org=100000", StatusCode::NOT_FOUND),
    ] {
        let (status, headers, body) = get(router, uri).await;
        assert_eq!(status, want, "{uri}: {}", text(&body));
        assert_eq!(content_type(&headers), "application/json", "{uri}");
        let body = text(&body);
        assert_eq!(body.trim_end().lines().count(), 1, "{uri}: {body}");
        let error: serde_json::Value = serde_json::from_str(&body).expect("a JSON error");
        assert!(
            error["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{body}"
        );
    }
    // The province's own subtree is served.
    let (status, _, _) = get(&province, "/api/coverage?org=410100&depth=0").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn the_org_page_shows_the_figures_children_and_map() {
    let f = fixture();
    let router = admin(&f.national).await;
    let report = f.national.coverage(f.national.me(), Some(1), as_of());
    let (status, headers, body) = get(&router, &format!("/?as_of={AS_OF}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type(&headers), "text/html; charset=utf-8");
    assert!(headers.contains_key(header::CONTENT_SECURITY_POLICY));
    let html = text(&body);
    assert!(html.starts_with("<!DOCTYPE html>\n<html lang=\"zh-CN\">"));
    let root = &report.nodes[0];
    let pct = lunxun_node::render::percent;
    for (name, want) in [
        ("rotation.roster", root.rotation.roster.to_string()),
        ("rotation.current", root.rotation.current.to_string()),
        ("rotation.overdue", root.rotation.overdue.to_string()),
        ("rotation.rate", pct(root.rotation.rate)),
        (
            "subtree.rotation.covered",
            root.subtree.rotation.covered.to_string(),
        ),
        ("subtree.rotation.rate", pct(root.subtree.rotation.rate)),
        (
            "subtree.hours.online.compliant",
            root.subtree.hours.online.compliant.to_string(),
        ),
        ("subtree.nodes", "5".to_owned()),
        ("subtree.expected", root.subtree.expected.to_string()),
    ] {
        assert_eq!(field(&html, "100000", name), Some(want), "{name}");
    }
    // 31 provinces, 河南 linked with the date; a silent one says so.
    assert_eq!(html.matches("class=\"child\"").count(), 31);
    assert!(html.contains(&format!(r#"href="/org/410000?as_of={AS_OF}""#)));
    let hubei = html.find(r#"data-child="420000""#).expect("湖北's row");
    assert!(html[hubei..].contains("未报送"));
    // The map: every province an area of its boundary, coloured by its
    // band and linked; 台湾, 香港, 澳门 drawn; the 南海诸岛 inset.
    assert!(html.contains("<svg"));
    assert_eq!(html.matches(r#"<path data-org=""#).count(), 31);
    assert!(html.contains(&format!(
        r#"<a href="/org/410000?as_of={AS_OF}"><path data-org="410000" class="area b"#
    )));
    assert!(html.contains(r#"<path data-org="420000" class="area b0""#));
    assert!(html.contains(r#"class="inset""#) && html.contains(r#"class="dash""#));
    assert!(html.matches(r#"<path class="ctx""#).count() >= 3);
    // Trends: two charts of the plan period's month ends.
    assert_eq!(html.matches("<figure>").count(), 2);

    // Drill down to 河南: its figures and children.
    let report = f
        .national
        .coverage(f.national.orgs().get("410000").unwrap(), Some(1), as_of());
    let (status, _, body) = get(&router, &format!("/org/410000?as_of={AS_OF}")).await;
    assert_eq!(status, StatusCode::OK);
    let html = text(&body);
    assert!(html.contains(r#"<a href="/org/100000?as_of=2026-06-30">国家信访局</a>"#));
    for child in report.nodes.iter().filter(|n| n.depth == 1) {
        assert_eq!(
            field(&html, &child.org, "subtree.rotation.roster"),
            Some(child.subtree.rotation.roster.to_string()),
            "{}",
            child.org
        );
        assert_eq!(
            field(&html, &child.org, "subtree.rotation.rate"),
            Some(pct(child.subtree.rotation.rate))
        );
    }
    assert!(field(&html, "410100", "freshness").is_some_and(|f| !f.contains("未报送")));
    assert!(field(&html, "410200", "freshness").is_some_and(|f| f.contains("未报送")));
    // A county: no children, no crash.
    let (status, _, _) = get(&router, "/org/410102").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn pages_refuse_bad_input_with_400_and_unknown_orgs_with_404() {
    let f = fixture();
    let national = admin(&f.national).await;
    let province = admin(&f.province).await;
    for (router, uri, want) in [
        (
            &national,
            "/org/410000?as_of=2026-13-01",
            StatusCode::BAD_REQUEST,
        ),
        (&national, "/org/not%20a%20code", StatusCode::BAD_REQUEST),
        (&national, "/org/999999", StatusCode::NOT_FOUND),
        (&national, "/nothing/here", StatusCode::NOT_FOUND),
        (&province, "/org/420000", StatusCode::NOT_FOUND),
        (&province, "/org/100000", StatusCode::NOT_FOUND),
        (&province, "/report.csv?org=420100", StatusCode::NOT_FOUND),
        (
            &national,
            "/report.xlsx?as_of=20260630",
            StatusCode::BAD_REQUEST,
        ),
        (&national, "/report.csv?lang=fr", StatusCode::BAD_REQUEST),
    ] {
        let (status, headers, body) = get(router, uri).await;
        assert_eq!(status, want, "{uri}");
        assert_eq!(content_type(&headers), "text/html; charset=utf-8", "{uri}");
        assert!(text(&body).contains("class=\"error\""), "{uri}");
    }
    // Markup in the input comes back escaped.
    let (_, _, body) = get(&national, "/org/410000?as_of=%3Cscript%3E").await;
    let html = text(&body);
    assert!(!html.contains("<script>"));
    assert!(html.contains("&lt;script&gt;"));
}

#[tokio::test]
async fn names_with_markup_come_back_escaped() {
    let f = fixture();
    let router = admin(&f.national).await;
    // A login under a name that would close the attribute and open a script:
    // the form comes back with the name escaped in its value.
    let name = r#"x"><script>alert('x')</script>"#;
    let (status, _, body) = login_from(&router.router, name, "not the password", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let html = text(&body);
    assert!(!html.contains("<script>"), "{html}");
    assert!(html.contains(r#"value="x&quot;&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;""#));
    // The failed login's entry on the admin page: the same name, escaped.
    let (status, _, body) = get(&router, "/admin").await;
    assert_eq!(status, StatusCode::OK);
    let html = text(&body);
    assert!(!html.contains("<script>"));
    assert!(html.contains(
        r#"<td data-field="actor">x&quot;&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;</td>"#
    ));
}

#[tokio::test]
async fn the_front_page_shows_each_childs_last_bundle() {
    let f = fixture();
    // 河南 sent three bundles by file, the last with its own seqs 41 to 97
    // and 郑州's 1 to 3, imported at 10:05 in the bureau's zone (as
    // `bundle import` records it).
    let at_ms = 1_782_785_100_000; // 2026-06-30T02:05:00Z
    ChildState::update(&f.national, "410000", |s| {
        s.bundles = 3;
        s.last_bundle = Some(at_ms);
        s.last_bundle_covered = [
            ("410000".to_owned(), (41, 97)),
            ("410100".to_owned(), (1, 3)),
        ]
        .into();
    })
    .expect("the child's record");
    let router = admin(&f.national).await;
    let (status, _, body) = get(&router, &format!("/?as_of={AS_OF}")).await;
    assert_eq!(status, StatusCode::OK);
    let html = text(&body);
    assert!(html.contains(r#"最近文件包 <span class="en">Last bundle</span>"#));
    assert!(html.contains(r#"<time datetime="2026-06-30T02:05:00Z""#));
    for (name, want) in [
        ("last_bundle", "2026-06-30 10:05"),
        ("last_bundle.changes", "60"),
        ("last_bundle.covered", "410000 41–97, 410100 1–3"),
    ] {
        assert_eq!(
            field(&html, "410000", name).as_deref(),
            Some(want),
            "{name}"
        );
    }
    // A child that never sent one.
    assert_eq!(field(&html, "420000", "last_bundle").as_deref(), Some("—"));
    // Below this node's own children, bundles went elsewhere: no column.
    let (_, _, body) = get(&router, &format!("/org/410000?as_of={AS_OF}")).await;
    assert!(!text(&body).contains("last_bundle"));
}

#[tokio::test]
async fn report_downloads_are_the_tongbao_as_xlsx_and_csv() {
    let f = fixture();
    let router = admin(&f.national).await;
    let henan = f.national.orgs().get("410000").unwrap();
    let report = reports::tongbao_of(&f.national, henan, as_of()).unwrap();
    let table = reports::report_table(&report);

    let (status, headers, body) =
        get(&router, &format!("/report.xlsx?org=410000&as_of={AS_OF}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        content_type(&headers),
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    );
    let disposition = headers[header::CONTENT_DISPOSITION].to_str().unwrap();
    assert!(
        disposition.starts_with("attachment; filename=\"lunxun-report-410000-2026-06-30.xlsx\"")
    );
    // 河南省 in UTF-8, percent-encoded.
    assert!(
        disposition.contains("filename*=UTF-8''%E6%B2%B3%E5%8D%97%E7%9C%81"),
        "{disposition}"
    );
    let mut book: Xlsx<_> =
        calamine::open_workbook_from_rs(Cursor::new(body.to_vec())).expect("an XLSX");
    let sheet = book.worksheet_range("lunxun").expect("the sheet");
    let rows: Vec<Vec<String>> = sheet
        .rows()
        .map(|r| {
            r.iter()
                .map(|c| match c {
                    Data::Float(x) if x.fract() == 0.0 => format!("{x:.0}"),
                    other => other.to_string(),
                })
                .collect()
        })
        .collect();
    assert!(
        rows[0][0].starts_with("河南省 干部轮训覆盖情况通报"),
        "{:?}",
        rows[0]
    );
    let zh: Vec<&str> = reports::REPORT_COLUMNS.iter().map(|c| c.zh).collect();
    assert_eq!(rows[1], zh);
    assert_eq!(rows.len(), 3 + table.len());
    for (got, want) in rows[3..].iter().zip(&table) {
        assert_eq!(got, want);
    }
    // 郑州 and 济源 report; every direct subordinate is listed, plus the total.
    assert_eq!(table.len(), f.national.orgs().children(henan).len() + 1);

    let (status, headers, body) =
        get(&router, &format!("/report.csv?org=410000&as_of={AS_OF}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type(&headers), "text/csv; charset=utf-8");
    assert!(
        headers[header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .contains(".csv")
    );
    let expected = reports::csv_bytes(None, &reports::REPORT_COLUMNS, &table, Lang::Zh).unwrap();
    assert_eq!(body.to_vec(), expected);
    assert!(text(&body).starts_with("\u{feff}排名,机构代码,单位"));
}

#[tokio::test]
async fn person_search_shows_rosters_and_trainings_with_the_id_masked() {
    let f = fixture();
    let router = admin(&f.national).await;
    let (_, county) = f.data.iter().find(|(o, _)| *o == "410102").unwrap();
    let entry = &county.roster[0];
    let id = entry.person.to_string();
    let (status, _, body) = post(&router, "/person", &[("id", &id), ("as_of", AS_OF)]).await;
    assert_eq!(status, StatusCode::OK);
    let html = text(&body);
    assert!(html.contains(&entry.person.masked()));
    assert!(!html.contains(&id), "the full ID number is never shown");
    assert!(html.contains(&entry.name));
    assert!(html.contains(r#"<a href="/org/410102?as_of=2026-06-30">中原区</a>"#));
    let found = {
        let view = f.national.view();
        reports::person(
            &view,
            &f.national.orgs(),
            &f.national.policy(),
            entry.person,
            as_of(),
            false,
        )
        .unwrap()
    };
    assert!(html.contains(&format!(
        r#"培训记录 <span class="en">Trainings</span> <span class="count">{}</span>"#,
        found.trainings.len()
    )));
    if let Some(status) = found.entries[0].rotation {
        assert!(html.contains(&format!("badge st-{}", status.as_str())));
    }

    // The form alone; a malformed ID; one nobody holds; one far too long.
    let (status, _, body) = get(&router, "/person").await;
    assert_eq!(status, StatusCode::OK);
    assert!(text(&body).contains(r#"<form class="search""#));
    let mut unknown = id.clone();
    unknown.replace_range(6..10, "1999");
    let digits: [u8; 17] = unknown.as_bytes()[..17].try_into().unwrap();
    unknown.replace_range(
        17..,
        &lunxun_node::model::PersonId::check_char(&digits).to_string(),
    );
    let mut bad_check = id.clone();
    bad_check.replace_range(17.., if id.ends_with('0') { "1" } else { "0" });
    let long = "1".repeat(40);
    for (id, want) in [
        (bad_check.as_str(), StatusCode::BAD_REQUEST),
        ("41010219900101", StatusCode::BAD_REQUEST),
        (unknown.as_str(), StatusCode::NOT_FOUND),
        (long.as_str(), StatusCode::BAD_REQUEST),
    ] {
        let (status, _, body) = post(&router, "/person", &[("id", id)]).await;
        assert_eq!(status, want, "{id}");
        let html = text(&body);
        assert!(html.contains(r#"class="error""#), "{id}");
        assert!(html.contains(r#"<form class="search""#), "{id}");
        assert!(!html.contains(id) || id.len() < 18, "the ID is not echoed");
    }
    // An ID in a URL is refused, not searched (URLs end up in logs).
    let (status, _, body) = get(&router, &format!("/person?id={id}")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(text(&body).contains("never goes in a URL"));
}

#[tokio::test]
async fn serve_writes_its_address_and_stops_on_the_signal() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let f = fixture();
    let (listener, addr) = dashboard::bind(&f.national, "127.0.0.1:0").await.unwrap();
    let written =
        std::fs::read_to_string(f.national.dir().join(dashboard::HTTP_ADDR_FILE)).unwrap();
    assert_eq!(written, addr.to_string());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let server = tokio::spawn(dashboard::serve(listener, f.national.clone(), stopped));
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    conn.write_all(b"GET /api/coverage?depth=0 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer).await.unwrap();
    // Over the real server too: no session, no figures.
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(answer.contains("\"error\""), "{answer}");
    assert!(!answer.contains("\"org\": \"100000\""));
    stop.send(true).unwrap();
    let ended = tokio::time::timeout(std::time::Duration::from_secs(10), server).await;
    assert!(matches!(ended, Ok(Ok(Ok(())))), "{ended:?}");
}

fn anonymous(node: &Arc<Node>) -> Client {
    Client {
        router: dashboard::router(node.clone()),
        cookie: "lunxun_session=0123456789abcdef".into(),
        csrf: String::new(),
    }
}

#[tokio::test]
async fn without_a_session_pages_redirect_to_the_login_and_the_api_is_401() {
    let f = fixture();
    let nobody = anonymous(&f.national);
    for uri in [
        "/",
        "/org/410000",
        "/person",
        "/report.csv?org=410000",
        "/admin",
        "/nothing",
    ] {
        let (status, headers, _) = get(&nobody, uri).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{uri}");
        assert_eq!(headers[header::LOCATION], "/login", "{uri}");
    }
    let (status, headers, body) = get(&nobody, "/api/coverage?depth=1").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(content_type(&headers), "application/json");
    assert!(!text(&body).contains("410000"));
    let (status, _, _) = post(&nobody, "/person", &[("id", "410102198001010018")]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    // The login page itself is open, in the dashboard's style.
    let (status, _, body) = send(
        &nobody.router,
        Request::get("/login").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let html = text(&body);
    assert!(html.contains(r#"<form method="post" action="/login">"#));
    assert!(html.contains(r#"type="password""#));
}

#[tokio::test]
async fn a_login_sets_a_strict_httponly_expiring_cookie_and_logout_ends_it() {
    let f = fixture();
    accounts::add(&f.national, "li", "100000", Role::Viewer, PASSWORD).unwrap();
    let router = dashboard::router(f.national.clone());
    let (status, headers, _) = login_from(&router, "li", PASSWORD, None).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (session, header) = set_cookie(&headers, "lunxun_session").unwrap();
    assert_eq!(session.len(), 64, "a 256-bit token");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=28800"] {
        assert!(header.contains(attribute), "{header}");
    }
    // A login form posted without its cookie (from another page) is refused.
    let (status, _, _) = send(
        &router,
        Request::post("/login")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(form_body(&[
                ("username", "li"),
                ("password", PASSWORD),
                ("csrf", "x"),
            ])))
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let client = client_as(&f.national, "li", "100000", Role::Viewer).await;
    let (status, _, body) = get(&client, "/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(text(&body).contains(r#"data-field="account">li<"#));
    // Logout needs the form's token; then the session is gone.
    let (status, _, _) = post(&client, "/logout", &[("csrf", "forged")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = get(&client, "/").await;
    assert_eq!(status, StatusCode::OK);
    let (status, headers, _) = post(&client, "/logout", &[]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(
        set_cookie(&headers, "lunxun_session")
            .unwrap()
            .1
            .contains("Max-Age=0")
    );
    let (status, _, _) = get(&client, "/").await;
    assert_eq!(status, StatusCode::SEE_OTHER, "the session ended");
}

#[tokio::test]
async fn an_account_sees_its_orgs_subtree_only() {
    let f = fixture();
    let henan = client_as(&f.national, "henan", "410000", Role::Viewer).await;
    // Home is the account's org, not the node's.
    let (status, _, body) = get(&henan, &format!("/?as_of={AS_OF}")).await;
    assert_eq!(status, StatusCode::OK);
    let html = text(&body);
    assert!(
        html.contains(r#"<span class="here">河南省</span>"#),
        "{html}"
    );
    assert!(!html.contains(r#"href="/org/100000"#), "no way up");
    for uri in [
        "/org/100000",
        "/org/420000",
        "/org/420100",
        "/api/coverage?org=100000",
        "/api/coverage?org=420000&depth=0",
        "/report.csv?org=100000",
        "/report.xlsx?org=420000",
        "/admin",
    ] {
        let (status, _, body) = get(&henan, uri).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{uri}: {}", text(&body));
    }
    for uri in [
        "/org/410100",
        "/api/coverage?org=410102&depth=0",
        "/report.csv?org=410100",
    ] {
        let (status, _, _) = get(&henan, uri).await;
        assert_eq!(status, StatusCode::OK, "{uri}");
    }
    // A person rostered in 中原区 is found; one on the national roster only is not.
    let (_, county) = f.data.iter().find(|(o, _)| *o == "410102").unwrap();
    let inside = county.roster[0].person.to_string();
    let (status, _, body) = post(&henan, "/person", &[("id", &inside), ("as_of", AS_OF)]).await;
    assert_eq!(status, StatusCode::OK, "{}", text(&body));
    let (_, national) = f.data.iter().find(|(o, _)| *o == "100000").unwrap();
    let rostered_in_henan = |p: &lunxun_node::model::PersonId| {
        f.data
            .iter()
            .filter(|(o, _)| o.starts_with("41"))
            .any(|(_, d)| d.roster.iter().any(|r| r.person == *p))
    };
    let outside = national
        .roster
        .iter()
        .find(|r| !rostered_in_henan(&r.person))
        .expect("someone on the national roster only");
    let (status, _, body) = post(
        &henan,
        "/person",
        &[("id", &outside.person.to_string()), ("as_of", AS_OF)],
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{}", text(&body));
    assert!(!text(&body).contains(&outside.name));
    // The same person for the national admin.
    let national_admin = admin(&f.national).await;
    let (status, _, _) = post(
        &national_admin,
        "/person",
        &[("id", &outside.person.to_string()), ("as_of", AS_OF)],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn failed_logins_are_throttled_per_account_and_per_address() {
    let f = fixture();
    for name in ["wang", "zhao"] {
        accounts::add(&f.national, name, "410000", Role::Viewer, PASSWORD).unwrap();
    }
    let router = dashboard::router(f.national.clone());
    let a: std::net::SocketAddr = "192.0.2.1:5000".parse().unwrap();
    let b: std::net::SocketAddr = "192.0.2.2:5000".parse().unwrap();
    for i in 0..dashboard::FREE_FAILURES {
        let (status, _, body) = login_from(&router, "wang", "not the password", Some(a)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "attempt {i}");
        assert!(text(&body).contains("Wrong account name or password"));
    }
    // Now every attempt waits, even with the right password.
    let (status, headers, body) = login_from(&router, "wang", PASSWORD, Some(a)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{}", text(&body));
    assert!(
        headers[header::RETRY_AFTER]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    // The account is throttled from anywhere; the address for any account.
    let (status, _, _) = login_from(&router, "wang", PASSWORD, Some(b)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let (status, _, _) = login_from(&router, "zhao", PASSWORD, Some(a)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let (status, _, _) = login_from(&router, "zhao", PASSWORD, Some(b)).await;
    assert_eq!(
        status,
        StatusCode::SEE_OTHER,
        "another account from elsewhere logs in"
    );
    // A brute-force loop is slowed: each further failure doubles the wait.
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    let (status, _, _) = login_from(&router, "wang", "still wrong", Some(b)).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the wait is over: one more try"
    );
    let (status, headers, _) = login_from(&router, "wang", PASSWORD, Some(b)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        headers[header::RETRY_AFTER]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 2
    );
    // Every attempt is in the audit log, with the address.
    let events = accounts::events(&f.national, 0, None).unwrap();
    let failed = events
        .iter()
        .filter(|e| e.action == accounts::Action::LoginFailed && e.actor == "wang")
        .count();
    assert_eq!(failed, dashboard::FREE_FAILURES as usize + 4);
    assert!(events.iter().any(|e| e.actor == "zhao"
        && e.action == accounts::Action::Login
        && e.address.as_deref() == Some("192.0.2.2")));
}

#[tokio::test]
async fn lookups_exports_and_account_changes_are_audited_with_the_account() {
    let f = fixture();
    let henan = client_as(&f.national, "henan", "410000", Role::Viewer).await;
    let (_, county) = f.data.iter().find(|(o, _)| *o == "410102").unwrap();
    let person = county.roster[0].person;
    let (status, _, _) = post(&henan, "/person", &[("id", &person.to_string())]).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = get(&henan, "/report.csv?org=410100").await;
    assert_eq!(status, StatusCode::OK);
    // A forged form or one from another site is refused, and not searched.
    let (status, _, _) = post(
        &henan,
        "/person",
        &[("id", &person.to_string()), ("csrf", "x")],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = send(
        &henan.router,
        Request::post("/person")
            .header(header::COOKIE, &henan.cookie)
            .header(header::HOST, "127.0.0.1:8080")
            .header(header::ORIGIN, "http://evil.example")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(form_body(&[
                ("id", &person.to_string()),
                ("csrf", &henan.csrf),
            ])))
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let events = accounts::events(&f.national, 0, None).unwrap();
    let lookups: Vec<_> = events
        .iter()
        .filter(|e| e.action == accounts::Action::Person)
        .collect();
    assert_eq!(lookups.len(), 1, "{events:?}");
    assert_eq!(lookups[0].actor, "henan");
    assert_eq!(lookups[0].org.as_deref(), Some("410000"));
    assert!(lookups[0].detail.contains(&person.masked()));
    assert!(events.iter().any(|e| e.actor == "henan"
        && e.action == accounts::Action::Export
        && e.org.as_deref() == Some("410100")));
    let everything = format!("{events:?}");
    assert!(
        !everything.contains(&person.to_string()),
        "no full ID in the audit log"
    );

    // The admin page shows them, and manages accounts; a viewer gets 404.
    let boss = admin(&f.national).await;
    let (status, _, body) = get(&boss, "/admin").await;
    assert_eq!(status, StatusCode::OK);
    let html = text(&body);
    assert!(
        html.contains(r#"<td data-field="actor">henan</td><td data-field="action">person</td>"#)
    );
    assert!(html.contains(&person.masked()));
    let (status, _, body) = post(
        &boss,
        "/admin/accounts",
        &[
            ("name", "zhengzhou"),
            ("org", "410100"),
            ("role", "viewer"),
            ("password", PASSWORD),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{}", text(&body));
    assert_eq!(
        accounts::get(&f.national, "zhengzhou")
            .unwrap()
            .unwrap()
            .org,
        "410100"
    );
    let (status, _, body) = post(
        &boss,
        "/admin/accounts",
        &[
            ("name", "x"),
            ("org", "410100"),
            ("role", "viewer"),
            ("password", "short"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(text(&body).contains("at least 10"));
    let (status, _, _) = post(&henan, "/admin/accounts/remove", &[("name", "zhengzhou")]).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a viewer manages nothing");
    let (status, _, _) = post(&boss, "/admin/accounts/remove", &[("name", "henan")]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    // A removed account's session ends at its next request.
    let (status, _, _) = get(&henan, "/").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let events = accounts::events(&f.national, 0, None).unwrap();
    assert!(events.iter().any(|e| e.actor == "admin"
        && e.action == accounts::Action::AccountRemoved
        && e.detail == "henan"));
}

#[tokio::test]
async fn a_trusted_proxy_names_the_account_only_from_its_addresses() {
    let tmp = tempfile::tempdir().unwrap();
    let mut config = Config {
        org: "410000".into(),
        upstream: None,
        tls_dir: None,
        insecure: true,
        ..Default::default()
    };
    config.dashboard.trusted_proxy = Some(lunxun_node::config::TrustedProxy {
        header: "X-Remote-User".into(),
        from: vec!["127.0.0.1".parse().unwrap()],
    });
    let node = Arc::new(Node::init(&tmp.path().join("410000"), config).unwrap());
    accounts::add(&node, "sso.user", "410100", Role::Viewer, PASSWORD).unwrap();
    let router = dashboard::router(node.clone());
    let ask = |from: &str, user: &str, uri: &str| {
        let mut request = Request::get(uri)
            .header("X-Remote-User", user)
            .body(Body::empty())
            .unwrap();
        let addr: std::net::SocketAddr = from.parse().unwrap();
        request
            .extensions_mut()
            .insert(axum::extract::ConnectInfo(addr));
        request
    };
    let (status, _, body) = send(&router, ask("127.0.0.1:40000", "sso.user", "/")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(text(&body).contains(r#"<span class="here">郑州市</span>"#));
    let (status, _, _) = send(&router, ask("127.0.0.1:40000", "sso.user", "/org/410000")).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "the account's subtree still applies"
    );
    let (status, _, _) = send(&router, ask("10.1.2.3:40000", "sso.user", "/")).await;
    assert_eq!(
        status,
        StatusCode::SEE_OTHER,
        "the header from elsewhere is ignored"
    );
    let (status, _, _) = send(&router, ask("127.0.0.1:40000", "nobody", "/")).await;
    assert_eq!(
        status,
        StatusCode::SEE_OTHER,
        "an unknown account is nobody"
    );
}

#[tokio::test]
async fn obligations_imported_at_a_county_show_at_its_parent() {
    let tmp = tempfile::tempdir().expect("temp dir");
    // 中原区 imports its obligations file as `import obligations` does.
    let county = init(tmp.path(), "410102");
    let file = tmp.path().join("obligations.csv");
    std::fs::write(
        &file,
        "事项,日期,说明\n专题研究,2026-03-10,党组会\n年度计划,2026-01-16,\n调训通报,2025-12-26,\n",
    )
    .expect("write the file");
    let kind = lunxun_node::app::import::Kind::Obligations;
    let read = lunxun_node::app::import::read(kind, &file, &Default::default()).expect("valid");
    lunxun_node::app::import::write(&county, kind, read, false, &file).expect("written");
    // 郑州 receives 中原区's log as a sync would: verified, then placed.
    let prefecture = Arc::new(init(tmp.path(), "410100"));
    let changes: Vec<Bytes> = county
        .store()
        .scan("410102", 0)
        .map(|e| e.expect("a stored change").change)
        .collect();
    assert_eq!(changes.len(), 3);
    let verified = ingest::verify(&prefecture.orgs(), prefecture.me(), changes).expect("verified");
    prefecture.ingest(vec![verified.into()]).expect("ingested");

    let client = client_as(&prefecture, "viewer", "410100", Role::Viewer).await;
    let (status, _, body) = get(&client, &format!("/org/410100?as_of={AS_OF}")).await;
    assert_eq!(status, StatusCode::OK);
    let html = text(&body);
    assert!(html.contains("履职事项"), "the obligations section");
    for (org, kind, mark) in [
        ("410102", "study", "✓ 是"),
        ("410102", "annual_plan", "✓ 是"),
        // Dated in 2025: not this year's.
        ("410102", "callup_report", "✗ 否"),
        ("410102", "trainee_meeting", "✗ 否"),
        // The prefecture's own row: nothing of its own.
        ("410100", "study", "✗ 否"),
        ("410103", "study", "✗ 否"),
    ] {
        assert_eq!(
            field(&html, org, &format!("obligations.{kind}")).as_deref(),
            Some(mark),
            "{org} {kind}"
        );
    }
    assert_eq!(
        field(&html, "410102", "obligations.met").as_deref(),
        Some("2")
    );
    // The year follows the page's date.
    let (_, _, body) = get(&client, "/org/410100?as_of=2025-12-31").await;
    let html = text(&body);
    assert_eq!(
        field(&html, "410102", "obligations.callup_report").as_deref(),
        Some("✓ 是")
    );
    assert_eq!(
        field(&html, "410102", "obligations.study").as_deref(),
        Some("✗ 否")
    );

    // The 通报's CSV ends with the four, for the report's year.
    let (status, _, body) = get(&client, &format!("/report.csv?org=410100&as_of={AS_OF}")).await;
    assert_eq!(status, StatusCode::OK);
    let csv = text(&body);
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    assert_eq!(
        header[13..],
        [
            "专题研究",
            "座谈交流",
            "年度计划",
            "调训通报",
            "上期覆盖率",
            "变化"
        ]
    );
    let row: Vec<&str> = csv
        .lines()
        .find(|l| l.contains(",410102,"))
        .expect("中原区's row")
        .split(',')
        .collect();
    assert_eq!(row[13..17], ["是", "否", "是", "否"]);
}

#[tokio::test]
async fn the_training_archive_downloads_for_the_subtree_only_with_the_token_and_audited() {
    let f = fixture();
    let henan = client_as(&f.national, "henan", "410000", Role::Viewer).await;
    let (_, _, body) = get(&henan, "/person").await;
    assert!(text(&body).contains(r#"formaction="/person/archive.xlsx""#));
    let (_, county) = f.data.iter().find(|(o, _)| *o == "410102").unwrap();
    let person = county.roster[0].person;
    let id = person.to_string();

    // Without the form's token: refused, nothing audited.
    let (status, _, _) = post(
        &henan,
        "/person/archive.xlsx",
        &[("id", &id), ("as_of", AS_OF), ("csrf", "x")],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        accounts::events(&f.national, 0, None)
            .unwrap()
            .iter()
            .all(|e| e.action != accounts::Action::Export)
    );

    let (status, headers, body) = post(
        &henan,
        "/person/archive.xlsx",
        &[("id", &id), ("as_of", AS_OF)],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    assert_eq!(
        content_type(&headers),
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    );
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");
    let disposition = headers[header::CONTENT_DISPOSITION].to_str().unwrap();
    assert!(
        disposition.starts_with("attachment; filename=\"lunxun-archive-2026-06-30.xlsx\""),
        "{disposition}"
    );
    assert!(!disposition.contains(&id[..10]), "{disposition}");
    assert!(body.starts_with(b"PK"), "a zip");

    // From a search's result, one click: the ID sealed in the form, never shown.
    let (status, _, page) = post(&henan, "/person", &[("id", &id), ("as_of", AS_OF)]).await;
    assert_eq!(status, StatusCode::OK);
    let page = text(&page);
    assert!(!page.contains(&id), "no full ID in the page");
    let sealed = page
        .split(r#"name="ref" value=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a download button")
        .to_owned();
    let (status, _, again) = post(
        &henan,
        "/person/archive.xlsx",
        &[("ref", &sealed), ("as_of", AS_OF)],
    )
    .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&again)
    );
    assert_eq!(again, body, "the same workbook");
    // Another viewer's button, or an altered one, opens nothing.
    let other = client_as(&f.national, "henan-2", "410000", Role::Viewer).await;
    let (status, _, _) = post(
        &other,
        "/person/archive.xlsx",
        &[("ref", &sealed), ("as_of", AS_OF)],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let mut altered = sealed.clone().into_bytes();
    let last = altered.len() - 1;
    altered[last] = if altered[last] == b'0' { b'1' } else { b'0' };
    let altered = String::from_utf8(altered).unwrap();
    let (status, _, _) = post(
        &henan,
        "/person/archive.xlsx",
        &[("ref", &altered), ("as_of", AS_OF)],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // The workbook is the archive the core computes for 河南's subtree.
    let expected = {
        let view = f.national.view();
        let henan_id = f.national.orgs().get("410000").unwrap();
        lunxun_node::archive::person_archive(
            &view,
            &f.national.orgs(),
            &f.national.policy(),
            person,
            henan_id,
            as_of(),
        )
        .unwrap()
    };
    let mut book: Xlsx<_> =
        calamine::open_workbook_from_rs(Cursor::new(body.to_vec())).expect("an XLSX");
    let sheet = book.worksheet_range("培训档案").expect("the sheet");
    let cells: Vec<Vec<String>> = sheet
        .rows()
        .map(|r| r.iter().map(|c| c.to_string()).collect())
        .collect();
    let value = |label: &str| {
        cells
            .iter()
            .find(|r| r.first().is_some_and(|c| c == label))
            .map(|r| r[1].clone())
            .unwrap_or_else(|| panic!("no {label}"))
    };
    assert_eq!(
        value("身份证号 ID number"),
        id,
        "the full ID, inside the file"
    );
    assert_eq!(value("制表单位 Prepared by"), "河南省");
    let years: Vec<String> = cells
        .iter()
        .filter_map(|r| r.first())
        .filter(|c| c.contains("年 year "))
        .cloned()
        .collect();
    let wanted: Vec<String> = expected
        .years
        .iter()
        .map(|y| format!("{}年 year {}", y.year, y.year))
        .collect();
    assert!(!wanted.is_empty());
    assert_eq!(years, wanted);
    let classes: usize = expected.years.iter().map(|y| y.trainings.len()).sum();
    let listed = expected
        .years
        .iter()
        .flat_map(|y| &y.trainings)
        .filter(|t| cells.iter().any(|r| r.get(1) == Some(&t.class_id)))
        .count();
    assert_eq!(listed, classes);

    // Someone on the national roster only: a 404 for 河南, as the search is.
    let (_, national) = f.data.iter().find(|(o, _)| *o == "100000").unwrap();
    let in_henan = |p: &lunxun_node::model::PersonId| {
        f.data
            .iter()
            .filter(|(o, _)| o.starts_with("41"))
            .any(|(_, d)| d.roster.iter().any(|r| r.person == *p))
    };
    let outside = national
        .roster
        .iter()
        .find(|r| !in_henan(&r.person))
        .expect("someone on the national roster only");
    let (status, _, body) = post(
        &henan,
        "/person/archive.xlsx",
        &[("id", &outside.person.to_string()), ("as_of", AS_OF)],
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let page = text(&body);
    assert!(!page.contains(&outside.name) && !page.contains(&outside.person.to_string()));

    // Audited with the account, the number masked.
    let events = accounts::events(&f.national, 0, None).unwrap();
    let export = events
        .iter()
        .find(|e| e.action == accounts::Action::Export)
        .expect("the export");
    assert_eq!(export.actor, "henan");
    assert_eq!(export.org.as_deref(), Some("410000"));
    assert!(
        export.detail.contains(&person.masked()),
        "{}",
        export.detail
    );
    assert!(events.iter().any(|e| e.actor == "henan"
        && e.action == accounts::Action::Person
        && e.detail.contains(&outside.person.masked())));
    assert!(
        !format!("{events:?}").contains(&id),
        "no full ID in the audit log"
    );
}
