//! The consumer API (create in its three subject forms, info, names, list, delete) and what
//! drives consumers: pull requests, acks, flow-control answers, deliver-subject interest,
//! deliveries after each round, timers, and the durable state on disk
//! (`<stream>/obs/<consumer>/meta.inf` and `o.dat`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{decode, is_json_object, paged, Obj, LIST_LIMIT, NAMES_LIMIT};
use crate::jetstream::consumer::config::{
    check_create, check_request, check_update_bound, invalid_group_name, is_valid_group_name,
    same_for_create, AckPolicy, ConsumerConfig, CreateForm, CreateRequest,
};
use crate::jetstream::consumer::runtime::{ack_tokens, AckKind, Consumer, Event, SavedState, Sink};
use crate::jetstream::consumer::{pull, runtime};
use crate::jetstream::errors::ApiError;
use crate::jetstream::json::{self, rfc3339};
use crate::jetstream::service::{
    sub_id, InMsg, InternalSub, OutMsg, Outgoing, Service, KIND_CONSUMER, KIND_NEXT,
};

const META: &str = "meta.inf";
const STATE: &str = "o.dat";

#[derive(Serialize, Deserialize)]
struct SavedMeta {
    name: String,
    created: i64,
    config: ConsumerConfig,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct NamesRequest {
    #[serde(default)]
    offset: i64,
}

impl Service {
    /// The consumers of a stream: name → consumer index.
    pub(crate) fn consumers_of(&self, stream: u32) -> BTreeMap<String, u32> {
        self.consumer_names
            .get(&stream)
            .cloned()
            .unwrap_or_default()
    }

    /// The consumer indexes of a stream (no names copied: this runs on every publish).
    fn consumer_ids(&self, stream: u32) -> Vec<u32> {
        self.consumer_names
            .get(&stream)
            .map(|m| m.values().copied().collect())
            .unwrap_or_default()
    }

    fn consumer_id(&self, stream: u32, name: &str) -> Option<u32> {
        self.consumer_names.get(&stream)?.get(name).copied()
    }

    fn consumer_dir(&self, c: &Consumer) -> Option<PathBuf> {
        if c.cfg.mem_storage {
            return None;
        }
        let s = self.streams.get(&c.stream)?;
        Some(s.dir()?.join("obs").join(&c.name))
    }

    /// `CONSUMER.CREATE.<s>[.<c>[.<filter>]]` and `CONSUMER.DURABLE.CREATE.<s>.<c>`.
    pub(super) fn consumer_create(&mut self, m: &InMsg, tokens: &[&str]) {
        let kind = "consumer_create_response";
        let fail = |e: &ApiError| Obj::typed(kind).field("error", e).done();
        let (stream_name, form) = match tokens {
            ["CONSUMER", "DURABLE", "CREATE", s, c] => (*s, CreateForm::Durable(c.to_string())),
            ["CONSUMER", "DURABLE", "CREATE", ..] => {
                let body = fail(&ApiError {
                    code: 400,
                    err_code: 10016,
                    description: "consumer expected to be durable but a durable name was not set in the subject".into(),
                });
                return self.respond(m, body, true);
            }
            ["CONSUMER", "CREATE", s] => (*s, CreateForm::Legacy),
            ["CONSUMER", "CREATE", s, c] => (
                *s,
                CreateForm::Named {
                    name: c.to_string(),
                    filter: None,
                },
            ),
            ["CONSUMER", "CREATE", s, c, filter @ ..] => (
                *s,
                CreateForm::Named {
                    name: c.to_string(),
                    filter: Some(filter.join(".")),
                },
            ),
            _ => return,
        };
        // An empty body is an empty request (Go's decoder stops at EOF without error).
        let req: CreateRequest = if m.payload.trim_ascii().is_empty() {
            CreateRequest::default()
        } else {
            match decode(&m.payload, self.settings.strict) {
                Ok(r) => r,
                Err(e) => return self.respond(m, fail(&e), true),
            }
        };
        // The subject form's rules come before the stream is looked up.
        if let Err(e) = check_request(&req, &form, stream_name) {
            return self.respond(m, fail(&e), true);
        }
        let Some(sid) = self.stream_id(m.account, stream_name) else {
            return self.respond(m, fail(&ApiError::stream_not_found()), true);
        };
        let account_max_ack = self
            .accounts
            .get(&m.account)
            .map_or(-1, |a| a.limits.max_ack_pending);
        let names = self.consumers_of(sid);
        let all: Vec<&ConsumerConfig> = names
            .values()
            .filter_map(|id| self.consumers.get(id))
            .map(|c| &c.cfg)
            .collect();
        let Some(stream) = self.streams.get(&sid) else {
            return;
        };
        let checked = check_create(&req, &form, &stream.cfg, &all, account_max_ack);
        let mut cfg = match checked {
            Ok(c) => c,
            Err(e) => return self.respond(m, fail(&e), true),
        };
        let name = cfg.name.clone();
        if matches!(form, CreateForm::Legacy) && req.config.name.is_empty() {
            // An unnamed ephemeral's configuration keeps no name, as nats-server's does.
            cfg.name.clear();
        }
        if let Some(cid) = self.consumer_id(sid, &name) {
            let Some(existing) = self.consumers.get(&cid) else {
                return;
            };
            if req.action == "create" {
                if same_for_create(&existing.cfg, &cfg, &req, &stream.cfg) {
                    let body = self.consumer_info_body(cid, kind);
                    return self.respond(m, body, false);
                }
                let e = ApiError {
                    code: 400,
                    err_code: 10148,
                    description: "consumer already exists".into(),
                };
                return self.respond(m, fail(&e), true);
            }
            if existing.cfg.same_as(&cfg) {
                let body = self.consumer_info_body(cid, kind);
                return self.respond(m, body, false);
            }
            let bound = !existing.cfg.is_pull() && existing.listening;
            if let Err(e) = check_update_bound(&existing.cfg, &cfg, bound) {
                return self.respond(m, fail(&e), true);
            }
            let resubscribe = existing.cfg.deliver_subject != cfg.deliver_subject
                || existing.cfg.flow_control != cfg.flow_control;
            if resubscribe {
                self.subscribe_consumer(cid, false);
            }
            if let Some(c) = self.consumers.get_mut(&cid) {
                c.cfg = cfg;
                c.dirty = true;
                c.on_removed();
                if resubscribe {
                    c.listening = false;
                }
            }
            if resubscribe {
                self.subscribe_consumer(cid, true);
            }
            self.save_consumer_meta(cid);
            self.wake_consumer(cid);
            let body = self.consumer_info_body(cid, kind);
            return self.respond(m, body, false);
        }
        if req.action == "update" {
            let e = ApiError {
                code: 400,
                err_code: 10149,
                description: "consumer does not exist".into(),
            };
            return self.respond(m, fail(&e), true);
        }
        let max = stream.cfg.max_consumers;
        let count = names.len() as i64;
        let acc_max = self
            .accounts
            .get(&m.account)
            .map_or(-1, |a| a.limits.max_consumers);
        let acc_count: usize = self
            .accounts
            .get(&m.account)
            .map(|a| {
                a.streams
                    .values()
                    .map(|s| self.consumer_names.get(s).map_or(0, BTreeMap::len))
                    .sum()
            })
            .unwrap_or(0);
        if (max > 0 && count >= max)
            || (acc_max > 0 && acc_count as i64 >= acc_max)
            || count >= DEFAULT_MAX_CONSUMERS
        {
            let e = ApiError {
                code: 400,
                err_code: 10026,
                description: "maximum consumers limit reached".into(),
            };
            return self.respond(m, fail(&e), true);
        }
        let now = json::now_nanos();
        let Some(stream) = self.streams.get_mut(&sid) else {
            return;
        };
        let c = Consumer::new(name.clone(), m.account, sid, stream, cfg, now);
        let cid = self.next_consumer;
        self.next_consumer += 1;
        self.consumers.insert(cid, c);
        self.consumer_names
            .entry(sid)
            .or_default()
            .insert(name.clone(), cid);
        self.stream_has_consumers(sid);
        self.save_consumer_meta(cid);
        self.subscribe_consumer(cid, true);
        self.action_advisory(m.account, stream_name, Some(&name), "create");
        if let Some(c) = self.consumers.get_mut(&cid) {
            if !c.cfg.is_pull() {
                c.awaiting_interest = Some(m.clone());
                return;
            }
        }
        let body = self.consumer_info_body(cid, kind);
        self.respond(m, body, false);
    }

    /// Keeps the stream's interest retention informed.
    fn stream_has_consumers(&mut self, sid: u32) {
        let n = self.consumer_names.get(&sid).map_or(0, BTreeMap::len);
        if let Some(s) = self.streams.get_mut(&sid) {
            s.consumer_count = n;
        }
    }

    /// A consumer's subscriptions: `MSG.NEXT` for pull consumers, its ack and flow-control
    /// subjects, and the watch on a push consumer's deliver subject.
    fn subscribe_consumer(&mut self, cid: u32, add: bool) {
        let Some(c) = self.consumers.get(&cid) else {
            return;
        };
        let sub = |subject: String, id: u32, watch: bool| InternalSub {
            account: c.account,
            subject: subject.into_bytes(),
            id,
            add,
            stream: String::new(),
            watch,
        };
        let mut subs = Vec::new();
        // Push consumers too: a pull gets 409 "Consumer is push based".
        for prefix in self.api_prefixes() {
            for verb in ["MSG.NEXT", "RESET"] {
                subs.push(sub(
                    format!("{prefix}CONSUMER.{verb}.{}.{}", c.stream_name, c.name),
                    sub_id(cid, KIND_NEXT),
                    false,
                ));
            }
        }
        if !c.cfg.is_pull() {
            subs.push(sub(
                c.cfg.deliver_subject.clone(),
                sub_id(cid, KIND_CONSUMER),
                true,
            ));
        }
        // Acks to a consumer that takes none find no one (a 503 to an ack with a reply).
        if c.cfg.ack_policy != AckPolicy::None {
            subs.push(sub(
                format!("$JS.ACK.{}.{}.>", c.stream_name, c.name),
                sub_id(cid, KIND_CONSUMER),
                false,
            ));
        }
        if c.cfg.flow_control {
            subs.push(sub(
                format!("$JS.FC.{}.{}.>", c.stream_name, c.name),
                sub_id(cid, KIND_CONSUMER),
                false,
            ));
        }
        self.send_subs(subs);
    }

    pub(super) fn consumer_info_body(&mut self, cid: u32, kind: &str) -> Vec<u8> {
        self.consumer_info_json(cid, kind, true)
    }

    /// A consumer's info; `server_metadata`: its config with `_nats.level` and `_nats.ver`
    /// (list entries show the stored metadata only, as nats-server's do).
    fn consumer_info_json(&mut self, cid: u32, kind: &str, server_metadata: bool) -> Vec<u8> {
        let now = json::now_nanos();
        let Some(c) = self.consumers.get_mut(&cid) else {
            return Vec::new();
        };
        let Some(stream) = self.streams.get_mut(&c.stream) else {
            return Vec::new();
        };
        let pending = c.num_pending(stream);
        let pair = |p: &runtime::SeqPair| {
            let o = Obj(Vec::new())
                .field("consumer_seq", &p.consumer_seq)
                .field("stream_seq", &p.stream_seq);
            if p.last_active > 0 {
                o.field("last_active", &rfc3339(p.last_active)).done()
            } else {
                o.done()
            }
        };
        let mut o = Obj::typed(kind)
            .field("stream_name", &c.stream_name)
            .field("name", &c.name)
            .field("created", &rfc3339(c.created))
            .field(
                "config",
                &if server_metadata {
                    c.cfg.for_response()
                } else {
                    c.cfg.clone()
                },
            )
            .raw("delivered", &pair(&c.delivered))
            .raw("ack_floor", &pair(&c.ack_floor))
            .field("num_ack_pending", &c.pending.len())
            .field("num_redelivered", &c.num_redelivered())
            .field("num_waiting", &c.waiting.len())
            .field("num_pending", &pending);
        if !c.cfg.is_pull() && c.listening {
            o = o.field("push_bound", &true);
        }
        if c.paused_until > now {
            o = o
                .field("paused", &true)
                .field("pause_remaining", &(c.paused_until - now));
        }
        o = o.field("ts", &rfc3339(now));
        // nats-server reports the first group only (no client is pinned here).
        if let Some(g) = c.cfg.priority_groups.first() {
            let group = Obj(Vec::new())
                .field("group", g)
                .field("pinned_ts", "0001-01-01T00:00:00Z")
                .done();
            let mut list = b"[".to_vec();
            list.extend(group);
            list.push(b']');
            o = o.raw("priority_groups", &list);
        }
        o.done()
    }

    pub(super) fn consumer_info(&mut self, m: &InMsg, stream: &str, name: &str) {
        let kind = "consumer_info_response";
        let found = self
            .stream_id(m.account, stream)
            .ok_or_else(ApiError::stream_not_found)
            .and_then(|sid| {
                self.consumer_id(sid, name)
                    .ok_or_else(ApiError::consumer_not_found)
            });
        match found {
            Ok(cid) => {
                let body = self.consumer_info_body(cid, kind);
                self.respond(m, body, false)
            }
            Err(e) => {
                let body = Obj::typed(kind).field("error", &e).done();
                self.respond(m, body, true)
            }
        }
    }

    pub(super) fn consumer_names(&mut self, m: &InMsg, stream: &str, list: bool) {
        let (kind, limit) = if list {
            ("consumer_list_response", LIST_LIMIT)
        } else {
            ("consumer_names_response", NAMES_LIMIT)
        };
        let empty: &[u8] = b"[]";
        let req: NamesRequest = if is_json_object(&m.payload) {
            match decode(&m.payload, self.settings.strict) {
                Ok(r) => r,
                Err(e) => {
                    let o = paged(Obj::typed(kind).field("error", &e), 0, 0, 0);
                    return self.respond(m, o.raw("consumers", empty).done(), true);
                }
            }
        } else {
            NamesRequest::default()
        };
        let Some(sid) = self.stream_id(m.account, stream) else {
            let o = paged(
                Obj::typed(kind).field("error", &ApiError::stream_not_found()),
                0,
                0,
                0,
            );
            return self.respond(m, o.raw("consumers", empty).done(), true);
        };
        let names = self.consumers_of(sid);
        let total = names.len();
        let offset = (req.offset.max(0) as usize).min(total);
        let page: Vec<(String, u32)> = names.into_iter().skip(offset).take(limit).collect();
        let mut items = Vec::from(&b"["[..]);
        for (i, (name, cid)) in page.iter().enumerate() {
            if i > 0 {
                items.push(b',');
            }
            if list {
                let mut info = self.consumer_info_json(*cid, "x", false);
                // An entry is the info without its response type.
                if let Some(at) = info.iter().position(|b| *b == b',') {
                    info.drain(1..=at);
                }
                items.extend(info);
            } else {
                items.extend(json::to_go_json(name));
            }
        }
        items.push(b']');
        let o = paged(Obj::typed(kind), total, offset, limit);
        self.respond(m, o.raw("consumers", &items).done(), false);
    }

    pub(super) fn consumer_delete(&mut self, m: &InMsg, stream: &str, name: &str) {
        let kind = "consumer_delete_response";
        let found = self
            .stream_id(m.account, stream)
            .ok_or_else(ApiError::stream_not_found)
            .and_then(|sid| {
                self.consumer_id(sid, name)
                    .ok_or_else(ApiError::consumer_not_found)
            });
        match found {
            Ok(cid) => {
                self.remove_consumer(cid);
                let body = Obj::typed(kind).field("success", &true).done();
                self.respond(m, body, false)
            }
            Err(e) => {
                let body = Obj::typed(kind).field("error", &e).done();
                self.respond(m, body, true)
            }
        }
    }

    /// `CONSUMER.PAUSE.<s>.<c>`: `{"pause_until": <time>}` pauses deliveries until then;
    /// an empty body or a past time resumes them.
    pub(super) fn consumer_pause(&mut self, m: &InMsg, stream: &str, name: &str) {
        #[derive(Deserialize, Default)]
        #[serde(deny_unknown_fields)]
        struct PauseRequest {
            #[serde(default)]
            pause_until: Option<String>,
        }
        let kind = "consumer_pause_response";
        let zero = "0001-01-01T00:00:00Z";
        let fail = |e: &ApiError| {
            Obj::typed(kind)
                .field("error", e)
                .field("paused", &false)
                .field("pause_until", zero)
                .done()
        };
        let req: PauseRequest = if is_json_object(&m.payload) {
            match decode(&m.payload, self.settings.strict) {
                Ok(r) => r,
                Err(e) => return self.respond(m, fail(&e), true),
            }
        } else {
            PauseRequest::default()
        };
        let found = self
            .stream_id(m.account, stream)
            .ok_or_else(ApiError::stream_not_found)
            .and_then(|sid| {
                self.consumer_id(sid, name)
                    .ok_or_else(ApiError::consumer_not_found)
            });
        let cid = match found {
            Ok(cid) => cid,
            Err(e) => return self.respond(m, fail(&e), true),
        };
        let until = req
            .pause_until
            .as_deref()
            .and_then(json::parse_rfc3339)
            .unwrap_or(0);
        let now = json::now_nanos();
        if let Some(c) = self.consumers.get_mut(&cid) {
            c.paused_until = until;
            c.cfg.pause_until = (until > 0).then(|| rfc3339(until));
            c.dirty = true;
        }
        self.save_consumer_meta(cid);
        self.wake_consumer(cid);
        let mut o = Obj::typed(kind).field("paused", &(until > now)).field(
            "pause_until",
            &if until > 0 {
                rfc3339(until)
            } else {
                zero.into()
            },
        );
        if until > now {
            o = o.field("pause_remaining", &(until - now));
        }
        self.respond(m, o.done(), false);
    }

    /// `CONSUMER.RESET.<s>.<c>` (a consumer's own subscription, as in nats-server): back to
    /// `{"seq":N}`, or to just past the ack floor without one; the answer is the consumer's
    /// info and `reset_seq`.
    fn consumer_reset(&mut self, cid: u32, m: &InMsg) {
        #[derive(Deserialize, Default)]
        #[serde(deny_unknown_fields)]
        struct ResetRequest {
            #[serde(default, deserialize_with = "crate::jetstream::json::nullable")]
            seq: u64,
        }
        let kind = "consumer_reset_response";
        let fail = |e: &ApiError| {
            Obj::typed(kind)
                .field("error", e)
                .field("reset_seq", &0)
                .done()
        };
        let Some(account) = self.consumers.get(&cid).map(|c| c.account) else {
            return;
        };
        let reply =
            |svc: &mut Service, body: Vec<u8>| svc.reply(account, &m.reply, Vec::new(), body);
        if crate::jetstream::headers::requires_newer_api(&m.headers) {
            return reply(self, fail(&ApiError::required_api_level()));
        }
        let req: ResetRequest = if m.payload.is_empty() {
            ResetRequest::default()
        } else {
            match serde_json::from_slice(&m.payload) {
                Ok(r) => r,
                Err(e) => {
                    let text = json::go_unmarshal_error(&m.payload, &e);
                    return reply(self, fail(&ApiError::invalid_json(&text)));
                }
            }
        };
        let now = json::now_nanos();
        let Some(c) = self.consumers.get_mut(&cid) else {
            return;
        };
        let Some(stream) = self.streams.get_mut(&c.stream) else {
            return;
        };
        match c.reset(stream, req.seq, now) {
            Ok(seq) => {
                let mut body = self.consumer_info_body(cid, kind);
                body.pop();
                body.extend_from_slice(format!(",\"reset_seq\":{seq}}}").as_bytes());
                self.wake_consumer(cid);
                reply(self, body)
            }
            Err(why) => {
                let e = ApiError {
                    code: 400,
                    err_code: 10204,
                    description: format!("invalid reset: {why}"),
                };
                reply(self, fail(&e))
            }
        }
    }

    /// `CONSUMER.UNPIN.<s>.<c>` `{"group":"…"}`: with nats-server's checks in its order. No
    /// client is ever pinned here (priority groups are not applied), so there is nothing to
    /// release and no advisory.
    pub(super) fn consumer_unpin(&mut self, m: &InMsg, stream: &str, name: &str) {
        #[derive(Deserialize, Default)]
        struct UnpinRequest {
            #[serde(default, deserialize_with = "crate::jetstream::json::nullable")]
            group: String,
        }
        let kind = "consumer_unpin_response";
        let fail = |e: &ApiError| Obj::typed(kind).field("error", e).done();
        let req: UnpinRequest = match serde_json::from_slice(&m.payload) {
            Ok(r) => r,
            Err(e) => {
                let text = json::go_unmarshal_error(&m.payload, &e);
                return self.respond(m, fail(&ApiError::invalid_json(&text)), true);
            }
        };
        if req.group.is_empty() {
            let e = ApiError::invalid_json("consumer group not specified");
            return self.respond(m, fail(&e), true);
        }
        if !is_valid_group_name(&req.group) {
            return self.respond(m, fail(&invalid_group_name()), true);
        }
        let found = self
            .stream_id(m.account, stream)
            .ok_or_else(ApiError::stream_not_found)
            .and_then(|sid| {
                self.consumer_id(sid, name)
                    .ok_or_else(ApiError::consumer_not_found)
            });
        let cid = match found {
            Ok(cid) => cid,
            Err(e) => return self.respond(m, fail(&e), true),
        };
        let known = self
            .consumers
            .get(&cid)
            .is_some_and(|c| c.cfg.priority_groups.contains(&req.group));
        if !known {
            let e = ApiError {
                code: 400,
                err_code: 10160,
                description: "Provided priority group does not exist for this consumer".into(),
            };
            return self.respond(m, fail(&e), true);
        }
        self.respond(m, Obj::typed(kind).done(), false);
    }

    /// Removes a consumer: its subscriptions, its waiting requests (told), its files.
    pub(crate) fn remove_consumer(&mut self, cid: u32) {
        self.subscribe_consumer(cid, false);
        let dir = self.consumers.get(&cid).and_then(|c| self.consumer_dir(c));
        let Some(mut c) = self.consumers.remove(&cid) else {
            return;
        };
        let mut sink = Sink::new();
        c.deleted(&mut sink);
        self.send_sink(c.account, sink);
        if let Some(names) = self.consumer_names.get_mut(&c.stream) {
            names.remove(&c.name);
        }
        self.action_advisory(c.account, &c.stream_name, Some(&c.name), "delete");
        self.stream_has_consumers(c.stream);
        if let Some(d) = dir {
            let _ = std::fs::remove_dir_all(d);
        }
    }

    /// Removes every consumer of a stream (the stream is going).
    pub(crate) fn remove_stream_consumers(&mut self, sid: u32) {
        for cid in self.consumer_ids(sid) {
            self.remove_consumer(cid);
        }
        self.consumer_names.remove(&sid);
    }

    /// Queues a consumer's messages.
    fn send_sink(&mut self, account: u32, sink: Sink) {
        for o in sink {
            self.out.push(Outgoing::Msg(OutMsg {
                account,
                subject: o.subject,
                reply: o.reply,
                shown_as: o.shown_as,
                headers: o.headers,
                payload: o.payload,
            }));
        }
    }

    /// A pull request to consumer `cid`.
    pub(crate) fn pull_request(&mut self, cid: u32, m: &InMsg) {
        if m.reply.is_empty() {
            return;
        }
        if memchr::memmem::find(&m.subject, b".CONSUMER.RESET.").is_some() {
            return self.consumer_reset(cid, m);
        }
        let now = json::now_nanos();
        let Some(c) = self.consumers.get_mut(&cid) else {
            return;
        };
        c.last_used = now;
        let early = if !c.cfg.is_pull() {
            Some("NATS/1.0 409 Consumer is push based\r\n\r\n")
        } else if crate::jetstream::headers::requires_newer_api(&m.headers) {
            Some("NATS/1.0 412 Required Api Level\r\n\r\n")
        } else {
            None
        };
        if let Some(status) = early {
            let sink = vec![runtime::status_to(&m.reply, status)];
            let account = c.account;
            return self.send_sink(account, sink);
        }
        let req = match pull::parse(&m.payload, &m.reply, &c.cfg, now) {
            Ok(r) => r,
            Err(status) => {
                let sink = vec![runtime::status_to(&m.reply, &status)];
                let account = c.account;
                return self.send_sink(account, sink);
            }
        };
        let Some(stream) = self.streams.get_mut(&c.stream) else {
            return;
        };
        let mut sink = Sink::new();
        if req.no_wait {
            let available = c.num_pending(stream) + u64::from(c.has_redeliveries());
            if available == 0 && req.expires == 0 {
                sink.push(runtime::status_to(
                    &m.reply,
                    "NATS/1.0 404 No Messages\r\n\r\n",
                ));
                let account = c.account;
                return self.send_sink(account, sink);
            }
        }
        if c.cfg.max_waiting > 0 && c.waiting.len() as i64 >= c.cfg.max_waiting {
            if req.heartbeat == 0 {
                sink.push(runtime::status_to(
                    &m.reply,
                    "NATS/1.0 409 Exceeded MaxWaiting\r\n\r\n",
                ));
            }
            let account = c.account;
            return self.send_sink(account, sink);
        }
        c.waiting.push_back(req);
        c.check_ack_deadlines(now);
        c.serve_pulls(stream, now, &mut sink);
        let account = c.account;
        self.after_serve(cid);
        self.send_sink(account, sink);
    }

    /// A message on a consumer's ack or flow-control subject, or news of its deliver
    /// subject's interest.
    pub(crate) fn consumer_input(&mut self, cid: u32, m: &InMsg) {
        let now = json::now_nanos();
        if m.subject.is_empty() {
            let mut create = None;
            if let Some(c) = self.consumers.get_mut(&cid) {
                c.listening = m.payload == b"1";
                c.last_used = now;
                create = c.awaiting_interest.take();
            }
            if let Some(req) = create {
                let body = self.consumer_info_body(cid, "consumer_create_response");
                self.respond(&req, body, false);
            }
            return self.wake_consumer(cid);
        }
        if m.subject.starts_with(b"$JS.FC.") {
            if let Some(c) = self.consumers.get_mut(&cid) {
                c.flow_control_answered(&m.subject);
            }
            return self.wake_consumer(cid);
        }
        let Some((_, sseq, dseq)) = ack_tokens(&m.subject) else {
            return;
        };
        let kind = AckKind::parse(&m.payload);
        let Some(c) = self.consumers.get_mut(&cid) else {
            return;
        };
        c.ack(&kind, sseq, dseq, now);
        let account = c.account;
        let sid = c.stream;
        if !m.reply.is_empty() && !matches!(kind, AckKind::Next(_)) {
            // A double ack (`AckSync`): an empty answer once it is recorded.
            self.out.push(Outgoing::Msg(OutMsg {
                account,
                subject: m.reply.clone(),
                reply: Vec::new(),
                shown_as: Vec::new(),
                headers: Vec::new(),
                payload: Vec::new(),
            }));
        }
        if matches!(kind, AckKind::Ack | AckKind::Next(_)) {
            self.retire_acked(sid, cid, sseq);
        }
        if let AckKind::Next(body) = kind {
            if !m.reply.is_empty() {
                let req = InMsg {
                    payload: body,
                    ..(*m).clone()
                };
                return self.pull_request(cid, &req);
            }
        }
        self.wake_consumer(cid);
    }

    /// Work-queue and interest streams let go of a message once it is acknowledged (by
    /// every consumer that takes it, for interest).
    fn retire_acked(&mut self, sid: u32, cid: u32, sseq: u64) {
        use crate::jetstream::config::Retention;
        let Some(stream) = self.streams.get_mut(&sid) else {
            return;
        };
        let retention = stream.cfg.retention;
        if retention == Retention::Limits {
            return;
        }
        let subject = match stream.store.load(sseq) {
            Ok(Some(m)) => m.subject,
            _ => return,
        };
        // Done with by a consumer that does not take it, or that acknowledged it.
        let acked_by_all = |c: &Consumer| {
            !c.takes(&subject)
                || c.ack_floor.stream_seq >= sseq
                || (c.delivered.stream_seq >= sseq && !c.pending.contains_key(&sseq))
        };
        let ids = self.consumer_ids(sid);
        let done = match retention {
            Retention::WorkQueue => self.consumers.get(&cid).is_some_and(|c| {
                c.cfg.ack_policy != AckPolicy::None && !c.pending.contains_key(&sseq)
            }),
            _ => ids
                .iter()
                .filter_map(|id| self.consumers.get(id))
                .all(acked_by_all),
        };
        if done {
            if let Some(s) = self.streams.get_mut(&sid) {
                if matches!(s.store.remove(sseq, false), Ok(true)) {
                    s.unflushed = true;
                }
            }
            for id in &ids {
                if *id != cid {
                    if let Some(c) = self.consumers.get_mut(id) {
                        c.on_removed();
                    }
                }
            }
        }
    }

    fn wake_consumer(&mut self, cid: u32) {
        self.consumers_to_serve.insert(cid);
    }

    /// A message was stored in stream `sid`: its consumers may have something to send.
    pub(crate) fn stream_stored(&mut self, sid: u32, subject: &[u8], dropped: bool) {
        for cid in self.consumer_ids(sid) {
            if let Some(c) = self.consumers.get_mut(&cid) {
                if dropped {
                    c.on_removed();
                } else {
                    c.on_stored(subject);
                }
                // Only a consumer that can deliver now is woken: one with a waiting pull
                // or a listening push one (idle consumers cost a publish nothing more).
                if !c.waiting.is_empty() || (!c.cfg.is_pull() && c.listening) {
                    self.consumers_to_serve.insert(cid);
                }
            }
        }
    }

    /// Messages of stream `sid` went, or came otherwise than by a publish (purge, delete,
    /// expiry and its delete markers): counts are recomputed, and consumers that can deliver
    /// look again.
    pub(crate) fn stream_shrank(&mut self, sid: u32) {
        self.stream_stored(sid, b"", true);
    }

    fn after_serve(&mut self, cid: u32) {
        let Some(c) = self.consumers.get_mut(&cid) else {
            return;
        };
        let events = std::mem::take(&mut c.events);
        let (account, stream, name) = (c.account, c.stream_name.clone(), c.name.clone());
        for ev in events {
            let (event, kind) = match &ev {
                Event::MaxDeliveries { .. } => ("MAX_DELIVERIES", "max_deliver"),
                Event::Nak { .. } => ("MSG_NAKED", "nak"),
                Event::Terminated { .. } => ("MSG_TERMINATED", "terminated"),
            };
            let o = Obj::typed_as(&format!("io.nats.jetstream.advisory.v1.{kind}"))
                .field("id", &super::nuid())
                .field("timestamp", &rfc3339(json::now_nanos()))
                .field("stream", &stream)
                .field("consumer", &name);
            let body = match ev {
                Event::MaxDeliveries {
                    stream_seq,
                    deliveries,
                } => o
                    .field("stream_seq", &stream_seq)
                    .field("deliveries", &deliveries),
                Event::Nak {
                    consumer_seq,
                    stream_seq,
                    deliveries,
                } => o
                    .field("consumer_seq", &consumer_seq)
                    .field("stream_seq", &stream_seq)
                    .field("deliveries", &deliveries),
                Event::Terminated {
                    consumer_seq,
                    stream_seq,
                    deliveries,
                    reason,
                } => o
                    .field("consumer_seq", &consumer_seq)
                    .field("stream_seq", &stream_seq)
                    .field("deliveries", &deliveries)
                    .field("reason", &reason),
            }
            .done();
            self.out.push(Outgoing::Msg(OutMsg {
                account,
                subject: format!("$JS.EVENT.ADVISORY.CONSUMER.{event}.{stream}.{name}")
                    .into_bytes(),
                reply: Vec::new(),
                shown_as: Vec::new(),
                headers: Vec::new(),
                payload: body,
            }));
        }
    }

    /// Serves the consumers that may have something to send, and the timers of all:
    /// request expiry, heartbeats, ack deadlines, inactivity. Called after each round.
    pub(crate) fn serve_consumers(&mut self) {
        let now = json::now_nanos();
        let due = self.next_consumer_wake.is_some_and(|t| t <= now);
        let ids: Vec<u32> = if due {
            self.consumers.keys().copied().collect()
        } else {
            std::mem::take(&mut self.consumers_to_serve)
                .into_iter()
                .collect()
        };
        if due {
            self.consumers_to_serve.clear();
        }
        let mut expired = Vec::new();
        for cid in ids {
            let Some(c) = self.consumers.get_mut(&cid) else {
                continue;
            };
            let Some(stream) = self.streams.get_mut(&c.stream) else {
                continue;
            };
            let mut sink = Sink::new();
            c.check_ack_deadlines(now);
            let more = if c.cfg.is_pull() {
                c.serve_pulls(stream, now, &mut sink);
                false
            } else {
                c.serve_push(stream, now, &mut sink)
            };
            c.timers(stream, now, &mut sink);
            let threshold = c.cfg.inactive_threshold;
            let idle = c.waiting.is_empty() && !c.listening;
            if threshold > 0 && idle && now - c.last_used >= threshold {
                expired.push(cid);
            } else if !idle {
                c.last_used = now;
            }
            let account = c.account;
            self.after_serve(cid);
            self.send_sink(account, sink);
            if more {
                self.consumers_to_serve.insert(cid);
            }
        }
        for cid in expired {
            self.remove_consumer(cid);
        }
        self.next_consumer_wake = self
            .consumers
            .values()
            .filter_map(|c| {
                let t = c.next_wake();
                let threshold = c.cfg.inactive_threshold;
                let idle = (threshold > 0 && c.waiting.is_empty() && !c.listening)
                    .then(|| c.last_used + threshold);
                match (t, idle) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                }
            })
            .min();
        self.save_consumer_states();
    }

    /// How long the service may sleep before a consumer needs it.
    pub(crate) fn consumer_wait(&self) -> Option<std::time::Duration> {
        if !self.consumers_to_serve.is_empty() {
            return Some(std::time::Duration::ZERO);
        }
        let at = self.next_consumer_wake?;
        let now = json::now_nanos();
        Some(std::time::Duration::from_nanos((at - now).max(0) as u64))
    }

    fn save_consumer_meta(&mut self, cid: u32) {
        let Some(c) = self.consumers.get(&cid) else {
            return;
        };
        let Some(dir) = self.consumer_dir(c) else {
            return;
        };
        let meta = SavedMeta {
            name: c.name.clone(),
            created: c.created,
            config: c.cfg.clone(),
        };
        let body = serde_json::to_vec(&meta).unwrap_or_default();
        let res = std::fs::create_dir_all(&dir)
            .map_err(|e| e.to_string())
            .and_then(|_| crate::durable::write_atomically(&dir.join(META), &body));
        if let Err(e) = res {
            log::error!("JetStream consumer '{} > {}': {e}", c.stream_name, c.name);
        }
    }

    /// Writes the state of the consumers that changed: replaced whole (a crash leaves the
    /// old or the new one), synced with `sync_interval: always`.
    fn save_consumer_states(&mut self) {
        let sync = self.settings.sync_always;
        let dirty: Vec<u32> = self
            .consumers
            .iter()
            .filter(|(_, c)| c.dirty)
            .map(|(id, _)| *id)
            .collect();
        for cid in dirty {
            let Some(c) = self.consumers.get(&cid) else {
                continue;
            };
            let dir = self.consumer_dir(c);
            let state = c.saved_state();
            if let Some(dir) = dir {
                let body = serde_json::to_vec(&state).unwrap_or_default();
                if let Err(e) = replace_file(&dir.join(STATE), &body, sync) {
                    log::error!("JetStream consumer state in {}: {e}", dir.display());
                }
            }
            if let Some(c) = self.consumers.get_mut(&cid) {
                c.dirty = false;
            }
        }
    }

    /// Reads back the consumers of stream `sid` from `<dir>/obs/`.
    pub(crate) fn recover_consumers(&mut self, sid: u32, account: u32) {
        let Some(stream) = self.streams.get(&sid) else {
            return;
        };
        let Some(dir) = stream.dir().map(|d| d.join("obs")) else {
            return;
        };
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return;
        };
        let now = json::now_nanos();
        for e in entries.flatten() {
            let path = e.path();
            let meta = std::fs::read(path.join(META))
                .ok()
                .and_then(|b| serde_json::from_slice::<SavedMeta>(&b).ok());
            let Some(meta) = meta else {
                log::warn!(
                    "JetStream: the consumer in {} has no readable {META}; not served",
                    path.display()
                );
                continue;
            };
            let state = std::fs::read(path.join(STATE))
                .ok()
                .and_then(|b| serde_json::from_slice::<SavedState>(&b).ok())
                .unwrap_or_default();
            let Some(stream) = self.streams.get(&sid) else {
                return;
            };
            let c = Consumer::restore(
                meta.name.clone(),
                account,
                sid,
                stream,
                meta.config,
                meta.created,
                state,
                now,
            );
            let cid = self.next_consumer;
            self.next_consumer += 1;
            self.consumers.insert(cid, c);
            self.consumer_names
                .entry(sid)
                .or_default()
                .insert(meta.name, cid);
            self.subscribe_consumer(cid, true);
            self.consumers_to_serve.insert(cid);
        }
        self.stream_has_consumers(sid);
    }
}

/// nats-server 2.15's default cap on consumers per stream.
const DEFAULT_MAX_CONSUMERS: i64 = 1000;

/// Replaces a file through a temporary one and a rename; synced when asked.
fn replace_file(path: &std::path::Path, data: &[u8], sync: bool) -> Result<(), String> {
    if sync {
        return crate::durable::write_atomically(path, data);
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, data).map_err(|e| e.to_string())?;
    std::fs::rename(&tmp, path).map_err(|e| e.to_string())
}
