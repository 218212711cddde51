//! Downloads and the API: the 通报 as XLSX, CSV (with the subordinates'
//! obligations for the report's year at the end) or a Word document (title,
//! summary, ranking, obligations: `lunxun_node::tongbao_docx`), and `/api/coverage`
//! (byte for byte what `coverage --format json` prints).

use std::fmt::Write as _;

use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderValue, Uri, header};
use axum::response::{IntoResponse, Response};
use lunxun_node::render::Lang;
use lunxun_node::reports;

use super::common::*;

#[derive(Debug, Clone, Copy)]
pub(super) enum Format {
    Xlsx,
    Csv,
    Docx,
}

impl Format {
    fn ext(self) -> &'static str {
        match self {
            Format::Xlsx => "xlsx",
            Format::Csv => "csv",
            Format::Docx => "docx",
        }
    }
}

pub(super) async fn report_xlsx(
    State(d): State<Dashboard>,
    Extension(viewer): Extension<Viewer>,
    uri: Uri,
) -> Response {
    report_download(d, viewer, uri, Format::Xlsx).await
}

pub(super) async fn report_csv(
    State(d): State<Dashboard>,
    Extension(viewer): Extension<Viewer>,
    uri: Uri,
) -> Response {
    report_download(d, viewer, uri, Format::Csv).await
}

pub(super) async fn report_docx(
    State(d): State<Dashboard>,
    Extension(viewer): Extension<Viewer>,
    uri: Uri,
) -> Response {
    report_download(d, viewer, uri, Format::Docx).await
}

pub(super) async fn report_download(
    d: Dashboard,
    viewer: Viewer,
    uri: Uri,
    format: Format,
) -> Response {
    match report_bytes(&d, &viewer, &uri, format).await {
        Ok(response) => response,
        Err(fail) => fail.html(&d.node, Some(&viewer)),
    }
}

pub(super) async fn report_bytes(
    d: &Dashboard,
    viewer: &Viewer,
    uri: &Uri,
    format: Format,
) -> Result<Response, Fail> {
    let p = params(uri)?;
    let as_of = AsOf::parse(&d.node, &p)?;
    let org = resolve(&d.node, viewer, nonempty(&p.org))?;
    let lang = match nonempty(&p.lang) {
        None | Some("zh") => Lang::Zh,
        Some("en") => Lang::En,
        Some(other) => return Err(Fail::bad(format!("lang {other:?} is not zh or en"))),
    };
    let (report, bytes) = d
        .run(move |node| {
            let report = reports::tongbao_of(node, org, as_of.date)
                .ok_or_else(|| Fail::internal("nothing to report"))?;
            // The same title and table as `report`.
            let title = format!(
                "{} 干部轮训覆盖情况通报 coverage report, {}",
                report.name, report.as_of
            );
            let table = reports::report_table(&report);
            let bytes = match format {
                Format::Xlsx => {
                    reports::xlsx_bytes("lunxun", &title, &reports::REPORT_COLUMNS, &table)
                        .map_err(|e| Fail::internal(e.to_string()))?
                }
                Format::Csv => reports::csv_bytes(None, &reports::REPORT_COLUMNS, &table, lang)
                    .map_err(|e| Fail::internal(e.to_string()))?,
                Format::Docx => lunxun_node::tongbao_docx::docx_bytes(&report)
                    .map_err(|e| Fail::internal(e.to_string()))?,
            };
            Ok::<_, Fail>((report, bytes))
        })
        .await??;
    // Logged before it leaves: an export the audit log cannot take is refused.
    super::auth::audit(
        d,
        viewer.event(
            lunxun_node::accounts::Action::Export,
            &report.org,
            format!("report.{} on {}", format.ext(), report.as_of),
        ),
    )
    .await?;
    let (ext, content_type) = match format {
        Format::Xlsx => (
            "xlsx",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ),
        Format::Csv => ("csv", "text/csv; charset=utf-8"),
        Format::Docx => (
            "docx",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ),
    };
    let ascii = format!("lunxun-report-{}-{}.{ext}", report.org, report.as_of);
    let utf8 = format!("{}轮训覆盖情况通报-{}.{ext}", report.name, report.as_of);
    let disposition = format!(
        "attachment; filename=\"{ascii}\"; filename*=UTF-8''{}",
        rfc5987(&utf8)
    );
    let disposition =
        HeaderValue::from_str(&disposition).map_err(|e| Fail::internal(e.to_string()))?;
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        bytes,
    )
        .into_response())
}

/// Percent-encodes a filename for `filename*=UTF-8''…` (RFC 5987).
pub(super) fn rfc5987(text: &str) -> String {
    let mut s = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            s.push(b as char);
        } else {
            out!(s, "%{b:02X}");
        }
    }
    s
}

pub(super) async fn api_coverage(
    State(d): State<Dashboard>,
    Extension(viewer): Extension<Viewer>,
    uri: Uri,
) -> Response {
    match api_body(&d, &viewer, &uri).await {
        Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(fail) => fail.json(),
    }
}

pub(super) async fn api_body(d: &Dashboard, viewer: &Viewer, uri: &Uri) -> Result<Vec<u8>, Fail> {
    let p = params(uri)?;
    let as_of = AsOf::parse(&d.node, &p)?;
    let org = resolve(&d.node, viewer, nonempty(&p.org))?;
    let depth = match nonempty(&p.depth) {
        None => None,
        Some(t) => Some(t.parse::<u32>().map_err(|_| {
            Fail::bad(format!(
                "depth {t:?} is not a whole number of levels (0: the org alone)"
            ))
        })?),
    };
    d.run(move |node| {
        let report = node.coverage(org, depth, as_of.date);
        // Exactly what `coverage --format json` prints.
        let mut body = Vec::new();
        lunxun_node::render::json(&mut body, &report).map(|()| body)
    })
    .await?
    .map_err(|e| Fail::internal(e.to_string()))
}
