//! The checks of a consumer create and update, in nats-server's order: the subject form
//! (`jsConsumerCreateRequest`), the defaults and the configuration checks
//! (`setConsumerConfigDefaults`, `checkConsumerCfg`), the stream's other consumers
//! (`addConsumerWithAssignment`), and the update rules (`checkNewConsumerConfig`).

use super::config::*;
use crate::jetstream::config::{Retention, StreamConfig};
use crate::jetstream::errors::ApiError;
use crate::subject;

const MIN_HEARTBEAT: i64 = 100_000_000;
const MIN_MAX_EXPIRES: i64 = 1_000_000;
const MAX_NAME_LEN: usize = 255;
const MAX_DESCRIPTION_LEN: usize = 4096;
const MAX_METADATA_LEN: usize = 128 * 1024;
const MAX_GROUP_NAME_LEN: usize = 16;

fn e(code: u16, err_code: u16, description: impl Into<String>) -> ApiError {
    ApiError {
        code,
        err_code,
        description: description.into(),
    }
}

/// `JSStreamInvalidConfigF` (nats-server uses it for some consumer checks too).
fn invalid_config(why: &str) -> ApiError {
    e(500, 10052, why)
}

/// `JSConsumerCreateErrF`: an update refused, in nats-server's words.
fn update_refused(why: &str) -> ApiError {
    e(500, 10012, why)
}

fn pedantic(why: &str) -> ApiError {
    e(400, 10157, format!("pedantic mode: {why}"))
}

fn max_deliver_backoff() -> ApiError {
    e(
        400,
        10116,
        "max deliver is required to be > length of backoff values",
    )
}

fn max_ack_pending_excess(limit: i64) -> ApiError {
    e(
        400,
        10121,
        format!("consumer max ack pending exceeds system limit of {limit}"),
    )
}

/// nats-server's `isValidAssetName`.
fn is_valid_asset_name(name: &str) -> bool {
    !name.is_empty() && !name.contains([' ', '\t', '\r', '\n', '\x0c', '.', '*', '>', '\\', '/'])
}

/// nats-server's `validGroupName`: `^[a-zA-Z0-9/_=-]{1,16}$`.
/// 10162, for a priority group name [`is_valid_group_name`] refuses.
pub fn invalid_group_name() -> ApiError {
    e(
        400,
        10162,
        "Valid priority group name must match A-Z, a-z, 0-9, -_/=)+ and may not exceed 16 characters",
    )
}

/// nats-server's `validGroupName`.
pub fn is_valid_group_name(name: &str) -> bool {
    (1..=MAX_GROUP_NAME_LEN).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'=' | b'-'))
}

/// Go's `strconv.Atoi`, with its error text.
fn go_atoi(s: &str) -> Result<i64, String> {
    let quoted = crate::proto::errors::go_quote(s.as_bytes());
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("strconv.Atoi: parsing {quoted}: invalid syntax"));
    }
    s.parse::<i64>()
        .map_err(|_| format!("strconv.Atoi: parsing {quoted}: value out of range"))
}

/// nats-server's `createConsumerName`: 8 base-62 characters of the SHA-256 of a NUID.
fn random_name() -> String {
    crate::nkey::short_hash(&crate::nkey::nuid())
}

/// The subject-form rules of `jsConsumerCreateRequest`, in its order, which come before
/// the stream lookup: `subject_stream` is the stream named in the subject. Gives the
/// request's configuration with `name` set as the form decides.
pub fn check_request(
    req: &CreateRequest,
    form: &CreateForm,
    subject_stream: &str,
) -> Result<ConsumerConfig, ApiError> {
    if subject_stream != req.stream_name {
        return Err(e(
            400,
            10056,
            "stream name in subject does not match request",
        ));
    }
    let mut cfg = req.config.clone();
    let consumer_name = match form {
        CreateForm::Legacy => cfg.name.clone(),
        CreateForm::Durable(name) | CreateForm::Named { name, .. } => name.clone(),
    };
    if consumer_name.contains(['\\', '/']) {
        return Err(e(
            400,
            10127,
            "Consumer name can not contain path separators",
        ));
    }
    let name_mismatch = || {
        e(
            400,
            10017,
            "consumer name in subject does not match durable name in request",
        )
    };
    let mut filter = "";
    match form {
        CreateForm::Durable(name) => {
            if cfg.durable_name.is_empty() {
                return Err(e(
                    400,
                    10018,
                    "consumer expected to be durable but a durable name was not set",
                ));
            }
            if *name != cfg.durable_name {
                return Err(name_mismatch());
            }
            cfg.name = name.clone();
        }
        CreateForm::Named { name, filter: f } => {
            if !cfg.durable_name.is_empty() && *name != cfg.durable_name {
                return Err(name_mismatch());
            }
            cfg.name = name.clone();
            filter = f.as_deref().unwrap_or_default();
        }
        CreateForm::Legacy => {
            if !cfg.durable_name.is_empty() {
                return Err(e(
                    400,
                    10020,
                    "consumer expected to be ephemeral but a durable name was set in request",
                ));
            }
        }
    }
    if !filter.is_empty() {
        if !cfg.filter_subjects.is_empty() {
            return Err(e(
                400,
                10137,
                "consumer with multiple subject filters cannot use subject based API",
            ));
        }
        if cfg.filter_subject != filter {
            return Err(e(
                400,
                10131,
                "Consumer create request did not match filtered subject from create subject",
            ));
        }
    }
    if cfg.num_replicas > 1 {
        return Err(e(
            500,
            10074,
            "replicas > 1 not supported in non-clustered mode",
        ));
    }
    Ok(cfg)
}

/// Everything nats-server checks and fills in for a create, in its order, giving the
/// configuration as stored (defaults filled in, `name` set, a random one for unnamed
/// ephemerals, `_nats.req.level` in the metadata; see [`ConsumerConfig::for_response`]).
///
/// `existing` are the stream's consumers. When one of them has the name this request is
/// for, the request replaces it, as nats-server's create-or-update does: its `pause_until`
/// is kept, and of the create-only rules only the work-queue overlap one applies; the
/// runtime then applies the `action` and [`check_update`]. `account_max_ack_pending` is
/// the account's limit, -1 (or 0) when unlimited.
pub fn check_create(
    req: &CreateRequest,
    form: &CreateForm,
    stream: &StreamConfig,
    existing: &[&ConsumerConfig],
    account_max_ack_pending: i64,
) -> Result<ConsumerConfig, ApiError> {
    let mut cfg = check_request(req, form, &stream.name)?;
    let key = cfg.key().to_string();
    let replaces = (!key.is_empty())
        .then(|| existing.iter().find(|c| c.key() == key))
        .flatten();
    if let Some(old) = replaces {
        // A create cannot move an existing consumer's pause (only the pause API can).
        cfg.pause_until = old.pause_until.clone();
    }
    cfg.set_required_level();
    set_defaults(&mut cfg, stream, account_max_ack_pending, req.pedantic)?;
    check_config(&cfg, stream, account_max_ack_pending)?;

    let work_queue = stream.retention == Retention::WorkQueue;
    // Direct and sourcing consumers are the server's own and do not count.
    let others: Vec<&ConsumerConfig> = existing
        .iter()
        .copied()
        .filter(|c| c.key() != key && !c.direct && !c.sourcing)
        .collect();
    let unique = |filters: &[&str]| {
        filters.iter().all(|f| {
            others.iter().all(|o| {
                let theirs = o.filters();
                !theirs.is_empty()
                    && theirs
                        .iter()
                        .all(|t| !subject::subjects_collide(f.as_bytes(), t.as_bytes()))
            })
        })
    };
    let not_unique = || {
        e(
            400,
            10100,
            "filtered consumer not unique on workqueue stream",
        )
    };
    if replaces.is_some() {
        if work_queue && !unique(&cfg.filters()) {
            return Err(not_unique());
        }
        apply_inactive_default(&mut cfg);
        return Ok(cfg);
    }

    if work_queue && !cfg.direct && !cfg.sourcing {
        if !matches!(cfg.ack_policy, AckPolicy::Explicit | AckPolicy::FlowControl) {
            return Err(e(400, 10098, "workqueue stream requires explicit ack"));
        }
        if cfg.deliver_policy != DeliverPolicy::All {
            return Err(e(
                400,
                10101,
                "consumer must be deliver all on workqueue stream",
            ));
        }
        if !others.is_empty() {
            let filters = cfg.filters();
            if filters.is_empty() {
                return Err(e(
                    400,
                    10099,
                    "multiple non-filtered consumers not allowed on workqueue stream",
                ));
            }
            if !unique(&filters) {
                return Err(not_unique());
            }
        }
    }
    if cfg.is_durable() {
        if cfg.durable_name.len() > MAX_NAME_LEN {
            return Err(e(
                400,
                10102,
                format!("consumer name is too long, maximum allowed is {MAX_NAME_LEN}"),
            ));
        }
    } else if cfg.name.is_empty() {
        cfg.name = loop {
            let name = random_name();
            if existing.iter().all(|c| c.key() != name) {
                break name;
            }
        };
    }
    if !is_valid_asset_name(cfg.key()) {
        return Err(e(400, 10103, "durable name can not contain '.', '*', '>'"));
    }
    apply_inactive_default(&mut cfg);
    Ok(cfg)
}

/// Whether a create with `action: "create"` finds the consumer it would make already
/// there (nats-server answers with it, else 10148). `checked` is what [`check_create`]
/// gave for `req`. As in nats-server, the comparison sees the request before the
/// ephemeral inactivity default (5s) is stamped on it, so an ephemeral created twice
/// without an `inactive_threshold` is "already exists" the second time; times compare
/// with their offsets.
pub fn same_for_create(
    existing: &ConsumerConfig,
    checked: &ConsumerConfig,
    req: &CreateRequest,
    stream: &StreamConfig,
) -> bool {
    let mut before = checked.clone();
    before.inactive_threshold = if req.config.inactive_threshold > 0 {
        req.config.inactive_threshold
    } else {
        stream.consumer_limits.inactive_threshold
    };
    existing.same_as(&before)
}

/// Ephemerals always have an inactivity threshold (`updateInactiveThreshold`).
fn apply_inactive_default(cfg: &mut ConsumerConfig) {
    if !cfg.is_durable() && cfg.inactive_threshold <= 0 {
        cfg.inactive_threshold = DEFAULT_INACTIVE_THRESHOLD;
    }
}

/// nats-server's `setConsumerConfigDefaults` (no server-wide `limits` block: natrium has
/// none).
fn set_defaults(
    cfg: &mut ConsumerConfig,
    stream: &StreamConfig,
    account_max_ack_pending: i64,
    strict: bool,
) -> Result<(), ApiError> {
    if cfg.max_deliver == 0 || cfg.max_deliver < -1 {
        if strict && cfg.max_deliver < -1 {
            return Err(pedantic("max_deliver must be set to -1"));
        }
        cfg.max_deliver = -1;
    }
    if cfg.max_waiting < 0 {
        if strict {
            return Err(pedantic("max_waiting must not be negative"));
        }
        cfg.max_waiting = 0;
    }
    if cfg.max_ack_pending < -1 {
        if strict {
            return Err(pedantic("max_ack_pending must be set to -1"));
        }
        cfg.max_ack_pending = -1;
    }
    for (value, what) in [
        (&mut cfg.max_batch, "max_batch"),
        (&mut cfg.max_expires, "max_expires"),
        (&mut cfg.max_bytes, "max_bytes"),
        (&mut cfg.idle_heartbeat, "idle_heartbeat"),
        (&mut cfg.inactive_threshold, "inactive_threshold"),
        (&mut cfg.priority_timeout, "priority_timeout"),
    ] {
        if *value < 0 {
            if strict {
                return Err(pedantic(&format!("{what} must not be negative")));
            }
            *value = 0;
        }
    }
    if cfg.is_pull() && cfg.max_waiting == 0 {
        cfg.max_waiting = DEFAULT_MAX_WAITING;
    }
    if cfg.ack_wait == 0 && matches!(cfg.ack_policy, AckPolicy::Explicit | AckPolicy::All) {
        cfg.ack_wait = DEFAULT_ACK_WAIT;
    }
    if let Some(&first) = cfg.backoff.first() {
        if strict && cfg.ack_wait != first {
            return Err(pedantic("first backoff value has to equal batch AckWait"));
        }
        cfg.ack_wait = first;
    }
    let limits = &stream.consumer_limits;
    if cfg.max_ack_pending == 0 {
        if strict && limits.max_ack_pending > 0 {
            return Err(pedantic(
                "max_ack_pending must be set if it's configured in stream limits",
            ));
        }
        cfg.max_ack_pending = limits.max_ack_pending;
    }
    if cfg.inactive_threshold == 0 {
        if strict && limits.inactive_threshold > 0 {
            return Err(pedantic(
                "inactive_threshold must be set if it's configured in stream limits",
            ));
        }
        cfg.inactive_threshold = limits.inactive_threshold;
    }
    if cfg.max_ack_pending == 0 && cfg.ack_policy != AckPolicy::None {
        cfg.max_ack_pending = if account_max_ack_pending > 0 {
            DEFAULT_MAX_ACK_PENDING.min(account_max_ack_pending)
        } else {
            DEFAULT_MAX_ACK_PENDING
        };
    }
    if cfg.priority_policy == PriorityPolicy::PinnedClient && cfg.priority_timeout == 0 {
        cfg.priority_timeout = DEFAULT_PINNED_TTL;
    }
    if cfg.ack_policy == AckPolicy::FlowControl && !strict {
        cfg.flow_control = true;
        cfg.idle_heartbeat = FLOW_CONTROL_HEARTBEAT;
    }
    Ok(())
}

/// nats-server's `checkConsumerCfg`, check for check.
fn check_config(
    cfg: &ConsumerConfig,
    stream: &StreamConfig,
    account_max_ack_pending: i64,
) -> Result<(), ApiError> {
    if !cfg.name.is_empty() && !is_valid_asset_name(&cfg.name) {
        return Err(invalid_config(
            "consumer name can not contain '.', '*', '>', '\\', '/'",
        ));
    }
    if cfg.is_durable() && !is_valid_asset_name(&cfg.durable_name) {
        return Err(invalid_config(
            "consumer durable name can not contain '.', '*', '>', '\\', '/'",
        ));
    }
    if cfg.num_replicas > 0 && cfg.num_replicas > stream.num_replicas {
        return Err(e(
            400,
            10126,
            "consumer config replica count exceeds parent stream",
        ));
    }
    if cfg.num_replicas < 0 {
        return Err(e(400, 10133, "replicas count cannot be negative"));
    }
    if stream.retention != Retention::Limits
        && cfg.num_replicas != 0
        && cfg.num_replicas != stream.num_replicas
    {
        return Err(e(
            400,
            10134,
            "consumer config replicas must match interest retention stream's replicas",
        ));
    }
    if cfg.backoff.iter().any(|&b| b < 0) {
        return Err(e(400, 10184, "consumer backoff needs to be positive"));
    }
    if cfg.ack_wait < 0 {
        return Err(e(400, 10183, "consumer ack wait needs to be positive"));
    }
    if cfg.ack_policy == AckPolicy::FlowControl {
        if cfg.is_pull() {
            return Err(e(
                400,
                10218,
                "flow control ack policy requires a push based consumer",
            ));
        }
        if !cfg.flow_control {
            return Err(e(
                400,
                10219,
                "flow control ack policy requires flow control",
            ));
        }
        if cfg.idle_heartbeat != FLOW_CONTROL_HEARTBEAT {
            return Err(invalid_config(
                "flow control ack policy heartbeat needs to be 1s",
            ));
        }
        if cfg.max_ack_pending <= 0 {
            return Err(e(
                400,
                10220,
                "flow control ack policy requires max ack pending",
            ));
        }
        if cfg.ack_wait != 0 || !cfg.backoff.is_empty() {
            return Err(e(
                400,
                10221,
                "flow control ack policy requires unset ack wait",
            ));
        }
        if cfg.max_deliver > 0 {
            return Err(e(
                400,
                10222,
                "flow control ack policy requires unset max deliver",
            ));
        }
    }
    if !cfg.backoff.is_empty()
        && cfg.max_deliver != -1
        && cfg.backoff.len() as i64 > cfg.max_deliver
    {
        return Err(max_deliver_backoff());
    }
    if cfg.description.len() > MAX_DESCRIPTION_LEN {
        return Err(e(
            400,
            10107,
            format!("consumer description is too long, maximum allowed is {MAX_DESCRIPTION_LEN}"),
        ));
    }
    if !cfg.is_pull() {
        let ds = cfg.deliver_subject.as_bytes();
        if !subject::is_literal(ds) {
            return Err(e(400, 10079, "consumer deliver subject has wildcards"));
        }
        if !subject::is_valid_subject(ds) {
            return Err(e(400, 10112, "invalid push consumer deliver subject"));
        }
        if stream
            .subjects
            .iter()
            .any(|s| subject::is_subset_match(ds, s.as_bytes()))
        {
            return Err(e(400, 10081, "consumer deliver subject forms a cycle"));
        }
        if cfg.max_waiting != 0 {
            return Err(e(
                400,
                10080,
                "consumer in push mode can not set max waiting",
            ));
        }
        if cfg.max_ack_pending > 0 && cfg.ack_policy == AckPolicy::None {
            return Err(e(
                400,
                10082,
                "consumer requires ack policy for max ack pending",
            ));
        }
        if cfg.idle_heartbeat > 0 && cfg.idle_heartbeat < MIN_HEARTBEAT {
            return Err(e(
                400,
                10083,
                "consumer idle heartbeat needs to be >= 100ms",
            ));
        }
    } else {
        if cfg.ack_policy == AckPolicy::None && stream.retention == Retention::WorkQueue {
            return Err(e(
                400,
                10084,
                "consumer in pull mode requires explicit ack policy on workqueue stream",
            ));
        }
        if cfg.rate_limit_bps > 0 {
            return Err(e(
                400,
                10086,
                "consumer in pull mode can not have rate limit set",
            ));
        }
        if cfg.max_waiting < 0 {
            return Err(e(400, 10087, "consumer max waiting needs to be positive"));
        }
        if cfg.idle_heartbeat > 0 {
            return Err(e(
                400,
                10088,
                "consumer idle heartbeat requires a push based consumer",
            ));
        }
        if cfg.flow_control {
            return Err(e(
                400,
                10089,
                "consumer flow control requires a push based consumer",
            ));
        }
        if cfg.max_batch < 0 {
            return Err(e(400, 10114, "consumer max request batch needs to be > 0"));
        }
        if cfg.max_expires != 0 && cfg.max_expires < MIN_MAX_EXPIRES {
            return Err(e(
                400,
                10115,
                "consumer max request expires needs to be >= 1ms",
            ));
        }
    }
    if account_max_ack_pending > 0 && cfg.max_ack_pending > account_max_ack_pending {
        return Err(max_ack_pending_excess(account_max_ack_pending));
    }
    let limits = &stream.consumer_limits;
    if limits.max_ack_pending > 0 && cfg.max_ack_pending > limits.max_ack_pending {
        return Err(max_ack_pending_excess(limits.max_ack_pending));
    }
    if limits.inactive_threshold > 0 && cfg.inactive_threshold > limits.inactive_threshold {
        let limit = crate::config::file::go_duration(std::time::Duration::from_nanos(
            limits.inactive_threshold as u64,
        ));
        return Err(e(
            400,
            10153,
            format!("consumer inactive threshold exceeds system limit of {limit}"),
        ));
    }
    if cfg.direct {
        if cfg.is_pull() {
            return Err(e(
                400,
                10090,
                "consumer direct requires a push based consumer",
            ));
        }
        if cfg.is_durable() {
            return Err(e(
                400,
                10091,
                "consumer direct requires an ephemeral consumer",
            ));
        }
    }
    check_filters(cfg)?;
    check_start(cfg)?;
    if !cfg.sample_freq.is_empty() {
        let s = cfg
            .sample_freq
            .strip_suffix('%')
            .unwrap_or(&cfg.sample_freq);
        let why = match go_atoi(s) {
            Ok(n) if n >= 0 => None,
            Ok(_) => Some("<nil>".to_string()),
            Err(why) => Some(why),
        };
        if let Some(why) = why {
            return Err(e(
                400,
                10095,
                format!("failed to parse consumer sampling configuration: {why}"),
            ));
        }
    }
    if cfg.flow_control && cfg.idle_heartbeat == 0 {
        return Err(e(
            400,
            10108,
            "consumer with flow control also needs heartbeats",
        ));
    }
    if cfg.is_durable() && !cfg.name.is_empty() && cfg.name != cfg.durable_name {
        return Err(e(
            400,
            10132,
            "Consumer Durable and Name have to be equal if both are provided",
        ));
    }
    let meta_len: usize = cfg.metadata.iter().map(|(k, v)| k.len() + v.len()).sum();
    if meta_len > MAX_METADATA_LEN {
        return Err(e(
            400,
            10135,
            format!(
                "consumer metadata exceeds maximum size of {}KB",
                MAX_METADATA_LEN / 1024
            ),
        ));
    }
    check_priority(cfg)?;
    let preferred = stream
        .placement
        .as_ref()
        .and_then(|p| p.get("preferred"))
        .and_then(|p| p.as_str())
        .is_some_and(|p| !p.is_empty());
    if preferred {
        return Err(invalid_config(
            "preferred server not permitted in placement",
        ));
    }
    Ok(())
}

fn check_filters(cfg: &ConsumerConfig) -> Result<(), ApiError> {
    if !cfg.filter_subject.is_empty() && !cfg.filter_subjects.is_empty() {
        return Err(e(
            400,
            10136,
            "consumer cannot have both FilterSubject and FilterSubjects specified",
        ));
    }
    if !cfg.filter_subject.is_empty() && !subject::is_valid_subject(cfg.filter_subject.as_bytes()) {
        return Err(invalid_config("invalid subject"));
    }
    if cfg.filter_subjects.iter().any(String::is_empty) {
        return Err(e(
            400,
            10139,
            "consumer filter in FilterSubjects cannot be empty",
        ));
    }
    let filters = cfg.filters();
    for (i, f) in filters.iter().enumerate() {
        if !subject::is_valid_subject(f.as_bytes()) {
            return Err(invalid_config("invalid subject"));
        }
        let overlaps = filters
            .iter()
            .enumerate()
            .any(|(j, g)| i != j && subject::is_subset_match(f.as_bytes(), g.as_bytes()));
        if overlaps {
            return Err(e(400, 10138, "consumer subject filters cannot overlap"));
        }
    }
    Ok(())
}

/// The start position conflicts (10094).
fn check_start(cfg: &ConsumerConfig) -> Result<(), ApiError> {
    let policy = cfg.deliver_policy;
    let also_set = |start: &str| {
        e(
            400,
            10094,
            format!(
                "consumer delivery policy is deliver {}, but optional start {start} is also set",
                policy.words()
            ),
        )
    };
    let not_set = |what: &str| {
        e(
            400,
            10094,
            format!(
                "consumer delivery policy is deliver {}, but optional {what} is not set",
                policy.words()
            ),
        )
    };
    let has_seq = cfg.opt_start_seq > 0;
    let has_time = cfg.opt_start_time.is_some();
    match policy {
        DeliverPolicy::All
        | DeliverPolicy::Last
        | DeliverPolicy::New
        | DeliverPolicy::LastPerSubject => {
            if has_seq {
                return Err(also_set("sequence"));
            }
            if has_time {
                return Err(also_set("time"));
            }
            if policy == DeliverPolicy::LastPerSubject && cfg.filters().is_empty() {
                return Err(not_set("filter subject"));
            }
        }
        DeliverPolicy::ByStartSequence => {
            if !has_seq {
                return Err(not_set("start sequence"));
            }
            if has_time {
                return Err(also_set("time"));
            }
        }
        DeliverPolicy::ByStartTime => {
            if !has_time {
                return Err(not_set("start time"));
            }
            if has_seq {
                return Err(also_set("start sequence"));
            }
        }
    }
    Ok(())
}

fn check_priority(cfg: &ConsumerConfig) -> Result<(), ApiError> {
    if cfg.priority_policy != PriorityPolicy::None {
        if !cfg.is_pull() {
            return Err(e(
                400,
                10178,
                "priority groups can not be used with push consumers",
            ));
        }
        if cfg.priority_groups.is_empty() {
            return Err(e(
                400,
                10159,
                "Setting PriorityPolicy requires at least one PriorityGroup to be set",
            ));
        }
        for g in &cfg.priority_groups {
            if g.is_empty() {
                return Err(e(400, 10161, "Group name cannot be an empty string"));
            }
            if !is_valid_group_name(g) {
                return Err(invalid_group_name());
            }
        }
    } else {
        if !cfg.priority_groups.is_empty() {
            return Err(e(
                400,
                10196,
                "consumer can not have priority groups when policy is none",
            ));
        }
        if cfg.priority_timeout > 0 {
            return Err(e(
                400,
                10197,
                "PinnedTTL cannot be set when PriorityPolicy is none",
            ));
        }
    }
    Ok(())
}

/// The update rules (`checkNewConsumerConfig`): Ok when `new` (as [`check_create`] gave
/// it) may replace `old`. A push consumer may move to another deliver subject only while
/// nobody listens on the old one: use [`check_update_bound`] to say whether somebody does.
pub fn check_update(old: &ConsumerConfig, new: &ConsumerConfig) -> Result<(), ApiError> {
    check_update_bound(old, new, false)
}

/// [`check_update`] knowing whether `old`'s deliver subject has interest (`bound`), in
/// which case changing it is refused with 10013, in nats-server's order.
pub fn check_update_bound(
    old: &ConsumerConfig,
    new: &ConsumerConfig,
    bound: bool,
) -> Result<(), ApiError> {
    if old == new {
        return Ok(());
    }
    if old.deliver_policy != new.deliver_policy {
        return Err(update_refused("deliver policy can not be updated"));
    }
    if old.mem_storage != new.mem_storage {
        return Err(update_refused("storage type can not be updated"));
    }
    if old.direct != new.direct {
        return Err(update_refused("direct can not be updated"));
    }
    if old.sourcing != new.sourcing {
        return Err(update_refused("sourcing can not be updated"));
    }
    if old.opt_start_seq != new.opt_start_seq {
        return Err(update_refused("start sequence can not be updated"));
    }
    let same_start = match (&old.opt_start_time, &new.opt_start_time) {
        (None, None) => true,
        // The same instant in another offset is the same start (Go's `Time.Equal`).
        (Some(a), Some(b)) => a == b || time_nanos(a) == time_nanos(b) && time_nanos(a) != 0,
        _ => false,
    };
    if !same_start {
        return Err(update_refused("start time can not be updated"));
    }
    if old.ack_policy != new.ack_policy {
        return Err(update_refused("ack policy can not be updated"));
    }
    if old.replay_policy != new.replay_policy {
        return Err(update_refused("replay policy can not be updated"));
    }
    if old.idle_heartbeat != new.idle_heartbeat {
        return Err(update_refused("heart beats can not be updated"));
    }
    if old.flow_control != new.flow_control {
        return Err(update_refused("flow control can not be updated"));
    }
    if old.deliver_subject != new.deliver_subject {
        if old.is_pull() {
            return Err(update_refused("can not update pull consumer to push based"));
        }
        if new.is_pull() {
            return Err(update_refused("can not update push consumer to pull based"));
        }
        if bound {
            return Err(e(400, 10013, "consumer name already in use"));
        }
    }
    if old.max_waiting != new.max_waiting {
        return Err(update_refused("max waiting can not be updated"));
    }
    if !new.backoff.is_empty()
        && new.max_deliver != -1
        && new.backoff.len() as i64 > new.max_deliver
    {
        return Err(max_deliver_backoff());
    }
    Ok(())
}
