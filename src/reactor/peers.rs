//! The reactor side of cross-reactor routing: applying what peers sent (interest changes,
//! routed messages, acknowledgements), sending each peer one batch per turn, the PING
//! barrier (PONGs held until peers acknowledged an interest change).

use super::inbox::{self, Batch};
use super::Reactor;

impl Reactor {
    // ----- peers -----------------------------------------------------------------------

    /// Applies what peers sent. While a local subscriber is congested the rest waits in the
    /// channel, which in turn pushes back on the peers' publishers.
    pub(super) fn drain_peers(&mut self) {
        if let Some((msgs, offset)) = self.inbound_rest.take() {
            self.deliver_forwarded(msgs, offset);
        }
        while !self.congested && self.inbound_rest.is_none() {
            let Ok(batch) = self.inbox.data.try_recv() else {
                break;
            };
            self.apply_batch(batch);
        }
    }

    pub(super) fn apply_batch(&mut self, batch: Batch) {
        let from = batch.from;
        for change in batch.interest {
            self.apply_remote_interest(from as u16, change);
        }
        if let Some(Some(peer)) = self.peers.get_mut(from) {
            if batch.interest_seq > peer.applied {
                peer.applied = batch.interest_seq;
                peer.ack_owed = true;
            }
            if batch.ack > peer.acked {
                peer.acked = batch.ack;
            }
        }
        self.release_pongs();
        if !batch.msgs.is_empty() {
            self.deliver_forwarded(batch.msgs, 0);
        }
    }

    /// The lowest interest sequence all peers have acknowledged.
    pub(super) fn min_acked(&self) -> u64 {
        self.peers
            .iter()
            .flatten()
            .map(|p| p.acked)
            .min()
            .unwrap_or(u64::MAX)
    }

    /// Sends the PONGs that were waiting for peers to learn this reactor's interest.
    pub(super) fn release_pongs(&mut self) {
        if self.pong_waiters.is_empty() {
            return;
        }
        let acked = self.min_acked();
        let waiters = std::mem::take(&mut self.pong_waiters);
        for token in waiters {
            let Some(c) = self.conns.get_mut(token) else {
                continue;
            };
            if c.needs_interest_seq > acked {
                self.pong_waiters.push(token);
                continue;
            }
            for _ in 0..c.deferred_pongs {
                c.queue_pong();
            }
            c.deferred_pongs = 0;
            c.read_paused = false;
            self.mark_dirty(token);
            // Input that arrived behind the PING waits in `inbuf`; `resume` picks it up at
            // the end of the turn (not here, which may run in the middle of another client's
            // operations).
            if !self.pending_reads.contains(&token) {
                self.pending_reads.push(token);
            }
        }
    }

    /// Sends this turn's batch to every peer that has something (or is owed an ack).
    pub(crate) fn send_batches(&mut self) {
        if !self.has_peers() {
            return;
        }
        let changes = std::mem::take(&mut self.pending_interest);
        let bump = !changes.is_empty() || self.force_seq;
        if bump {
            self.interest_seq += 1;
            self.force_seq = false;
        }
        let seq = self.interest_seq;
        let mut blocked = false;
        for peer in self.peers.iter_mut().flatten() {
            if bump {
                peer.current.interest.extend(changes.iter().cloned());
                peer.current.interest_seq = seq;
            }
            if peer.ack_owed {
                peer.current.ack = peer.applied;
                peer.ack_owed = false;
            }
            let has_ack = peer.current.ack > 0;
            if !peer.current.is_empty() || bump || has_ack {
                let mut batch = std::mem::replace(
                    &mut peer.current,
                    Batch {
                        from: self.id,
                        ..Default::default()
                    },
                );
                batch.interest_seq = seq;
                peer.backlog.push_back(batch);
            }
            while let Some(batch) = peer.backlog.pop_front() {
                match peer.handle.try_send(batch) {
                    Ok(()) => peer.handle.wake.wake(),
                    Err(batch) => {
                        peer.backlog.push_front(batch);
                        peer.handle.wake.wake();
                        break;
                    }
                }
            }
            if !peer.backlog.is_empty() {
                blocked = true;
            }
        }
        if bump {
            self.shared
                .interest_epoch
                .fetch_add(1, std::sync::atomic::Ordering::Release);
        }
        if self.backpressure && !blocked {
            // Reads were paused for every connection; revisit them all.
            self.pending_reads.extend(self.conns.iter().map(|(t, _)| t));
        }
        self.backpressure = blocked;
    }

    /// Queues a message for a peer, starting a new batch when the current one is large.
    pub(crate) fn forward_to_peer(
        &mut self,
        reactor: usize,
        account: u32,
        msg: &crate::proto::Message<'_>,
        to: &inbox::Deliver<'_>,
    ) {
        let id = self.id;
        let Some(Some(peer)) = self.peers.get_mut(reactor) else {
            return;
        };
        inbox::encode_msg(&mut peer.current.msgs, account, msg, to);
        self.counters.routed_out += 1;
        if peer.current.msgs.len() >= inbox::MAX_BATCH_BYTES {
            let batch = std::mem::replace(
                &mut peer.current,
                Batch {
                    from: id,
                    ..Default::default()
                },
            );
            peer.backlog.push_back(batch);
        }
    }
}
