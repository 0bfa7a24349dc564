//! What connects accounts to one another, as nats-server's `accounts.go` has it: stream and
//! service exports and imports, and subject mappings. The configuration shapes are plain
//! data ([`Export`], [`Import`], [`Mapping`]); [`Sharing`] compiles them, by account
//! number, into what the reactors apply:
//!
//! - a **mapping** rewrites the subject of a message published by a client (or a leaf) in
//!   its account before it is matched ([`Sharing::map`]);
//! - a **stream import** shadows each subscription of the importing account that overlaps
//!   it with a subscription in the exporting account ([`shadow_subject`]); what matches
//!   there is delivered to the subscriber with the import's subject;
//! - a **service import** is a subscription of the importing account on its local subject;
//!   a request there is re-published in the exporting account on the exported subject with a
//!   `_R_.` reply of the reactor's own, which maps the answer back (`reactor::sharing`).

pub mod events;
pub mod jwt;
pub mod jwt_shares;
pub mod resolver;
pub mod shadow;

use std::sync::Arc;
use std::time::Duration;

use crate::subject::transform::{transform_tokenize, transform_untokenize, Transform};

pub use shadow::shadow_subject;

/// nats-server's default response threshold of a service export (`const.go`).
pub const DEFAULT_RESPONSE_THRESHOLD: Duration = Duration::from_secs(2 * 60);

/// How many answers a service request may get (nats-server's `ServiceRespType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ResponseType {
    /// One answer, then the reply mapping is gone.
    #[default]
    Singleton,
    /// Any number, until the threshold passes without one.
    Stream,
    /// Like `Stream`.
    Chunked,
}

/// One entry of an account's `exports`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Export {
    pub subject: String,
    pub service: bool,
    /// The accounts that may import it; empty: every account.
    pub accounts: Vec<String>,
    pub response: ResponseType,
    pub threshold: Option<Duration>,
    /// An account JWT's `token_req`: importers need an activation token.
    pub token_req: bool,
    /// An account JWT's `account_token_position`: this (1-based) token of an imported
    /// subject must be the importer's account key; 0: none.
    pub account_position: usize,
    /// Activation tokens revoked: importer account (or `*`) → issued-at bound.
    pub revocations: Vec<(String, i64)>,
}

impl Export {
    /// nats-server's `checkAuth`: whether account `importer` may import with `im`.
    fn authorizes(&self, importer: &str, im: &Import) -> bool {
        if self.account_position > 0 {
            // nats-server checks the position only when the export's subject is not the
            // imported one itself.
            return im.subject != self.subject
                && im.subject.split('.').nth(self.account_position - 1) == Some(importer);
        }
        if self.token_req {
            return im.activation.is_some_and(|issued| {
                !self
                    .revocations
                    .iter()
                    .any(|(k, t)| (k == importer || k == "*") && *t >= issued)
            });
        }
        self.accounts.is_empty() || self.accounts.iter().any(|a| a == importer)
    }
}

/// One entry of an account's `imports`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Import {
    pub service: bool,
    /// The exporting account.
    pub account: String,
    /// The subject as the exporter exports it.
    pub subject: String,
    /// The subject in the importing account (`to`); empty: as exported (or prefixed).
    pub to: String,
    /// Stream imports: prepended to the exported subject.
    pub prefix: String,
    /// Service imports: the request carries the requester's `Nats-Request-Info`.
    pub share: bool,
    /// An account JWT's import with a valid activation token: the token's issued-at time.
    pub activation: Option<i64>,
}

/// One destination of a mapping.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MapDest {
    pub subject: String,
    /// Percent, 0-100.
    pub weight: u8,
    /// Only on servers of this cluster; empty: everywhere.
    pub cluster: String,
}

/// A `mappings` entry: the source subject and its destinations.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Mapping {
    pub subject: String,
    pub dests: Vec<MapDest>,
}

/// A stream import compiled: where it comes from and how a delivered subject is shown.
#[derive(Debug)]
pub struct StreamImport {
    pub exporter: u32,
    /// In the exporting account.
    pub from: String,
    /// In the importing account (wildcards as `*`).
    pub to: String,
    /// `from` → `to` for a wildcard import with another subject; None: shown as published
    /// (`to == from`) or as `to` (a literal import).
    transform: Option<Transform>,
    /// `to` → `from`.
    reverse: Option<Transform>,
}

impl StreamImport {
    /// The subject the importer's subscriber is shown for `subject`, published in the
    /// exporting account.
    pub fn shown(&self, subject: &[u8]) -> Vec<u8> {
        match &self.transform {
            Some(t) => std::str::from_utf8(subject)
                .ok()
                .and_then(|s| t.apply(s))
                .map_or_else(|| subject.to_vec(), String::into_bytes),
            None if self.from.contains(['*', '>']) => subject.to_vec(),
            None => self.to.as_bytes().to_vec(),
        }
    }

    /// The exporting account's subject for `subject` of the importing account.
    pub fn exporter_subject(&self, subject: &str) -> String {
        match &self.reverse {
            Some(r) => r.apply(subject).unwrap_or_else(|| self.from.clone()),
            None if self.from.contains(['*', '>']) => subject.to_string(),
            None => self.from.clone(),
        }
    }
}

/// A service import compiled.
#[derive(Debug)]
pub struct ServiceImport {
    pub importer: u32,
    pub exporter: u32,
    /// The subject requesters publish to, in the importing account.
    pub local: String,
    /// The exported subject.
    pub export: String,
    /// `local` → `export` when they differ and have wildcards.
    transform: Option<Transform>,
    pub share: bool,
    pub response: ResponseType,
    pub threshold: Duration,
}

impl ServiceImport {
    /// The subject a request on `subject` is published with in the exporting account.
    pub fn exporter_subject(&self, subject: &[u8]) -> Vec<u8> {
        if self.local == self.export {
            return subject.to_vec();
        }
        match &self.transform {
            Some(t) => std::str::from_utf8(subject)
                .ok()
                .and_then(|s| t.apply(s))
                .map_or_else(|| self.export.as_bytes().to_vec(), String::into_bytes),
            None => self.export.as_bytes().to_vec(),
        }
    }
}

/// A mapping compiled: destinations applying on this server, with cumulative weights.
#[derive(Debug)]
struct CompiledMapping {
    source: String,
    /// (cumulative weight, transform); a draw above the last falls to the subject as is.
    dests: Vec<(u32, Transform)>,
}

/// What one account has: its imports and mappings.
#[derive(Debug, Default)]
pub struct Shares {
    pub streams: Vec<Arc<StreamImport>>,
    pub services: Vec<Arc<ServiceImport>>,
    mappings: Vec<CompiledMapping>,
}

/// Every account's imports and mappings, by account number.
#[derive(Debug, Default)]
pub struct Sharing {
    accounts: Vec<Shares>,
}

/// The account configuration [`Sharing::build`] reads: name, exports, imports, mappings.
pub struct AccountShares<'a> {
    pub name: &'a str,
    pub exports: &'a [Export],
    pub imports: &'a [Import],
    pub mappings: &'a [Mapping],
    /// An account of operator mode: an import that cannot be added is left out with a
    /// log line, as nats-server does with an account JWT's, instead of failing the start.
    pub lenient: bool,
}

/// Whether `export` (an exported subject) covers what `subject` asks for.
fn export_covers(export: &str, subject: &str) -> bool {
    crate::subject::is_subset_match(subject.as_bytes(), export.as_bytes())
}

impl Sharing {
    /// Compiles the accounts' configuration; `number` gives an account's number by name,
    /// `cluster` is this server's cluster name (for cluster-scoped mappings). Errors are
    /// nats-server's start-up errors.
    pub fn build(
        accounts: &[AccountShares<'_>],
        number: impl Fn(&str) -> Option<u32>,
        cluster: &str,
    ) -> Result<Sharing, Vec<String>> {
        let mut errors = Vec::new();
        let mut sharing = Sharing::default();
        for acc in accounts {
            for e in acc.exports {
                let kind = if e.service { "service" } else { "stream" };
                for a in &e.accounts {
                    if number(a).is_none() {
                        errors.push(format!("{a:?} account not defined for {kind} export"));
                    }
                }
            }
        }
        for acc in accounts {
            let Some(me) = number(acc.name) else {
                continue;
            };
            let mut shares = Shares::default();
            let mut problems = Vec::new();
            for m in acc.mappings {
                match compile_mapping(m, cluster) {
                    Ok(Some(c)) => shares.mappings.push(c),
                    Ok(None) => {}
                    Err(e) => problems.push(e),
                }
            }
            for im in acc.imports {
                let kind = if im.service { "service" } else { "stream" };
                let Some(exporter_cfg) = accounts.iter().find(|a| a.name == im.account) else {
                    problems.push(format!(
                        "{:?} account not defined for {kind} import",
                        im.account
                    ));
                    continue;
                };
                let Some(exporter) = number(&im.account) else {
                    continue;
                };
                let export = exporter_cfg.exports.iter().find(|e| {
                    e.service == im.service
                        && export_covers(&e.subject, &im.subject)
                        && e.authorizes(acc.name, im)
                });
                let Some(export) = export else {
                    problems.push(format!(
                        "Error adding {kind} import {:?}: {kind} import not authorized",
                        im.subject
                    ));
                    continue;
                };
                if im.service {
                    let local = if im.to.is_empty() {
                        im.subject.clone()
                    } else {
                        im.to.clone()
                    };
                    let transform = if local != im.subject && local.contains(['*', '>']) {
                        match Transform::new(&local, &transform_tokenize(&im.subject)) {
                            Ok(t) => Some(t),
                            Err(e) => {
                                problems.push(format!(
                                    "Error adding service import {:?}: {e}",
                                    im.subject
                                ));
                                continue;
                            }
                        }
                    } else {
                        None
                    };
                    shares.services.push(Arc::new(ServiceImport {
                        importer: me,
                        exporter,
                        local,
                        export: im.subject.clone(),
                        transform,
                        share: im.share,
                        response: export.response,
                        threshold: export.threshold.unwrap_or(DEFAULT_RESPONSE_THRESHOLD),
                    }));
                } else {
                    if !im.prefix.is_empty() && !im.to.is_empty() {
                        problems.push(
                            "Stream import can not have a 'prefix' and a 'to' property".into(),
                        );
                        continue;
                    }
                    let to = if !im.prefix.is_empty() {
                        let p = im.prefix.trim_end_matches('.');
                        format!("{p}.{}", im.subject)
                    } else if im.to.is_empty() {
                        im.subject.clone()
                    } else {
                        im.to.clone()
                    };
                    let wild = im.subject.contains(['*', '>']);
                    let (transform, reverse, to) = if wild && to != im.subject {
                        match Transform::new_strict(&im.subject, &transform_tokenize(&to)) {
                            Ok(t) => {
                                let r = t.reverse();
                                (Some(t), r, transform_untokenize(&to).0)
                            }
                            Err(e) => {
                                problems.push(format!(
                                    "Error adding stream import {:?}: failed to create mapping transform for stream import subject from {:?} to {:?}: {e}",
                                    im.subject, im.subject, to
                                ));
                                continue;
                            }
                        }
                    } else {
                        (None, None, to)
                    };
                    if shares
                        .streams
                        .iter()
                        .any(|s| s.exporter == exporter && s.from == im.subject)
                    {
                        problems.push(format!(
                            "Error adding stream import {:?}: stream import already exists",
                            im.subject
                        ));
                        continue;
                    }
                    shares.streams.push(Arc::new(StreamImport {
                        exporter,
                        from: im.subject.clone(),
                        to,
                        transform,
                        reverse,
                    }));
                }
            }
            if acc.lenient {
                for p in problems {
                    log::warn!("account {}: {p}", acc.name);
                }
            } else {
                errors.append(&mut problems);
            }
            let i = me as usize;
            if sharing.accounts.len() <= i {
                sharing.accounts.resize_with(i + 1, Shares::default);
            }
            sharing.accounts[i] = shares;
        }
        if errors.is_empty() {
            Ok(sharing)
        } else {
            Err(errors)
        }
    }

    /// Whether `other` has the same stream imports (by importer, exporter, subject and
    /// local subject).
    pub fn same_stream_imports(&self, other: &Sharing) -> bool {
        let streams = |s: &Sharing| -> Vec<(usize, u32, String, String)> {
            s.accounts
                .iter()
                .enumerate()
                .flat_map(|(n, a)| {
                    a.streams
                        .iter()
                        .map(move |i| (n, i.exporter, i.from.clone(), i.to.clone()))
                })
                .collect()
        };
        streams(self) == streams(other)
    }

    /// What account `account` has.
    pub fn of(&self, account: u32) -> Option<&Shares> {
        self.accounts.get(account as usize)
    }

    /// Whether any account imports or maps anything.
    pub fn is_empty(&self) -> bool {
        self.accounts
            .iter()
            .all(|s| s.streams.is_empty() && s.services.is_empty() && s.mappings.is_empty())
    }

    /// The subject a client's message on `subject` in `account` is delivered on: the first
    /// mapping whose source matches picks a destination by weight (the subject itself
    /// where the weights leave room), as nats-server's `selectMappedSubject`.
    pub fn map(&self, account: u32, subject: &[u8]) -> Option<Vec<u8>> {
        let shares = self.of(account)?;
        if shares.mappings.is_empty() {
            return None;
        }
        let s = std::str::from_utf8(subject).ok()?;
        let m = shares
            .mappings
            .iter()
            .find(|m| crate::subject::matches(m.source.as_bytes(), subject))?;
        let draw = if m.dests.len() == 1 && m.dests[0].0 == 100 {
            0
        } else {
            fastrand::u32(1..=100)
        };
        let (_, t) = m.dests.iter().find(|(w, _)| draw <= *w)?;
        t.apply(s).map(String::into_bytes)
    }
}

/// nats-server's checks of a mapping when it is added: valid destinations, and weights
/// that add up to at most 100 per cluster.
pub fn check_mapping(m: &Mapping) -> Result<(), String> {
    let clusters: std::collections::BTreeSet<&str> =
        m.dests.iter().map(|d| d.cluster.as_str()).collect();
    for cluster in clusters {
        compile_mapping(m, cluster)?;
    }
    Ok(())
}

/// A mapping with the destinations of this server's cluster (those of a named cluster
/// replace the general ones there); None when none applies here.
fn compile_mapping(m: &Mapping, cluster: &str) -> Result<Option<CompiledMapping>, String> {
    let mut total: u32 = 0;
    let mut general = Vec::new();
    let mut scoped = Vec::new();
    for d in &m.dests {
        let t = Transform::new(&m.subject, &d.subject).map_err(|e| {
            format!(
                "Error adding mapping for {:?} to {:?} : {e}",
                m.subject, d.subject
            )
        })?;
        if d.cluster.is_empty() {
            general.push((d.weight as u32, t));
        } else if d.cluster == cluster {
            scoped.push((d.weight as u32, t));
        }
    }
    for set in [&general, &scoped] {
        let sum: u32 = set.iter().map(|(w, _)| w).sum();
        if sum > 100 {
            return Err(format!(
                "Error adding mapping for {:?} : total weight needs to be <= 100",
                m.subject
            ));
        }
    }
    let chosen = if scoped.is_empty() { general } else { scoped };
    if chosen.is_empty() {
        return Ok(None);
    }
    let dests = chosen
        .into_iter()
        .map(|(w, t)| {
            total += w;
            (total, t)
        })
        .collect();
    Ok(Some(CompiledMapping {
        source: m.subject.clone(),
        dests,
    }))
}
