//! Server processes for `compare`: one server ([`ServerProc`]), and systems of several
//! ([`System`]): a cluster of 2 or 3 nodes joined by routes, or a hub with one leaf node.
//!
//! ```text
//!  cluster:  node 0 ◄─route─ node 1 ◄─route─ node 2      (node i lists routes to nodes < i)
//!            └─────────────route──────────────┘
//!  hub/leaf: hub (leafnodes { listen }) ◄─leaf─ leaf (leafnodes { remotes [ { url } ] })
//! ```
//!
//! Every process gets a config file in the output directory (`server_name`, `http` for the
//! monitor, the `cluster` or `leafnodes` block) plus `-a 127.0.0.1 -p -1` for its client
//! port, which is read from its log as for a single server. Cluster, leaf and monitor ports
//! are free ports found by binding 127.0.0.1:0 first. A system is ready when every node's
//! `/routez` lists a route to every other node (distinct `remote_id`s; nats-server pools
//! 3 connections per peer by default), or both sides' `/leafz` count one leaf connection.
//! That proves the links, not that interest has crossed them: the scenarios' warm-up does.
//! A process may run under a wrapper (`qemu-aarch64`); its pid is then the wrapper's, the
//! process whose CPU and RSS are the ones to report.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use crate::scenario::Ctx;

/// How long a process may take to report its port and readiness, and a system its links.
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// A server process we started; killed (by its pid, through `Child`) when dropped.
pub struct ServerProc {
    child: Child,
    pub addr: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
}

impl ServerProc {
    /// Starts `bin -a 127.0.0.1 -p -1 extra…` and waits until it logged its client port
    /// and "Server is ready".
    pub fn start(bin: &Path, extra: &[String]) -> Result<ServerProc, String> {
        Self::start_wrapped(None, bin, extra)
    }

    /// The same, run as `wrapper bin …` when a wrapper is given.
    pub fn start_wrapped(
        wrapper: Option<&Path>,
        bin: &Path,
        extra: &[String],
    ) -> Result<ServerProc, String> {
        let mut cmd = match wrapper {
            Some(w) => {
                let mut c = Command::new(w);
                c.arg(bin);
                c
            }
            None => Command::new(bin),
        };
        let mut child = cmd
            .args(["-a", "127.0.0.1", "-p", "-1"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        let Some(stderr) = child.stderr.take() else {
            let _ = child.kill();
            return Err("no stderr pipe".into());
        };
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let log2 = log.clone();
        // Keeps draining the log for the server's whole life, so it never blocks on it.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.split("Listening for client connections on ").nth(1) {
                    if let Some(port) = rest
                        .trim()
                        .rsplit(':')
                        .next()
                        .and_then(|p| p.parse::<u16>().ok())
                    {
                        let _ = tx.send(Some(port));
                    }
                }
                let ready = line.contains("Server is ready");
                if let Ok(mut l) = log2.lock() {
                    // Bounded: a long run must not grow the generator's memory.
                    if l.len() > 2000 {
                        l.drain(..1000);
                    }
                    l.push(line);
                }
                if ready {
                    let _ = tx.send(None);
                }
            }
        });
        let deadline = Instant::now() + START_TIMEOUT;
        let mut port = None;
        let mut ready = false;
        while !(ready && port.is_some()) {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(Some(p)) => port = Some(p),
                Ok(None) => ready = true,
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    let text = log.lock().map(|l| l.join("\n")).unwrap_or_default();
                    return Err(format!(
                        "{} did not report its port and readiness within {} s; log:\n{text}",
                        bin.display(),
                        START_TIMEOUT.as_secs()
                    ));
                }
            }
        }
        let port = port.unwrap_or(0);
        Ok(ServerProc {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            log,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn log_tail(&self) -> String {
        self.log
            .lock()
            .map(|l| l[l.len().saturating_sub(10)..].join("\n"))
            .unwrap_or_default()
    }
}

impl Drop for ServerProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One process of a system: which binary, its extra arguments, and an optional wrapper.
#[derive(Clone, Debug)]
pub struct Node {
    pub bin: PathBuf,
    pub args: Vec<String>,
    pub wrapper: Option<PathBuf>,
}

/// The shape of a system.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// Every node a member of one cluster.
    Cluster,
    /// Node 0 is the hub, node 1 its leaf node.
    HubLeaf,
}

/// Several server processes linked by routes or a leaf connection.
pub struct System {
    pub procs: Vec<ServerProc>,
    monitors: Vec<u16>,
}

/// A port nothing listens on right now (bound to 127.0.0.1:0, then released).
pub fn free_port() -> Result<u16, String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("free port: {e}"))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("free port: {e}"))
}

/// GET `path` from the monitor on `port`; the JSON body.
fn monitor_json(port: u16, path: &str) -> Result<serde_json::Value, String> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(1))
        .map_err(|e| format!("monitor {port}: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(2)))
        .map_err(|e| e.to_string())?;
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
    .map_err(|e| format!("monitor {port}: {e}"))?;
    let mut buf = Vec::new();
    // Connection: close, so the body ends where the stream does.
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .ok_or_else(|| format!("monitor {port}{path}: no HTTP response"))?;
    // Tolerate chunked framing: the JSON object is between the first '{' and the last '}'.
    let (start, end) = (body.find('{'), body.rfind('}'));
    match (start, end) {
        (Some(a), Some(b)) if a < b => {
            serde_json::from_str(&body[a..=b]).map_err(|e| format!("monitor {port}{path}: {e}"))
        }
        _ => Err(format!("monitor {port}{path}: no JSON body")),
    }
}

impl System {
    /// Starts the nodes (`Shape::HubLeaf`: exactly two, hub first) with configs written
    /// under `dir` as `<tag>-<i>.conf`, and waits until every link is up.
    pub fn start(shape: Shape, nodes: &[Node], dir: &Path, tag: &str) -> Result<System, String> {
        if shape == Shape::HubLeaf && nodes.len() != 2 {
            return Err("a hub/leaf system has two nodes".into());
        }
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let monitors: Vec<u16> = nodes
            .iter()
            .map(|_| free_port())
            .collect::<Result<_, _>>()?;
        let links: Vec<u16> = nodes
            .iter()
            .map(|_| free_port())
            .collect::<Result<_, _>>()?;
        let mut procs = Vec::with_capacity(nodes.len());
        for (i, node) in nodes.iter().enumerate() {
            let name = (b'A' + i as u8) as char;
            let mut conf = format!(
                "server_name: \"{tag}-{name}\"\nhttp: \"127.0.0.1:{}\"\n",
                monitors[i]
            );
            match shape {
                Shape::Cluster => {
                    conf.push_str(&format!(
                        "cluster {{\n  name: \"bench\"\n  listen: \"127.0.0.1:{}\"\n",
                        links[i]
                    ));
                    if i > 0 {
                        let routes: Vec<String> = links[..i]
                            .iter()
                            .map(|p| format!("\"nats://127.0.0.1:{p}\""))
                            .collect();
                        conf.push_str(&format!("  routes: [{}]\n", routes.join(", ")));
                    }
                    conf.push_str("}\n");
                }
                Shape::HubLeaf if i == 0 => conf.push_str(&format!(
                    "leafnodes {{\n  listen: \"127.0.0.1:{}\"\n}}\n",
                    links[0]
                )),
                Shape::HubLeaf => conf.push_str(&format!(
                    "leafnodes {{\n  remotes [ {{ url: \"nats://127.0.0.1:{}\" }} ]\n}}\n",
                    links[0]
                )),
            }
            let path = dir.join(format!("{tag}-{i}.conf"));
            std::fs::write(&path, conf).map_err(|e| format!("{}: {e}", path.display()))?;
            let mut args = vec!["-c".to_string(), path.to_string_lossy().into_owned()];
            args.extend(node.args.iter().cloned());
            procs.push(ServerProc::start_wrapped(
                node.wrapper.as_deref(),
                &node.bin,
                &args,
            )?);
        }
        let mut sys = System { procs, monitors };
        sys.wait_links(shape)?;
        Ok(sys)
    }

    /// Waits until every route or the leaf connection is up, per the monitors.
    fn wait_links(&mut self, shape: Shape) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        let n = self.procs.len();
        loop {
            let mut missing = Vec::new();
            for (i, &port) in self.monitors.iter().enumerate() {
                let ok = match shape {
                    Shape::Cluster => monitor_json(port, "/routez").map(|v| {
                        let peers: HashSet<String> = v["routes"]
                            .as_array()
                            .map(|r| {
                                r.iter()
                                    .filter_map(|x| x["remote_id"].as_str().map(String::from))
                                    .collect()
                            })
                            .unwrap_or_default();
                        peers.len() >= n - 1
                    }),
                    Shape::HubLeaf => {
                        monitor_json(port, "/leafz").map(|v| v["leafnodes"].as_u64() >= Some(1))
                    }
                };
                match ok {
                    Ok(true) => {}
                    Ok(false) => missing.push(format!("node {i}: links not up")),
                    Err(e) => missing.push(e),
                }
            }
            if missing.is_empty() {
                return Ok(());
            }
            if self.procs.iter_mut().any(|p| !p.alive()) {
                return Err(format!(
                    "a node exited while linking; logs:\n{}",
                    self.logs()
                ));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "links not up within {} s ({}); logs:\n{}",
                    START_TIMEOUT.as_secs(),
                    missing.join("; "),
                    self.logs()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The last lines of every node's log.
    pub fn logs(&self) -> String {
        self.procs
            .iter()
            .enumerate()
            .map(|(i, p)| format!("[node {i}]\n{}", p.log_tail()))
            .collect::<Vec<_>>()
            .join("\n")
    }

    pub fn all_alive(&mut self) -> bool {
        self.procs.iter_mut().all(|p| p.alive())
    }

    pub fn pid(&self, node: usize) -> Option<u32> {
        self.procs.get(node).map(ServerProc::pid)
    }

    /// A scenario context: publishers (requesters) on node `pub_node`, subscribers
    /// (members, responders) on `sub_nodes` in turn; server CPU summed over every node.
    pub fn ctx(&self, pub_node: usize, sub_nodes: &[usize], time: Duration) -> Ctx {
        let addr = self.procs[pub_node].addr;
        let mut ctx = Ctx::single(addr, Some(self.procs[pub_node].pid()), time);
        ctx.sub_addrs = sub_nodes.iter().map(|&i| self.procs[i].addr).collect();
        ctx.more_pids = (0..self.procs.len())
            .filter(|&i| i != pub_node)
            .map(|i| self.procs[i].pid())
            .collect();
        ctx
    }
}
