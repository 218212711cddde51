//! The person page: every roster entry and training of one person in the
//! account's subtree, with statuses; the ID number masked. The ID is posted
//! in a form, never put in a URL (where proxies and histories keep it), and
//! every search is written to the audit log before its answer is shown.

use std::fmt::Write as _;

use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};
use axum::{Extension, Form};
use lunxun_node::accounts::Action;
use lunxun_node::model::{Date, PersonId};
use lunxun_node::orgs::{OrgDirectory, OrgId};
use lunxun_node::reports::{self, PersonReport};
use serde::Deserialize;

use super::auth::{audit, check_csrf};
use super::common::*;

pub(super) async fn person_page(
    State(d): State<Dashboard>,
    Extension(viewer): Extension<Viewer>,
    uri: Uri,
) -> Response {
    let result = match params(&uri) {
        Err(f) => Err(with_form(f, &viewer, None)),
        Ok(p) if nonempty(&p.id).is_some() => Err(with_form(
            Fail::bad("search with the form (POST): an ID number never goes in a URL"),
            &viewer,
            None,
        )),
        Ok(p) => AsOf::parse(&d.node, &p)
            .map(|a| person_form(&viewer, Some(a)))
            .map_err(|f| with_form(f, &viewer, None)),
    };
    respond(&d, &viewer, result)
}

/// The search form's fields.
#[derive(Debug, Deserialize)]
pub(super) struct SearchForm {
    id: Option<String>,
    as_of: Option<String>,
    csrf: Option<String>,
}

pub(super) async fn person_search(
    State(d): State<Dashboard>,
    Extension(viewer): Extension<Viewer>,
    Form(form): Form<SearchForm>,
) -> Response {
    let result = person_html(&d, &viewer, form).await;
    respond(&d, &viewer, result)
}

fn respond(d: &Dashboard, viewer: &Viewer, result: Result<String, (Fail, String)>) -> Response {
    let (status, body) = match result {
        Ok(body) => (StatusCode::OK, body),
        Err((fail, body)) => (fail.status, body),
    };
    (
        status,
        Html(layout(
            &d.node,
            Some(viewer),
            "人员查询 Person search",
            None,
            &body,
        )),
    )
        .into_response()
}

pub(super) fn person_form(viewer: &Viewer, as_of: Option<AsOf>) -> String {
    let date = as_of
        .filter(|a| a.explicit)
        .map(|a| a.date.to_string())
        .unwrap_or_default();
    format!(
        r#"<h1>人员查询 <span class="en">Person search</span></h1><form class="search" method="post" action="/person">{csrf}<label>身份证号 <span class="en">ID number</span> <input name="id" maxlength="{PERSON_ID_CHARS_MAX}" size="22" autocomplete="off" required placeholder="18 位身份证号"></label> <label>统计日期 <span class="en">As of</span> <input type="date" name="as_of" value="{date}"></label> <button type="submit">查询 <span class="en">Search</span></button> <button type="submit" formaction="/person/archive.xlsx">下载培训档案 <span class="en">Training archive (xlsx)</span></button></form><p class="note">结果中的身份证号一律脱敏；每次查询、下载记入审计日志；培训档案供人事部门存档，含完整身份证号 <span class="en">ID numbers are masked in the results; every search and download is audited; the training archive, for the personnel office, holds the full ID number.</span></p>"#,
        csrf = csrf_field(viewer),
    )
}

pub(super) async fn person_html(
    d: &Dashboard,
    viewer: &Viewer,
    form: SearchForm,
) -> Result<String, (Fail, String)> {
    check_csrf(viewer, form.csrf.as_deref()).map_err(|f| with_form(f, viewer, None))?;
    let p = Params {
        as_of: form.as_of,
        ..Params::default()
    };
    let as_of = AsOf::parse(&d.node, &p).map_err(|f| with_form(f, viewer, None))?;
    let mut h = person_form(viewer, Some(as_of));
    let Some(text) = nonempty(&form.id) else {
        return Ok(h);
    };
    if text.chars().count() > PERSON_ID_CHARS_MAX {
        return Err(with_form(
            Fail::bad(format!(
                "an ID number has 18 characters, not {}",
                text.chars().count()
            )),
            viewer,
            Some(as_of),
        ));
    }
    let id: PersonId = text
        .parse()
        .map_err(|e: lunxun_node::model::Invalid| with_form(Fail::bad(e.0), viewer, Some(as_of)))?;
    let scope = viewer.org;
    let found = d
        .run(move |node| {
            let view = node.view();
            reports::person(
                &view,
                &node.orgs(),
                &node.policy_at(as_of.date),
                id,
                as_of.date,
                false,
            )
            .and_then(|p| within(&node.orgs(), scope, p))
        })
        .await
        .map_err(|f| with_form(f, viewer, Some(as_of)))?;
    let code = d.node.orgs().code(viewer.org).to_owned();
    let outcome = if found.is_some() {
        "shown"
    } else {
        "not found"
    };
    audit(
        d,
        viewer.event(Action::Person, &code, format!("{} {outcome}", id.masked())),
    )
    .await
    .map_err(|f| with_form(f, viewer, Some(as_of)))?;
    let Some(person) = found else {
        return Err(with_form(
            Fail::not_found(format!(
                "{}：您可查看的范围内没有此人的名单或培训记录 is on no roster and in no training that account {} sees",
                id.masked(),
                viewer.account
            )),
            viewer,
            Some(as_of),
        ));
    };
    let orgs = d.node.orgs();
    let me = viewer.org;
    let q = as_of.query();
    out!(
        h,
        r#"<section class="person"><h2><span data-field="person_id">{}</span> {} <span class="code">{}</span></h2><p class="sub">统计日期 <span class="en">As of</span> {}</p>"#,
        esc(&person.person_id),
        esc(person.name.as_deref().unwrap_or("?")),
        person.gender,
        person.as_of,
    );
    // The download carries the ID sealed for this viewer: never in the page.
    if let Some(sealed) = d.auth.seal(&viewer.csrf, &id.to_string()) {
        out!(
            h,
            r#"<form class="download" method="post" action="/person/archive.xlsx">{csrf}<input type="hidden" name="ref" value="{sealed}"><input type="hidden" name="as_of" value="{date}"><button type="submit">下载此人培训档案 <span class="en">This person's training archive (xlsx)</span></button></form>"#,
            csrf = csrf_field(viewer),
            date = as_of.date,
        );
    }
    out!(
        h,
        r#"<h3>名单 <span class="en">Rosters</span></h3><div class="scroll"><table><thead><tr><th>名单 <span class="en">Roster of</span></th><th>职级 <span class="en">Rank</span></th><th>工作单位 / 职务 <span class="en">Employer, position</span></th><th>列入 <span class="en">Since</span></th><th>移出 <span class="en">Until</span></th><th>最近轮训 <span class="en">Last trained</span></th><th>轮训状态 <span class="en">Rotation</span></th><th>集中培训 <span class="en">Centralized</span></th><th>网络学时 <span class="en">Online</span></th></tr></thead><tbody>"#
    );
    for e in &person.entries {
        let roster = match orgs.get(&e.org).filter(|id| orgs.is_within(*id, me)) {
            Some(_) => format!(
                r#"<a href="/org/{code}{q}">{name}</a>"#,
                code = esc(&e.org),
                name = esc(&e.org_name)
            ),
            None => esc(&e.org_name),
        };
        let rotation = match e.rotation {
            Some(r) => format!(
                r#"<span class="badge st-{en}">{zh} <span class="en">{en}</span></span>"#,
                zh = r.zh(),
                en = r.as_str()
            ),
            None => r#"<span class="badge">不在册 <span class="en">inactive</span></span>"#.into(),
        };
        let tally = |t: Option<lunxun_node::rules::Tally>, days: bool| match t {
            None => "-".to_owned(),
            Some(t) => {
                let amount = if days {
                    format!("{} 学时 h / {} 天 d", t.hours, t.days)
                } else {
                    format!("{} 学时 h", t.hours)
                };
                let mark = if t.met {
                    r#"<span class="ok">达标 met</span>"#
                } else {
                    r#"<span class="no">未达标 not met</span>"#
                };
                format!("{amount} {mark}")
            }
        };
        let work = [e.employer.as_str(), e.position.as_str()]
            .iter()
            .filter(|s| !s.is_empty())
            .map(|s| esc(s))
            .collect::<Vec<_>>()
            .join(" · ");
        out!(
            h,
            r#"<tr><td>{roster}</td><td>{rank}</td><td>{work}</td><td>{since}</td><td>{until}</td><td>{last}</td><td>{rotation}</td><td>{central}</td><td>{online}</td></tr>"#,
            rank = e.rank.zh(),
            since = e.since,
            until = e.until.map(|u| u.to_string()).unwrap_or_default(),
            last = e
                .last_trained
                .map(|d| d.to_string())
                .unwrap_or_else(|| "-".into()),
            central = tally(e.hours.and_then(|x| x.centralized), true),
            online = tally(e.hours.and_then(|x| x.online), false),
        );
    }
    out!(h, "</tbody></table></div>");
    out!(
        h,
        r#"<h3>培训记录 <span class="en">Trainings</span> <span class="count">{}</span></h3><div class="scroll"><table><thead><tr><th>主办单位 <span class="en">Organizer</span></th><th>培训班 <span class="en">Class</span></th><th>方式 <span class="en">Mode</span></th><th>脱产 <span class="en">Off-job</span></th><th>开始 <span class="en">Start</span></th><th>结束 <span class="en">End</span></th><th class="n">天数 <span class="en">Days</span></th><th class="n">学时 <span class="en">Hours</span></th><th>结果 <span class="en">Result</span></th></tr></thead><tbody>"#,
        person.trainings.len()
    );
    for t in &person.trainings {
        let date = |d: Option<Date>| d.map(|d| d.to_string()).unwrap_or_default();
        out!(
            h,
            r#"<tr><td>{org}</td><td>{title}</td><td>{mode}</td><td>{off}</td><td>{start}</td><td>{end}</td><td class="n">{days}</td><td class="n">{hours}</td><td><span class="badge res-{res_en}">{res}</span></td></tr>"#,
            org = esc(&t.organizer_name),
            title = esc(&t
                .title
                .clone()
                .unwrap_or_else(|| format!("({})", t.class_id))),
            mode = t.mode.map(|m| m.zh()).unwrap_or("-"),
            off = match t.off_job {
                Some(true) => "是",
                Some(false) => "否",
                None => "-",
            },
            start = date(t.start),
            end = date(t.end),
            days = t.days.map(|d| d.to_string()).unwrap_or_default(),
            hours = t.hours,
            res = t.result.zh(),
            res_en = t.result.as_str(),
        );
    }
    out!(h, "</tbody></table></div></section>");
    Ok(h)
}

/// A failure on the person page: the form again, and the message.
pub(super) fn with_form(fail: Fail, viewer: &Viewer, as_of: Option<AsOf>) -> (Fail, String) {
    let body = format!(
        r#"{}<p class="error">{}</p>"#,
        person_form(viewer, as_of),
        esc(&fail.message)
    );
    (fail, body)
}

/// What of a person's file the account's subtree (under `scope`) may see:
/// the roster entries there; the trainings, all of them when the person is
/// rostered there (they count towards its figures), else only those its
/// orgs organized. Nothing left is "not found".
fn within(orgs: &OrgDirectory, scope: OrgId, mut p: PersonReport) -> Option<PersonReport> {
    let inside = |code: &str| orgs.get(code).is_some_and(|id| orgs.is_within(id, scope));
    p.entries.retain(|e| inside(&e.org));
    if p.entries.is_empty() {
        p.trainings.retain(|t| inside(&t.organizer));
    }
    (!p.entries.is_empty() || !p.trainings.is_empty()).then_some(p)
}
