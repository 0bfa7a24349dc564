//! The edge build: natrium cross-compiled for aarch64 (static, musl) runs under qemu-user
//! and exchanges messages with clients on this host.
//!
//! `make test` installs what this needs (`make cross-deps`: the rustup target and Debian's
//! qemu-user) and builds the binary first (`make cross-test-bin`: the release binary that
//! `make cross` ships); run alone, the test builds it itself. The release cross build costs
//! about a minute of CPU (fat LTO, one codegen unit), no more than a debug build of the same
//! crate graph, so CI tests the real artifact.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use futures::StreamExt;

use crate::harness::{root, rt, spawn, sync};

const TARGET: &str = "aarch64-unknown-linux-musl";

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| PathBuf::from(d).join(name))
        .find(|p| p.is_file())
}

/// The aarch64 binary: `$NATRIUM_AARCH64_BIN`, else the release build (made if missing).
fn aarch64_binary() -> PathBuf {
    if let Ok(p) = std::env::var("NATRIUM_AARCH64_BIN") {
        return PathBuf::from(p);
    }
    let built = root().join("target").join(TARGET).join("release/natrium");
    if built.exists() {
        return built;
    }
    // A separate target dir, so that this nested build never waits on the outer cargo's lock.
    let target_dir = root().join("target/cross");
    let bin = target_dir.join(TARGET).join("release/natrium");
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .current_dir(root())
            .args(["build", "--release", "--target", TARGET, "--bin", "natrium"])
            .env("CARGO_TARGET_DIR", &target_dir)
            .status()
            .expect("run cargo");
        assert!(
            status.success(),
            "cross build failed: run `make cross-deps` (rustup target add {TARGET})"
        );
    }
    bin
}

#[test]
fn aarch64_binary_under_qemu_serves_clients() {
    let qemu = which("qemu-aarch64")
        .expect("qemu-aarch64 is missing: run `make deps` (Debian package qemu-user)");
    let bin = aarch64_binary();
    let out = Command::new(&qemu)
        .arg(&bin)
        .arg("--version")
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("natrium: v"),
        "{out:?}"
    );
    let bin_s = bin.to_str().unwrap();
    let srv = spawn(
        &qemu,
        &[bin_s, "-a", "127.0.0.1", "-p", "-1", "--reactors", "1"],
    );
    let url = srv.url();
    rt().block_on(async move {
        let client = async_nats::connect(&url).await.expect("connect");
        // Pub/sub round trip.
        let mut sub = client.subscribe("edge.>").await.unwrap();
        client.flush().await.unwrap();
        for i in 0..100u32 {
            client
                .publish(format!("edge.{i}"), i.to_string().into())
                .await
                .unwrap();
        }
        for i in 0..100u32 {
            let m = tokio::time::timeout(Duration::from_secs(10), sub.next())
                .await
                .expect("message in time")
                .expect("subscription open");
            assert_eq!(m.subject.as_str(), format!("edge.{i}"));
            assert_eq!(m.payload, i.to_string().as_bytes());
        }
        // Request/reply through a responder on a second connection.
        serve_echo(&url, "svc.echo").await;
        let resp = tokio::time::timeout(
            Duration::from_secs(10),
            client.request("svc.echo", "ping".into()),
        )
        .await
        .expect("reply in time")
        .expect("request");
        assert_eq!(&resp.payload[..], b"echo:ping");
    });
    assert!(srv.rss_kib() > 0);
}

/// Polls the device's `/leafz` until it reports `count` leaf connections.
fn wait_device_leafs(device: &crate::harness::Proc, count: u64, within: Duration) {
    let port = device.monitor_port.expect("device started with http");
    let deadline = std::time::Instant::now() + within;
    loop {
        let now = crate::monitor::get_json(port, "/leafz")["leafnodes"].as_u64();
        if now == Some(count) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the device has {now:?} leaf connections, not {count}:\n{}",
            device.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Issue 17, acceptance 2, the edge scenario: the aarch64 build under qemu-user is a leaf of
/// an x86 nats-server hub. A device subscriber gets what a cloud publisher sends and a device
/// service answers cloud requests; with the hub killed, device-local pub/sub goes on with no
/// error; with the hub back, the leaf reconnects by itself (nothing on the device restarted)
/// and cloud requests reach the device again.
#[test]
fn aarch64_leaf_serves_the_device_while_its_hub_is_away() {
    use crate::cluster::{next, ready};
    use crate::harness::{free_port, nats_server_bin, TempDir};

    let qemu = which("qemu-aarch64")
        .expect("qemu-aarch64 is missing: run `make deps` (Debian package qemu-user)");
    let nats = nats_server_bin().expect("nats-server (make deps)");
    let bin = aarch64_binary();
    let dir = TempDir::new("edge");
    let (hub_port, leaf_port) = (free_port(), free_port());
    let hub_conf = dir.write(
        "hub.conf",
        &format!(
            "server_name: CLOUD\nhost: 127.0.0.1\nport: {hub_port}\n\
             leafnodes {{ listen: 127.0.0.1:{leaf_port} }}\n"
        ),
    );
    let device_conf = dir.write(
        "device.conf",
        &format!(
            "server_name: DEVICE\nhost: 127.0.0.1\nport: -1\nhttp: 127.0.0.1:-1\n\
             leafnodes {{ remotes [ {{ url: \"nats://127.0.0.1:{leaf_port}\" }} ] }}\n"
        ),
    );
    let start_hub = || spawn(&nats, &["-c", hub_conf.to_str().unwrap()]);
    let mut hub = start_hub();
    let device = spawn(
        &qemu,
        &[bin.to_str().unwrap(), "-c", device_conf.to_str().unwrap()],
    );
    wait_device_leafs(&device, 1, Duration::from_secs(20));

    let (cloud_url, device_url) = (hub.url(), device.url());
    let runtime = rt();
    let (device_sub_client, mut telemetry) = runtime.block_on(async {
        let cloud = async_nats::connect(&cloud_url)
            .await
            .expect("connect cloud");
        let on_device = async_nats::connect(&device_url)
            .await
            .expect("connect device");
        let mut telemetry = on_device.subscribe("cmd.device").await.unwrap();
        ready(&on_device, &cloud).await;
        for i in 0..100u32 {
            cloud
                .publish("cmd.device", i.to_string().into())
                .await
                .unwrap();
        }
        cloud.flush().await.unwrap();
        for i in 0..100u32 {
            assert_eq!(next(&mut telemetry).await.payload, i.to_string().as_bytes());
        }
        serve_echo(&device_url, "device.svc").await;
        assert_eq!(
            request_until_answered(&cloud, "device.svc").await,
            "echo:ping"
        );
        (on_device, telemetry)
    });

    // The hub goes away without a word.
    hub.signal("KILL");
    assert!(hub.wait_exit(Duration::from_secs(5)).is_some());
    wait_device_leafs(&device, 0, Duration::from_secs(10));
    runtime.block_on(async {
        let publisher = async_nats::connect(&device_url)
            .await
            .expect("connect device");
        let mut local = device_sub_client.subscribe("local.>").await.unwrap();
        crate::harness::sync(&device_sub_client).await;
        for i in 0..100u32 {
            publisher
                .publish(format!("local.{i}"), i.to_string().into())
                .await
                .expect("device-local publish while the hub is down");
        }
        publisher.flush().await.unwrap();
        for i in 0..100u32 {
            let m = next(&mut local).await;
            assert_eq!(m.subject.as_str(), format!("local.{i}"));
        }
        assert_eq!(
            device_sub_client.connection_state(),
            async_nats::connection::State::Connected
        );
    });

    // The hub comes back on the same ports; the leaf finds it by itself.
    let hub = start_hub();
    wait_device_leafs(&device, 1, Duration::from_secs(20));
    let cloud_url = hub.url();
    runtime.block_on(async {
        let cloud = async_nats::connect(&cloud_url)
            .await
            .expect("connect cloud");
        assert_eq!(
            request_until_answered(&cloud, "device.svc").await,
            "echo:ping"
        );
        ready(&device_sub_client, &cloud).await;
        cloud.publish("cmd.device", "again".into()).await.unwrap();
        cloud.flush().await.unwrap();
        assert_eq!(&next(&mut telemetry).await.payload[..], b"again");
    });
    assert!(device.rss_kib() > 0);
}

/// A responder on its own connection to `url` answering `subject` with `echo:` + request.
async fn serve_echo(url: &str, subject: &str) {
    let responder = async_nats::connect(url).await.expect("connect responder");
    let mut service = responder.subscribe(subject.to_string()).await.unwrap();
    sync(&responder).await;
    tokio::spawn(async move {
        while let Some(req) = service.next().await {
            if let Some(reply) = req.reply {
                let mut body = b"echo:".to_vec();
                body.extend_from_slice(&req.payload);
                let _ = responder.publish(reply, body.into()).await;
            }
        }
    });
}

/// Requests `ping` on `subject` until a responder answers (interest crosses the leaf
/// connection asynchronously); returns the answer.
async fn request_until_answered(client: &async_nats::Client, subject: &str) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let attempt = tokio::time::timeout(
            Duration::from_secs(2),
            client.request(subject.to_string(), "ping".into()),
        )
        .await;
        if let Ok(Ok(answer)) = attempt {
            return String::from_utf8_lossy(&answer.payload).into_owned();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no answer to {subject}: {attempt:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
