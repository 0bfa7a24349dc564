//! The `$JS.API` requests for streams and the account, with nats-server's request
//! decoding (strict: unknown fields are errors), validation order, response bodies (field
//! order, `omitempty`, `null` versus `[]`) and error codes; publishes to stream subjects
//! (pub acks) and direct gets.

use std::collections::BTreeMap;

use base64::Engine;
use serde::{Deserialize, Serialize};

use super::config::{self, Storage, StreamConfig};
use super::errors::ApiError;
use super::headers;
use super::json::{self, to_go_json, Time};
use super::service::{InMsg, Service};
use super::store::StoredMsg;
use super::stream::{Ingest, Stream};
use crate::subject;

const TYPE_PREFIX: &str = "io.nats.jetstream.api.v1.";
const NAMES_LIMIT: usize = 1024;
const LIST_LIMIT: usize = 256;
const SUBJECT_DETAILS_LIMIT: usize = 100_000;

/// A JSON object written field by field, in order.
struct Obj(Vec<u8>);

impl Obj {
    fn typed(kind: &str) -> Obj {
        Obj::typed_as(&format!("{TYPE_PREFIX}{kind}"))
    }

    fn typed_as(full_type: &str) -> Obj {
        Obj(Vec::with_capacity(256)).field("type", full_type)
    }

    fn field<T: Serialize + ?Sized>(mut self, key: &str, v: &T) -> Obj {
        self.0.push(if self.0.is_empty() { b'{' } else { b',' });
        self.0.push(b'"');
        self.0.extend_from_slice(key.as_bytes());
        self.0.extend_from_slice(b"\":");
        self.0.extend_from_slice(&to_go_json(v));
        self
    }

    fn raw(mut self, key: &str, v: &[u8]) -> Obj {
        self.0.push(if self.0.is_empty() { b'{' } else { b',' });
        self.0.push(b'"');
        self.0.extend_from_slice(key.as_bytes());
        self.0.extend_from_slice(b"\":");
        self.0.extend_from_slice(v);
        self
    }

    fn error(self, e: &Option<ApiError>) -> Obj {
        match e {
            Some(e) => self.field("error", e),
            None => self,
        }
    }

    fn done(mut self) -> Vec<u8> {
        if self.0.is_empty() {
            self.0.push(b'{');
        }
        self.0.push(b'}');
        self.0
    }
}

fn paged(o: Obj, total: usize, offset: usize, limit: usize) -> Obj {
    o.field("total", &total)
        .field("offset", &offset)
        .field("limit", &limit)
}

/// Decodes a request body: strictly (unknown fields refused) unless the server is not
/// strict, in which case unknown top-level fields are dropped first.
pub(super) fn decode<T: for<'de> Deserialize<'de>>(
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
    res.map_err(|e| ApiError::invalid_json(&json::decode_error(&e)))
}

/// nats-server's `isEmptyRequest`: no body, or a JSON object with nothing in it.
fn is_empty_request(body: &[u8]) -> bool {
    let t = body.trim_ascii();
    t.is_empty() || t == b"{}" || t == b"null"
}

/// Only bodies that start like JSON are read by list and info requests.
fn is_json_object(body: &[u8]) -> bool {
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

fn is_zero(n: &u64) -> bool {
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

#[derive(Serialize)]
struct ClusterJson<'a> {
    leader: &'a str,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct InfoRequest {
    #[serde(default, deserialize_with = "json::nullable")]
    offset: i64,
    #[serde(default, deserialize_with = "json::nullable")]
    deleted_details: bool,
    #[serde(default, deserialize_with = "json::nullable")]
    subjects_filter: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct NamesRequest {
    #[serde(default, deserialize_with = "json::nullable")]
    offset: i64,
    #[serde(default, deserialize_with = "json::nullable")]
    subject: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct PurgeRequest {
    #[serde(default, deserialize_with = "json::nullable")]
    seq: u64,
    #[serde(default, deserialize_with = "json::nullable")]
    filter: String,
    #[serde(default, deserialize_with = "json::nullable")]
    keep: u64,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct MsgDeleteRequest {
    #[serde(default, deserialize_with = "json::nullable")]
    seq: u64,
    #[serde(default, deserialize_with = "json::nullable")]
    no_erase: bool,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct MsgGetRequest {
    #[serde(default, deserialize_with = "json::nullable")]
    pub(super) seq: u64,
    #[serde(default, deserialize_with = "json::nullable")]
    pub(super) last_by_subj: String,
    #[serde(default, deserialize_with = "json::nullable")]
    pub(super) next_by_subj: String,
    #[serde(default, deserialize_with = "json::nullable")]
    pub(super) batch: i64,
    #[serde(default, deserialize_with = "json::nullable")]
    pub(super) max_bytes: i64,
    #[serde(default)]
    pub(super) start_time: Option<Time>,
    #[serde(default, deserialize_with = "json::nullable")]
    pub(super) multi_last: Vec<String>,
    #[serde(default, deserialize_with = "json::nullable")]
    pub(super) up_to_seq: u64,
    #[serde(default)]
    pub(super) up_to_time: Option<Time>,
    #[serde(default, deserialize_with = "json::nullable")]
    pub(super) no_hdr: bool,
}

#[derive(Serialize)]
struct StoredMsgJson {
    subject: String,
    seq: u64,
    #[serde(skip_serializing_if = "String::is_empty")]
    hdrs: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    data: String,
    time: Time,
}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// The error shape of a pub ack: `{"error":{…},"stream":"S","seq":0}`.
pub(super) fn pub_ack_error(stream: &str, e: &ApiError) -> Vec<u8> {
    Obj(Vec::new())
        .field("error", e)
        .field("stream", stream)
        .field("seq", &0)
        .done()
}

impl Service {
    fn state_json(
        &self,
        s: &Stream,
        req: Option<&InfoRequest>,
        deleted: Option<Vec<u64>>,
    ) -> (StateJson, usize) {
        let st = s.store.state();
        let mut total = 0;
        let subjects = match req.filter(|r| !r.subjects_filter.is_empty()) {
            Some(r) => {
                let f = r.subjects_filter.as_bytes();
                let all: BTreeMap<String, u64> = s
                    .store
                    .subjects()
                    .into_iter()
                    .filter(|(subj, _)| subject::matches(f, subj))
                    .map(|(subj, n)| (String::from_utf8_lossy(&subj).into_owned(), n))
                    .collect();
                total = all.len();
                let skip = r.offset.max(0) as usize;
                Some(
                    all.into_iter()
                        .skip(skip)
                        .take(SUBJECT_DETAILS_LIMIT)
                        .collect(),
                )
            }
            None => None,
        };
        let state = StateJson {
            messages: st.msgs,
            bytes: st.bytes,
            first_seq: st.first_seq,
            first_ts: Time(st.first_ts),
            last_seq: st.last_seq,
            last_ts: Time(st.last_ts),
            num_subjects: s.store.subjects().len() as u64,
            subjects: subjects.filter(|m: &BTreeMap<String, u64>| !m.is_empty()),
            num_deleted: st.num_deleted,
            deleted: deleted.filter(|d| !d.is_empty()),
            consumer_count: 0,
        };
        (state, total)
    }

    /// `config`, `created`, `state`, [`cluster`], `ts` of a stream.
    fn stream_info(
        &self,
        o: Obj,
        s: &Stream,
        with_cluster: bool,
        req: Option<&InfoRequest>,
        deleted: Option<Vec<u64>>,
    ) -> Obj {
        let (state, _) = self.state_json(s, req, deleted);
        let mut o = o
            .field("config", &s.cfg.for_response())
            .field("created", &Time(s.created))
            .field("state", &state);
        if !self.settings.domain.is_empty() {
            o = o.field("domain", &self.settings.domain);
        }
        if with_cluster {
            o = o.field(
                "cluster",
                &ClusterJson {
                    leader: &self.settings.server_name,
                },
            );
        }
        o.field("ts", &Time::now())
    }

    /// A `STREAM.LIST` entry: the configuration as stored (without the response-only
    /// metadata) and no `cluster`, as nats-server lists them.
    fn stream_list_entry(&self, s: &Stream) -> Obj {
        let (state, _) = self.state_json(s, None, None);
        let mut o = Obj(Vec::new())
            .field("config", &s.cfg)
            .field("created", &Time(s.created))
            .field("state", &state);
        if !self.settings.domain.is_empty() {
            o = o.field("domain", &self.settings.domain);
        }
        o.field("ts", &Time::now())
    }

    /// `$JS.EVENT.ADVISORY.STREAM.<CREATED|UPDATED|DELETED>.<stream>`, in the stream's
    /// account, as nats-server sends them (`JSStreamActionAdvisory`).
    fn stream_advisory(&mut self, account: u32, stream: &str, action: &str) {
        let event = match action {
            "create" => "CREATED",
            "modify" => "UPDATED",
            _ => "DELETED",
        };
        let mut o = Obj::typed_as("io.nats.jetstream.advisory.v1.stream_action")
            .field("id", &nuid())
            .field("timestamp", &Time::now())
            .field("stream", stream)
            .field("action", action);
        if !self.settings.domain.is_empty() {
            o = o.field("domain", &self.settings.domain);
        }
        let subject = format!("$JS.EVENT.ADVISORY.STREAM.{event}.{stream}");
        self.out
            .push(super::service::Outgoing::Msg(super::service::OutMsg {
                account,
                subject: subject.into_bytes(),
                headers: Vec::new(),
                payload: o.done(),
            }));
    }

    fn stream_id(&self, account: u32, name: &str) -> Option<u32> {
        self.accounts.get(&account)?.streams.get(name).copied()
    }

    /// Counts an API call (after its response is built) and queues the response.
    /// `failed` is how nats-server counts it: by the path that sends it (a handler's
    /// early refusals count as errors; its final answer does not, even when that answer
    /// is an error, as `sequence N not found` is).
    fn respond(&mut self, m: &InMsg, body: Vec<u8>, failed: bool) {
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
            return;
        }
        if let Some(level) = headers::get_str(&m.headers, "Nats-Required-Api-Level") {
            if level.parse::<i64>().unwrap_or(0) > crate::proto::info::JS_API_LEVEL as i64 {
                let kind = response_type(&rest);
                let body = Obj::typed(kind)
                    .field("error", &ApiError::required_api_level())
                    .done();
                return self.respond(m, body, true);
            }
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
            ["CONSUMER", "CREATE", stream, ..] | ["CONSUMER", "DURABLE", "CREATE", stream, ..] => {
                let e = if self.stream_id(m.account, stream).is_none() {
                    ApiError::stream_not_found()
                } else {
                    ApiError::consumer_create("natrium does not support consumers yet")
                };
                let body = Obj::typed("consumer_create_response")
                    .field("error", &e)
                    .done();
                self.respond(m, body, true)
            }
            ["CONSUMER", "NAMES", stream] | ["CONSUMER", "LIST", stream] => {
                let list = tokens[1] == "LIST";
                let kind = if list {
                    "consumer_list_response"
                } else {
                    "consumer_names_response"
                };
                let limit = if list { LIST_LIMIT } else { NAMES_LIMIT };
                let found = self.stream_id(m.account, stream).is_some();
                let e = (!found).then(ApiError::stream_not_found);
                let o = Obj::typed(kind).error(&e);
                let o = if found {
                    paged(o, 0, 0, limit)
                } else {
                    paged(o, 0, 0, 0)
                };
                let body = o.raw("consumers", b"[]").done();
                self.respond(m, body, !found)
            }
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

    fn account_info(&mut self, m: &InMsg) {
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
            .field("consumers", &0)
            .field(
                "limits",
                &Limits {
                    max_memory: -1,
                    max_storage: -1,
                    max_streams: -1,
                    max_consumers: -1,
                    max_ack_pending: -1,
                    memory_max_stream_bytes: -1,
                    storage_max_stream_bytes: -1,
                    max_bytes_required: false,
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

    /// Reads a create or update body: name checks first, as nats-server orders them.
    fn read_config(&self, name: &str, body: &[u8]) -> Result<StreamConfig, ApiError> {
        let cfg: StreamConfig = if body.trim_ascii().is_empty() {
            StreamConfig::default()
        } else {
            decode(body, self.settings.strict)?
        };
        if cfg.name != name {
            return Err(ApiError::stream_name_mismatch());
        }
        if name.contains(['\\', '/']) {
            return Err(ApiError::stream_name_has_separators());
        }
        Ok(cfg)
    }

    /// Another stream of the account whose subjects collide with these.
    fn overlaps(&self, account: u32, skip: Option<u32>, subjects: &[String]) -> bool {
        let Some(acc) = self.accounts.get(&account) else {
            return false;
        };
        acc.streams
            .values()
            .filter(|id| Some(**id) != skip)
            .filter_map(|id| self.streams.get(id))
            .any(|s| {
                s.cfg.subjects.iter().any(|a| {
                    subjects
                        .iter()
                        .any(|b| subject::subjects_collide(a.as_bytes(), b.as_bytes()))
                })
            })
    }

    fn stream_create(&mut self, m: &InMsg, name: &str, body: &[u8]) {
        let kind = "stream_create_response";
        let fail = |e: ApiError| Obj::typed(kind).field("error", &e).done();
        let mut created = false;
        let result = (|| -> Result<u32, ApiError> {
            let req = self.read_config(name, body)?;
            if req.sealed {
                return Err(ApiError::stream_invalid_config(
                    "stream configuration for create can not be sealed",
                ));
            }
            if req.mirror_direct && req.mirror.is_none() {
                return Err(ApiError::stream_invalid_config(
                    "stream has no mirror but does have mirror direct",
                ));
            }
            let mut cfg = config::check(&req)?;
            if cfg.num_replicas > 1 {
                return Err(ApiError::replicas_not_supported());
            }
            cfg.set_required_level();
            if let Some(id) = self.stream_id(m.account, name) {
                let existing = self.streams.get(&id).map(|s| s.cfg.clone());
                return match existing {
                    Some(old) if old.same_as(&cfg) => Ok(id),
                    _ => Err(ApiError::stream_name_exists()),
                };
            }
            if let Some(what) = config::unsupported(&cfg) {
                return Err(ApiError::stream_create(format!(
                    "natrium does not support {what} yet"
                )));
            }
            if self.overlaps(m.account, None, &cfg.subjects) {
                return Err(ApiError::subjects_overlap());
            }
            let acc_name = self
                .accounts
                .get(&m.account)
                .map(|a| a.name.clone())
                .unwrap_or_default();
            let dir = self.account_dir(&acc_name).join(name);
            let stream = Stream::create(Some(dir), cfg).map_err(ApiError::stream_create)?;
            let id = self.add_stream(m.account, stream);
            self.subscribe_stream(id, true);
            created = true;
            Ok(id)
        })();
        match result {
            Ok(id) => {
                let Some(s) = self.streams.get(&id) else {
                    return;
                };
                let o = self.stream_info(Obj::typed(kind), s, false, None, None);
                let body = o.field("did_create", &true).done();
                self.respond(m, body, false);
                if created {
                    self.stream_advisory(m.account, name, "create");
                }
            }
            Err(e) => self.respond(m, fail(e), true),
        }
    }

    fn stream_update(&mut self, m: &InMsg, name: &str, body: &[u8]) {
        let kind = "stream_update_response";
        let result = (|| -> Result<u32, ApiError> {
            let req: StreamConfig = if body.trim_ascii().is_empty() {
                StreamConfig::default()
            } else {
                decode(body, self.settings.strict)?
            };
            // An empty body fails the name check of the configuration, not the subject's.
            let mut cfg = if req.name.is_empty() {
                config::check(&req)?
            } else {
                if req.name != name {
                    return Err(ApiError::stream_name_mismatch());
                }
                config::check(&req)?
            };
            let id = self
                .stream_id(m.account, name)
                .ok_or_else(ApiError::stream_not_found)?;
            let old = self
                .streams
                .get(&id)
                .map(|s| s.cfg.clone())
                .ok_or_else(ApiError::stream_not_found)?;
            if cfg.num_replicas > 1 {
                return Err(ApiError::replicas_not_supported());
            }
            config::check_update(&old, &cfg)?;
            if let Some(what) = config::unsupported(&cfg) {
                return Err(ApiError::stream_update(format!(
                    "natrium does not support {what} yet"
                )));
            }
            if self.overlaps(m.account, Some(id), &cfg.subjects) {
                return Err(ApiError::subjects_overlap());
            }
            if cfg.sealed {
                cfg.max_age = 0;
                cfg.discard = super::config::Discard::New;
                cfg.deny_delete = true;
                cfg.deny_purge = true;
                cfg.allow_rollup_hdrs = false;
            }
            cfg.set_required_level();
            let account = m.account;
            let old_subs = match self.streams.get(&id) {
                Some(s) => self.stream_subs(account, id, s, false),
                None => Vec::new(),
            };
            let stream = self
                .streams
                .get_mut(&id)
                .ok_or_else(ApiError::stream_not_found)?;
            stream.update(cfg).map_err(ApiError::stream_update)?;
            let new_subs = match self.streams.get(&id) {
                Some(s) => self.stream_subs(account, id, s, true),
                None => Vec::new(),
            };
            self.send_subs(old_subs);
            self.send_subs(new_subs);
            Ok(id)
        })();
        match result {
            Ok(id) => {
                let Some(s) = self.streams.get(&id) else {
                    return;
                };
                let body = self
                    .stream_info(Obj::typed(kind), s, false, None, None)
                    .done();
                self.respond(m, body, false);
                self.stream_advisory(m.account, name, "modify");
            }
            Err(e) => {
                let body = Obj::typed(kind).field("error", &e).done();
                self.respond(m, body, true)
            }
        }
    }

    fn stream_info_request(&mut self, m: &InMsg, name: &str, body: &[u8]) {
        let kind = "stream_info_response";
        let fail = |e: ApiError| paged(Obj::typed(kind).field("error", &e), 0, 0, 0).done();
        let req: InfoRequest = if is_json_object(body) {
            match decode(body, self.settings.strict) {
                Ok(r) => r,
                Err(e) => return self.respond(m, fail(e), true),
            }
        } else {
            InfoRequest::default()
        };
        let Some(id) = self.stream_id(m.account, name) else {
            return self.respond(m, fail(ApiError::stream_not_found()), true);
        };
        let deleted = if req.deleted_details {
            self.streams.get_mut(&id).map(Stream::deleted)
        } else {
            None
        };
        let Some(s) = self.streams.get(&id) else {
            return;
        };
        let (_, total) = self.state_json(s, Some(&req), None);
        let (offset, limit) = if req.subjects_filter.is_empty() {
            (0, 0)
        } else {
            (req.offset.max(0) as usize, SUBJECT_DETAILS_LIMIT)
        };
        let o = paged(Obj::typed(kind), total, offset.min(total), limit);
        let body = self.stream_info(o, s, true, Some(&req), deleted).done();
        self.respond(m, body, false)
    }

    fn stream_names(&mut self, m: &InMsg, body: &[u8], list: bool) {
        let (kind, limit) = if list {
            ("stream_list_response", LIST_LIMIT)
        } else {
            ("stream_names_response", NAMES_LIMIT)
        };
        let req: NamesRequest = if is_json_object(body) {
            match decode(body, self.settings.strict) {
                Ok(r) => r,
                Err(e) => {
                    let o = paged(Obj::typed(kind).field("error", &e), 0, 0, 0);
                    let body = o.raw("streams", if list { b"[]" } else { b"null" }).done();
                    return self.respond(m, body, true);
                }
            }
        } else {
            NamesRequest::default()
        };
        let Some(acc) = self.accounts.get(&m.account) else {
            return;
        };
        let filter = req.subject.as_bytes();
        let matching: Vec<u32> = acc
            .streams
            .values()
            .copied()
            .filter(|id| {
                filter.is_empty()
                    || self.streams.get(id).is_some_and(|s| {
                        s.cfg
                            .subjects
                            .iter()
                            .any(|x| subject::subjects_collide(x.as_bytes(), filter))
                    })
            })
            .collect();
        let total = matching.len();
        let offset = (req.offset.max(0) as usize).min(total);
        let page: Vec<u32> = matching.into_iter().skip(offset).take(limit).collect();
        let o = paged(Obj::typed(kind), total, offset, limit);
        let body = if list {
            let mut items = Vec::from(&b"["[..]);
            for (i, id) in page.iter().enumerate() {
                if let Some(s) = self.streams.get(id) {
                    if i > 0 {
                        items.push(b',');
                    }
                    items.extend(self.stream_list_entry(s).done());
                }
            }
            items.push(b']');
            o.raw("streams", &items).done()
        } else {
            let names: Vec<&str> = page
                .iter()
                .filter_map(|id| self.streams.get(id).map(|s| s.cfg.name.as_str()))
                .collect();
            if names.is_empty() {
                o.raw("streams", b"null").done()
            } else {
                o.field("streams", &names).done()
            }
        };
        self.respond(m, body, false)
    }

    fn stream_delete(&mut self, m: &InMsg, name: &str) {
        let kind = "stream_delete_response";
        let Some(id) = self.stream_id(m.account, name) else {
            let body = Obj::typed(kind)
                .field("error", &ApiError::stream_not_found())
                .done();
            return self.respond(m, body, true);
        };
        self.subscribe_stream(id, false);
        if let Some(acc) = self.accounts.get_mut(&m.account) {
            acc.streams.remove(name);
        }
        if let Some(s) = self.streams.remove(&id) {
            if let Err(e) = s.remove_files() {
                log::error!("JetStream could not remove stream '{name}' files: {e}");
            }
        }
        let body = Obj::typed(kind).field("success", &true).done();
        self.respond(m, body, false);
        self.stream_advisory(m.account, name, "delete");
    }

    fn stream_purge(&mut self, m: &InMsg, name: &str, body: &[u8]) {
        let kind = "stream_purge_response";
        let fail = |e: ApiError| {
            Obj::typed(kind)
                .field("error", &e)
                .field("purged", &0)
                .done()
        };
        let Some(id) = self.stream_id(m.account, name) else {
            return self.respond(m, fail(ApiError::stream_not_found()), true);
        };
        let req: PurgeRequest = if is_empty_request(body) {
            PurgeRequest::default()
        } else {
            match decode(body, self.settings.strict) {
                Ok(r) => r,
                Err(e) => return self.respond(m, fail(e), true),
            }
        };
        let Some(s) = self.streams.get_mut(&id) else {
            return;
        };
        if s.cfg.sealed {
            return self.respond(m, fail(ApiError::sealed()), true);
        }
        if s.cfg.deny_purge {
            return self.respond(m, fail(ApiError::purge_not_permitted()), true);
        }
        if req.seq > 0 && req.keep > 0 {
            return self.respond(m, fail(ApiError::bad_request()), true);
        }
        match s.purge(&req.filter, req.seq, req.keep) {
            Ok(n) => {
                let body = Obj::typed(kind)
                    .field("success", &true)
                    .field("purged", &n)
                    .done();
                self.respond(m, body, false)
            }
            Err(e) => self.respond(m, fail(ApiError::stream_general(e.to_string())), false),
        }
    }

    fn msg_delete(&mut self, m: &InMsg, name: &str, body: &[u8]) {
        let kind = "stream_msg_delete_response";
        let fail = |e: ApiError| Obj::typed(kind).field("error", &e).done();
        let Some(id) = self.stream_id(m.account, name) else {
            return self.respond(m, fail(ApiError::stream_not_found()), true);
        };
        if is_empty_request(body) {
            return self.respond(m, fail(ApiError::bad_request()), true);
        }
        let req: MsgDeleteRequest = match decode(body, self.settings.strict) {
            Ok(r) => r,
            Err(e) => return self.respond(m, fail(e), true),
        };
        let Some(s) = self.streams.get_mut(&id) else {
            return;
        };
        if s.cfg.sealed {
            return self.respond(m, fail(ApiError::sealed()), true);
        }
        if s.cfg.deny_delete {
            return self.respond(m, fail(ApiError::message_delete_not_permitted()), true);
        }
        s.unflushed = true;
        match s.store.remove(req.seq, !req.no_erase) {
            Ok(true) => {
                let body = Obj::typed(kind).field("success", &true).done();
                self.respond(m, body, false)
            }
            Ok(false) => self.respond(m, fail(ApiError::sequence_not_found(req.seq)), false),
            Err(e) => self.respond(m, fail(ApiError::stream_general(e.to_string())), false),
        }
    }

    /// The message a get request names, or the error for it (shared by MSG.GET and the
    /// single form of DIRECT.GET).
    pub(super) fn find_msg(&mut self, id: u32, req: &MsgGetRequest) -> Result<StoredMsg, ApiError> {
        let Some(s) = self.streams.get_mut(&id) else {
            return Err(ApiError::stream_not_found());
        };
        let found = if req.seq > 0 && !req.next_by_subj.is_empty() {
            s.next_matching(req.seq, req.next_by_subj.as_bytes())
        } else if req.seq > 0 {
            s.store.load(req.seq)
        } else if !req.last_by_subj.is_empty() {
            s.last_matching(req.last_by_subj.as_bytes())
        } else if let Some(t) = req.start_time {
            first_at_or_after(s, t.0, req.next_by_subj.as_bytes())
        } else {
            s.next_matching(0, req.next_by_subj.as_bytes())
        };
        match found {
            Ok(Some(msg)) => Ok(msg),
            Ok(None) => Err(ApiError::no_message_found()),
            Err(e) => Err(ApiError::stream_general(e.to_string())),
        }
    }

    fn msg_get(&mut self, m: &InMsg, name: &str, body: &[u8]) {
        let kind = "stream_msg_get_response";
        let fail = |e: ApiError| Obj::typed(kind).field("error", &e).done();
        let Some(id) = self.stream_id(m.account, name) else {
            return self.respond(m, fail(ApiError::stream_not_found()), true);
        };
        let req: MsgGetRequest = match decode(body, self.settings.strict) {
            Ok(r) => r,
            Err(e) => return self.respond(m, fail(e), true),
        };
        if req.batch > 0 || req.max_bytes > 0 || !get_fields_agree(&req) {
            return self.respond(m, fail(ApiError::bad_request()), true);
        }
        match self.find_msg(id, &req) {
            Ok(msg) => {
                let json = StoredMsgJson {
                    subject: String::from_utf8_lossy(&msg.subject).into_owned(),
                    seq: msg.seq,
                    hdrs: if req.no_hdr {
                        String::new()
                    } else {
                        b64(&msg.headers)
                    },
                    data: b64(&msg.payload),
                    time: Time(msg.ts),
                };
                let body = Obj::typed(kind).field("message", &json).done();
                // nats-server sends this answer past its API layer: not counted.
                self.reply(m.account, &m.reply, Vec::new(), body)
            }
            Err(e) => self.respond(m, fail(e), true),
        }
    }

    /// A publish to a stream's subjects: stored, then acknowledged after the round is
    /// made safe (when it has a reply subject and the stream acks).
    pub(super) fn publish(&mut self, id: u32, m: &InMsg) {
        let Some(s) = self.streams.get_mut(&id) else {
            return;
        };
        let now = json::now_nanos();
        let outcome = s.ingest(&m.subject, &m.headers, &m.payload, now);
        if s.cfg.no_ack || m.reply.is_empty() {
            return;
        }
        let name = s.cfg.name.clone();
        let domain = self.settings.domain.clone();
        let body = match outcome {
            Ingest::Stored(seq) => ack(&name, &domain, seq, false),
            Ingest::Duplicate(seq) => ack(&name, &domain, seq, true),
            Ingest::Refused(e) => {
                return self.reply(m.account, &m.reply, Vec::new(), pub_ack_error(&name, &e))
            }
        };
        // A success (or a duplicate of this round's message) waits for the write.
        self.out.push(super::service::Outgoing::Ack {
            stream: id,
            name,
            msg: super::service::OutMsg {
                account: m.account,
                subject: m.reply.clone(),
                headers: Vec::new(),
                payload: body,
            },
        });
    }
}

/// A NUID-shaped id (22 characters of base 62), as nats-server gives events.
fn nuid() -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    (0..22)
        .map(|_| ALPHABET[fastrand::usize(..ALPHABET.len())] as char)
        .collect()
}

/// nats-server's rule: `seq`, `last_by_subj` and `start_time` exclude each other;
/// `next_by_subj` goes with `seq` or `start_time`, or alone; something must be set.
fn get_fields_agree(r: &MsgGetRequest) -> bool {
    let seq = r.seq > 0;
    let last = !r.last_by_subj.is_empty();
    let next = !r.next_by_subj.is_empty();
    let time = r.start_time.is_some();
    !((seq && last)
        || (!seq && !last && !next && !time)
        || (seq && time)
        || (time && last)
        || (last && next))
}

fn first_at_or_after(
    s: &mut Stream,
    ts: i64,
    filter: &[u8],
) -> Result<Option<StoredMsg>, super::store::StoreError> {
    let st = s.store.state();
    let mut seq = st.first_seq;
    while seq <= st.last_seq && st.msgs > 0 {
        if let Some(m) = s.store.load(seq)? {
            if m.ts >= ts && (filter.is_empty() || subject::matches(filter, &m.subject)) {
                return Ok(Some(m));
            }
        }
        seq += 1;
    }
    Ok(None)
}

/// A pub ack as nats-server formats it (`{"stream":…,"domain":…,"seq":…}`, and the
/// duplicate form with its space).
fn ack(stream: &str, domain: &str, seq: u64, duplicate: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(48);
    out.extend_from_slice(b"{\"stream\":");
    out.extend_from_slice(&to_go_json(&stream));
    if !domain.is_empty() {
        out.extend_from_slice(b",\"domain\":");
        out.extend_from_slice(&to_go_json(&domain));
    }
    out.extend_from_slice(format!(",\"seq\":{seq}").as_bytes());
    if duplicate {
        out.extend_from_slice(b",\"duplicate\": true");
    }
    out.push(b'}');
    out
}

/// The response type of an API subject (for errors raised before dispatch).
fn response_type(rest: &str) -> &'static str {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pub_acks_as_nats_server_writes_them() {
        assert_eq!(
            ack("P", "", 1, false),
            br#"{"stream":"P","seq":1}"#.to_vec()
        );
        assert_eq!(
            ack("P", "hub", 1, false),
            br#"{"stream":"P","domain":"hub","seq":1}"#.to_vec()
        );
        assert_eq!(
            ack("P", "", 2, true),
            br#"{"stream":"P","seq":2,"duplicate": true}"#.to_vec()
        );
        assert_eq!(
            pub_ack_error("P", &ApiError::expected_stream()),
            br#"{"error":{"code":400,"err_code":10060,"description":"expected stream does not match"},"stream":"P","seq":0}"#.to_vec()
        );
    }
}
