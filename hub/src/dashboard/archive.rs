//! `POST /person/archive.xlsx`: one person's training archive (培训档案) as
//! the workbook `person --format xlsx` writes, for the account's subtree.
//!
//! The ID comes in the form body (the person page's search form posts it
//! here with its second button; a search's result has a button whose form
//! carries the ID sealed for the viewer, so the page never shows it), never
//! in a URL; the download is refused
//! without the form's CSRF token, is a 404 for a person outside the
//! account's subtree (as the search is), and is audited as an export with
//! the account before its bytes leave. The file holds the full ID — it is the
//! person's own file for the personnel office — but its name, the headers
//! and the audit entry do not.

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Form};
use lunxun_node::accounts::Action;
use lunxun_node::model::PersonId;
use serde::Deserialize;

use super::auth::{audit, check_csrf};
use super::common::*;
use super::report::rfc5987;

/// The person page's search form, posted to the download.
#[derive(Debug, Deserialize)]
pub(super) struct ArchiveForm {
    id: Option<String>,
    /// The ID sealed into a person page's download button (see
    /// `sessions::Auth::seal`), when the form has no `id`.
    #[serde(rename = "ref")]
    sealed: Option<String>,
    as_of: Option<String>,
    csrf: Option<String>,
}

pub(super) async fn person_archive(
    State(d): State<Dashboard>,
    Extension(viewer): Extension<Viewer>,
    Form(form): Form<ArchiveForm>,
) -> Response {
    match archive_bytes(&d, &viewer, form).await {
        Ok(response) => response,
        Err(fail) => fail.html(&d.node, Some(&viewer)),
    }
}

async fn archive_bytes(
    d: &Dashboard,
    viewer: &Viewer,
    form: ArchiveForm,
) -> Result<Response, Fail> {
    check_csrf(viewer, form.csrf.as_deref())?;
    let as_of = AsOf::parse(
        &d.node,
        &Params {
            as_of: form.as_of,
            ..Params::default()
        },
    )?;
    let opened;
    let text = match (nonempty(&form.id), nonempty(&form.sealed)) {
        (Some(text), _) => text,
        (None, Some(sealed)) => {
            opened = d.auth.open(&viewer.csrf, sealed).ok_or_else(|| {
                Fail::bad("the download button has expired (a new login or restart): search again")
            })?;
            opened.as_str()
        }
        (None, None) => return Err(Fail::bad("the ID number (id) is empty")),
    };
    let chars = text.chars().count();
    if chars > PERSON_ID_CHARS_MAX {
        return Err(Fail::bad(format!(
            "an ID number has 18 characters, not {chars}"
        )));
    }
    let id: PersonId = text
        .parse()
        .map_err(|e: lunxun_node::model::Invalid| Fail::bad(e.0))?;
    let scope = viewer.org;
    let built = d
        .run(move |node| {
            let view = node.view();
            let archive = lunxun_node::archive::person_archive(
                &view,
                &node.orgs(),
                &node.policy_at(as_of.date),
                id,
                scope,
                as_of.date,
            )?;
            let prepared_by = node.orgs().org(scope).name.clone();
            Some(
                lunxun_node::archive_xlsx::xlsx_bytes(&archive, &prepared_by)
                    .map(|bytes| (archive.name.unwrap_or_default(), archive.years.len(), bytes))
                    .map_err(|e| Fail::internal(e.to_string())),
            )
        })
        .await?
        .transpose()?;
    let code = d.node.orgs().code(scope).to_owned();
    // Logged before it leaves: an export the audit log cannot take is refused.
    let Some((name, years, bytes)) = built else {
        audit(
            d,
            viewer.event(
                Action::Person,
                &code,
                format!("{} not found (archive)", id.masked()),
            ),
        )
        .await?;
        return Err(Fail::not_found(format!(
            "{}：您可查看的范围内没有此人的名单或培训记录 is on no roster and in no training that account {} sees",
            id.masked(),
            viewer.account
        )));
    };
    audit(
        d,
        viewer.event(
            Action::Export,
            &code,
            format!(
                "archive.xlsx of {} on {} ({years} years, full ID)",
                id.masked(),
                as_of.date
            ),
        ),
    )
    .await?;
    let ascii = format!("lunxun-archive-{}.xlsx", as_of.date);
    let utf8 = format!("{name}培训档案-{}.xlsx", as_of.date);
    let disposition = format!(
        "attachment; filename=\"{ascii}\"; filename*=UTF-8''{}",
        rfc5987(&utf8)
    );
    let disposition =
        HeaderValue::from_str(&disposition).map_err(|e| Fail::internal(e.to_string()))?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(
                    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                ),
            ),
            (header::CONTENT_DISPOSITION, disposition),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        bytes,
    )
        .into_response())
}
