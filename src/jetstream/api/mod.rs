//! The `$JS.API` requests for streams and the account, with nats-server's request
//! decoding (strict: unknown fields are errors), validation order, response bodies (field
//! order, `omitempty`, `null` versus `[]`) and error codes.
//!
//! - this module: dispatch by subject, API counters, account info, and what the others
//!   share (the ordered JSON writer, request decoding, stream state JSON);
//! - `streams`: stream create, update, info, names, list, delete, purge, advisories;
//! - `messages`: message get and delete, and publishes to stream subjects (pub acks).

mod consumers;
mod messages;
mod streams;

use serde::{Deserialize, Serialize};

use super::errors::ApiError;
use super::headers;
use super::json::{self, to_go_json, Time};
use super::service::{InMsg, Service};
use std::collections::BTreeMap;

use super::config::Storage;

pub(crate) use messages::{pub_ack_error, MsgGetRequest};

pub(super) const TYPE_PREFIX: &str = "io.nats.jetstream.api.v1.";
pub(super) const NAMES_LIMIT: usize = 1024;
pub(super) const LIST_LIMIT: usize = 256;
pub(super) const SUBJECT_DETAILS_LIMIT: usize = 100_000;

/// A JSON object written field by field, in order.
pub(super) struct Obj(Vec<u8>);

impl Obj {
    pub(super) fn typed(kind: &str) -> Obj {
        Obj::typed_as(&format!("{TYPE_PREFIX}{kind}"))
    }

    pub(super) fn typed_as(full_type: &str) -> Obj {
        Obj(Vec::with_capacity(256)).field("type", full_type)
    }

    pub(super) fn field<T: Serialize + ?Sized>(mut self, key: &str, v: &T) -> Obj {
        self.0.push(if self.0.is_empty() { b'{' } else { b',' });
        self.0.push(b'"');
        self.0.extend_from_slice(key.as_bytes());
        self.0.extend_from_slice(b"\":");
        self.0.extend_from_slice(&to_go_json(v));
        self
    }

    pub(super) fn raw(mut self, key: &str, v: &[u8]) -> Obj {
        self.0.push(if self.0.is_empty() { b'{' } else { b',' });
        self.0.push(b'"');
        self.0.extend_from_slice(key.as_bytes());
        self.0.extend_from_slice(b"\":");
        self.0.extend_from_slice(v);
        self
    }

    pub(super) fn done(mut self) -> Vec<u8> {
        if self.0.is_empty() {
            self.0.push(b'{');
        }
        self.0.push(b'}');
        self.0
    }
}

pub(super) fn paged(o: Obj, total: usize, offset: usize, limit: usize) -> Obj {
    o.field("total", &total)
        .field("offset", &offset)
        .field("limit", &limit)
}

/// Decodes a request body: strictly (unknown fields refused) unless the server is not
/// strict, in which case unknown top-level fields are dropped first.
pub(crate) fn decode<T: for<'de> Deserialize<'de>>(
    body: &[u8],
    strict: bool,
) -> Result<T, ApiError> {
    let res = if strict {
        serde_json::from_slice::<T>(body)
    } else {
        serde_json::from_slice::<serde_json::Value>(body).and_then(|mut v| loop {
            match serde_json::from_value::<T>(v.clone()) {
                Err(e) if e.to_string().starts_with("unknown field `") => {
                    let text = e.to_string();
                    let name = text["unknown field `".len()..]
                        .split('`')
                        .next()
                        .unwrap_or_default()
                        .to_string();
                    match v.as_object_mut().and_then(|o| o.remove(&name)) {
                        Some(_) => continue,
                        None => break Err(e),
                    }
                }
                other => break other,
            }
        })
    };
    res.map_err(|e| {
        let syntax = matches!(
            e.classify(),
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof
        );
        let text = if syntax {
            json::go_syntax_error(body).unwrap_or_else(|| json::decode_error(&e))
        } else {
            json::decode_error(&e)
        };
        ApiError::invalid_json(&text)
    })
}

/// nats-server's `isEmptyRequest`: no body, or a JSON object with nothing in it.
pub(super) fn is_empty_request(body: &[u8]) -> bool {
    let t = body.trim_ascii();
    t.is_empty() || t == b"{}" || t == b"null"
}

/// Only bodies that start like JSON are read by list and info requests.
pub(super) fn is_json_object(body: &[u8]) -> bool {
    matches!(body.trim_ascii().first(), Some(b'{') | Some(b'['))
}

/// A stream's state as nats-server writes it (`StreamState`).
#[derive(Serialize)]
pub struct StateJson {
    messages: u64,
    bytes: u64,
    first_seq: u64,
    first_ts: Time,
    last_seq: u64,
    last_ts: Time,
    #[serde(skip_serializing_if = "is_zero")]
    num_subjects: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    subjects: Option<BTreeMap<String, u64>>,
    #[serde(skip_serializing_if = "is_zero")]
    num_deleted: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    deleted: Option<Vec<u64>>,
    consumer_count: u64,
}

pub(super) fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl StateJson {
    /// The plain form (no subject or deletion details).
    pub fn plain(st: &super::store::State, num_subjects: u64) -> StateJson {
        StateJson {
            messages: st.msgs,
            bytes: st.bytes,
            first_seq: st.first_seq,
            first_ts: Time(st.first_ts),
            last_seq: st.last_seq,
            last_ts: Time(st.last_ts),
            num_subjects,
            subjects: None,
            num_deleted: st.num_deleted,
            deleted: None,
            consumer_count: 0,
        }
    }
}

impl Service {
    pub(super) fn stream_id(&self, account: u32, name: &str) -> Option<u32> {
        self.accounts.get(&account)?.streams.get(name).copied()
    }

    /// Counts an API call (after its response is built) and queues the response.
    /// `failed` is how nats-server counts it: by the path that sends it (a handler's
    /// early refusals count as errors; its final answer does not, even when that answer
    /// is an error, as `sequence N not found` is).
    pub(super) fn respond(&mut self, m: &InMsg, body: Vec<u8>, failed: bool) {
        if let Some(acc) = self.accounts.get_mut(&m.account) {
            acc.api_total += 1;
            if failed {
                acc.api_errors += 1;
            }
        }
        self.reply(m.account, &m.reply, Vec::new(), body);
    }

    /// Dispatches an API request by its subject.
    pub(super) fn api(&mut self, m: &InMsg) {
        let subject = String::from_utf8_lossy(&m.subject).into_owned();
        let rest = match subject.strip_prefix("$JS.API.") {
            Some(r) => r.to_string(),
            None => {
                // `$JS.<domain>.API.…`
                let prefix = format!("$JS.{}.API.", self.settings.domain);
                match subject.strip_prefix(&prefix) {
                    Some(r) if !self.settings.domain.is_empty() => r.to_string(),
                    _ => return,
                }
            }
        };
        if !self.accounts.contains_key(&m.account) {
            let kind = response_type(&rest);
            if kind != "system_response" {
                let body = error_shaped(kind, &ApiError::not_enabled_for_account());
                self.reply(m.account, &m.reply, Vec::new(), body);
            }
            return;
        }
        if headers::requires_newer_api(&m.headers) {
            let kind = response_type(&rest);
            let body = Obj::typed(kind)
                .field("error", &ApiError::required_api_level())
                .done();
            return self.respond(m, body, true);
        }
        let tokens: Vec<&str> = rest.split('.').collect();
        let body = &m.payload;
        match tokens.as_slice() {
            ["INFO"] => self.account_info(m),
            ["STREAM", "CREATE", name] => self.stream_create(m, name, body),
            ["STREAM", "UPDATE", name] => self.stream_update(m, name, body),
            ["STREAM", "INFO", name] => self.stream_info_request(m, name, body),
            ["STREAM", "NAMES"] => self.stream_names(m, body, false),
            ["STREAM", "LIST"] => self.stream_names(m, body, true),
            ["STREAM", "DELETE", name] => self.stream_delete(m, name),
            ["STREAM", "PURGE", name] => self.stream_purge(m, name, body),
            ["STREAM", "MSG", "GET", name] => self.msg_get(m, name, body),
            ["STREAM", "MSG", "DELETE", name] => self.msg_delete(m, name, body),
            ["STREAM", "LEADER", "STEPDOWN", _] | ["STREAM", "PEER", "REMOVE", _] => {
                let kind = if tokens[1] == "LEADER" {
                    "stream_leader_stepdown_response"
                } else {
                    "stream_remove_peer_response"
                };
                let body = Obj::typed(kind)
                    .field("error", &ApiError::clustering_required())
                    .done();
                self.respond(m, body, true)
            }
            ["CONSUMER", "CREATE", ..] | ["CONSUMER", "DURABLE", "CREATE", ..] => {
                self.consumer_create(m, &tokens)
            }
            ["CONSUMER", "NAMES", stream] => self.consumer_names(m, stream, false),
            ["CONSUMER", "LIST", stream] => self.consumer_names(m, stream, true),
            ["CONSUMER", "INFO", stream, name] => self.consumer_info(m, stream, name),
            ["CONSUMER", "DELETE", stream, name] => self.consumer_delete(m, stream, name),
            ["CONSUMER", "PAUSE", stream, name] => self.consumer_pause(m, stream, name),
            ["CONSUMER", "UNPIN", stream, name] => self.consumer_unpin(m, stream, name),
            ["CONSUMER", verb, stream, _] | ["CONSUMER", verb, "STEPDOWN", stream, _]
                if matches!(*verb, "INFO" | "DELETE" | "PAUSE" | "UNPIN" | "LEADER") =>
            {
                let kind = match *verb {
                    "INFO" => "consumer_info_response",
                    "DELETE" => "consumer_delete_response",
                    "PAUSE" => "consumer_pause_response",
                    "UNPIN" => "consumer_unpin_response",
                    _ => "consumer_leader_stepdown_response",
                };
                let e = if self.stream_id(m.account, stream).is_none() {
                    ApiError::stream_not_found()
                } else {
                    ApiError::consumer_not_found()
                };
                let body = Obj::typed(kind).field("error", &e).done();
                self.respond(m, body, true)
            }
            // Unknown API subjects get no answer, as in nats-server.
            _ => {}
        }
    }

    pub(super) fn account_info(&mut self, m: &InMsg) {
        let Some(acc) = self.accounts.get(&m.account) else {
            return;
        };
        let (mut memory, mut storage, mut reserved_memory, mut reserved_storage) = (0, 0, 0, 0);
        for id in acc.streams.values() {
            if let Some(s) = self.streams.get(id) {
                let bytes = s.store.state().bytes;
                let reserve = s.cfg.max_bytes.max(0) as u64;
                if s.cfg.storage == Storage::Memory {
                    memory += bytes;
                    reserved_memory += reserve;
                } else {
                    storage += bytes;
                    reserved_storage += reserve;
                }
            }
        }
        #[derive(Serialize)]
        struct Limits {
            max_memory: i64,
            max_storage: i64,
            max_streams: i64,
            max_consumers: i64,
            max_ack_pending: i64,
            memory_max_stream_bytes: i64,
            storage_max_stream_bytes: i64,
            max_bytes_required: bool,
        }
        #[derive(Serialize)]
        struct Api {
            level: i32,
            total: u64,
            errors: u64,
        }
        let mut o = Obj::typed("account_info_response")
            .field("memory", &memory)
            .field("storage", &storage)
            .field("reserved_memory", &reserved_memory)
            .field("reserved_storage", &reserved_storage)
            .field("streams", &acc.streams.len())
            .field(
                "consumers",
                &acc.streams
                    .values()
                    .filter_map(|id| self.streams.get(id))
                    .map(|s| s.consumer_count)
                    .sum::<usize>(),
            )
            .field(
                "limits",
                &Limits {
                    max_memory: acc.limits.max_memory,
                    max_storage: acc.limits.max_store,
                    max_streams: acc.limits.max_streams,
                    max_consumers: acc.limits.max_consumers,
                    max_ack_pending: acc.limits.max_ack_pending,
                    memory_max_stream_bytes: acc.limits.memory_max_stream_bytes,
                    storage_max_stream_bytes: acc.limits.store_max_stream_bytes,
                    max_bytes_required: acc.limits.max_bytes_required,
                },
            );
        if !self.settings.domain.is_empty() {
            o = o.field("domain", &self.settings.domain);
        }
        let body = o
            .field(
                "api",
                &Api {
                    level: crate::proto::info::JS_API_LEVEL,
                    total: acc.api_total,
                    errors: acc.api_errors,
                },
            )
            .done();
        self.respond(m, body, false)
    }
}

/// A NUID-shaped id (22 characters of base 62), as nats-server gives events.
pub(super) fn nuid() -> String {
    short_id(22)
}

/// `n` random base-62 characters.
pub(crate) fn short_id(n: usize) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    (0..n)
        .map(|_| ALPHABET[fastrand::usize(..ALPHABET.len())] as char)
        .collect()
}

/// An error response with the zero values its response type always carries (paging,
/// empty lists, `purged`), as nats-server's shared response structs give them.
fn error_shaped(kind: &str, e: &ApiError) -> Vec<u8> {
    let o = Obj::typed(kind).field("error", e);
    match kind {
        "stream_info_response" => paged(o, 0, 0, 0).done(),
        "stream_names_response" => paged(o, 0, 0, 0).raw("streams", b"null").done(),
        "stream_list_response" => paged(o, 0, 0, 0).raw("streams", b"[]").done(),
        "consumer_names_response" | "consumer_list_response" => {
            paged(o, 0, 0, 0).raw("consumers", b"[]").done()
        }
        "stream_purge_response" => o.field("purged", &0).done(),
        _ => o.done(),
    }
}

/// The response type of an API subject (for errors raised before dispatch).
pub(super) fn response_type(rest: &str) -> &'static str {
    let t: Vec<&str> = rest.split('.').collect();
    match t.as_slice() {
        ["INFO"] => "account_info_response",
        ["STREAM", "CREATE", ..] => "stream_create_response",
        ["STREAM", "UPDATE", ..] => "stream_update_response",
        ["STREAM", "INFO", ..] => "stream_info_response",
        ["STREAM", "NAMES", ..] => "stream_names_response",
        ["STREAM", "LIST", ..] => "stream_list_response",
        ["STREAM", "DELETE", ..] => "stream_delete_response",
        ["STREAM", "PURGE", ..] => "stream_purge_response",
        ["STREAM", "MSG", "GET", ..] => "stream_msg_get_response",
        ["STREAM", "MSG", "DELETE", ..] => "stream_msg_delete_response",
        ["CONSUMER", "CREATE", ..] | ["CONSUMER", "DURABLE", ..] => "consumer_create_response",
        ["CONSUMER", "INFO", ..] => "consumer_info_response",
        ["CONSUMER", "NAMES", ..] => "consumer_names_response",
        ["CONSUMER", "LIST", ..] => "consumer_list_response",
        ["CONSUMER", "DELETE", ..] => "consumer_delete_response",
        _ => "system_response",
    }
}
