//! `mqtt-idle`: memory per idle MQTT connection.
//!
//! One connection first (CONNECT, SUBSCRIBE, DISCONNECT) so that what a broker sets up
//! once, on its first MQTT client (nats-server creates its MQTT streams then), is not
//! counted per connection; then, after a second, the broker's VmRSS; then `conns`
//! connections from `threads` threads, each with its own client id (clean session,
//! keep-alive 0) and one subscription (`<prefix>/<i>`, QoS 0), each CONNACK and SUBACK
//! awaited. After [`SETTLE`], VmRSS again: (after − before) / connections is the figure.
//! Every connection is then checked to be still open (a broker that dropped some would
//! make the figure meaningless). Needs the broker's pid; raises the generator's own
//! open-file limit first.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use super::wire::Client;
use crate::procfs;
use crate::scenario::conns::{hold_idle, idle_figures, idle_target};
use crate::scenario::{Ctx, Outcome};

/// How long the broker gets to settle before its RSS is read after the first connection
/// (`hold_idle` settles as long after the last).
const SETTLE: Duration = Duration::from_millis(1500);
/// The read buffer of a connection while it waits for CONNACK and SUBACK.
const HANDSHAKE_BUFFER: usize = 64;

#[derive(Clone, Debug)]
pub struct MqttIdleSpec {
    pub conns: u64,
    pub threads: usize,
    /// Connection `i` subscribes to `<prefix>/<i>`.
    pub prefix: String,
}

/// One connection: CONNECT, CONNACK, SUBSCRIBE, SUBACK; the socket.
fn open(addr: SocketAddr, id: &str, filter: &str) -> Result<TcpStream, String> {
    let mut c = Client::connect(addr, id, 0, HANDSHAKE_BUFFER)?;
    c.subscribe(1, filter, 0)?;
    Ok(c.stream)
}

/// How many of `streams` the broker has closed (or that fail to read).
fn closed(streams: &mut [TcpStream]) -> u64 {
    let mut n = 0;
    let mut buf = [0u8; 64];
    for s in streams {
        if s.set_nonblocking(true).is_err() {
            n += 1;
            continue;
        }
        match s.read(&mut buf) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            // Nothing is due on an idle connection with keep-alive 0: data, EOF or an
            // error all mean it is not idle and open any more.
            _ => n += 1,
        }
    }
    n
}

pub fn run(spec: &MqttIdleSpec, ctx: &mut Ctx) -> Result<Outcome, String> {
    let mut out = Outcome {
        name: "mqtt_idle".into(),
        scenario: "mqtt-idle".into(),
        ..Default::default()
    };
    let want = idle_target(spec.conns, &mut out);
    let pid = std::process::id();
    let addr = ctx.addr;
    let mut first = open(
        addr,
        &format!("natrium-bench-idle-{pid}-first"),
        &format!("{}/first", spec.prefix),
    )
    .map_err(|e| format!("first connection: {e}"))?;
    let _ = first.write_all(&super::wire::DISCONNECT_PACKET);
    drop(first);
    ctx.progress.note("MQTT idle connections: settling");
    std::thread::sleep(SETTLE);
    let rss_before = ctx.pid.and_then(procfs::rss_kib);
    // Each worker keeps its sockets; the read buffers are dropped right away.
    let what = "MQTT idle connections";
    let mut streams = hold_idle(ctx, &mut out, what, "broker", want, spec.threads, |i| {
        let id = format!("natrium-bench-idle-{pid}-{i}");
        open(addr, &id, &format!("{}/{i}", spec.prefix)).map_err(|e| format!("connection {i}: {e}"))
    });
    let n = streams.len() as u64;
    idle_figures(&mut out, spec.conns, n, rss_before, ctx);
    let gone = closed(&mut streams);
    if gone > 0 {
        out.errors.push(format!(
            "{gone} of the {n} connections were closed by the broker (or had data) after \
             SUBACK"
        ));
    }
    drop(streams);
    out.ok = out.errors.is_empty();
    Ok(out)
}
