//! Official clients in other languages against natrium: the tutorial's Node.js example with
//! the `nats` npm package, and nats-py. `make deps` installs both (tests/node, tests/python).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{root, Natrium};

fn node_dir() -> std::path::PathBuf {
    let dir = root().join("tests/node");
    assert!(
        dir.join("node_modules/nats").exists(),
        "tests/node/node_modules is missing: run `make deps` (npm ci in tests/node)"
    );
    dir
}

#[test]
fn node_tutorial_publisher_and_subscriber() {
    let srv = Natrium::start(&[]);
    let dir = node_dir();
    let mut sub = Command::new("node")
        .arg("subscriber.js")
        .current_dir(&dir)
        .env("NATS_URL", srv.url())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("node");
    let stdout = sub.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let first = rx
        .recv_timeout(Duration::from_secs(15))
        .expect("subscriber started");
    assert_eq!(first, "Subscribed to order_updates");

    let out = Command::new("node")
        .arg("publisher.js")
        .current_dir(&dir)
        .env("NATS_URL", srv.url())
        .output()
        .expect("node publisher");
    assert!(
        out.status.success(),
        "publisher failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "Published order update"
    );

    let deadline = Instant::now() + Duration::from_secs(10);
    let mut got = None;
    while Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(100)) {
            got = Some(line);
            break;
        }
    }
    let _ = sub.kill();
    let _ = sub.wait();
    assert_eq!(
        got.as_deref(),
        Some(r#"Received order update: {"id":1,"item":"Laptop","quantity":1}"#)
    );
}

#[test]
fn nats_py_connect_publish_subscribe_request() {
    let srv = Natrium::start(&[]);
    let out = Command::new("python3")
        .arg(root().join("tests/python/basic.py"))
        .arg(srv.url())
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "nats-py test failed (run `make deps` to install nats-py):\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "OK");
}
