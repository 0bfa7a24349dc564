//! `/subsz` (and its alias `/subscriptionsz`): subject index statistics summed over the
//! reactors, and with `subs=1` the subscriptions themselves, filtered by `test` (a literal
//! subject: only subscriptions a message published there would reach) and paged.
//!
//! Each reactor's index also holds the interest its peers announced, so the statistics
//! come from the indexes but `num_subscriptions` counts client subscriptions only, as
//! nats-server's count does on a server without routes.

use serde::Serialize;

use super::connz::{SubDetail, DEFAULT_LIMIT, GLOBAL_ACCOUNT};
use super::format::{self, go_float};
use super::query::Query;
use super::snapshot::{ReactorSnap, SubFilter};
use crate::subject::sublist::SublistStats;

#[derive(Debug, Serialize)]
pub struct Subsz {
    pub server_id: String,
    pub now: String,
    #[serde(flatten)]
    pub stats: Stats,
    pub total: usize,
    pub offset: i64,
    pub limit: i64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub subscriptions_list: Vec<SubDetail>,
}

/// nats-server's `SublistStats` as JSON.
#[derive(Debug, Serialize, Default, Clone, Copy)]
pub struct Stats {
    pub num_subscriptions: u64,
    pub num_cache: u64,
    pub num_inserts: u64,
    pub num_removes: u64,
    pub num_matches: u64,
    #[serde(serialize_with = "go_float")]
    pub cache_hit_rate: f64,
    pub max_fanout: u64,
    #[serde(serialize_with = "go_float")]
    pub avg_fanout: f64,
}

/// Sums the reactors' index statistics; `num_subscriptions` counts client subscriptions.
pub fn stats(snaps: &[ReactorSnap]) -> Stats {
    let mut sum = SublistStats::default();
    for s in snaps {
        sum.add(&s.sublist);
    }
    Stats {
        num_subscriptions: snaps.iter().map(|s| s.local_subs as u64).sum(),
        num_cache: sum.num_cache,
        num_inserts: sum.num_inserts,
        num_removes: sum.num_removes,
        num_matches: sum.num_matches,
        cache_hit_rate: sum.cache_hit_rate,
        max_fanout: sum.max_fanout,
        avg_fanout: sum.avg_fanout,
    }
}

#[derive(Debug, Clone)]
pub struct Params {
    pub subs: bool,
    pub offset: i64,
    pub limit: i64,
    pub test: Option<String>,
    pub acc: String,
}

impl Params {
    pub fn parse(q: &Query) -> Result<Params, String> {
        let subs = q.bool("subs")?;
        let offset = q.int("offset")?;
        let limit = q.int("limit")?;
        let test = q.get("test");
        if !test.is_empty() && !crate::subject::is_valid_literal_subject(test.as_bytes()) {
            return Err(format!(
                "invalid test subject, must be valid publish subject: {test}"
            ));
        }
        Ok(Params {
            subs,
            offset: offset.max(0),
            limit: if limit <= 0 { DEFAULT_LIMIT } else { limit },
            test: (!test.is_empty()).then(|| test.to_string()),
            acc: q.get("acc").to_string(),
        })
    }

    /// An account filter other than the global account matches nothing.
    pub fn other_account(&self) -> bool {
        !self.acc.is_empty() && self.acc != GLOBAL_ACCOUNT
    }

    pub fn filter(&self) -> Option<SubFilter> {
        (self.subs && !self.other_account()).then(|| SubFilter {
            test: self.test.clone(),
        })
    }
}

pub fn build(server_id: &str, p: &Params, snaps: &[ReactorSnap]) -> Subsz {
    let mut sz = Subsz {
        server_id: server_id.to_string(),
        now: format::rfc3339(std::time::SystemTime::now()),
        stats: Stats::default(),
        total: 0,
        offset: p.offset,
        limit: p.limit,
        subscriptions_list: Vec::new(),
    };
    if p.other_account() {
        return sz;
    }
    sz.stats = stats(snaps);
    if p.subs {
        let mut all: Vec<SubDetail> = snaps
            .iter()
            .flat_map(|s| s.subs.iter())
            .map(|s| SubDetail::new(&s.sub, s.cid, true))
            .collect();
        all.sort_by(|a, b| (a.cid, &a.subject, &a.sid).cmp(&(b.cid, &b.subject, &b.sid)));
        let n = all.len();
        let lo = (p.offset as usize).min(n);
        let hi = lo + (p.limit as usize).min(n - lo);
        sz.total = n;
        sz.subscriptions_list = all.drain(lo..hi).collect();
    }
    sz
}
