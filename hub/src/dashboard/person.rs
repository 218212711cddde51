//! The person page: every roster entry and training of one person in the
//! account's subtree, with statuses; the ID number masked. The ID is posted
//! in a form, never put in a URL (where proxies and histories keep it), and
//! every search is written to the audit log before its answer is shown.
//! This module computes the page's view model; `templates/person.html` lays
//! it out.

use askama::Template;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use axum::{Extension, Form};
use lunxun_node::accounts::Action;
use lunxun_node::model::{Date, PersonId};
use lunxun_node::orgs::{OrgDirectory, OrgId};
use lunxun_node::reports::{self, PersonReport};
use serde::Deserialize;

use super::auth::{audit, check_csrf};
use super::common::*;

/// The person page (`templates/person.html`).
#[derive(Template)]
#[template(path = "person.html")]
struct PersonPage {
    frame: Frame,
    csrf: String,
    id_chars_max: usize,
    search: Search,
}

/// What the page shows under its header: the form, then a failure or what
/// was found.
pub(super) struct Search {
    /// The form's date: the one asked for, else empty.
    date: String,
    error: Option<String>,
    found: Option<Found>,
}

/// What of the person the account's subtree sees, the ID number masked.
struct Found {
    masked_id: String,
    name: String,
    gender: &'static str,
    as_of: Date,
    /// The links' query string (`?as_of=…` or nothing).
    q: String,
    /// The ID sealed for this viewer, for the download button (never the
    /// ID itself).
    sealed_id: Option<String>,
    entries: Vec<EntryRow>,
    trainings: Vec<TrainingRow>,
}

/// A roster entry of the person, with its statuses.
struct EntryRow {
    /// The roster's org code when it is inside the viewer's subtree (a link).
    link: Option<String>,
    org_name: String,
    rank: &'static str,
    /// Employer and position.
    work: String,
    since: String,
    until: String,
    last_trained: String,
    /// The rotation status, in Chinese and as its key; None when inactive.
    rotation: Option<(&'static str, &'static str)>,
    centralized: Option<Tally>,
    online: Option<Tally>,
}

/// Hours towards one rule, and whether they meet it.
struct Tally {
    amount: String,
    met: bool,
}

struct TrainingRow {
    organizer: String,
    title: String,
    mode: &'static str,
    off_job: &'static str,
    start: String,
    end: String,
    days: String,
    hours: String,
    result_zh: &'static str,
    result_en: &'static str,
}

pub(super) async fn person_page(
    State(d): State<Dashboard>,
    Extension(viewer): Extension<Viewer>,
    uri: Uri,
) -> Response {
    let result = match params(&uri) {
        Err(f) => Err(with_form(f, None)),
        Ok(p) if nonempty(&p.id).is_some() => Err(with_form(
            Fail::bad("search with the form (POST): an ID number never goes in a URL"),
            None,
        )),
        Ok(p) => AsOf::parse(&d.node, &p)
            .map(|a| Search::form(Some(a)))
            .map_err(|f| with_form(f, None)),
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
    let result = person_search_model(&d, &viewer, form).await;
    respond(&d, &viewer, result)
}

fn respond(d: &Dashboard, viewer: &Viewer, result: Result<Search, (Fail, Search)>) -> Response {
    let (status, search) = match result {
        Ok(search) => (StatusCode::OK, search),
        Err((fail, search)) => (fail.status, search),
    };
    let person = PersonPage {
        frame: Frame::new(&d.node, Some(viewer), "人员查询 Person search", None),
        csrf: viewer.csrf.clone(),
        id_chars_max: PERSON_ID_CHARS_MAX,
        search,
    };
    page(status, &person)
}

impl Search {
    /// The form alone, with the date asked for.
    fn form(as_of: Option<AsOf>) -> Search {
        Search {
            date: as_of
                .filter(|a| a.explicit)
                .map(|a| a.date.to_string())
                .unwrap_or_default(),
            error: None,
            found: None,
        }
    }
}

pub(super) async fn person_search_model(
    d: &Dashboard,
    viewer: &Viewer,
    form: SearchForm,
) -> Result<Search, (Fail, Search)> {
    check_csrf(viewer, form.csrf.as_deref()).map_err(|f| with_form(f, None))?;
    let p = Params {
        as_of: form.as_of,
        ..Params::default()
    };
    let as_of = AsOf::parse(&d.node, &p).map_err(|f| with_form(f, None))?;
    let mut search = Search::form(Some(as_of));
    let Some(text) = nonempty(&form.id) else {
        return Ok(search);
    };
    if text.chars().count() > PERSON_ID_CHARS_MAX {
        return Err(with_form(
            Fail::bad(format!(
                "an ID number has 18 characters, not {}",
                text.chars().count()
            )),
            Some(as_of),
        ));
    }
    let id: PersonId = text
        .parse()
        .map_err(|e: lunxun_node::model::Invalid| with_form(Fail::bad(e.0), Some(as_of)))?;
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
        .map_err(|f| with_form(f, Some(as_of)))?;
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
    .map_err(|f| with_form(f, Some(as_of)))?;
    let Some(person) = found else {
        return Err(with_form(
            Fail::not_found(format!(
                "{}：您可查看的范围内没有此人的名单或培训记录 is on no roster and in no training that account {} sees",
                id.masked(),
                viewer.account
            )),
            Some(as_of),
        ));
    };
    let orgs = d.node.orgs();
    search.found = Some(Found {
        masked_id: person.person_id.clone(),
        name: person.name.clone().unwrap_or_else(|| "?".into()),
        gender: person.gender,
        as_of: person.as_of,
        q: as_of.query(),
        // The download carries the ID sealed for this viewer: never in the page.
        sealed_id: d.auth.seal(&viewer.csrf, &id.to_string()),
        entries: person
            .entries
            .iter()
            .map(|e| entry_row(&orgs, viewer.org, e))
            .collect(),
        trainings: person.trainings.iter().map(training_row).collect(),
    });
    Ok(search)
}

fn entry_row(orgs: &OrgDirectory, me: OrgId, e: &reports::PersonEntry) -> EntryRow {
    let tally = |t: Option<lunxun_node::rules::Tally>, days: bool| {
        t.map(|t| Tally {
            amount: if days {
                format!("{} 学时 h / {} 天 d", t.hours, t.days)
            } else {
                format!("{} 学时 h", t.hours)
            },
            met: t.met,
        })
    };
    EntryRow {
        link: orgs
            .get(&e.org)
            .filter(|id| orgs.is_within(*id, me))
            .map(|_| e.org.clone()),
        org_name: e.org_name.clone(),
        rank: e.rank.zh(),
        work: [e.employer.as_str(), e.position.as_str()]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" · "),
        since: e.since.to_string(),
        until: e.until.map(|u| u.to_string()).unwrap_or_default(),
        last_trained: e
            .last_trained
            .map(|d| d.to_string())
            .unwrap_or_else(|| "-".into()),
        rotation: e.rotation.map(|r| (r.zh(), r.as_str())),
        centralized: tally(e.hours.and_then(|x| x.centralized), true),
        online: tally(e.hours.and_then(|x| x.online), false),
    }
}

fn training_row(t: &reports::PersonTraining) -> TrainingRow {
    let date = |d: Option<Date>| d.map(|d| d.to_string()).unwrap_or_default();
    TrainingRow {
        organizer: t.organizer_name.clone(),
        title: t
            .title
            .clone()
            .unwrap_or_else(|| format!("({})", t.class_id)),
        mode: t.mode.map(|m| m.zh()).unwrap_or("-"),
        off_job: match t.off_job {
            Some(true) => "是",
            Some(false) => "否",
            None => "-",
        },
        start: date(t.start),
        end: date(t.end),
        days: t.days.map(|d| d.to_string()).unwrap_or_default(),
        hours: t.hours.to_string(),
        result_zh: t.result.zh(),
        result_en: t.result.as_str(),
    }
}

/// A failure on the person page: the form again, and the message.
pub(super) fn with_form(fail: Fail, as_of: Option<AsOf>) -> (Fail, Search) {
    let mut search = Search::form(as_of);
    search.error = Some(fail.message.clone());
    (fail, search)
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
