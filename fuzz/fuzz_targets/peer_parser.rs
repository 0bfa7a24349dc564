//! The route and leaf-node parser (`proto::peer`): arbitrary bytes never panic, every
//! complete op consumes at least one byte and no more than it was given, and feeding the
//! same bytes in chunks (keep what was not consumed, append the next read) yields the same
//! ops and the same end as the unsplit parse.
//!
//! Input: byte 0 chooses the kind (bit 0: leaf), whether CONNECT is awaited (bit 1), whether
//! the route is pinned (bit 2), lnocu (bit 3) and headers (bit 4); byte 1 is a chunk length
//! for the split run (0: one byte at a time); the rest is the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use natrium::proto::parser::Limits;
use natrium::proto::peer::{OwnedPeerOp, PeerKind, PeerParser, PeerStatus};

fn parser(cfg: u8) -> PeerParser {
    let kind = if cfg & 1 != 0 {
        PeerKind::Leaf
    } else {
        PeerKind::Route
    };
    let mut p = PeerParser::new(
        kind,
        Limits {
            max_control_line: 64,
            max_payload: 256,
        },
    );
    p.set_expect_connect(cfg & 2 != 0);
    if cfg & 4 != 0 {
        p.set_account_bound(Some(&b"ACC"[..]));
    }
    p.set_unsub_origin(cfg & 8 != 0);
    p.set_headers(cfg & 16 != 0);
    p
}

/// Parses `chunks` as a read loop does; the ops, and the error text or the bytes left.
fn run<'a>(cfg: u8, chunks: impl IntoIterator<Item = &'a [u8]>) -> (Vec<OwnedPeerOp>, String) {
    let mut p = parser(cfg);
    let mut held: Vec<u8> = Vec::new();
    let mut ops = Vec::new();
    for chunk in chunks {
        held.extend_from_slice(chunk);
        loop {
            match p.parse(&held) {
                Ok(PeerStatus::Complete(op, used)) => {
                    assert!(used >= 1 && used <= held.len());
                    ops.push(op.to_owned_op());
                    held.drain(..used);
                }
                Ok(PeerStatus::Incomplete) => break,
                Err(e) => return (ops, format!("error {e:?}")),
            }
        }
    }
    (ops, format!("{} bytes waiting", held.len()))
}

fuzz_target!(|data: &[u8]| {
    let [cfg, len, input @ ..] = data else {
        return;
    };
    let whole = run(*cfg, [input]);
    let size = usize::from(*len).max(1);
    let split = run(*cfg, input.chunks(size));
    assert_eq!(whole, split, "chunks of {size}");
});
