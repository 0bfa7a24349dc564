//! What reactors send each other: interest changes and batches of routed messages.
//!
//! Each reactor pair is linked by one bounded FIFO channel per direction, so everything one
//! reactor sends another arrives in order: an interest change made before a publish is seen
//! before that publish. Once per loop turn a reactor sends each peer at most one [`Batch`]
//! holding the turn's interest changes and every message routed to that peer, packed into a
//! single buffer (one allocation per batch rather than per message), then wakes the peer once.
//!
//! Wake-ups are coalesced with [`WakeFlag`]: a sender calls `Waker::wake` only when the flag
//! was clear, and the receiving reactor clears it before draining its channels.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, SyncSender, TrySendError};
use std::sync::Arc;

use super::interest::Origin;
use crate::proto::Message;

/// A change of one reactor's interest, announced to its peers: `weight` is 1/0 for a plain
/// subject (gained/lost), and the total weight for a queue group (0 = gone). A reactor's
/// clients' interest and its routes' interest are announced separately (`origin`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterestChange {
    pub account: u32,
    pub subject: Box<[u8]>,
    pub queue: Option<Box<[u8]>>,
    pub weight: u32,
    pub origin: Origin,
}

/// One turn's worth of traffic from one reactor to another.
#[derive(Debug, Default)]
pub struct Batch {
    pub from: usize,
    /// Sequence number of this batch's interest state; the receiver acknowledges it.
    pub interest_seq: u64,
    pub interest: Vec<InterestChange>,
    /// The highest interest sequence of the receiver that the sender has applied.
    pub ack: u64,
    /// Routed messages, encoded by [`encode_msg`].
    pub msgs: Vec<u8>,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.interest.is_empty() && self.msgs.is_empty()
    }
}

/// What the receiving reactor is to do with a forwarded message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Deliver<'q> {
    /// Serve the receiver's plain interest of these origins ([`Origin::bit`] set): its
    /// clients, routes, leaf nodes, hubs.
    pub plain: u8,
    /// Give one member of each of these queue groups the message, among the receiver's
    /// targets of that origin.
    pub queues: &'q [(&'q [u8], Origin)],
}

/// A message forwarded by a peer reactor, as decoded from a batch.
#[derive(Debug)]
pub struct Routed<'a> {
    /// The account the message was published in.
    pub account: u32,
    pub msg: Message<'a>,
    /// As [`Deliver::plain`].
    pub plain: u8,
    pub queues: Vec<(&'a [u8], Origin)>,
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_le_bytes());
    out.extend_from_slice(b);
}

/// Appends a routed message to a batch buffer.
pub fn encode_msg(out: &mut Vec<u8>, account: u32, msg: &Message<'_>, to: &Deliver<'_>) {
    out.extend_from_slice(&account.to_le_bytes());
    put_bytes(out, msg.subject);
    put_bytes(out, msg.reply);
    put_bytes(out, msg.header_text);
    put_bytes(out, msg.size_text);
    out.extend_from_slice(&(msg.header_len as u32).to_le_bytes());
    put_bytes(out, msg.data);
    out.push(to.plain);
    out.extend_from_slice(&(to.queues.len() as u32).to_le_bytes());
    for (q, origin) in to.queues {
        out.push(*origin as u8);
        put_bytes(out, q);
    }
}

/// Iterates the messages of a batch buffer. The buffer is produced by [`encode_msg`] inside
/// this process, so a malformed buffer is a bug; decoding stops at the first inconsistency
/// instead of panicking.
pub struct Decoder<'a> {
    buf: &'a [u8],
}

impl<'a> Decoder<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Decoder { buf }
    }

    /// Bytes not decoded yet.
    pub fn remaining(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    fn u32(&mut self) -> Option<u32> {
        let (head, rest) = self.buf.split_first_chunk::<4>()?;
        self.buf = rest;
        Some(u32::from_le_bytes(*head))
    }

    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.buf.split_first()?;
        self.buf = rest;
        Some(b)
    }

    fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = self.u32()? as usize;
        if n > self.buf.len() {
            return None;
        }
        let (b, rest) = self.buf.split_at(n);
        self.buf = rest;
        Some(b)
    }

    fn next_routed(&mut self) -> Option<Routed<'a>> {
        let account = self.u32()?;
        let subject = self.bytes()?;
        let reply = self.bytes()?;
        let header_text = self.bytes()?;
        let size_text = self.bytes()?;
        let header_len = self.u32()? as usize;
        let data = self.bytes()?;
        let flags = self.byte()?;
        let nq = self.u32()? as usize;
        let mut queues = Vec::with_capacity(nq.min(16));
        for _ in 0..nq {
            let origin = Origin::from_u8(self.byte()?);
            queues.push((self.bytes()?, origin));
        }
        Some(Routed {
            account,
            msg: Message {
                subject,
                reply,
                header_len,
                header_text,
                size_text,
                data,
            },
            plain: flags,
            queues,
        })
    }
}

impl<'a> Iterator for Decoder<'a> {
    type Item = Routed<'a>;
    fn next(&mut self) -> Option<Routed<'a>> {
        if self.buf.is_empty() {
            return None;
        }
        let r = self.next_routed();
        if r.is_none() {
            self.buf = &[];
        }
        r
    }
}

/// Coalesces wake-ups of one reactor.
pub struct WakeFlag {
    pending: AtomicBool,
    waker: mio::Waker,
}

impl WakeFlag {
    pub fn new(waker: mio::Waker) -> Self {
        WakeFlag {
            pending: AtomicBool::new(false),
            waker,
        }
    }

    /// Wakes the reactor unless a wake is already pending.
    pub fn wake(&self) {
        if !self.pending.swap(true, Ordering::AcqRel) {
            // A failed wake leaves the flag set; the reactor still drains its channels on
            // its next timer tick, so nothing is lost.
            let _ = self.waker.wake();
        }
    }

    /// Called by the owning reactor before it drains its channels.
    pub fn clear(&self) {
        self.pending.store(false, Ordering::Release);
    }
}

/// The sending side of a reactor: what other threads hold to reach it.
pub struct ReactorHandle<C> {
    pub control: Sender<C>,
    pub data: SyncSender<Batch>,
    pub wake: Arc<WakeFlag>,
}

// Derived Clone would require `C: Clone`; only the senders are cloned.
impl<C> Clone for ReactorHandle<C> {
    fn clone(&self) -> Self {
        ReactorHandle {
            control: self.control.clone(),
            data: self.data.clone(),
            wake: self.wake.clone(),
        }
    }
}

impl<C> ReactorHandle<C> {
    /// Sends a control message (unbounded: these are rare) and wakes the reactor.
    pub fn send_control(&self, msg: C) -> bool {
        let ok = self.control.send(msg).is_ok();
        self.wake.wake();
        ok
    }

    /// Tries to hand a batch over; gives it back when the channel is full. A reactor that
    /// has stopped (only during shutdown) takes nothing: the batch is dropped, so a peer
    /// still closing its clients does not wait forever to announce their interest changes.
    pub fn try_send(&self, batch: Batch) -> Result<(), Batch> {
        match self.data.try_send(batch) {
            Ok(()) | Err(TrySendError::Disconnected(_)) => Ok(()),
            Err(TrySendError::Full(b)) => Err(b),
        }
    }
}

/// The receiving side, owned by the reactor.
pub struct Inbox<C> {
    pub control: Receiver<C>,
    pub data: Receiver<Batch>,
}

/// Batches in flight per directed reactor pair before a sender is pushed back.
pub const BATCH_CHANNEL_CAPACITY: usize = 64;

/// A batch is sent early once its message buffer passes this size, bounding memory.
pub const MAX_BATCH_BYTES: usize = 1 << 20;

/// Creates the channels of one reactor.
pub fn channels<C>(waker: mio::Waker) -> (ReactorHandle<C>, Inbox<C>) {
    let (ctl_tx, ctl_rx) = std::sync::mpsc::channel();
    let (data_tx, data_rx) = std::sync::mpsc::sync_channel(BATCH_CHANNEL_CAPACITY);
    (
        ReactorHandle {
            control: ctl_tx,
            data: data_tx,
            wake: Arc::new(WakeFlag::new(waker)),
        },
        Inbox {
            control: ctl_rx,
            data: data_rx,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip() {
        let mut buf = Vec::new();
        let m1 = Message {
            subject: b"foo.bar",
            reply: b"",
            header_len: 0,
            header_text: b"",
            size_text: b"2",
            data: b"hi",
        };
        let m2 = Message {
            subject: b"x",
            reply: b"_INBOX.1",
            header_len: 12,
            header_text: b"12",
            size_text: b"14",
            data: b"NATS/1.0\r\n\r\nab",
        };
        let clients = Deliver {
            plain: Origin::Client.bit(),
            ..Default::default()
        };
        encode_msg(&mut buf, 0, &m1, &clients);
        let queues = [(&b"q1"[..], Origin::Client), (&b"q2"[..], Origin::Route)];
        let routes = Deliver {
            plain: Origin::Route.bit(),
            queues: &queues,
        };
        encode_msg(&mut buf, 7, &m2, &routes);
        let got: Vec<Routed> = Decoder::new(&buf).collect();
        assert_eq!(got.len(), 2);
        assert_eq!((got[0].account, got[1].account), (0, 7));
        assert_eq!(got[0].msg.subject, b"foo.bar");
        assert!(got[0].plain == Origin::Client.bit() && got[0].queues.is_empty());
        assert_eq!(got[1].plain, Origin::Route.bit());
        assert_eq!(got[1].msg.reply, b"_INBOX.1");
        assert_eq!(got[1].msg.header_len, 12);
        assert_eq!(got[1].queues, queues.to_vec());
        // Truncated input stops cleanly.
        assert_eq!(Decoder::new(&buf[..buf.len() - 1]).count(), 1);
    }
}
