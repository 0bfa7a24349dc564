//! The interest and message lines natrium writes to routes and leaf nodes, as nats-server
//! writes them (`addRouteSubOrUnsubProtoToBuf`, `writeLeafSub`, `msgHeaderForRouteOrLeaf`).
#![forbid(unsafe_code)]
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::proto::{fmt_usize, Message};

/// What the receiving end of a route said it understands (its INFO and CONNECT), which
/// decides how interest and messages are written to it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RoutePeer {
    /// The route is pinned to one account (`route_account`): no account token.
    pub account_bound: bool,
    /// `lnoc`: leaf-origin interest goes as `LS+ <origin>`, leaf-origin messages as `LMSG`.
    pub lnoc: bool,
    /// `lnocu`: `LS-` carries the origin.
    pub lnocu: bool,
    /// `headers`: messages with headers go as `HMSG`; otherwise the headers are stripped.
    pub headers: bool,
}

/// Appends `RS+ [<acc>] <subj> [<q> <w>]`, or `LS+ <origin> …` for interest from a leaf
/// cluster when the peer has lnoc (`addRouteSubOrUnsubProtoToBuf`). `account` is left out
/// on a pinned route. nats writes no weight digits for a weight ≤ 0 (a line its own parser
/// rejects); this writes the number.
pub fn write_route_sub(
    out: &mut Vec<u8>,
    peer: &RoutePeer,
    account: &[u8],
    origin: Option<&[u8]>,
    subject: &[u8],
    queue: Option<(&[u8], i32)>,
) {
    match origin {
        Some(o) if peer.lnoc => {
            out.extend_from_slice(b"LS+ ");
            out.extend_from_slice(o);
            out.push(b' ');
        }
        _ => out.extend_from_slice(b"RS+ "),
    }
    if !peer.account_bound {
        out.extend_from_slice(account);
        out.push(b' ');
    }
    write_interest(out, subject, queue);
}

/// Appends `RS- [<acc>] <subj> [<q>]`, or for leaf-origin interest to a peer with lnoc
/// `LS- [<origin>] …` (the origin only if the peer has lnocu).
pub fn write_route_unsub(
    out: &mut Vec<u8>,
    peer: &RoutePeer,
    account: &[u8],
    origin: Option<&[u8]>,
    subject: &[u8],
    queue: Option<&[u8]>,
) {
    match origin {
        Some(o) if peer.lnoc => {
            out.extend_from_slice(b"LS- ");
            if peer.lnocu {
                out.extend_from_slice(o);
                out.push(b' ');
            }
        }
        _ => out.extend_from_slice(b"RS- "),
    }
    if !peer.account_bound {
        out.extend_from_slice(account);
        out.push(b' ');
    }
    write_unsub_tail(out, subject, queue);
}

/// Appends a leaf `LS+ <subj> [<q> <w>]` (`writeLeafSub`). nats sends `LS-` instead when
/// the count is ≤ 0; the caller decides which to send.
pub fn write_leaf_sub(out: &mut Vec<u8>, subject: &[u8], queue: Option<(&[u8], i32)>) {
    out.extend_from_slice(b"LS+ ");
    write_interest(out, subject, queue);
}

/// Appends a leaf `LS- <subj> [<q>]`.
pub fn write_leaf_unsub(out: &mut Vec<u8>, subject: &[u8], queue: Option<&[u8]>) {
    out.extend_from_slice(b"LS- ");
    write_unsub_tail(out, subject, queue);
}

fn write_unsub_tail(out: &mut Vec<u8>, subject: &[u8], queue: Option<&[u8]>) {
    out.extend_from_slice(subject);
    if let Some(q) = queue {
        out.push(b' ');
        out.extend_from_slice(q);
    }
    out.extend_from_slice(b"\r\n");
}

fn write_interest(out: &mut Vec<u8>, subject: &[u8], queue: Option<(&[u8], i32)>) {
    out.extend_from_slice(subject);
    if let Some((q, weight)) = queue {
        out.push(b' ');
        out.extend_from_slice(q);
        out.push(b' ');
        write_i32(out, weight);
    }
    out.extend_from_slice(b"\r\n");
}

fn write_i32(out: &mut Vec<u8>, n: i32) {
    if n < 0 {
        out.push(b'-');
    }
    let mut num = [0u8; 20];
    let abs = usize::try_from(n.unsigned_abs()).unwrap_or(usize::MAX);
    out.extend_from_slice(fmt_usize(&mut num, abs));
}

/// Appends one message to a route, as `msgHeaderForRouteOrLeaf` writes it:
/// - `origin` is the leaf cluster the message came from (a leaf connection with a cluster
///   name); to a peer with lnoc it goes as `LMSG <origin> [<acc>] <subj> … <hdr> <total>`,
///   whose header size is always present (`0` without headers);
/// - otherwise `HMSG [<acc>] <subj> … <hdr> <total>` when it has headers and the peer takes
///   them, else `RMSG [<acc>] <subj> … <size>`, headers stripped if the peer takes none;
/// - `queues` are the groups the receiver must serve: `+ <reply> q…` or `| q…`.
///
/// The size digits are the publisher's (`msg.size_text`, `msg.header_text`) except when
/// headers are stripped. One deviation: nats-server writes `LMSG` to a peer with lnoc but
/// without headers with the full sizes and the stripped payload (a frame that does not
/// parse); here the headers are stripped and the sizes say so (`0 <payload>`).
pub fn write_route_msg<'q>(
    out: &mut Vec<u8>,
    peer: &RoutePeer,
    account: &[u8],
    origin: Option<&[u8]>,
    msg: &Message<'_>,
    queues: impl IntoIterator<Item = &'q [u8]>,
) {
    let lmsg = origin.filter(|_| peer.lnoc);
    let has_headers = msg.header_len > 0;
    out.reserve(msg.subject.len() + msg.reply.len() + account.len() + msg.data.len() + 48);
    match lmsg {
        Some(o) => {
            out.extend_from_slice(b"LMSG ");
            out.extend_from_slice(o);
            out.push(b' ');
        }
        None if has_headers && peer.headers => out.extend_from_slice(b"HMSG "),
        None => out.extend_from_slice(b"RMSG "),
    }
    if !peer.account_bound {
        out.extend_from_slice(account);
        out.push(b' ');
    }
    write_msg_rest(out, msg, queues, peer.headers, lmsg.is_some());
}

/// Appends one message to a leaf: `LMSG <subj> … <size>`, or `HMSG <subj> … <hdr> <total>`
/// when it has headers and the leaf takes them (else they are stripped).
pub fn write_leaf_msg<'q>(
    out: &mut Vec<u8>,
    peer_headers: bool,
    msg: &Message<'_>,
    queues: impl IntoIterator<Item = &'q [u8]>,
) {
    out.reserve(msg.subject.len() + msg.reply.len() + msg.data.len() + 40);
    if msg.header_len > 0 && peer_headers {
        out.extend_from_slice(b"HMSG ");
    } else {
        out.extend_from_slice(b"LMSG ");
    }
    write_msg_rest(out, msg, queues, peer_headers, false);
}

/// Subject, reply/queues, sizes, CRLF, body, CRLF. `always_hdr`: a route LMSG.
fn write_msg_rest<'q>(
    out: &mut Vec<u8>,
    msg: &Message<'_>,
    queues: impl IntoIterator<Item = &'q [u8]>,
    peer_headers: bool,
    always_hdr: bool,
) {
    out.extend_from_slice(msg.subject);
    out.push(b' ');
    let mut queues = queues.into_iter().peekable();
    if queues.peek().is_some() {
        if msg.reply.is_empty() {
            out.extend_from_slice(b"| ");
        } else {
            out.extend_from_slice(b"+ ");
            out.extend_from_slice(msg.reply);
            out.push(b' ');
        }
        for q in queues {
            out.extend_from_slice(q);
            out.push(b' ');
        }
    } else if !msg.reply.is_empty() {
        out.extend_from_slice(msg.reply);
        out.push(b' ');
    }
    let has_headers = msg.header_len > 0;
    let strip = has_headers && !peer_headers;
    let body = if strip {
        msg.data.get(msg.header_len..).unwrap_or_default()
    } else {
        msg.data
    };
    let mut num = [0u8; 20];
    if always_hdr {
        if has_headers && !strip {
            out.extend_from_slice(msg.header_text);
        } else {
            out.push(b'0');
        }
        out.push(b' ');
    } else if has_headers && !strip {
        out.extend_from_slice(msg.header_text);
        out.push(b' ');
    }
    if strip {
        out.extend_from_slice(fmt_usize(&mut num, body.len()));
    } else {
        out.extend_from_slice(msg.size_text);
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out.extend_from_slice(b"\r\n");
}
