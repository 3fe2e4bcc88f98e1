//! Writing an operator's action to the audit log, from the handlers of the admin API and of
//! the console alike (one path: both call the flows, then this).

use crate::state::AppState;
use domain::operator::{Actor, AuditAction};
use serde::Serialize;

/// Appends what `actor` did on `target`, with the state before and after as JSON. The
/// action has happened by now: a failure to write is logged loudly and counted, not
/// turned into an error that would invite a second refund.
pub async fn record(
    state: &AppState,
    actor: &Actor,
    action: AuditAction,
    target: &str,
    before: Option<&impl Serialize>,
    after: Option<&impl Serialize>,
) {
    let before = before.and_then(|v| serde_json::to_string(v).ok());
    let after = after.and_then(|v| serde_json::to_string(v).ok());
    if let Err(e) = state
        .console
        .audit(actor, action, target, before, after)
        .await
    {
        metrics::counter!("chatmall_audit_failures_total").increment(1);
        tracing::error!(error = ?e, actor = actor.name(), action = action.as_str(), target, "an audit entry was not written");
    }
}
