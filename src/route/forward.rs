//! Route traffic going out: a message to one route (or, through the one entry point both
//! share, to a leaf connection), and the server's interest changes to every route of a
//! reactor.

use crate::proto::peer;
use crate::proto::Message;
use crate::reactor::interest::InterestKey;
use crate::reactor::Reactor;

impl Reactor {
    /// Writes `msg` to the route or leaf connection `conn`, naming the queue groups the
    /// receiving server must serve. Returns whether it was written.
    pub(crate) fn send_to_peer_conn(
        &mut self,
        publisher: usize,
        conn: usize,
        account: u32,
        msg: &Message<'_>,
        queues: &[&[u8]],
    ) -> bool {
        match self.conns.get(conn) {
            Some(c) if c.route.is_some() => {
                self.send_to_route(publisher, conn, account, msg, queues)
            }
            Some(c) if c.leaf.is_some() => self.send_to_leaf(publisher, conn, msg, queues),
            _ => false,
        }
    }

    /// Writes `msg` to route `conn` as `RMSG` (or `HMSG` with headers), naming the queue
    /// groups the receiving server must serve. Returns whether it was written.
    fn send_to_route(
        &mut self,
        publisher: usize,
        conn: usize,
        account: u32,
        msg: &Message<'_>,
        queues: &[&[u8]],
    ) -> bool {
        let account_name = self.auth.account_name(account);
        let Some(c) = self.conns.get_mut(conn) else {
            return false;
        };
        let Some(route) = c.route.as_deref() else {
            return false;
        };
        if !route.registered || c.closing.is_some() {
            return false;
        }
        peer::write_route_msg(
            &mut c.out,
            &route.peer,
            account_name.as_bytes(),
            None,
            msg,
            queues.iter().copied(),
        );
        c.stats.out_msgs += 1;
        c.stats.out_bytes += msg.data.len() as u64;
        self.counters.out_msgs += 1;
        self.counters.out_bytes += msg.data.len() as u64;
        self.queued_output(publisher, conn);
        true
    }

    /// Tells every route of this reactor that the server's client interest in `key` is now
    /// `weight` (`RS+`, or `RS-` at 0).
    pub(crate) fn announce_to_routes(&mut self, key: &InterestKey, weight: u32) {
        if self.routes.is_empty()
            || !self
                .shared
                .cluster
                .as_ref()
                .is_some_and(|c| c.can_import(&key.1))
        {
            return;
        }
        let account_name = self.auth.account_name(key.0).to_string();
        for token in self.routes.clone() {
            let Some(c) = self.conns.get_mut(token) else {
                continue;
            };
            let Some(route) = c.route.as_deref().filter(|r| r.registered) else {
                continue;
            };
            super::ops::write_interest(
                &mut c.out,
                &route.peer,
                account_name.as_bytes(),
                key,
                weight,
            );
            self.mark_dirty(token);
        }
    }
}
