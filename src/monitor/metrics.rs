//! `/metrics`: the Prometheus text exposition format (version 0.0.4), served by the server
//! itself so no separate exporter is needed.
//!
//! Names follow prometheus-nats-exporter, so dashboards built on it keep working:
//! `gnatsd_varz_<field>` for every numeric top-level field of `/varz` (gauges, labelled with
//! `server_id`, exactly the values `/varz` shows), `gnatsd_varz_{server_id,server_name,
//! version}` as info gauges with a `value` label, `gnatsd_connz_*` (totals over the open
//! connections), `gnatsd_subsz_*`, `gnatsd_routez_num_routes` and `gnatsd_healthz_status`
//! (0 = ok). natrium's own per-reactor metrics are `natrium_reactor_*{reactor="N"}`.

use std::fmt::Write;

use serde_json::Value;

use super::snapshot::ReactorSnap;
use super::subsz;
use crate::server::Shared;

pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Escapes a label value.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A number as the exposition format writes it.
fn num(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

struct Out {
    text: String,
    id: String,
}

impl Out {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.text, "# HELP {name} {help}");
        let _ = writeln!(self.text, "# TYPE {name} {kind}");
    }

    /// One sample labelled with the server id and `extra` labels.
    fn sample(&mut self, name: &str, extra: &[(&str, &str)], v: f64) {
        let _ = write!(self.text, "{name}{{server_id=\"{}\"", self.id);
        for (k, val) in extra {
            let _ = write!(self.text, ",{k}=\"{}\"", label(val));
        }
        let _ = writeln!(self.text, "}} {}", num(v));
    }

    fn gauge(&mut self, name: &str, help: &str, v: f64) {
        self.family(name, "gauge", help);
        self.sample(name, &[], v);
    }
}

/// HELP text for a `/varz` field.
fn varz_help(key: &str) -> String {
    let text = match key {
        "port" => "Client port",
        "max_connections" => "Maximum client connections allowed",
        "ping_interval" => "Interval between server PINGs, in nanoseconds",
        "ping_max" => "Unanswered PINGs before a connection is stale",
        "http_port" => "Monitoring port",
        "https_port" => "HTTPS monitoring port",
        "auth_timeout" => "Authentication timeout, in seconds",
        "max_control_line" => "Maximum protocol control line, in bytes",
        "max_payload" => "Maximum message payload, in bytes",
        "max_pending" => "Maximum bytes pending to a client before it is a slow consumer",
        "tls_timeout" => "TLS handshake timeout, in seconds",
        "write_deadline" => "Write deadline before a client is a slow consumer, in nanoseconds",
        "mem" => "Resident memory, in bytes",
        "cores" => "CPU cores available",
        "gomaxprocs" => "Cores available (nats-server's GOMAXPROCS)",
        "cpu" => "CPU use over the last second, in percent of one core",
        "connections" => "Open client connections",
        "total_connections" => "Client connections accepted since start",
        "routes" => "Route connections",
        "remotes" => "Configured route remotes",
        "leafnodes" => "Leaf node connections",
        "in_msgs" => "Messages received from clients",
        "in_bytes" => "Payload bytes received from clients",
        "in_client_msgs" => "Messages received from clients",
        "in_client_bytes" => "Payload bytes received from clients",
        "out_msgs" => "Messages delivered to clients",
        "out_bytes" => "Payload bytes delivered to clients",
        "out_client_msgs" => "Messages delivered to clients",
        "out_client_bytes" => "Payload bytes delivered to clients",
        "slow_consumers" => "Clients closed as slow consumers",
        "stale_connections" => "Clients closed as stale",
        "stalled_clients" => "Times a fast producer was paused for a slow subscriber",
        "subscriptions" => "Active subscriptions",
        "proto" => "Protocol version",
        _ => key,
    };
    text.to_string()
}

/// Renders the exposition. `varz` is the `/varz` document of this same request; `snaps`
/// the reactors' snapshots (open connections and index statistics).
pub fn render(shared: &Shared, varz: &Value, snaps: &[ReactorSnap], healthy: bool) -> String {
    let mut o = Out {
        text: String::with_capacity(16 * 1024),
        id: label(&shared.server_id),
    };
    if let Value::Object(map) = varz {
        for key in ["server_id", "server_name", "version"] {
            if let Some(Value::String(v)) = map.get(key) {
                let name = format!("gnatsd_varz_{key}");
                o.family(&name, "gauge", key);
                o.sample(&name, &[("value", v)], 1.0);
            }
        }
        if let Some(Value::String(v)) = map.get("natrium_version") {
            o.family(
                "natrium_info",
                "gauge",
                "natrium's version and the nats-server release it matches",
            );
            let compat = map.get("version").and_then(Value::as_str).unwrap_or("");
            o.sample(
                "natrium_info",
                &[("version", v), ("nats_server_version", compat)],
                1.0,
            );
        }
        for (key, v) in map {
            if let Some(f) = v.as_f64() {
                let name = format!("gnatsd_varz_{key}");
                o.gauge(&name, &varz_help(key), f);
            }
        }
    }

    let conns = snaps.iter().flat_map(|s| s.conns.iter());
    let (mut pending, mut subs, mut in_b, mut out_b, mut in_m, mut out_m) = (0, 0, 0, 0, 0, 0);
    let mut n = 0usize;
    for c in conns {
        n += 1;
        pending += c.pending as u64;
        subs += c.num_subs as u64;
        in_b += c.in_bytes;
        out_b += c.out_bytes;
        in_m += c.in_msgs;
        out_m += c.out_msgs;
    }
    let total: usize = snaps.iter().map(|s| s.open).sum();
    o.gauge("gnatsd_connz_num_connections", "num_connections", n as f64);
    o.gauge("gnatsd_connz_total", "total", total as f64);
    o.gauge("gnatsd_connz_offset", "offset", 0.0);
    o.gauge("gnatsd_connz_limit", "limit", n.max(1) as f64);
    o.gauge(
        "gnatsd_connz_pending_bytes",
        "Bytes queued to open connections",
        pending as f64,
    );
    o.gauge(
        "gnatsd_connz_subscriptions",
        "Subscriptions of open connections",
        subs as f64,
    );
    for (name, help, v) in [
        (
            "gnatsd_connz_in_bytes",
            "Bytes received from open connections",
            in_b,
        ),
        (
            "gnatsd_connz_out_bytes",
            "Bytes sent to open connections",
            out_b,
        ),
        (
            "gnatsd_connz_in_msgs",
            "Messages received from open connections",
            in_m,
        ),
        (
            "gnatsd_connz_out_msgs",
            "Messages sent to open connections",
            out_m,
        ),
    ] {
        // The exporter types these as counters, but totals over the *open* connections fall
        // when one closes: they are gauges (and parsers reject counters without `_total`).
        o.gauge(name, help, v as f64);
    }

    let st = subsz::stats(snaps);
    o.gauge(
        "gnatsd_subsz_num_subscriptions",
        "Subscriptions",
        st.num_subscriptions as f64,
    );
    o.gauge(
        "gnatsd_subsz_num_cache",
        "Cached subject match results",
        st.num_cache as f64,
    );
    o.gauge(
        "gnatsd_subsz_num_inserts",
        "Subject index inserts",
        st.num_inserts as f64,
    );
    o.gauge(
        "gnatsd_subsz_num_removes",
        "Subject index removals",
        st.num_removes as f64,
    );
    o.gauge(
        "gnatsd_subsz_num_matches",
        "Subject index matches",
        st.num_matches as f64,
    );
    o.gauge(
        "gnatsd_subsz_cache_hit_rate",
        "Match cache hit rate",
        st.cache_hit_rate,
    );
    o.gauge(
        "gnatsd_subsz_max_fanout",
        "Largest cached fan-out",
        st.max_fanout as f64,
    );
    o.gauge(
        "gnatsd_subsz_avg_fanout",
        "Mean cached fan-out",
        st.avg_fanout,
    );
    let routes = shared
        .cluster
        .as_ref()
        .map_or(0, |c| c.registry.remotes().len());
    o.gauge(
        "gnatsd_routez_num_routes",
        "Route connections",
        routes as f64,
    );
    o.gauge(
        "gnatsd_healthz_status",
        "Health: 0 when /healthz is ok, 1 otherwise",
        if healthy { 0.0 } else { 1.0 },
    );

    reactor_metrics(&mut o, shared);
    o.text
}

fn reactor_metrics(o: &mut Out, shared: &Shared) {
    use std::sync::atomic::Ordering::Relaxed;
    type Field = fn(&crate::server::ReactorStats) -> &std::sync::atomic::AtomicU64;
    let families: [(&str, &str, &str, Field); 11] = [
        (
            "natrium_reactor_polls_total",
            "counter",
            "Event-loop turns (poll calls)",
            |s| &s.polls,
        ),
        (
            "natrium_reactor_events_total",
            "counter",
            "Readiness events handled",
            |s| &s.events,
        ),
        (
            "natrium_reactor_in_msgs_total",
            "counter",
            "Messages received from this reactor's clients",
            |s| &s.in_msgs,
        ),
        (
            "natrium_reactor_in_bytes_total",
            "counter",
            "Payload bytes received from this reactor's clients",
            |s| &s.in_bytes,
        ),
        (
            "natrium_reactor_out_msgs_total",
            "counter",
            "Messages delivered to this reactor's clients",
            |s| &s.out_msgs,
        ),
        (
            "natrium_reactor_out_bytes_total",
            "counter",
            "Payload bytes delivered to this reactor's clients",
            |s| &s.out_bytes,
        ),
        (
            "natrium_reactor_routed_out_total",
            "counter",
            "Messages handed to other reactors",
            |s| &s.routed_out,
        ),
        (
            "natrium_reactor_routed_in_total",
            "counter",
            "Messages received from other reactors",
            |s| &s.routed_in,
        ),
        (
            "natrium_reactor_slow_consumers_total",
            "counter",
            "Clients closed as slow consumers",
            |s| &s.slow_consumers,
        ),
        (
            "natrium_reactor_connections",
            "gauge",
            "Connections held (including closing ones)",
            |s| &s.connections,
        ),
        (
            "natrium_reactor_subscriptions",
            "gauge",
            "Client subscriptions held",
            |s| &s.subscriptions,
        ),
    ];
    for (name, kind, help, field) in families {
        o.family(name, kind, help);
        for (i, s) in shared.stats.iter().enumerate() {
            let id = i.to_string();
            o.sample(name, &[("reactor", &id)], field(s).load(Relaxed) as f64);
        }
    }
    o.family(
        "natrium_reactor_events_per_poll",
        "gauge",
        "Readiness events per event-loop turn since start",
    );
    for (i, s) in shared.stats.iter().enumerate() {
        let polls = s.polls.load(Relaxed);
        let v = if polls == 0 {
            0.0
        } else {
            s.events.load(Relaxed) as f64 / polls as f64
        };
        o.sample(
            "natrium_reactor_events_per_poll",
            &[("reactor", &i.to_string())],
            v,
        );
    }
    o.gauge(
        "natrium_reactors",
        "Reactor threads",
        shared.stats.len() as f64,
    );
}
