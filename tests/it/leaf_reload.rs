//! Reloading `leafnodes {}` (SIGHUP) as nats-server does: a remote disabled, enabled again,
//! removed and another added, each applied at once; the leaf listener's certificate
//! replaced for the leaves that connect next; and a change nats-server cannot reload
//! refused with the running configuration kept.

use std::time::Duration;

use crate::cluster::Node;
use crate::harness::{free_port, natrium_bin, nats_server_bin};
use crate::leaf::{both_ways, conf_text, hub, leaf_count, server, wait_leafs, ACCOUNTS};
use crate::tls::Certs;

const LEAF_USER: &str = "authorization { users [ {user: leaf, password: s3cret, account: A} ] }";

/// The leaf's configuration after the common settings, with `remotes` as the inside of its
/// `remotes [...]`.
fn spoke_body(remotes: &str) -> String {
    format!("{ACCOUNTS}leafnodes {{\n  remotes [ {remotes} ]\n}}\n")
}

fn remote(port: u16, extra: &str) -> String {
    format!("{{ url: \"nats://leaf:s3cret@127.0.0.1:{port}\", account: A {extra} }}")
}

/// Rewrites `node`'s configuration file with `body` and sends SIGHUP.
fn reload(node: &Node, body: &str) {
    node.dir().write("leaf.conf", &conf_text(&node.name, body));
    node.proc.signal("HUP");
}

#[test]
fn remotes_are_disabled_enabled_removed_and_added_by_a_reload() {
    let nats = nats_server_bin().expect("nats-server (make deps)");
    let (p1, p2) = (free_port(), free_port());
    let h1 = hub(&nats, "H1", p1, LEAF_USER);
    let h2 = hub(&natrium_bin(), "H2", p2, LEAF_USER);
    let s = server(&natrium_bin(), "SPOKE", &spoke_body(&remote(p1, "")));
    wait_leafs(&h1, 1, Duration::from_secs(10));

    reload(&s, &spoke_body(&remote(p1, ", disabled: true")));
    wait_leafs(&h1, 0, Duration::from_secs(10));
    assert!(s
        .proc
        .wait_log("Disabled value is: true", Duration::from_secs(5)));
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(leaf_count(&h1), 0, "a disabled remote is not dialled again");

    reload(&s, &spoke_body(&remote(p1, "")));
    wait_leafs(&h1, 1, Duration::from_secs(10));

    reload(&s, &spoke_body(&remote(p2, "")));
    wait_leafs(&h2, 1, Duration::from_secs(10));
    wait_leafs(&h1, 0, Duration::from_secs(10));
    assert!(s.proc.wait_log("removed", Duration::from_secs(5)));
    crate::harness::rt().block_on(both_ways(&s, &h2));

    // Not reloadable, in nats-server either: a remote's deny lists.
    reload(&s, &spoke_body(&remote(p2, ", deny_exports: [\"x.>\"]")));
    assert!(
        s.proc.wait_log(
            "config reload not supported for LeafNode",
            Duration::from_secs(5)
        ),
        "{}",
        s.proc.log_text()
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(leaf_count(&h2), 1, "the running configuration stays");
}

#[test]
fn a_reload_replaces_the_leaf_listeners_certificate() {
    let (old, new) = (Certs::new("leaf-reload-old"), Certs::new("leaf-reload-new"));
    let tls = |c: &Certs| {
        format!(
            "{LEAF_USER}\n  tls {{ cert_file: \"{}\", key_file: \"{}\" }}",
            c.path("server.pem"),
            c.path("server-key.pem")
        )
    };
    let lp = free_port();
    let h = hub(&natrium_bin(), "HUB", lp, &tls(&old));
    let dial = |c: &Certs, name: &str| {
        server(
            &natrium_bin(),
            name,
            &format!(
                "{ACCOUNTS}leafnodes {{ remotes [ {{ url: \"nats://leaf:s3cret@localhost:{lp}\", \
                 account: A, tls {{ ca_file: \"{}\" }} }} ] }}\n",
                c.path("ca.pem")
            ),
        )
    };
    let first = dial(&old, "FIRST");
    wait_leafs(&h, 1, Duration::from_secs(10));
    let body = format!(
        "{ACCOUNTS}leafnodes {{\n  listen: 127.0.0.1:{lp}\n  {}\n}}\n",
        tls(&new)
    );
    reload(&h, &body);
    assert!(
        h.proc.wait_log("Reloaded", Duration::from_secs(5)),
        "{}",
        h.proc.log_text()
    );
    // A leaf that trusts only the new CA connects now; the one connected before stays.
    let second = dial(&new, "SECOND");
    wait_leafs(&h, 2, Duration::from_secs(10));
    assert_eq!(leaf_count(&first), 1);
    assert_eq!(leaf_count(&second), 1);
}
