//! `/admin/login` and `/admin/logout`: a name and a password for a session, under the
//! failure limits (per account and per address block; 429 when reached).

use super::render::{PageError, PageResult, page};
use super::session::{SignedIn, clear_cookies, set_cookies};
use crate::http::auth::ClientAddr;
use crate::http::envelope::ApiError;
use crate::pages::escape;
use crate::state::AppState;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use domain::login_code::ClientPrefix;
use domain::operator::Password;
use domain::service::ConsoleLoginError;
use serde::Deserialize;

/// `?next=`: where to go after logging in.
#[derive(Debug, Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

/// The login form.
#[derive(Deserialize)]
pub struct LoginForm {
    name: String,
    password: String,
    #[serde(default)]
    next: String,
}

/// Only a console path is followed after login.
fn console_next(next: Option<&str>) -> String {
    let next = crate::pages::safe_next(next);
    if next == "/admin" || next.starts_with("/admin/") || next.starts_with("/admin?") {
        next
    } else {
        "/admin".into()
    }
}

fn form(next: &str, problem: Option<&str>) -> String {
    let problem = problem
        .map(|p| {
            format!(
                "<p class=\"problem\" id=\"login-problem\">{}</p>",
                escape(p)
            )
        })
        .unwrap_or_default();
    format!(
        "<section class=\"card\"><h1>运营登录 Operator login</h1>{problem}\
         <form method=\"post\" action=\"/admin/login\" class=\"stack\" id=\"login-form\">\
         <label>用户名 Name<input name=\"name\" autocomplete=\"username\" required maxlength=\"32\"></label>\
         <label>密码 Password<input name=\"password\" type=\"password\" autocomplete=\"current-password\" required maxlength=\"1024\"></label>\
         <input type=\"hidden\" name=\"next\" value=\"{next}\">\
         <button type=\"submit\">登录 Log in</button></form>\
         <p class=\"muted\">Accounts are made with <code>chatmall admin create --user NAME --role admin|viewer</code>.</p></section>",
        next = escape(next)
    )
}

/// GET `/admin/login`.
pub async fn show(Query(query): Query<NextQuery>) -> Response {
    page(
        "Login",
        "",
        None,
        &form(&console_next(query.next.as_deref()), None),
    )
}

/// POST `/admin/login`.
pub async fn submit(
    State(state): State<AppState>,
    ClientAddr(ip): ClientAddr,
    headers: axum::http::HeaderMap,
    Form(login): Form<LoginForm>,
) -> PageResult {
    // Another site must not log this browser into an account of its choosing.
    if headers
        .get("sec-fetch-site")
        .is_some_and(|site| site.as_bytes() == b"cross-site")
    {
        return Err(ApiError::Forbidden("a login form must come from this site".into()).into());
    }
    let next = console_next(Some(&login.next));
    let refused = |status: StatusCode, problem: &str| {
        let mut response = page("Login", "", None, &form(&next, Some(problem)));
        *response.status_mut() = status;
        response
    };
    let Ok(password) = Password::offered(login.password) else {
        return Ok(refused(
            StatusCode::BAD_REQUEST,
            "a password is 1 to 1024 bytes",
        ));
    };
    match state
        .console
        .login(&login.name, &password, &ClientPrefix::of(ip))
        .await
    {
        Ok(session) => {
            let mut response = Redirect::to(&next).into_response();
            for cookie in set_cookies(&session, state.clock.now(), state.secure_cookies) {
                response.headers_mut().append(header::SET_COOKIE, cookie);
            }
            Ok(response)
        }
        Err(ConsoleLoginError::Wrong) => Ok(refused(
            StatusCode::UNAUTHORIZED,
            "用户名或密码错误 Wrong name or password.",
        )),
        Err(e @ ConsoleLoginError::Limited { retry_after }) => {
            let mut response = refused(StatusCode::TOO_MANY_REQUESTS, &e.to_string());
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, retry_after.num_seconds().max(1).into());
            Ok(response)
        }
        Err(ConsoleLoginError::Store(e)) => Err(PageError(ApiError::Internal(e))),
    }
}

/// The logout form.
#[derive(Deserialize)]
pub struct LogoutForm {
    #[serde(default)]
    csrf: String,
}

/// POST `/admin/logout`: ends the session (a viewer may too: it changes only its own).
pub async fn logout(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Form(form): Form<LogoutForm>,
) -> PageResult {
    signed_in.check_csrf(&state, &form.csrf)?;
    state
        .console
        .logout(&signed_in.token, &signed_in.actor())
        .await?;
    let mut response = Redirect::to("/admin/login").into_response();
    for cookie in clear_cookies(state.secure_cookies) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    Ok(response)
}
