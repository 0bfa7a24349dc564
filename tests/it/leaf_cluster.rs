//! A leaf of a hub *cluster* (issue 17): the leaf dials one hub, learns the other hubs' leaf
//! URLs from the hub's INFO — including the INFO a hub sends its leaf connections when a
//! server with a leaf listener joins its cluster later — and fails over to another hub when
//! its own goes away. Natrium and nats-server as hubs and as the leaf.

use std::path::Path;
use std::time::Duration;

use crate::cluster::{wait_mesh, Node};
use crate::harness::{free_port, natrium_bin, nats_server_bin};
use crate::leaf::{both_ways, leaf_count, server, spoke, wait_leafs, ACCOUNTS};

/// Hub `name` of cluster `hubs` on `cluster_port`, routing to `seed`, with its leaf listener
/// on `leaf_port` taking the leaf user of account A.
fn hub_member(
    bin: &Path,
    name: &str,
    cluster_port: u16,
    seed: Option<u16>,
    leaf_port: u16,
) -> Node {
    let routes = seed.map_or(String::new(), |p| {
        format!("routes: [\"nats-route://127.0.0.1:{p}\"]")
    });
    server(
        bin,
        name,
        &format!(
            "{ACCOUNTS}cluster {{ name: hubs, listen: 127.0.0.1:{cluster_port}, {routes} }}\n\
             leafnodes {{ listen: 127.0.0.1:{leaf_port}, \
             authorization {{ users [ {{user: leaf, password: s3cret, account: A}} ] }} }}\n"
        ),
    )
}

#[test]
fn a_leaf_learns_a_hub_that_joins_later_and_fails_over_to_it() {
    let nats = nats_server_bin().expect("nats-server (make deps)");
    let cases = [
        (
            natrium_bin(),
            nats.clone(),
            "nats-server leaf of a natrium hub cluster",
        ),
        (
            natrium_bin(),
            natrium_bin(),
            "natrium leaf of a natrium hub cluster",
        ),
        (
            nats.clone(),
            natrium_bin(),
            "natrium leaf of a nats-server hub cluster",
        ),
    ];
    for (hub_bin, leaf_bin, what) in cases {
        let (c1, c2, l1, l2) = (free_port(), free_port(), free_port(), free_port());
        let h1 = hub_member(&hub_bin, "H1", c1, None, l1);
        let s = spoke(
            &leaf_bin,
            "SPOKE",
            &format!("url: \"nats://leaf:s3cret@127.0.0.1:{l1}\", account: A"),
        );
        wait_leafs(&h1, 1, Duration::from_secs(10));
        // H2 joins after the leaf connected: the leaf hears of it only through H1's update.
        let h2 = hub_member(&hub_bin, "H2", c2, Some(c1), l2);
        wait_mesh(&[&h1, &h2], 1);
        std::thread::sleep(Duration::from_millis(500));
        drop(h1);
        wait_leafs(&h2, 1, Duration::from_secs(15));
        wait_leafs(&s, 1, Duration::from_secs(5));
        crate::harness::rt().block_on(both_ways(&s, &h2));
        assert_eq!(leaf_count(&h2), 1, "{what}: one leaf connection, to H2");
    }
}
