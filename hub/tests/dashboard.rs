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
use lunxun_node::config::Config;
use lunxun_node::model::{Date, Record};
use lunxun_node::node::Node;
use lunxun_node::render::Lang;
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
            revoked: Default::default(),
            time_zone: None,
            quotas: Default::default(),
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
            lunxun_gen::generate_node(&params, orgs, orgs.get(org).expect("a known org"));
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
            let verified = ingest::verify(orgs, national.me(), changes).expect("verified");
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

async fn get(router: &Router, uri: &str) -> (StatusCode, HeaderMap, Bytes) {
    let response = router
        .clone()
        .oneshot(Request::get(uri).body(Body::empty()).expect("a request"))
        .await
        .expect("the router answers");
    let status = response.status();
    let headers = response.headers().clone();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("a body");
    (status, headers, body)
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
    let router = dashboard::router(f.national.clone());
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
    let national = dashboard::router(f.national.clone());
    let province = dashboard::router(f.province.clone());
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
    let router = dashboard::router(f.national.clone());
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
    // The map: provinces and prefectures, each linked.
    assert!(html.contains("<svg"));
    assert!(html.contains(r#"<circle data-org="410100""#));
    assert!(html.contains(r#"<circle data-org="420000""#));

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
    let national = dashboard::router(f.national.clone());
    let province = dashboard::router(f.province.clone());
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
async fn report_downloads_are_the_tongbao_as_xlsx_and_csv() {
    let f = fixture();
    let router = dashboard::router(f.national.clone());
    let henan = f.national.orgs().get("410000").unwrap();
    let report = reports::tongbao(&f.national.coverage(henan, Some(1), as_of())).unwrap();
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
    let router = dashboard::router(f.national.clone());
    let (_, county) = f.data.iter().find(|(o, _)| *o == "410102").unwrap();
    let entry = &county.roster[0];
    let id = entry.person.to_string();
    let (status, _, body) = get(&router, &format!("/person?id={id}&as_of={AS_OF}")).await;
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
            f.national.orgs(),
            f.national.policy(),
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
    for (uri, want) in [
        (format!("/person?id={bad_check}"), StatusCode::BAD_REQUEST),
        (
            "/person?id=41010219900101".to_owned(),
            StatusCode::BAD_REQUEST,
        ),
        (format!("/person?id={unknown}"), StatusCode::NOT_FOUND),
        (
            format!("/person?id={}", "1".repeat(40)),
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let (status, _, body) = get(&router, &uri).await;
        assert_eq!(status, want, "{uri}");
        let html = text(&body);
        assert!(html.contains(r#"class="error""#), "{uri}");
        assert!(html.contains(r#"<form class="search""#), "{uri}");
    }
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
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"org\": \"100000\""));
    stop.send(true).unwrap();
    let ended = tokio::time::timeout(std::time::Duration::from_secs(10), server).await;
    assert!(matches!(ended, Ok(Ok(Ok(())))), "{ended:?}");
}
