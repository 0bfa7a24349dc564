//! `/healthz`, as nats-server answers it: `{"status":"ok"}` with 200 while the client
//! listener is up; in lame duck mode or while shutting down the listener is gone and the
//! answer is 500 `{"status":"error","error":"failed to be ready for connections after 1ms:
//! server"}` (nats-server's `readyForConnections` failure; its body and status code, not
//! 503). Without JetStream the `js-*` options change nothing, as in nats-server.

use super::format::is_zero;
use std::sync::atomic::Ordering;

use log::warn;
use serde::Serialize;

use super::query::Query;
use crate::server::Shared;

#[derive(Debug, Serialize)]
pub struct HealthStatus {
    pub status: &'static str,
    /// Set only where the status code is not the HTTP one (a `$SYS` HEALTHZ answer).
    #[serde(skip_serializing_if = "is_zero")]
    pub status_code: u16,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub error: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<HealthzError>,
}

#[derive(Debug, Serialize)]
pub struct HealthzError {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub error: String,
}

const NOT_READY: &str = "failed to be ready for connections after 1ms: server";

/// Returns the status code and the document, or a 400 text for an undecodable option.
pub fn check(shared: &Shared, q: &Query) -> Result<(u16, HealthStatus), String> {
    let js_enabled = q.bool("js-enabled")?;
    if js_enabled {
        warn!("Healthcheck: js-enabled deprecated, use js-enabled-only instead");
    }
    q.bool("js-enabled-only")?;
    q.bool("js-server-only")?;
    q.bool("js-meta-only")?;
    let details = q.bool("details")?;
    let fail = |code: u16, kind: &'static str, msg: String| {
        let hs = if details {
            HealthStatus {
                status: "error",
                status_code: 0,
                error: String::new(),
                errors: vec![HealthzError { kind, error: msg }],
            }
        } else {
            HealthStatus {
                status: "error",
                status_code: 0,
                error: msg,
                errors: Vec::new(),
            }
        };
        (code, hs)
    };
    let (account, stream, consumer) = (q.get("account"), q.get("stream"), q.get("consumer"));
    if account.is_empty() && !stream.is_empty() {
        return Ok(fail(
            400,
            "BAD_REQUEST",
            "\"account\" must not be empty when checking stream health".into(),
        ));
    }
    if stream.is_empty() && !consumer.is_empty() {
        return Ok(fail(
            400,
            "BAD_REQUEST",
            "\"stream\" must not be empty when checking consumer health".into(),
        ));
    }
    if shared.lame_duck.load(Ordering::Acquire) || shared.shutting_down.load(Ordering::Acquire) {
        let (code, hs) = fail(500, "CONNECTION", NOT_READY.into());
        if details {
            warn!("Healthcheck failed: 1 errors");
        } else {
            warn!("Healthcheck failed: {NOT_READY:?}");
        }
        return Ok((code, hs));
    }
    Ok((
        200,
        HealthStatus {
            status: "ok",
            status_code: 0,
            error: String::new(),
            errors: Vec::new(),
        },
    ))
}
