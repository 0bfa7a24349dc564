//! `natrium-bench`: the load generator behind `natrium bench` and `make bench`.
//!
//! ```text
//!  main ─► cli (options, suite) ─► scenario::{flow, reqrep, conns} ─► report (table/JSON)
//!                                └► compare (spawns natrium + nats-server, rounds, medians)
//!                                     ├► multi (cluster and leaf groups, their rows)
//!                                     │   └► topology (processes, configs, readiness)
//!                                     ├► jetstream (file streams, acks, RSS, consumers, KV;
//!                                     │   scenario::{jspub, jsconsume, kvget})
//!                                     └► mqtt (natrium, nats-server, mosquitto over MQTT;
//!                                         scenario::mqtt: pub→sub, idle, wire)
//!  per connection: client (handshake) + frames (counting reader) ; hist ; procfs (CPU, RSS)
//! ```
//!
//! It speaks the raw NATS protocol (and, for the MQTT scenarios, MQTT 3.1.1) over blocking
//! sockets with plain threads: one thread per publisher or subscriber connection, large
//! batched writes and large reads, so that on a small machine most CPU goes to the server
//! under test. It lives in its own binary so that
//! none of it is linked into the server.

#![allow(clippy::print_stdout, clippy::print_stderr)]

mod cli;
mod client;
mod compare;
mod crowd;
mod frames;
mod hist;
mod jetstream;
mod mqtt;
mod multi;
mod procfs;
mod progress;
mod report;
mod scenario;
mod topology;

use std::io::Write;
use std::process::ExitCode;

use serde::Serialize;

use crate::cli::Cmd;
use crate::scenario::{Ctx, Outcome};

/// The JSON document of `natrium-bench <scenario> --json`.
#[derive(Serialize)]
struct RunReport<'a> {
    tool: &'static str,
    version: &'static str,
    server: &'a str,
    server_pid: Option<u32>,
    /// The other servers' pids (`--pid` given more than once).
    #[serde(skip_serializing_if = "<[u32]>::is_empty")]
    more_server_pids: &'a [u32],
    /// Where subscribers and responders connected (`--sub-server`), if not `server`.
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    sub_servers: &'a [String],
    time_bound_secs: f64,
    results: &'a [Outcome],
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let cmd = match cli::parse(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("natrium-bench: {e}\nRun 'natrium-bench --help' for the options.");
            return ExitCode::from(2);
        }
    };
    match cmd {
        Cmd::Help => {
            let _ = std::io::stdout().write_all(cli::USAGE.as_bytes());
            ExitCode::SUCCESS
        }
        Cmd::Compare(opts) => match compare::run(&opts) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("natrium-bench compare: {e}");
                ExitCode::from(1)
            }
        },
        Cmd::Run { specs, opts } => {
            if let Some(user) = &opts.user {
                client::use_credentials(user, opts.pass.as_deref().unwrap_or_default());
            }
            if opts.tls {
                let Some(ca) = &opts.tls_ca else {
                    eprintln!("natrium-bench: --tls needs --tls-ca FILE (the CA to trust)");
                    return ExitCode::from(2);
                };
                if let Err(e) = client::use_tls(ca) {
                    eprintln!("natrium-bench: {e}");
                    return ExitCode::from(1);
                }
            }
            let addr = match client::resolve(&opts.server) {
                Ok(a) => a,
                Err(e) => {
                    eprintln!("natrium-bench: {e}");
                    return ExitCode::from(1);
                }
            };
            let mut ctx = Ctx::single(addr, opts.pid, opts.time());
            ctx.more_pids.clone_from(&opts.more_pids);
            for url in &opts.sub_servers {
                match client::resolve(url) {
                    Ok(a) => ctx.sub_addrs.push(a),
                    Err(e) => {
                        eprintln!("natrium-bench: {e}");
                        return ExitCode::from(1);
                    }
                }
            }
            let outcomes: Vec<Outcome> = specs.iter().map(|s| s.run(&mut ctx)).collect();
            let text = if opts.json {
                let doc = RunReport {
                    tool: "natrium-bench",
                    version: env!("CARGO_PKG_VERSION"),
                    server: &opts.server,
                    server_pid: opts.pid,
                    more_server_pids: &opts.more_pids,
                    sub_servers: &opts.sub_servers,
                    time_bound_secs: ctx.time.as_secs_f64(),
                    results: &outcomes,
                };
                match serde_json::to_string_pretty(&doc) {
                    Ok(s) => s + "\n",
                    Err(e) => {
                        eprintln!("natrium-bench: cannot encode JSON: {e}");
                        return ExitCode::from(1);
                    }
                }
            } else {
                report::outcomes_table(&outcomes)
            };
            let _ = std::io::stdout().write_all(text.as_bytes());
            if outcomes.iter().all(|o| o.ok) {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
    }
}
