//! Leaf connections over WebSocket (issue 17), in every pairing with nats-server: `ws://`
//! remotes to a hub's `websocket {}` listener (which makes a leaf connection of the
//! `/leafnode` path), with masked and unmasked (`ws_no_masking`) frames, and `wss://` with
//! the hub's certificate checked against the remote's `ca_file`.

use std::time::Duration;

use crate::harness::free_port;
use crate::leaf::{both_ways, pairings, server, spoke, wait_leafs, ACCOUNTS};
use crate::monitor::get_json;
use crate::tls::Certs;

/// A hub with accounts A and B, `ws` as its `websocket {}` block, and a leaf listener
/// (which nats-server requires for WebSocket leafs too) with the leaf user of account A.
fn ws_hub(bin: &std::path::Path, leaf_port: u16, ws: &str) -> crate::cluster::Node {
    server(
        bin,
        "HUB",
        &format!(
            "{ACCOUNTS}websocket {{ {ws} }}\nleafnodes {{\n  listen: 127.0.0.1:{leaf_port}\n  \
             authorization {{ users [ {{user: leaf, password: s3cret, account: A}} ] }}\n}}\n"
        ),
    )
}

#[test]
fn leaf_connections_run_over_websocket_in_every_pairing() {
    let certs = Certs::new("leaf-ws");
    let wss_hub = format!(
        "tls {{ cert_file: \"{}\", key_file: \"{}\" }}",
        certs.path("server.pem"),
        certs.path("server-key.pem")
    );
    let ca = format!("tls {{ ca_file: \"{}\" }}", certs.path("ca.pem"));
    for (hub_bin, spoke_bin, what) in pairings() {
        for (scheme, hub_tls, remote_extra) in [
            ("ws", "no_tls: true", ""),
            ("ws", "no_tls: true", ", ws_no_masking: true"),
            ("wss", wss_hub.as_str(), &format!(", {ca}")),
        ] {
            let (lp, wp) = (free_port(), free_port());
            let h = ws_hub(
                &hub_bin,
                lp,
                &format!("listen: \"127.0.0.1:{wp}\", {hub_tls}"),
            );
            let host = if scheme == "wss" {
                "localhost"
            } else {
                "127.0.0.1"
            };
            let s = spoke(
                &spoke_bin,
                "SPOKE",
                &format!("url: \"{scheme}://leaf:s3cret@{host}:{wp}\", account: A{remote_extra}"),
            );
            let case = format!("{what}, {scheme}{remote_extra}");
            wait_leafs(&h, 1, Duration::from_secs(10));
            wait_leafs(&s, 1, Duration::from_secs(10));
            crate::harness::rt().block_on(both_ways(&s, &h));
            let leafz = get_json(h.monitor(), "/leafz");
            assert_eq!(leafz["leafs"][0]["account"], "A", "{case}: {leafz}");
            assert_eq!(leafz["leafs"][0]["name"], "SPOKE", "{case}: {leafz}");
        }
    }
}
