//! The console's session in the browser: two cookies, both `HttpOnly` and
//! `SameSite=Strict` (and `Secure` when the shop is served over HTTPS) — the session token,
//! and its CSRF token, which the server writes into every form it renders and checks on
//! every state-changing request against the digest the session row keeps.

use crate::http::envelope::ApiError;
use crate::state::AppState;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use cookie::{Cookie, SameSite};
use domain::operator::{Actor, OperatorSession};
use domain::service::{NewSession, actor_of};

/// The session token's cookie.
pub const SESSION_COOKIE: &str = "chatmall_console";
/// The CSRF token's cookie.
pub const CSRF_COOKIE: &str = "chatmall_csrf";

/// A request's live console session.
pub struct SignedIn {
    pub session: OperatorSession,
    /// The session token (for logout).
    pub token: String,
    /// The session's CSRF token, for the forms a page renders (empty if the cookie is gone:
    /// then no form of the page is accepted).
    pub csrf: String,
}

impl SignedIn {
    /// The live session the request's cookie names, if any.
    pub async fn of(parts: &Parts, state: &AppState) -> Result<Option<Self>, ApiError> {
        let Some(token) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Ok(None);
        };
        let Some(session) = state.console.session(&token).await? else {
            return Ok(None);
        };
        let csrf = cookie(&parts.headers, CSRF_COOKIE).unwrap_or_default();
        Ok(Some(Self {
            session,
            token,
            csrf,
        }))
    }

    /// Who this session acts as.
    pub fn actor(&self) -> Actor {
        actor_of(&self.session.operator)
    }

    /// Refuses a state-changing request whose CSRF token is not the session's.
    pub fn check_csrf(&self, state: &AppState, given: &str) -> Result<(), ApiError> {
        if state.console.csrf_matches(&self.session, given) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(
                "the form's CSRF token is missing or not this session's: reload the page".into(),
            ))
        }
    }
}

/// The value of cookie `name` in the request.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_owned())
        .filter(|v| !v.is_empty())
}

fn build(
    name: &'static str,
    value: String,
    secure: bool,
    max_age: cookie::time::Duration,
) -> HeaderValue {
    let cookie = Cookie::build((name, value))
        .path("/")
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Strict)
        .max_age(max_age)
        .build();
    HeaderValue::from_str(&cookie.to_string()).expect("a token cookie is a valid header")
}

/// The `Set-Cookie` headers of a new session.
pub fn set_cookies(
    session: &NewSession,
    now: chrono::DateTime<chrono::Utc>,
    secure: bool,
) -> [HeaderValue; 2] {
    // Rounded up: the session was opened a moment before `now`.
    let millis = (session.expires_at - now).num_milliseconds().max(0);
    let ttl = cookie::time::Duration::seconds((millis + 999) / 1000);
    [
        build(SESSION_COOKIE, session.token.clone(), secure, ttl),
        build(CSRF_COOKIE, session.csrf.clone(), secure, ttl),
    ]
}

/// The `Set-Cookie` headers that end a session in the browser.
pub fn clear_cookies(secure: bool) -> [HeaderValue; 2] {
    let gone = cookie::time::Duration::ZERO;
    [
        build(SESSION_COOKIE, String::new(), secure, gone),
        build(CSRF_COOKIE, String::new(), secure, gone),
    ]
}

impl axum::extract::FromRequestParts<AppState> for SignedIn {
    type Rejection = axum::response::Response;

    /// A console page without a live session goes to the login page, and back after it.
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        use axum::response::IntoResponse;
        match Self::of(parts, state).await {
            Ok(Some(signed_in)) => Ok(signed_in),
            Ok(None) => {
                // A form posted after the session ended cannot be replayed by a GET.
                let here = match parts.method.is_safe() {
                    true => parts.uri.path_and_query().map_or("/admin", |p| p.as_str()),
                    false => "/admin",
                };
                let next: String = url::form_urlencoded::byte_serialize(here.as_bytes()).collect();
                Err(
                    axum::response::Redirect::to(&format!("/admin/login?next={next}"))
                        .into_response(),
                )
            }
            Err(e) => Err(super::render::PageError(e).into_response()),
        }
    }
}

impl SignedIn {
    /// The actor of a state-changing form: its CSRF token must be the session's, and the
    /// operator an admin.
    pub fn acting(&self, state: &AppState, csrf: &str) -> Result<Actor, ApiError> {
        self.check_csrf(state, csrf)?;
        crate::http::admin::may_act(self.actor())
    }
}
