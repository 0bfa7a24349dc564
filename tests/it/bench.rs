//! `natrium-bench`, the load generator behind `natrium bench`: its quickest suite against a
//! real natrium completes, loses nothing and prints the JSON that `make bench` and scripts
//! rely on.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::harness::Natrium;

#[test]
fn quick_suite_runs_and_prints_json() {
    let server = Natrium::start(&[]);
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_natrium-bench"))
        .args(["all", "--quick", "--json", "--time", "2", "--conns", "100"])
        .args([
            "--server",
            &server.url(),
            "--pid",
            &server.pid().to_string(),
        ])
        .output()
        .expect("run natrium-bench");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "natrium-bench failed: {stderr}\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(started.elapsed() < Duration::from_secs(30));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    assert_eq!(doc["tool"], "natrium-bench");
    assert_eq!(doc["server_pid"], server.pid());
    let results = doc["results"].as_array().expect("results array");
    let names: Vec<&str> = results.iter().filter_map(|r| r["name"].as_str()).collect();
    assert_eq!(
        names,
        [
            "pub_16",
            "pubsub_16",
            "pubsub_16384",
            "fanout4_16",
            "queue4_16",
            "reqrep_128",
            "conn_t1",
            "conn_t4",
            "idle"
        ]
    );
    for r in results {
        for key in [
            "scenario",
            "sent",
            "received",
            "expected",
            "wall_secs",
            "rate",
            "mb_per_sec",
            "gen_cpu_secs",
            "gen_cpu_pct",
            "gen_busiest_thread_pct",
            "server_cpu_secs",
            "errors",
            "ok",
        ] {
            assert!(r.get(key).is_some(), "{} lacks {key}: {r}", r["name"]);
        }
        assert_eq!(r["ok"], true, "{r}");
        assert!(r["rate"].as_f64().unwrap_or(0.0) > 0.0, "{r}");
    }
    let by = |name: &str| results.iter().find(|r| r["name"] == name).unwrap();
    // Nothing lost: every subscriber got every message.
    assert_eq!(by("pubsub_16")["received"], by("pubsub_16")["sent"]);
    assert_eq!(by("queue4_16")["received"], by("queue4_16")["sent"]);
    assert_eq!(
        by("fanout4_16")["received"].as_u64(),
        by("fanout4_16")["sent"].as_u64().map(|n| n * 4)
    );
    let lat = &by("reqrep_128")["latency"];
    for key in ["p50_us", "p99_us", "p999_us"] {
        assert!(lat[key].as_f64().unwrap_or(0.0) > 0.0, "{lat}");
    }
    let idle = &by("idle")["idle"];
    assert_eq!(idle["conns_open"], 100);
    assert!(idle["rss_after_kib"].as_u64().unwrap_or(0) > 0, "{idle}");
}

#[test]
fn natrium_bench_subcommand_runs_the_generator() {
    // `natrium bench --help` execs natrium-bench from the same directory.
    let out = Command::new(env!("CARGO_BIN_EXE_natrium"))
        .args(["bench", "--help"])
        .output()
        .expect("run natrium bench");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("natrium-bench"), "{text}");
    assert!(text.contains("--server"), "{text}");
    // Its exit status comes back: an unknown scenario is a usage error (2).
    let out = Command::new(env!("CARGO_BIN_EXE_natrium"))
        .args(["bench", "no-such-scenario"])
        .output()
        .expect("run natrium bench");
    assert_eq!(out.status.code(), Some(2));
}

/// The many-client scenarios (`compare --only crowd`) against a real natrium: every
/// subscriber hears every publisher's whole stream, in order, and every request is
/// answered.
#[test]
fn many_client_scenarios_lose_nothing() {
    let server = Natrium::start(&[]);
    for (scenario, pubs, subs, delivered_per_msg) in [
        ("m2m", 8, 8, 1),
        ("fanin", 8, 1, 1),
        ("fanout-wide", 1, 8, 8),
        ("reqrep-many", 8, 2, 1),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_natrium-bench"))
            .args([scenario, "--json", "--time", "5", "-n", "4000"])
            .args(["--pubs", &pubs.to_string(), "--subs", &subs.to_string()])
            .args(["--server", &server.url()])
            .output()
            .expect("run natrium-bench");
        assert!(
            out.status.success(),
            "{scenario}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
        let r = &doc["results"][0];
        assert_eq!(r["ok"], true, "{scenario}: {r}");
        assert_eq!(r["sent"], 4000, "{scenario}: {r}");
        assert_eq!(
            r["received"].as_u64(),
            Some(4000 * delivered_per_msg),
            "{scenario}: {r}"
        );
        assert_eq!(r["publishers"], pubs, "{scenario}: {r}");
        assert_eq!(r["subscribers"], subs, "{scenario}: {r}");
    }
}
