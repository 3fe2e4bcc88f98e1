//! The operators' console at `/admin` (issue 15): server-rendered pages with plain forms,
//! their assets embedded, for operator accounts with a role. Every page needs a session
//! (a viewer's will do); every form needs the session's CSRF token and an admin.

mod accounts;
mod actions;
pub mod audit;
mod books;
mod catalog;
mod charts;
mod keys;
mod login;
mod render;
mod session;
mod views;

pub use keys::ConsoleKeys;
pub use session::{CSRF_COOKIE, SESSION_COOKIE, SignedIn};

use crate::state::AppState;
use axum::Router;
use axum::routing::{get, post};

/// The console's routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/admin/login", get(login::show).post(login::submit))
        .route("/admin/logout", post(login::logout))
        .route("/admin", get(views::dashboard))
        .route("/admin/orders", get(views::orders))
        .route("/admin/orders/{no}", get(views::order))
        .route("/admin/orders/{no}/refund", post(actions::refund))
        .route("/admin/orders/{no}/recheck", post(actions::recheck))
        .route("/admin/troubled", get(views::troubled))
        .route("/admin/products", get(catalog::list).post(catalog::create))
        .route("/admin/products/{id}", post(catalog::update))
        .route("/admin/accounts", get(accounts::list))
        .route("/admin/accounts/{user}", get(accounts::show))
        .route("/admin/accounts/{user}/adjust", post(accounts::adjust))
        .route("/admin/accounts/{user}/freeze", post(accounts::freeze))
        .route("/admin/accounts/{user}/unfreeze", post(accounts::unfreeze))
        .route(
            "/admin/accounts/{user}/keys/{id}/revoke",
            post(accounts::revoke_key),
        )
        .route("/admin/batches", get(books::batches).post(books::issue))
        .route(
            "/admin/reconciliations",
            get(books::reconciliations).post(books::run),
        )
        .route("/admin/audit", get(views::audit))
        .with_state(state)
}
