//! The `crowd` group of `natrium-bench compare` (issue 22): many clients on one server at
//! once (64 → 64 pairs, fan-in 64 → 1, fan-out 1 → 64, 32 requesters against a queue group
//! of 4), and large messages to several receivers. Its scenarios run in the load phase of
//! each round, beside the single-server suite, on the same two fresh servers.

use crate::cli::Opts;
use crate::compare::{row, values, MetricRow, Results, NATRIUM, NATS};
use crate::scenario::crowd::{CrowdSpec, Shape};
use crate::scenario::flow::{FlowSpec, Kind};
use crate::scenario::{Outcome, Spec};

/// Generator threads of the many-client scenarios: as many as this machine's two cores.
pub const WORKERS: usize = 2;

/// The `crowd` group of `compare` (issue 22): many clients at once, and large messages to
/// several receivers.
pub fn suite(opts: &Opts) -> Vec<Spec> {
    let q = opts.quick;
    let crowd = |shape, pubs, subs, size, msgs: u64| {
        Spec::Crowd(CrowdSpec {
            shape,
            pubs,
            subs,
            size,
            msgs: if q { msgs / 50 } else { msgs },
            window: opts.window,
            subject: format!("{}.crowd", opts.subject),
            workers: opts.threads.unwrap_or(WORKERS),
        })
    };
    let flow = |kind, msgs: u64, subs| {
        Spec::Flow(FlowSpec {
            kind,
            msgs: if q { msgs / 50 } else { msgs },
            size: 16 * 1024,
            pubs: 1,
            subs,
            window: opts.window,
            subject: opts.subject.clone(),
        })
    };
    vec![
        crowd(Shape::ManyToMany, 64, 64, 16, 4_000_000),
        crowd(Shape::ManyToMany, 64, 64, 1024, 1_000_000),
        crowd(Shape::FanIn, 64, 1, 16, 4_000_000),
        crowd(Shape::FanOut, 1, 64, 16, 200_000),
        crowd(Shape::FanOut, 1, 64, 16 * 1024, 5_000),
        crowd(Shape::ReqRep, 32, 4, 128, 200_000),
        flow(Kind::Fanout, 100_000, 4),
        flow(Kind::Queue, 200_000, 4),
    ]
}

/// Issue 22's target rows: every many-client scenario at ≥ 2× nats-server's rate and
/// ≤ 0.5× its server CPU per delivered message; 16 KiB fan-out 1→4 and queue group ≥ 2×,
/// pub→sub ≥ 2.5× (that one from the single-server suite, when it ran).
pub fn rows(opts: &Opts, results: &Results) -> Vec<MetricRow> {
    let rate = |o: &Outcome| Some(o.rate);
    let cpu = |o: &Outcome| o.server_cpu_ns_per_msg;
    let mut out = Vec::new();
    for spec in suite(opts) {
        let name = spec.name();
        let label = match &spec {
            Spec::Crowd(c) => c.label(),
            Spec::Flow(f) => f.label(),
            _ => name.clone(),
        };
        let both = |f: fn(&Outcome) -> Option<f64>| {
            (
                values(results, NATRIUM, &name, f),
                values(results, NATS, &name, f),
            )
        };
        let (a, b) = both(rate);
        let unit = if name.starts_with("reqrep") {
            "req/s"
        } else {
            "deliveries/s"
        };
        out.push(row(
            &format!("{name}_rate"),
            &label,
            unit,
            a,
            b,
            Some((">=", 2.0)),
        ));
        if matches!(spec, Spec::Crowd(_)) {
            let (a, b) = both(cpu);
            out.push(row(
                &format!("{name}_cpu"),
                &format!("{label}: server CPU per delivery"),
                "ns",
                a,
                b,
                Some(("<=", 0.5)),
            ));
        }
    }
    let (a, b) = (
        values(results, NATRIUM, "pubsub_16384", rate),
        values(results, NATS, "pubsub_16384", rate),
    );
    if !a.is_empty() {
        out.push(row(
            "pubsub_16384_rate_22",
            "pub→sub 16 KiB",
            "msgs/s",
            a,
            b,
            Some((">=", 2.5)),
        ));
    }
    out
}

/// The report's section for these rows.
pub fn section(rows: &[MetricRow]) -> String {
    if rows.is_empty() {
        return String::new();
    }
    format!(
        "\n### Many clients and large messages (issue 22)\n\n{}",
        crate::compare::targets_table(rows)
    )
}
