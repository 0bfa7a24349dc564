//! Unit tests of the consumer configuration: defaults, checks and update rules against
//! what nats-server 2.15.1 answers.

use super::*;
use crate::jetstream::config::StreamConfig;
use crate::jetstream::errors::ApiError;
use crate::jetstream::json::{decode_error, to_go_json};

fn stream(json: &str) -> StreamConfig {
    let cfg: StreamConfig = serde_json::from_str(json).expect("stream config");
    crate::jetstream::config::check(&cfg).expect("valid stream")
}

fn s1() -> StreamConfig {
    stream(r#"{"name":"S","subjects":["s.>"]}"#)
}

fn req(json: &str) -> CreateRequest {
    serde_json::from_str(json).expect("request")
}

fn named(name: &str) -> CreateForm {
    CreateForm::Named {
        name: name.into(),
        filter: None,
    }
}

fn create(json: &str, form: &CreateForm) -> Result<ConsumerConfig, ApiError> {
    check_create(&req(json), form, &s1(), &[], -1)
}

fn create_on(
    stream: &StreamConfig,
    json: &str,
    form: &CreateForm,
    existing: &[&ConsumerConfig],
) -> Result<ConsumerConfig, ApiError> {
    check_create(&req(json), form, stream, existing, -1)
}

fn err(json: &str, form: &CreateForm) -> (u16, u16, String) {
    let e = create(json, form).expect_err("refused");
    (e.code, e.err_code, e.description)
}

fn text(cfg: &ConsumerConfig) -> String {
    String::from_utf8(to_go_json(&cfg.for_response())).expect("utf-8")
}

fn meta(req_level: u32) -> String {
    format!(
        "\"metadata\":{{\"_nats.level\":\"5\",\"_nats.req.level\":\"{req_level}\",\"_nats.ver\":\"{}\"}}",
        crate::config::NATS_COMPAT_VERSION
    )
}

fn decode_err(json: &str) -> String {
    let e = serde_json::from_str::<CreateRequest>(json).expect_err("does not decode");
    decode_error(&e)
}

#[test]
fn legacy_empty_config_as_nats_server_fills_it() {
    for body in [
        r#"{"stream_name":"S"}"#,
        r#"{"stream_name":"S","config":{}}"#,
    ] {
        let cfg = create(body, &CreateForm::Legacy).expect("valid");
        assert_eq!(cfg.name.len(), 8);
        assert!(cfg.name.bytes().all(|b| b.is_ascii_alphanumeric()));
        let out = text(&cfg).replace(&cfg.name, "NAME");
        assert_eq!(
            out,
            format!(
                "{{\"name\":\"NAME\",\"deliver_policy\":\"all\",\"ack_policy\":\"none\",\"max_deliver\":-1,\"replay_policy\":\"instant\",\"max_waiting\":512,\"inactive_threshold\":5000000000,\"num_replicas\":0,{}}}",
                meta(0)
            )
        );
    }
    let a = create(r#"{"stream_name":"S"}"#, &CreateForm::Legacy).expect("valid");
    let b = create(r#"{"stream_name":"S"}"#, &CreateForm::Legacy).expect("valid");
    assert_ne!(a.name, b.name);
}

#[test]
fn durable_explicit_defaults() {
    let cfg = create(
        r#"{"stream_name":"S","config":{"durable_name":"D1","ack_policy":"explicit"}}"#,
        &named("D1"),
    )
    .expect("valid");
    assert_eq!(
        text(&cfg),
        format!(
            "{{\"durable_name\":\"D1\",\"name\":\"D1\",\"deliver_policy\":\"all\",\"ack_policy\":\"explicit\",\"ack_wait\":30000000000,\"max_deliver\":-1,\"replay_policy\":\"instant\",\"max_waiting\":512,\"max_ack_pending\":1000,\"num_replicas\":0,{}}}",
            meta(0)
        )
    );
    // The legacy durable form names it too.
    let cfg = create(
        r#"{"stream_name":"S","config":{"durable_name":"D1"}}"#,
        &CreateForm::Durable("D1".into()),
    )
    .expect("valid");
    assert_eq!(cfg.name, "D1");
    assert_eq!(cfg.inactive_threshold, 0);
    assert!(cfg.is_durable() && cfg.is_pull());
}

#[test]
fn kv_watcher_push_config_echoed() {
    let cfg = create(
        r#"{"stream_name":"S","config":{"deliver_policy":"last_per_subject","ack_policy":"none","ack_wait":79200000000000,"max_deliver":1,"filter_subject":"s.>","replay_policy":"instant","flow_control":true,"headers_only":true,"deliver_subject":"_INBOX.x","idle_heartbeat":5000000000,"inactive_threshold":300000000000,"num_replicas":1,"mem_storage":true}}"#,
        &CreateForm::Legacy,
    )
    .expect("valid");
    let out = text(&cfg).replace(&cfg.name, "NAME");
    assert_eq!(
        out,
        format!(
            "{{\"name\":\"NAME\",\"deliver_policy\":\"last_per_subject\",\"ack_policy\":\"none\",\"ack_wait\":79200000000000,\"max_deliver\":1,\"filter_subject\":\"s.\\u003e\",\"replay_policy\":\"instant\",\"flow_control\":true,\"headers_only\":true,\"deliver_subject\":\"_INBOX.x\",\"idle_heartbeat\":5000000000,\"inactive_threshold\":300000000000,\"num_replicas\":1,\"mem_storage\":true,{}}}",
            meta(0)
        )
    );
    assert!(!cfg.is_pull());
}

#[test]
fn other_defaults() {
    // Backoff sets the ack wait; pinned gets a 2m timeout; pause needs level 1.
    let cfg = create(
        r#"{"stream_name":"S","config":{"ack_policy":"explicit","backoff":[1000000000,2000000000],"max_deliver":3,"priority_policy":"pinned_client","priority_groups":["A"],"pause_until":"2020-01-01T02:00:00.500+02:00"}}"#,
        &named("B"),
    )
    .expect("valid");
    assert_eq!(cfg.ack_wait, 1_000_000_000);
    assert_eq!(cfg.priority_timeout, DEFAULT_PINNED_TTL);
    assert_eq!(
        cfg.pause_until.as_deref(),
        Some("2020-01-01T02:00:00.5+02:00")
    );
    assert_eq!(
        cfg.metadata.get("_nats.req.level").map(String::as_str),
        Some("1")
    );
    let out = text(&cfg);
    assert!(out.ends_with(
        "\"pause_until\":\"2020-01-01T02:00:00.5+02:00\",\"priority_groups\":[\"A\"],\"priority_policy\":\"pinned_client\",\"priority_timeout\":120000000000}"
    ), "{out}");
    // Stream consumer limits are the defaults, account limits cap 1000.
    let limited = stream(
        r#"{"name":"L","subjects":["l"],"consumer_limits":{"inactive_threshold":10000000000,"max_ack_pending":50}}"#,
    );
    let cfg = check_create(
        &req(r#"{"stream_name":"L","config":{"ack_policy":"all"}}"#),
        &named("X"),
        &limited,
        &[],
        -1,
    )
    .expect("valid");
    assert_eq!(
        (cfg.max_ack_pending, cfg.inactive_threshold),
        (50, 10_000_000_000)
    );
    let cfg = create_on(
        &s1(),
        r#"{"stream_name":"S","config":{"ack_policy":"all"}}"#,
        &named("X"),
        &[],
    )
    .expect("valid");
    assert_eq!(cfg.max_ack_pending, 1000);
    let cfg = check_create(
        &req(r#"{"stream_name":"S","config":{"ack_policy":"all"}}"#),
        &named("X"),
        &s1(),
        &[],
        20,
    )
    .expect("valid");
    assert_eq!(cfg.max_ack_pending, 20);
    // Negative values are zeroed (or refused in pedantic mode).
    let cfg = create(
        r#"{"stream_name":"S","config":{"max_deliver":-7,"max_batch":-1,"max_ack_pending":-9}}"#,
        &named("N"),
    )
    .expect("valid");
    assert_eq!(
        (cfg.max_deliver, cfg.max_batch, cfg.max_ack_pending),
        (-1, 0, -1)
    );
    // The flow-control ack policy turns flow control and a 1s heartbeat on.
    let cfg = create(
        r#"{"stream_name":"S","config":{"ack_policy":"flow_control","deliver_subject":"d"}}"#,
        &named("F"),
    )
    .expect("valid");
    assert!(cfg.flow_control);
    assert_eq!(cfg.idle_heartbeat, FLOW_CONTROL_HEARTBEAT);
    assert_eq!(
        cfg.metadata.get("_nats.req.level").map(String::as_str),
        Some("4")
    );
}

#[test]
fn form_rules_in_order() {
    let legacy = CreateForm::Legacy;
    assert_eq!(
        err(
            r#"{"stream_name":"X","config":{"durable_name":"x"}}"#,
            &legacy
        ),
        (
            400,
            10056,
            "stream name in subject does not match request".into()
        )
    );
    assert_eq!(
        err(r#"{"stream_name":"S","config":{"name":"a/b"}}"#, &legacy).1,
        10127
    );
    assert_eq!(
        err(
            r#"{"stream_name":"S","config":{"durable_name":"x"}}"#,
            &legacy
        ),
        (
            400,
            10020,
            "consumer expected to be ephemeral but a durable name was set in request".into()
        )
    );
    let durable = CreateForm::Durable("DD".into());
    assert_eq!(err(r#"{"stream_name":"S"}"#, &durable).1, 10018);
    assert_eq!(
        err(
            r#"{"stream_name":"S","config":{"durable_name":"de"}}"#,
            &durable
        ),
        (
            400,
            10017,
            "consumer name in subject does not match durable name in request".into()
        )
    );
    // The subject's name wins over the config's.
    let cfg = create(
        r#"{"stream_name":"S","config":{"durable_name":"DD","name":"zz"}}"#,
        &durable,
    )
    .expect("valid");
    assert_eq!(cfg.name, "DD");
    assert_eq!(
        err(
            r#"{"stream_name":"S","config":{"durable_name":"DD"}}"#,
            &named("NN")
        )
        .1,
        10017
    );
    let filtered = CreateForm::Named {
        name: "NN".into(),
        filter: Some("s.>".into()),
    };
    assert_eq!(
        err(
            r#"{"stream_name":"S","config":{"filter_subjects":["s.a"]}}"#,
            &filtered
        )
        .1,
        10137
    );
    assert_eq!(
        err(
            r#"{"stream_name":"S","config":{"filter_subject":"s.a"}}"#,
            &filtered
        ),
        (
            400,
            10131,
            "Consumer create request did not match filtered subject from create subject".into()
        )
    );
    assert_eq!(
        err(
            r#"{"stream_name":"S","config":{"filter_subject":"s.>","num_replicas":3}}"#,
            &filtered
        ),
        (
            500,
            10074,
            "replicas > 1 not supported in non-clustered mode".into()
        )
    );
    assert_eq!(
        err(
            r#"{"stream_name":"S","config":{"filter_subject":"s.>","num_replicas":-1}}"#,
            &filtered
        ),
        (400, 10133, "replicas count cannot be negative".into())
    );
    let cfg = create(
        r#"{"stream_name":"S","config":{"filter_subject":"s.>","num_replicas":1}}"#,
        &filtered,
    )
    .expect("valid");
    assert_eq!((cfg.name.as_str(), cfg.num_replicas), ("NN", 1));
    // A wildcard consumer name from the subject is a configuration error.
    assert_eq!(
        err(r#"{"stream_name":"S"}"#, &named("*")),
        (
            500,
            10052,
            "consumer name can not contain '.', '*', '>', '\\', '/'".into()
        )
    );
    assert_eq!(
        err(r#"{"stream_name":"S","config":{"name":"a.b"}}"#, &legacy).1,
        10052
    );
}

#[test]
fn start_position_conflicts() {
    let cases = [
        (
            r#"{"opt_start_seq":5}"#,
            "consumer delivery policy is deliver all, but optional start sequence is also set",
        ),
        (
            r#"{"opt_start_time":"0001-01-01T00:00:00Z"}"#,
            "consumer delivery policy is deliver all, but optional start time is also set",
        ),
        (
            r#"{"deliver_policy":"last","opt_start_seq":5}"#,
            "consumer delivery policy is deliver last, but optional start sequence is also set",
        ),
        (
            r#"{"deliver_policy":"new","opt_start_time":"2030-01-01T00:00:00Z"}"#,
            "consumer delivery policy is deliver new, but optional start time is also set",
        ),
        (
            r#"{"deliver_policy":"last_per_subject"}"#,
            "consumer delivery policy is deliver last per subject, but optional filter subject is not set",
        ),
        (
            r#"{"deliver_policy":"by_start_sequence"}"#,
            "consumer delivery policy is deliver by start sequence, but optional start sequence is not set",
        ),
        (
            r#"{"deliver_policy":"by_start_sequence","opt_start_seq":1,"opt_start_time":"2030-01-01T00:00:00Z"}"#,
            "consumer delivery policy is deliver by start sequence, but optional start time is also set",
        ),
        (
            r#"{"deliver_policy":"by_start_time"}"#,
            "consumer delivery policy is deliver by start time, but optional start time is not set",
        ),
        (
            r#"{"deliver_policy":"by_start_time","opt_start_seq":1,"opt_start_time":"2030-01-01T00:00:00Z"}"#,
            "consumer delivery policy is deliver by start time, but optional start start sequence is also set",
        ),
    ];
    for (config, want) in cases {
        let body = format!(r#"{{"stream_name":"S","config":{config}}}"#);
        assert_eq!(
            err(&body, &named("C")),
            (400, 10094, want.to_string()),
            "{config}"
        );
    }
    let cfg = create(
        r#"{"stream_name":"S","config":{"deliver_policy":"by_start_time","opt_start_time":"2030-01-01T02:00:00.500+02:00"}}"#,
        &named("T1"),
    )
    .expect("valid");
    assert_eq!(
        cfg.opt_start_time.as_deref(),
        Some("2030-01-01T02:00:00.5+02:00")
    );
    assert_eq!(
        time_nanos("2030-01-01T02:00:00.5+02:00"),
        time_nanos("2030-01-01T00:00:00.5Z")
    );
}

#[test]
fn config_checks() {
    let c = |config: &str| {
        let body = format!(r#"{{"stream_name":"S","config":{config}}}"#);
        let (_, code, text) = err(&body, &named("C"));
        (code, text)
    };
    let cases: &[(&str, u16, &str)] = &[
        (r#"{"ack_wait":-1}"#, 10183, "consumer ack wait needs to be positive"),
        (r#"{"backoff":[-1]}"#, 10184, "consumer backoff needs to be positive"),
        (
            r#"{"ack_policy":"explicit","backoff":[1,2,3],"max_deliver":2}"#,
            10116,
            "max deliver is required to be > length of backoff values",
        ),
        (
            r#"{"ack_policy":"flow_control"}"#,
            10218,
            "flow control ack policy requires a push based consumer",
        ),
        (
            r#"{"deliver_subject":"d.*"}"#,
            10079,
            "consumer deliver subject has wildcards",
        ),
        (
            r#"{"deliver_subject":"d..x"}"#,
            10112,
            "invalid push consumer deliver subject",
        ),
        (
            r#"{"deliver_subject":"s.x"}"#,
            10081,
            "consumer deliver subject forms a cycle",
        ),
        (
            r#"{"deliver_subject":"d","max_waiting":5}"#,
            10080,
            "consumer in push mode can not set max waiting",
        ),
        (
            r#"{"deliver_subject":"d","max_ack_pending":5}"#,
            10082,
            "consumer requires ack policy for max ack pending",
        ),
        (
            r#"{"deliver_subject":"d","idle_heartbeat":1000}"#,
            10083,
            "consumer idle heartbeat needs to be >= 100ms",
        ),
        (
            r#"{"rate_limit_bps":5}"#,
            10086,
            "consumer in pull mode can not have rate limit set",
        ),
        (
            r#"{"idle_heartbeat":1000000000}"#,
            10088,
            "consumer idle heartbeat requires a push based consumer",
        ),
        (
            r#"{"flow_control":true}"#,
            10089,
            "consumer flow control requires a push based consumer",
        ),
        (
            r#"{"max_expires":10}"#,
            10115,
            "consumer max request expires needs to be >= 1ms",
        ),
        (
            r#"{"deliver_subject":"d","flow_control":true}"#,
            10108,
            "consumer with flow control also needs heartbeats",
        ),
        (
            r#"{"direct":true}"#,
            10090,
            "consumer direct requires a push based consumer",
        ),
        (
            r#"{"filter_subject":"a","filter_subjects":["b"]}"#,
            10136,
            "consumer cannot have both FilterSubject and FilterSubjects specified",
        ),
        (r#"{"filter_subject":"a..b"}"#, 10052, "invalid subject"),
        (
            r#"{"filter_subjects":["a",""]}"#,
            10139,
            "consumer filter in FilterSubjects cannot be empty",
        ),
        (
            r#"{"filter_subjects":["a.*","a.b"]}"#,
            10138,
            "consumer subject filters cannot overlap",
        ),
        (
            r#"{"filter_subjects":["a","a"]}"#,
            10138,
            "consumer subject filters cannot overlap",
        ),
        (
            r#"{"sample_freq":"abc"}"#,
            10095,
            "failed to parse consumer sampling configuration: strconv.Atoi: parsing \"abc\": invalid syntax",
        ),
        (
            r#"{"sample_freq":"-5%"}"#,
            10095,
            "failed to parse consumer sampling configuration: <nil>",
        ),
        (
            r#"{"sample_freq":"%"}"#,
            10095,
            "failed to parse consumer sampling configuration: strconv.Atoi: parsing \"\": invalid syntax",
        ),
        (
            r#"{"sample_freq":"99999999999999999999"}"#,
            10095,
            "failed to parse consumer sampling configuration: strconv.Atoi: parsing \"99999999999999999999\": value out of range",
        ),
        (
            r#"{"priority_policy":"overflow","deliver_subject":"d"}"#,
            10178,
            "priority groups can not be used with push consumers",
        ),
        (
            r#"{"priority_policy":"overflow"}"#,
            10159,
            "Setting PriorityPolicy requires at least one PriorityGroup to be set",
        ),
        (
            r#"{"priority_policy":"overflow","priority_groups":[""]}"#,
            10161,
            "Group name cannot be an empty string",
        ),
        (
            r#"{"priority_policy":"overflow","priority_groups":["toolongforagroupname"]}"#,
            10162,
            "Valid priority group name must match A-Z, a-z, 0-9, -_/=)+ and may not exceed 16 characters",
        ),
        (
            r#"{"priority_groups":["A"]}"#,
            10196,
            "consumer can not have priority groups when policy is none",
        ),
        (
            r#"{"priority_timeout":5}"#,
            10197,
            "PinnedTTL cannot be set when PriorityPolicy is none",
        ),
    ];
    for (config, code, text) in cases {
        assert_eq!(c(config), (*code, text.to_string()), "{config}");
    }
    let long = "x".repeat(4097);
    assert_eq!(
        c(&format!(r#"{{"description":"{long}"}}"#)),
        (
            10107,
            "consumer description is too long, maximum allowed is 4096".into()
        )
    );
    let big = "x".repeat(128 * 1024);
    assert_eq!(
        c(&format!(r#"{{"metadata":{{"k":"{big}"}}}}"#)),
        (
            10135,
            "consumer metadata exceeds maximum size of 128KB".into()
        )
    );
    // Valid odd ones.
    for config in [
        r#"{"sample_freq":"+50%"}"#,
        r#"{"filter_subject":"zz"}"#,
        r#"{"priority_policy":"prioritized","priority_groups":["a-Z_0/9="]}"#,
    ] {
        let body = format!(r#"{{"stream_name":"S","config":{config}}}"#);
        assert!(create(&body, &named("C")).is_ok(), "{config}");
    }
}

#[test]
fn limits_and_pedantic() {
    let limited = stream(
        r#"{"name":"L","subjects":["l"],"consumer_limits":{"inactive_threshold":60000000000,"max_ack_pending":50}}"#,
    );
    let on = |body: &str, acc: i64| {
        check_create(&req(body), &named("C"), &limited, &[], acc).expect_err("refused")
    };
    let e1 = on(
        r#"{"stream_name":"L","config":{"ack_policy":"explicit","max_ack_pending":51}}"#,
        -1,
    );
    assert_eq!(
        (e1.err_code, e1.description.as_str()),
        (10121, "consumer max ack pending exceeds system limit of 50")
    );
    let e2 = on(
        r#"{"stream_name":"L","config":{"ack_policy":"explicit","max_ack_pending":40}}"#,
        30,
    );
    assert_eq!(
        e2.description,
        "consumer max ack pending exceeds system limit of 30"
    );
    let e3 = on(
        r#"{"stream_name":"L","config":{"inactive_threshold":61000000000}}"#,
        -1,
    );
    assert_eq!(
        (e3.err_code, e3.description.as_str()),
        (
            10153,
            "consumer inactive threshold exceeds system limit of 1m0s"
        )
    );
    let e4 = on(
        r#"{"stream_name":"L","pedantic":true,"config":{"ack_policy":"explicit"}}"#,
        -1,
    );
    assert_eq!(
        (e4.code, e4.err_code, e4.description.as_str()),
        (
            400,
            10157,
            "pedantic mode: max_ack_pending must be set if it's configured in stream limits"
        )
    );
    let p = |config: &str| {
        let body = format!(r#"{{"stream_name":"S","pedantic":true,"config":{config}}}"#);
        err(&body, &named("C")).2
    };
    assert_eq!(
        p(r#"{"max_deliver":-5}"#),
        "pedantic mode: max_deliver must be set to -1"
    );
    assert_eq!(
        p(r#"{"max_expires":-5}"#),
        "pedantic mode: max_expires must not be negative"
    );
    assert_eq!(
        p(r#"{"ack_policy":"explicit","backoff":[1000000000]}"#),
        "pedantic mode: first backoff value has to equal batch AckWait"
    );
    // Pedantic flow-control ack policy gets no defaults.
    assert_eq!(
        p(r#"{"ack_policy":"flow_control","deliver_subject":"d"}"#),
        "flow control ack policy requires flow control"
    );
}

#[test]
fn work_queue_rules() {
    let wq = stream(r#"{"name":"W","subjects":["w.>"],"retention":"workqueue"}"#);
    let on = |body: &str, form: &CreateForm, existing: &[&ConsumerConfig]| {
        create_on(&wq, body, form, existing)
    };
    let code = |r: Result<ConsumerConfig, ApiError>| r.expect_err("refused").err_code;
    assert_eq!(code(on(r#"{"stream_name":"W"}"#, &named("A"), &[])), 10084);
    assert_eq!(
        code(on(
            r#"{"stream_name":"W","config":{"deliver_subject":"d"}}"#,
            &named("A"),
            &[]
        )),
        10098
    );
    assert_eq!(
        code(on(
            r#"{"stream_name":"W","config":{"ack_policy":"explicit","deliver_policy":"new"}}"#,
            &named("A"),
            &[]
        )),
        10101
    );
    let a = on(
        r#"{"stream_name":"W","config":{"ack_policy":"explicit"}}"#,
        &named("A"),
        &[],
    )
    .expect("first one");
    assert_eq!(
        code(on(
            r#"{"stream_name":"W","config":{"ack_policy":"explicit"}}"#,
            &named("B"),
            &[&a]
        )),
        10099
    );
    // Any filter collides with an unfiltered consumer.
    let e = on(
        r#"{"stream_name":"W","config":{"ack_policy":"explicit","filter_subject":"w.a"}}"#,
        &named("B"),
        &[&a],
    )
    .expect_err("refused");
    assert_eq!(
        (e.err_code, e.description.as_str()),
        (10100, "filtered consumer not unique on workqueue stream")
    );
    let fa = on(
        r#"{"stream_name":"W","config":{"ack_policy":"explicit","filter_subject":"w.a.>"}}"#,
        &named("FA"),
        &[],
    )
    .expect("valid");
    assert_eq!(
        code(on(
            r#"{"stream_name":"W","config":{"ack_policy":"explicit","filter_subject":"w.*.b"}}"#,
            &named("FB"),
            &[&fa]
        )),
        10100
    );
    assert!(on(
        r#"{"stream_name":"W","config":{"ack_policy":"explicit","filter_subject":"w.b"}}"#,
        &named("FB"),
        &[&fa]
    )
    .is_ok());
    // Replacing the consumer itself skips it; the create-only rules are left to the
    // update rules.
    assert!(on(
        r#"{"stream_name":"W","config":{"ack_policy":"explicit","filter_subject":"w.a.x"}}"#,
        &named("FA"),
        &[&fa]
    )
    .is_ok());
    let replaced = on(
        r#"{"stream_name":"W","config":{"ack_policy":"none","deliver_subject":"d"}}"#,
        &named("FA"),
        &[&fa],
    )
    .expect("left to check_update");
    assert_eq!(
        check_update(&fa, &replaced)
            .expect_err("refused")
            .description,
        "ack policy can not be updated"
    );
    // Interest and work-queue consumers must match the stream's replicas.
    let wq3 = stream(r#"{"name":"W","subjects":["w.>"],"retention":"workqueue","num_replicas":3}"#);
    let e = create_on(
        &wq3,
        r#"{"stream_name":"W","config":{"ack_policy":"explicit","num_replicas":1}}"#,
        &named("R"),
        &[],
    )
    .expect_err("refused");
    assert_eq!(
        (e.err_code, e.description.as_str()),
        (
            10134,
            "consumer config replicas must match interest retention stream's replicas"
        )
    );
    // Direct and sourcing consumers do not count.
    let mut direct = a.clone();
    direct.name = "DIRECT".into();
    direct.direct = true;
    assert!(on(
        r#"{"stream_name":"W","config":{"ack_policy":"explicit"}}"#,
        &named("B"),
        &[&direct]
    )
    .is_ok());
}

#[test]
fn replacing_keeps_pause_and_create_comparison() {
    let s = s1();
    let body = r#"{"stream_name":"S","config":{"name":"E1"},"action":"create"}"#;
    let first = create_on(&s, body, &named("E1"), &[]).expect("valid");
    let second = create_on(&s, body, &named("E1"), &[&first]).expect("valid");
    assert!(first.same_as(&second));
    // nats-server compares before stamping the ephemeral default: 10148.
    assert!(!same_for_create(&first, &second, &req(body), &s));
    let body = r#"{"stream_name":"S","config":{"name":"E2","inactive_threshold":5000000000},"action":"create"}"#;
    let first = create_on(&s, body, &named("E2"), &[]).expect("valid");
    let second = create_on(&s, body, &named("E2"), &[&first]).expect("valid");
    assert!(same_for_create(&first, &second, &req(body), &s));
    // Same instant, another offset: not the same for create, fine for update.
    let t1 = create_on(
        &s,
        r#"{"stream_name":"S","config":{"deliver_policy":"by_start_time","opt_start_time":"2030-01-01T02:00:00.500+02:00","inactive_threshold":5000000000}}"#,
        &named("T1"),
        &[],
    )
    .expect("valid");
    let body = r#"{"stream_name":"S","config":{"deliver_policy":"by_start_time","opt_start_time":"2030-01-01T00:00:00.500Z","inactive_threshold":5000000000}}"#;
    let t2 = create_on(&s, body, &named("T1"), &[&t1]).expect("valid");
    assert!(!same_for_create(&t1, &t2, &req(body), &s));
    assert!(check_update(&t1, &t2).is_ok());
    let body = r#"{"stream_name":"S","config":{"deliver_policy":"by_start_time","opt_start_time":"2030-01-01T00:00:00.600Z","inactive_threshold":5000000000}}"#;
    let t3 = create_on(&s, body, &named("T1"), &[&t1]).expect("valid");
    assert_eq!(
        check_update(&t1, &t3).expect_err("refused"),
        ApiError {
            code: 500,
            err_code: 10012,
            description: "start time can not be updated".into()
        }
    );
    // A create keeps the existing pause and its required level.
    let p1 = create_on(
        &s,
        r#"{"stream_name":"S","config":{"pause_until":"2020-01-01T00:00:00Z"}}"#,
        &named("P1"),
        &[],
    )
    .expect("valid");
    let body =
        r#"{"stream_name":"S","config":{"inactive_threshold":5000000000},"action":"create"}"#;
    let p2 = create_on(&s, body, &named("P1"), &[&p1]).expect("valid");
    assert_eq!(p2.pause_until.as_deref(), Some("2020-01-01T00:00:00Z"));
    assert_eq!(
        p2.metadata.get("_nats.req.level").map(String::as_str),
        Some("1")
    );
    assert!(same_for_create(&p1, &p2, &req(body), &s));
}

#[test]
fn update_rules() {
    let s = s1();
    let make = |config: &str| {
        let body = format!(r#"{{"stream_name":"S","config":{config}}}"#);
        create_on(&s, &body, &named("D"), &[]).expect("valid")
    };
    let old = make(
        r#"{"durable_name":"D","ack_policy":"explicit","deliver_subject":"d1","idle_heartbeat":1000000000,"flow_control":true}"#,
    );
    let refused = |config: &str| {
        check_update(&old, &make(config))
            .expect_err("refused")
            .description
    };
    let base = r#""durable_name":"D","ack_policy":"explicit","deliver_subject":"d1","idle_heartbeat":1000000000,"flow_control":true"#;
    let with = |extra: &str| format!("{{{base},{extra}}}");
    assert_eq!(
        refused(&with(r#""deliver_policy":"new""#)),
        "deliver policy can not be updated"
    );
    assert_eq!(
        refused(&with(r#""mem_storage":true"#)),
        "storage type can not be updated"
    );
    assert_eq!(
        refused(&with(r#""replay_policy":"original""#)),
        "replay policy can not be updated"
    );
    assert_eq!(
        refused(
            r#"{"durable_name":"D","ack_policy":"all","deliver_subject":"d1","idle_heartbeat":1000000000,"flow_control":true}"#
        ),
        "ack policy can not be updated"
    );
    assert_eq!(
        refused(
            r#"{"durable_name":"D","ack_policy":"explicit","deliver_subject":"d1","idle_heartbeat":2000000000,"flow_control":true}"#
        ),
        "heart beats can not be updated"
    );
    assert_eq!(
        refused(
            r#"{"durable_name":"D","ack_policy":"explicit","deliver_subject":"d1","idle_heartbeat":1000000000}"#
        ),
        "flow control can not be updated"
    );
    assert!(check_update(&old, &make(&with(r#""description":"x""#))).is_ok());
    let pull = make(r#"{"durable_name":"D","ack_policy":"explicit"}"#);
    assert_eq!(
        check_update(&old, &pull).expect_err("refused").description,
        "heart beats can not be updated"
    );
    let push = make(r#"{"durable_name":"D","ack_policy":"explicit","deliver_subject":"d"}"#);
    assert_eq!(
        check_update(&pull, &push).expect_err("refused").description,
        "can not update pull consumer to push based"
    );
    assert_eq!(
        check_update(&push, &pull).expect_err("refused").description,
        "can not update push consumer to pull based"
    );
    let moved = make(r#"{"durable_name":"D","ack_policy":"explicit","deliver_subject":"d2"}"#);
    assert!(check_update(&push, &moved).is_ok());
    assert_eq!(
        check_update_bound(&push, &moved, true).expect_err("refused"),
        ApiError {
            code: 400,
            err_code: 10013,
            description: "consumer name already in use".into()
        }
    );
    let waiting = make(r#"{"durable_name":"D","ack_policy":"explicit","max_waiting":10}"#);
    assert_eq!(
        check_update(&pull, &waiting)
            .expect_err("refused")
            .description,
        "max waiting can not be updated"
    );
    // What may change.
    let changed = make(
        r#"{"durable_name":"D","ack_policy":"explicit","description":"d","ack_wait":5000000000,"max_deliver":5,"filter_subject":"s.a","max_ack_pending":7,"headers_only":true,"max_batch":3,"max_expires":5000000,"max_bytes":100,"inactive_threshold":9000000000,"metadata":{"k":"v"}}"#,
    );
    assert!(check_update(&pull, &changed).is_ok());
    let mut bad = pull.clone();
    bad.backoff = vec![1, 2, 3];
    bad.max_deliver = 2;
    assert_eq!(
        check_update(&pull, &bad).expect_err("refused").err_code,
        10116
    );
    assert!(check_update(&pull, &pull).is_ok());
}

#[test]
fn decoding_as_go_does() {
    assert_eq!(
        decode_err(r#"{"stream_name":"S","config":{"ack_policy":null}}"#),
        "can not unmarshal \"null\""
    );
    assert_eq!(
        decode_err(r#"{"stream_name":"S","config":{"ack_policy":5}}"#),
        "can not unmarshal \"5\""
    );
    assert_eq!(
        decode_err(r#"{"stream_name":"S","config":{"ack_policy":"Explicit"}}"#),
        "can not unmarshal \"\\\"Explicit\\\"\""
    );
    assert_eq!(
        decode_err(r#"{"stream_name":"S","config":{"priority_policy":null}}"#),
        "unknown priority policy: null"
    );
    assert_eq!(
        decode_err(r#"{"stream_name":"S","config":{"priority_policy":"x"}}"#),
        "unknown priority policy: \"x\""
    );
    assert_eq!(
        decode_err(r#"{"stream_name":"S","action":"bogus"}"#),
        "unknown consumer action: \"bogus\""
    );
    assert_eq!(
        decode_err(r#"{"stream_name":"S","action":null}"#),
        "unknown consumer action: null"
    );
    assert_eq!(
        decode_err(r#"{"stream_name":"S","config":{"bogus":1}}"#),
        "json: unknown field \"bogus\""
    );
    assert_eq!(
        decode_err(r#"{"stream_name":"S","config":{"opt_start_time":"bogus"}}"#),
        "parsing time \"bogus\" as \"2006-01-02T15:04:05Z07:00\": cannot parse \"bogus\" as \"2006\""
    );
    assert_eq!(
        decode_err(r#"{"stream_name":"S","config":{"opt_start_time":"2030-01-01t00:00:00z"}}"#),
        "parsing time \"2030-01-01t00:00:00z\" as \"2006-01-02T15:04:05Z07:00\": cannot parse \"t00:00:00z\" as \"T\""
    );
    assert_eq!(
        decode_err(r#"{"stream_name":"S","config":{"opt_start_time":5}}"#),
        "json: cannot unmarshal number into Go struct field CreateConsumerRequest.config.opt_start_time of type time.Time"
    );
    let r = req(r#"{"stream_name":"S","config":null,"action":"update","pedantic":true}"#);
    assert_eq!(r.config, ConsumerConfig::default());
    assert_eq!(r.action, "update");
    let r = req(
        r#"{"config":{"deliver_policy":"undefined","opt_start_time":null,"metadata":null,"backoff":null,"durable_name":null}}"#,
    );
    assert_eq!(r.config, ConsumerConfig::default());
}

#[test]
fn go_time_texts() {
    let ok = |s: &str| parse_time(s).expect("parses");
    assert_eq!(
        ok("2030-01-01T02:00:00.500+02:00"),
        "2030-01-01T02:00:00.5+02:00"
    );
    assert_eq!(ok("2030-01-01T00:00:00.000Z"), "2030-01-01T00:00:00Z");
    assert_eq!(ok("2030-01-01T00:00:00+00:00"), "2030-01-01T00:00:00Z");
    assert_eq!(ok("2030-01-01T00:00:00-05:30"), "2030-01-01T00:00:00-05:30");
    assert_eq!(
        ok("2030-01-01T1:02:03,1234567891Z"),
        "2030-01-01T01:02:03.123456789Z"
    );
    assert_eq!(ok("0001-01-01T00:00:00Z"), "0001-01-01T00:00:00Z");
    assert_eq!(ok("2024-02-29T00:00:00Z"), "2024-02-29T00:00:00Z");
    assert_eq!(
        parse_time("2023-02-29T00:00:00Z").expect_err("bad"),
        "parsing time \"2023-02-29T00:00:00Z\": day out of range"
    );
    assert_eq!(
        parse_time("2030-13-01T00:00:00Z").expect_err("bad"),
        "parsing time \"2030-13-01T00:00:00Z\": month out of range"
    );
    assert_eq!(
        parse_time("2030-01-01T00:00:00Zx").expect_err("bad"),
        "parsing time \"2030-01-01T00:00:00Zx\": extra text: \"x\""
    );
    assert_eq!(
        parse_time("2030-01-01T00:00:00").expect_err("bad"),
        "parsing time \"2030-01-01T00:00:00\" as \"2006-01-02T15:04:05Z07:00\": cannot parse \"\" as \"Z07:00\""
    );
    assert_eq!(time_nanos("0001-01-01T00:00:00Z"), 0);
    assert_eq!(time_nanos("1970-01-01T00:00:01.5Z"), 1_500_000_000);
}

#[test]
fn filters_and_kinds() {
    let mut c = ConsumerConfig::default();
    assert!(c.filters().is_empty() && c.is_pull() && !c.is_durable());
    c.filter_subject = "a".into();
    assert_eq!(c.filters(), vec!["a"]);
    c.filter_subject.clear();
    c.filter_subjects = vec!["x".into(), "y".into()];
    assert_eq!(c.filters(), vec!["x", "y"]);
    let mut with_meta = c.clone();
    with_meta.set_required_level();
    assert!(c.same_as(&with_meta.for_response()));
    with_meta.metadata.insert("user".into(), "1".into());
    assert!(!c.same_as(&with_meta));
}
