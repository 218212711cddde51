//! The admin page (admin accounts only; anyone else gets a 404): the
//! accounts of the admin's subtree, with forms to add and remove them, and
//! the audit log's newest entries about that subtree.

use std::fmt::Write as _;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
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

pub(super) async fn page(
    State(d): State<Dashboard>,
    Extension(viewer): Extension<Viewer>,
) -> Response {
    match page_html(&d, &viewer, None).await {
        Ok(body) => Html(layout(&d.node, Some(&viewer), "管理 Admin", None, &body)).into_response(),
        Err(fail) => fail.html(&d.node, Some(&viewer)),
    }
}

async fn page_html(d: &Dashboard, viewer: &Viewer, message: Option<&str>) -> Result<String, Fail> {
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
                let mut kept: Vec<_> = all
                    .into_iter()
                    .rev()
                    .filter(|e| e.org.as_deref().map_or(everything, inside))
                    .take(AUDIT_ROWS_MAX)
                    .collect();
                kept.reverse();
                kept
            });
            (list, events)
        })
        .await?;
    let list = list.map_err(|e| Fail::internal(e.to_string()))?;
    let events = events.map_err(|e| Fail::internal(e.to_string()))?;
    let node = &d.node;
    let zone = node.config().zone();
    let orgs = node.orgs();
    let mut h = String::new();
    out!(h, r#"<h1>管理 <span class="en">Admin</span></h1>"#);
    if let Some(m) = message {
        out!(h, r#"<p class="error">{}</p>"#, esc(m));
    }
    out!(
        h,
        r#"<section><h2>账号 <span class="en">Accounts</span> <span class="count">{}</span></h2><div class="scroll"><table class="accounts"><thead><tr><th>账号 <span class="en">Account</span></th><th>机构 <span class="en">Org</span></th><th>角色 <span class="en">Role</span></th><th>创建时间 <span class="en">Created</span></th><th></th></tr></thead><tbody>"#,
        list.len()
    );
    for a in &list {
        let org_name = orgs
            .get(&a.org)
            .map(|id| orgs.org(id).name.clone())
            .unwrap_or_default();
        out!(
            h,
            r#"<tr data-account="{name}"><td>{name}</td><td>{org_name} <span class="code">{org}</span></td><td>{role}</td><td>{created}</td><td><form class="inline" method="post" action="/admin/accounts/remove">{csrf}<input type="hidden" name="name" value="{name}"><button type="submit">删除 <span class="en">Remove</span></button></form></td></tr>"#,
            name = esc(&a.name),
            org_name = esc(&org_name),
            org = esc(&a.org),
            role = a.role.as_str(),
            created = lunxun_node::clock::local_minutes(zone, a.created_at_ms),
            csrf = csrf_field(viewer),
        );
    }
    out!(h, "</tbody></table></div>");
    out!(
        h,
        r#"<form class="add" method="post" action="/admin/accounts">{csrf}<label>账号 <span class="en">Account</span><input name="name" maxlength="{name_max}" required></label><label>机构代码 <span class="en">Org code</span><input name="org" maxlength="12" value="{org}" required></label><label>角色 <span class="en">Role</span><select name="role"><option value="viewer">viewer 查看</option><option value="admin">admin 管理</option></select></label><label>初始密码 <span class="en">Password</span><input type="password" name="password" minlength="{pw_min}" maxlength="{pw_max}" autocomplete="new-password" required></label><button type="submit">添加 <span class="en">Add</span></button></form></section>"#,
        csrf = csrf_field(viewer),
        name_max = accounts::NAME_CHARS_MAX,
        org = esc(orgs.code(viewer.org)),
        pw_min = accounts::PASSWORD_CHARS_MIN,
        pw_max = accounts::PASSWORD_BYTES_MAX,
    );
    out!(
        h,
        r#"<section><h2>审计日志 <span class="en">Audit log</span> <span class="count">{}</span></h2><p class="note">最近 {AUDIT_ROWS_MAX} 条；全部见 <code>lunxun-hub audit</code> <span class="en">The newest entries; `audit` prints them all.</span></p><div class="scroll"><table class="audit"><thead><tr><th>时间 <span class="en">Time</span></th><th>账号 <span class="en">Account</span></th><th>操作 <span class="en">Action</span></th><th>机构 <span class="en">Org</span></th><th>地址 <span class="en">Address</span></th><th>内容 <span class="en">Detail</span></th></tr></thead><tbody>"#,
        events.len()
    );
    for e in events.iter().rev() {
        out!(
            h,
            r#"<tr><td>{}</td><td data-field="actor">{}</td><td data-field="action">{}</td><td>{}</td><td>{}</td><td data-field="detail">{}</td></tr>"#,
            lunxun_node::clock::local_seconds(zone, e.at_ms),
            esc(&e.actor),
            e.action.as_str(),
            esc(e.org.as_deref().unwrap_or("")),
            esc(e.address.as_deref().unwrap_or("")),
            esc(&e.detail),
        );
    }
    out!(h, "</tbody></table></div></section>");
    Ok(h)
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
        Err(fail) => match page_html(d, viewer, Some(&fail.message)).await {
            Ok(body) => (
                fail.status,
                Html(layout(&d.node, Some(viewer), "管理 Admin", None, &body)),
            )
                .into_response(),
            Err(other) => other.html(&d.node, Some(viewer)),
        },
    }
}
