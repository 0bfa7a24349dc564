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
            .args(["build", "--release", "--target", TARGET])
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
        let responder = async_nats::connect(&url).await.expect("connect");
        let mut service = responder.subscribe("svc.echo").await.unwrap();
        // The other connection's request must not overtake the SUB.
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
