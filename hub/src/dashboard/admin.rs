//! The admin page (admin accounts only; anyone else gets a 404): the
//! accounts of the admin's subtree, with forms to add and remove them, and
//! the audit log's newest entries about that subtree. This module computes
//! the page's view model; `templates/admin.html` lays it out.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use lunxun_node::accounts::{self, AccountError, Action, Role};
use serde::Deserialize;

use super::auth::{audit, check_csrf};
use super::common::*;

/// Audit entries the page shows (the `audit` command shows them all).
pub const AUDIT_ROWS_MAX: usize = 200;

fn admin_only(viewer: &Viewer) -> Result<(), Fail> {
    if viewer.role == Role::Admin {
        Ok(())
    } else {
        Err(Fail::not_found("no page at /admin"))
    }
}

/// The admin page (`templates/admin.html`).
#[derive(Template)]
#[template(path = "admin.html")]
struct AdminPage {
    frame: Frame,
    /// Why the last form failed, if it did.
    message: Option<String>,
    csrf: String,
    accounts: Vec<AccountRow>,
    events: Vec<EventRow>,
    /// The add form's org, the admin's own.
    org: String,
    name_max: usize,
    password_min: usize,
    password_max: usize,
    rows_max: usize,
}

struct AccountRow {
    name: String,
    org: String,
    org_name: String,
    role: &'static str,
    /// When it was made, in the bureau's zone.
    created: String,
}

/// An audit entry, newest first.
struct EventRow {
    /// In the bureau's zone, to the second.
    at: String,
    actor: String,
    action: &'static str,
    org: String,
    address: String,
    detail: String,
}

pub(super) async fn page(
    State(d): State<Dashboard>,
    Extension(viewer): Extension<Viewer>,
) -> Response {
    match admin_model(&d, &viewer, None).await {
        Ok(admin) => super::common::page(StatusCode::OK, &admin),
        Err(fail) => fail.html(&d.node, Some(&viewer)),
    }
}

async fn admin_model(
    d: &Dashboard,
    viewer: &Viewer,
    message: Option<String>,
) -> Result<AdminPage, Fail> {
    admin_only(viewer)?;
    let scope = viewer.org;
    let (list, events) = d
        .run(move |node| {
            let orgs = node.orgs();
            let inside = |code: &str| orgs.get(code).is_some_and(|id| orgs.is_within(id, scope));
            let list = accounts::list(node)
                .map(|l| l.into_iter().filter(|a| inside(&a.org)).collect::<Vec<_>>());
            // Entries without an org (a failed login under an unknown name)
            // belong to the node's own admins.
            let everything = scope == node.me();
            let events = accounts::events(node, i64::MIN, None).map(|all| {
                // The newest first.
                all.into_iter()
                    .rev()
                    .filter(|e| e.org.as_deref().map_or(everything, inside))
                    .take(AUDIT_ROWS_MAX)
                    .collect::<Vec<_>>()
            });
            (list, events)
        })
        .await?;
    let list = list.map_err(|e| Fail::internal(e.to_string()))?;
    let events = events.map_err(|e| Fail::internal(e.to_string()))?;
    let node = &d.node;
    let zone = node.config().zone();
    let orgs = node.orgs();
    let accounts = list
        .into_iter()
        .map(|a| AccountRow {
            org_name: orgs
                .get(&a.org)
                .map(|id| orgs.org(id).name.clone())
                .unwrap_or_default(),
            role: a.role.as_str(),
            created: lunxun_node::clock::local_minutes(zone, a.created_at_ms),
            name: a.name,
            org: a.org,
        })
        .collect();
    let events = events
        .into_iter()
        .map(|e| EventRow {
            at: lunxun_node::clock::local_seconds(zone, e.at_ms),
            action: e.action.as_str(),
            actor: e.actor,
            org: e.org.unwrap_or_default(),
            address: e.address.unwrap_or_default(),
            detail: e.detail,
        })
        .collect();
    Ok(AdminPage {
        frame: Frame::new(node, Some(viewer), "管理 Admin", None),
        message,
        csrf: viewer.csrf.clone(),
        accounts,
        events,
        org: orgs.code(viewer.org).to_owned(),
        name_max: accounts::NAME_CHARS_MAX,
        password_min: accounts::PASSWORD_CHARS_MIN,
        password_max: accounts::PASSWORD_BYTES_MAX,
        rows_max: AUDIT_ROWS_MAX,
    })
}

/// The add form's fields.
#[derive(Debug, Deserialize)]
pub(super) struct AddForm {
    name: String,
    org: String,
    role: String,
    password: String,
    csrf: Option<String>,
}

pub(super) async fn add_account(
    State(d): State<Dashboard>,
    Extension(viewer): Extension<Viewer>,
    Form(form): Form<AddForm>,
) -> Response {
    let result = async {
        admin_only(&viewer)?;
        check_csrf(&viewer, form.csrf.as_deref())?;
        let role = match form.role.as_str() {
            "viewer" => Role::Viewer,
            "admin" => Role::Admin,
            other => return Err(Fail::bad(format!("role {other:?} is not viewer or admin"))),
        };
        let orgs = d.node.orgs();
        let org = form.org.trim().to_owned();
        if !orgs
            .get(&org)
            .is_some_and(|id| orgs.is_within(id, viewer.org))
        {
            return Err(Fail::bad(format!(
                "org {org:?} is not in your subtree ({})",
                orgs.code(viewer.org)
            )));
        }
        let name = form.name.trim().to_owned();
        let (n, o, p) = (name.clone(), org.clone(), form.password);
        let added = d
            .run(move |node| accounts::add(node, &n, &o, role, &p))
            .await?;
        match added {
            Ok(_) => {}
            Err(
                e @ (AccountError::Store(_) | AccountError::Hash(_) | AccountError::Corrupt { .. }),
            ) => {
                return Err(Fail::internal(e.to_string()));
            }
            Err(e) => return Err(Fail::bad(e.to_string())),
        }
        audit(
            &d,
            viewer.event(
                Action::AccountAdded,
                &org,
                format!("{name} ({})", role.as_str()),
            ),
        )
        .await?;
        Ok(())
    }
    .await;
    done(&d, &viewer, result).await
}

/// The remove form's fields.
#[derive(Debug, Deserialize)]
pub(super) struct RemoveForm {
    name: String,
    csrf: Option<String>,
}

pub(super) async fn remove_account(
    State(d): State<Dashboard>,
    Extension(viewer): Extension<Viewer>,
    Form(form): Form<RemoveForm>,
) -> Response {
    let result = async {
        admin_only(&viewer)?;
        check_csrf(&viewer, form.csrf.as_deref())?;
        if form.name == viewer.account {
            return Err(Fail::bad(
                "an admin cannot remove their own account here (use `user remove`)",
            ));
        }
        let name = form.name.clone();
        let scope = viewer.org;
        let removed = d
            .run(move |node| {
                let orgs = node.orgs();
                match accounts::get(node, &name) {
                    Ok(Some(a)) if orgs.get(&a.org).is_some_and(|id| orgs.is_within(id, scope)) => {
                        accounts::remove(node, &name).map(|()| Some(a.org))
                    }
                    Ok(_) => Ok(None),
                    Err(e) => Err(e),
                }
            })
            .await?
            .map_err(|e| Fail::internal(e.to_string()))?;
        let Some(org) = removed else {
            return Err(Fail::not_found(format!(
                "no account {} in your subtree",
                form.name
            )));
        };
        audit(
            &d,
            viewer.event(Action::AccountRemoved, &org, form.name.clone()),
        )
        .await?;
        Ok(())
    }
    .await;
    done(&d, &viewer, result).await
}

/// After a form: back to the page (so a reload does not post again), or the
/// page with the reason.
async fn done(d: &Dashboard, viewer: &Viewer, result: Result<(), Fail>) -> Response {
    match result {
        Ok(()) => Redirect::to("/admin").into_response(),
        Err(fail) if fail.status == StatusCode::NOT_FOUND && viewer.role != Role::Admin => {
            fail.html(&d.node, Some(viewer))
        }
        Err(fail) => match admin_model(d, viewer, Some(fail.message)).await {
            Ok(admin) => super::common::page(fail.status, &admin),
            Err(other) => other.html(&d.node, Some(viewer)),
        },
    }
}
