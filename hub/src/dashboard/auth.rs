//! Who is asking: accounts' logins and sessions, the trusted proxy, the
//! throttle on failed logins, and the CSRF tokens of every form.
//!
//! - A login (`POST /login`, form fields `username`, `password`) checks the
//!   argon2id hash off the async threads, at most [`LOGIN_JOBS_MAX`] at a
//!   time, and starts a session: a random 256-bit token in an HttpOnly,
//!   SameSite=Strict cookie that expires after [`SESSION_MS`]. Sessions live
//!   in memory (a restart logs everyone out), at most [`SESSIONS_MAX`]; each
//!   request re-reads its account, so a removed account's sessions end at
//!   their next request and a changed org takes effect at once.
//! - Failed logins are counted per account name and per client address;
//!   after [`FREE_FAILURES`] each further attempt waits twice as long as the
//!   last (1 s, 2 s, 4 s … up to [`LOCK_MAX_MS`]), answered 429 meanwhile,
//!   even with the right password.
//! - With `[dashboard.trusted_proxy]`, a request from one of the proxy's
//!   addresses is the account its header names (which must exist here); the
//!   header from anywhere else is ignored.
//! - Every form carries a CSRF token derived from the session (HMAC with a
//!   key drawn at start), checked on every POST, and a POST whose `Origin`
//!   is another site is refused whatever it carries. The login form's token
//!   is a double-submit cookie of its own.
//!
//! Without a session, pages redirect to `/login` and `/api/*` answers 401.

use std::net::{IpAddr, SocketAddr};

use askama::Template;
use axum::extract::{ConnectInfo, FromRequest as _, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use lunxun_node::accounts::{self, Account, Action, Event};
use lunxun_node::node::{Node, now_ms};
use serde::Deserialize;
use tracing::warn;

use super::common::*;
use super::sessions::*;

/// The session cookie.
pub const SESSION_COOKIE: &str = "lunxun_session";
/// The login form's double-submit cookie.
const LOGIN_COOKIE: &str = "lunxun_login";
/// The value of cookie `name` in the request's `Cookie` headers.
fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn set_cookie(node: &Node, name: &str, value: &str, path: &str, max_age_s: i64) -> HeaderValue {
    let secure = if node.config().dashboard.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    let text = format!(
        "{name}={value}; Path={path}; Max-Age={max_age_s}; HttpOnly; SameSite=Strict{secure}"
    );
    HeaderValue::from_str(&text).unwrap_or(HeaderValue::from_static("x=; Max-Age=0"))
}

fn peer(request: &Request) -> Option<IpAddr> {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(a)| a.ip())
}

/// Whether a POST comes from another site (its `Origin` names another
/// host than the one asked). Browsers send `Origin` on every POST.
fn cross_site(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let origin_host = origin.split_once("://").map_or("", |(_, h)| h);
    origin == "null" || !origin_host.eq_ignore_ascii_case(host)
}

/// The account of a live session or of a trusted proxy's header.
fn identify(d: &Dashboard, request: &Request) -> Option<(Account, String, bool)> {
    let node = &d.node;
    let headers = request.headers();
    if let Some(proxy) = &node.config().dashboard.trusted_proxy
        && let Some(address) = peer(request)
        && proxy.from.contains(&address)
        && let Some(name) = headers
            .get(proxy.header.as_str())
            .and_then(|v| v.to_str().ok())
    {
        let account = accounts::get(node, name.trim()).ok().flatten()?;
        let csrf = d.auth.csrf_for(&format!("proxy:{}", account.name));
        return Some((account, csrf, true));
    }
    let token = cookie(headers, SESSION_COOKIE)?;
    let name = d.auth.session(token)?;
    match accounts::get(node, &name) {
        Ok(Some(account)) => Some((account, d.auth.csrf_for(&format!("session:{token}")), false)),
        _ => {
            d.auth.end(token);
            None
        }
    }
}

/// The middleware in front of every page but the login's: attaches the
/// [`Viewer`], or redirects to `/login` (pages) or answers 401 (the API).
pub(super) async fn require_viewer(
    State(d): State<Dashboard>,
    mut request: Request,
    next: Next,
) -> Response {
    // One sled read of the account: in its cache, no waiting on the disk.
    let found = identify(&d, &request);
    let Some((account, csrf, via_proxy)) = found else {
        if request.uri().path().starts_with("/api/") {
            return Fail {
                status: StatusCode::UNAUTHORIZED,
                message:
                    "log in first: POST /login (a session cookie), or through the bureau's proxy"
                        .into(),
            }
            .json();
        }
        return Redirect::to("/login").into_response();
    };
    let Some(org) = d.node.orgs().get(&account.org) else {
        return Fail::not_found(format!(
            "account {}'s org {} is not in the org directory",
            account.name, account.org
        ))
        .html(&d.node, None);
    };
    if request.method() == axum::http::Method::POST && cross_site(request.headers()) {
        return Fail {
            status: StatusCode::FORBIDDEN,
            message: "a form from another site".into(),
        }
        .html(&d.node, None);
    }
    let address = peer(&request);
    request.extensions_mut().insert(Viewer {
        account: account.name,
        org,
        role: account.role,
        csrf,
        address,
        via_proxy,
    });
    next.run(request).await
}

/// Checks a form's CSRF token against the viewer's.
pub(super) fn check_csrf(viewer: &Viewer, token: Option<&str>) -> Result<(), Fail> {
    match token {
        Some(t) if same(t, &viewer.csrf) => Ok(()),
        _ => Err(Fail {
            status: StatusCode::FORBIDDEN,
            message: "the form has expired or came from elsewhere: reload the page and try again"
                .into(),
        }),
    }
}

/// The login page (`templates/login.html`).
#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    frame: Frame,
    /// The form's token, also set as the login cookie.
    token: String,
    /// The name tried last, back in the form.
    name: String,
    message: Option<String>,
    name_max: usize,
    password_max: usize,
}

fn login_page(d: &Dashboard, status: StatusCode, name: &str, message: Option<&str>) -> Response {
    let Some(token) = d.auth.token() else {
        return Fail::internal("no randomness for the form").html(&d.node, None);
    };
    let login = LoginPage {
        frame: Frame::new(&d.node, None, "登录 Log in", None),
        token: token.clone(),
        name: name.to_owned(),
        message: message.map(str::to_owned),
        name_max: accounts::NAME_CHARS_MAX,
        password_max: accounts::PASSWORD_BYTES_MAX,
    };
    let mut response = page(status, &login);
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(&d.node, LOGIN_COOKIE, &token, "/login", 600),
    );
    response
}

/// `GET /login`.
pub(super) async fn login_get(State(d): State<Dashboard>) -> Response {
    login_page(&d, StatusCode::OK, "", None)
}

#[derive(Debug, Deserialize)]
pub(super) struct LoginForm {
    username: String,
    password: String,
    csrf: Option<String>,
}

/// `POST /login`.
pub(super) async fn login_post(State(d): State<Dashboard>, request: Request) -> Response {
    let address = peer(&request);
    let headers = request.headers().clone();
    let form = match axum::Form::<LoginForm>::from_request(request, &()).await {
        Ok(axum::Form(form)) => form,
        Err(e) => {
            return Fail::bad(format!(
                "a login needs username and password: {}",
                e.body_text()
            ))
            .html(&d.node, None);
        }
    };
    let name: String = form
        .username
        .trim()
        .chars()
        .take(accounts::NAME_CHARS_MAX + 1)
        .collect();
    let expected = cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    let token_ok = form
        .csrf
        .as_deref()
        .is_some_and(|t| !expected.is_empty() && same(t, expected));
    if cross_site(&headers) || !token_ok {
        return login_page(
            &d,
            StatusCode::FORBIDDEN,
            &name,
            Some("登录表单已过期，请重试 The login form expired or came from elsewhere: try again"),
        );
    }
    let now = now_ms();
    let account_key = format!("account:{}", name.to_lowercase());
    let address_key = address.map(|a| format!("address:{a}"));
    let wait = [Some(&account_key), address_key.as_ref()]
        .into_iter()
        .flatten()
        .filter_map(|k| d.auth.wait_ms(k, now))
        .max();
    let audit = |action: Action, detail: &str| {
        let mut event = Event::new(if name.is_empty() { "?" } else { &name }, action, detail);
        if let Some(a) = address {
            event = event.address(a);
        }
        event
    };
    if let Some(wait) = wait {
        let seconds = (wait + 999) / 1_000;
        record(
            &d,
            audit(Action::LoginFailed, "throttled: too many failed logins"),
        )
        .await;
        let mut response = login_page(
            &d,
            StatusCode::TOO_MANY_REQUESTS,
            &name,
            Some(&format!(
                "登录失败次数过多，请 {seconds} 秒后再试 Too many failed logins: try again in {seconds} s"
            )),
        );
        if let Ok(v) = HeaderValue::from_str(&seconds.to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return response;
    }
    let checked = {
        let Ok(_permit) = d.auth.logins.acquire().await else {
            return Fail::internal("the dashboard is stopping").html(&d.node, None);
        };
        let node = d.node.clone();
        let (n, p) = (name.clone(), form.password);
        tokio::task::spawn_blocking(move || accounts::check_password(&node, &n, &p)).await
    };
    match checked {
        Ok(Ok(Some(account))) => {
            d.auth.succeeded(&account_key);
            if let Some(k) = &address_key {
                d.auth.succeeded(k);
            }
            let Some(token) = d.auth.start(&account.name) else {
                return Fail::internal("no randomness for the session").html(&d.node, None);
            };
            record(&d, audit(Action::Login, "password").org(&account.org)).await;
            let mut response = Redirect::to("/").into_response();
            let h = response.headers_mut();
            h.append(
                header::SET_COOKIE,
                set_cookie(&d.node, SESSION_COOKIE, &token, "/", SESSION_MS / 1_000),
            );
            h.append(
                header::SET_COOKIE,
                set_cookie(&d.node, LOGIN_COOKIE, "", "/login", 0),
            );
            response
        }
        Ok(Ok(None)) => {
            d.auth.failed(account_key, now);
            if let Some(k) = address_key {
                d.auth.failed(k, now);
            }
            record(&d, audit(Action::LoginFailed, "wrong name or password")).await;
            login_page(
                &d,
                StatusCode::UNAUTHORIZED,
                &name,
                Some("账号或密码错误 Wrong account name or password"),
            )
        }
        Ok(Err(e)) => Fail::internal(e.to_string()).html(&d.node, None),
        Err(e) => Fail::internal(format!("login check failed: {e}")).html(&d.node, None),
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct LogoutForm {
    csrf: Option<String>,
}

/// `POST /logout`.
pub(super) async fn logout(
    State(d): State<Dashboard>,
    axum::Extension(viewer): axum::Extension<Viewer>,
    headers: HeaderMap,
    axum::Form(form): axum::Form<LogoutForm>,
) -> Response {
    if let Err(fail) = check_csrf(&viewer, form.csrf.as_deref()) {
        return fail.html(&d.node, Some(&viewer));
    }
    if let Some(token) = cookie(&headers, SESSION_COOKIE) {
        d.auth.end(token);
    }
    let code = d.node.orgs().code(viewer.org).to_owned();
    record(&d, viewer.event(Action::Logout, &code, "")).await;
    let mut response = Redirect::to("/login").into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(&d.node, SESSION_COOKIE, "", "/", 0),
    );
    response
}

/// Writes an audit entry (durably, off the async threads) before what it
/// records is shown: a lookup the log cannot take is refused.
pub(super) async fn audit(d: &Dashboard, event: Event) -> Result<(), Fail> {
    let node = d.node.clone();
    match tokio::task::spawn_blocking(move || accounts::record(&node, event)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(Fail::internal(format!("cannot write the audit log: {e}"))),
        Err(e) => Err(Fail::internal(format!("audit job failed: {e}"))),
    }
}

/// [`audit`] for what happens anyway (logins, logouts): a failure is logged.
async fn record(d: &Dashboard, event: Event) {
    let action = event.action.as_str();
    if let Err(fail) = audit(d, event).await {
        warn!(action, error = %fail.message, "audit entry lost");
    }
}
