//! Stream requests: create, update, info, names, list, delete, purge, and the stream
//! advisories.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::*;
use crate::jetstream::config::{self, Storage, StreamConfig};
use crate::jetstream::errors::ApiError;
use crate::jetstream::json::{self, Time};
use crate::jetstream::service::{InMsg, Service};
use crate::jetstream::stream::Stream;
use crate::subject;

#[derive(Serialize)]
pub(super) struct ClusterJson<'a> {
    leader: &'a str,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct InfoRequest {
    #[serde(default, deserialize_with = "json::nullable")]
    offset: i64,
    #[serde(default, deserialize_with = "json::nullable")]
    deleted_details: bool,
    #[serde(default, deserialize_with = "json::nullable")]
    subjects_filter: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct NamesRequest {
    #[serde(default, deserialize_with = "json::nullable")]
    offset: i64,
    #[serde(default, deserialize_with = "json::nullable")]
    subject: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct PurgeRequest {
    #[serde(default, deserialize_with = "json::nullable")]
    seq: u64,
    #[serde(default, deserialize_with = "json::nullable")]
    filter: String,
    #[serde(default, deserialize_with = "json::nullable")]
    keep: u64,
}

impl Service {
    /// The account's and the server's limits a stream configuration must fit
    /// (nats-server's `maxBytesLimits` and `checkLimits`): `replacing` is the stream an
    /// update replaces, whose reservation is not counted twice.
    pub(crate) fn check_limits(
        &self,
        account: u32,
        cfg: &StreamConfig,
        replacing: Option<u32>,
    ) -> Result<(), ApiError> {
        let Some(acc) = self.accounts.get(&account) else {
            return Ok(());
        };
        let lim = acc.limits;
        if replacing.is_none() && lim.max_streams > 0 && acc.streams.len() as i64 >= lim.max_streams
        {
            return Err(ApiError::max_streams_reached());
        }
        let memory = cfg.storage == Storage::Memory;
        let max_stream_bytes = if memory {
            lim.memory_max_stream_bytes
        } else {
            lim.store_max_stream_bytes
        };
        if lim.max_bytes_required && cfg.max_bytes <= 0 {
            return Err(ApiError::max_bytes_required());
        }
        if max_stream_bytes > 0 && cfg.max_bytes > max_stream_bytes {
            return Err(ApiError::max_stream_bytes_exceeded());
        }
        if cfg.max_consumers > 0 && lim.max_consumers > 0 && cfg.max_consumers > lim.max_consumers {
            return Err(ApiError::max_consumers_reached());
        }
        // Reservations: what the other streams of this storage set aside (`max_bytes`), in
        // the account and in the whole server; a stream without `max_bytes` counts 1 byte.
        let reserved = |only: Option<u32>| -> i64 {
            self.streams
                .iter()
                .filter(|(id, _)| Some(**id) != replacing)
                .filter(|(id, _)| only.is_none_or(|a| self.account_of(**id) == Some(a)))
                .filter(|(_, s)| (s.cfg.storage == Storage::Memory) == memory)
                .map(|(_, s)| s.cfg.max_bytes.max(0))
                .sum()
        };
        let add = if cfg.max_bytes < 0 { 1 } else { cfg.max_bytes };
        let refuse = || {
            Err(if memory {
                ApiError::insufficient_memory()
            } else {
                ApiError::insufficient_storage()
            })
        };
        let account_max = if memory {
            lim.max_memory
        } else {
            lim.max_store
        };
        let in_account = reserved(Some(account));
        if account_max >= 0 && (in_account > account_max || add > account_max - in_account) {
            return refuse();
        }
        let server_max = if memory {
            self.settings.max_memory
        } else {
            self.settings.max_store
        };
        let in_server = reserved(None);
        if in_server > server_max || add > server_max - in_server {
            return refuse();
        }
        Ok(())
    }

    pub(super) fn state_json(
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
            consumer_count: s.consumer_count as u64,
        };
        (state, total)
    }

    /// `config`, `created`, `state`, [`cluster`], `ts` of a stream.
    pub(super) fn stream_info(
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
    pub(super) fn stream_list_entry(&self, s: &Stream) -> Obj {
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
    pub(super) fn stream_advisory(&mut self, account: u32, stream: &str, action: &str) {
        self.action_advisory(account, stream, None, action);
    }

    /// `$JS.EVENT.ADVISORY.<STREAM|CONSUMER>.<CREATED|UPDATED|DELETED>.<stream>[.<consumer>]`
    /// with nats-server's `stream_action` or `consumer_action` JSON.
    pub(super) fn action_advisory(
        &mut self,
        account: u32,
        stream: &str,
        consumer: Option<&str>,
        action: &str,
    ) {
        let event = match action {
            "create" => "CREATED",
            "modify" => "UPDATED",
            _ => "DELETED",
        };
        let kind = if consumer.is_some() {
            "consumer_action"
        } else {
            "stream_action"
        };
        let mut o = Obj::typed_as(&format!("io.nats.jetstream.advisory.v1.{kind}"))
            .field("id", &nuid())
            .field("timestamp", &Time::now())
            .field("stream", stream);
        if let Some(c) = consumer {
            o = o.field("consumer", c);
        }
        o = o.field("action", action);
        if !self.settings.domain.is_empty() {
            o = o.field("domain", &self.settings.domain);
        }
        let subject = match consumer {
            Some(c) => format!("$JS.EVENT.ADVISORY.CONSUMER.{event}.{stream}.{c}"),
            None => format!("$JS.EVENT.ADVISORY.STREAM.{event}.{stream}"),
        };
        self.out.push(crate::jetstream::service::Outgoing::Msg(
            crate::jetstream::service::OutMsg {
                account,
                subject: subject.into_bytes(),
                reply: Vec::new(),
                shown_as: Vec::new(),
                headers: Vec::new(),
                payload: o.done(),
            },
        ));
    }

    /// Reads a create or update body: name checks first, as nats-server orders them.
    pub(super) fn read_config(&self, name: &str, body: &[u8]) -> Result<StreamConfig, ApiError> {
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
    pub(super) fn overlaps(&self, account: u32, skip: Option<u32>, subjects: &[String]) -> bool {
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

    pub(super) fn stream_create(&mut self, m: &InMsg, name: &str, body: &[u8]) {
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
            self.check_limits(m.account, &cfg, None)?;
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

    pub(super) fn stream_update(&mut self, m: &InMsg, name: &str, body: &[u8]) {
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
            self.check_limits(m.account, &cfg, Some(id))?;
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
                cfg.discard = crate::jetstream::config::Discard::New;
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

    pub(super) fn stream_info_request(&mut self, m: &InMsg, name: &str, body: &[u8]) {
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

    pub(super) fn stream_names(&mut self, m: &InMsg, body: &[u8], list: bool) {
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

    pub(super) fn stream_delete(&mut self, m: &InMsg, name: &str) {
        let kind = "stream_delete_response";
        let Some(id) = self.stream_id(m.account, name) else {
            let body = Obj::typed(kind)
                .field("error", &ApiError::stream_not_found())
                .done();
            return self.respond(m, body, true);
        };
        self.subscribe_stream(id, false);
        self.remove_stream_consumers(id);
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

    pub(super) fn stream_purge(&mut self, m: &InMsg, name: &str, body: &[u8]) {
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
                self.stream_shrank(id);
                self.respond(m, body, false)
            }
            Err(e) => self.respond(m, fail(ApiError::stream_general(e.to_string())), false),
        }
    }
}
