//! What the whole server must agree on about its cluster: which remote servers are
//! connected (so that a second connection to one is a duplicate and a route to ourselves is
//! recognised), where each route lives, the cluster name (which a dynamically named server
//! may adopt from a peer), and the client URLs the peers advertise, which clients get in
//! INFO `connect_urls`.
//!
//! Locking: one mutex, taken by reactors when a route registers or closes and by the dialer
//! before it dials; never on the message path.

use std::collections::HashMap;
use std::sync::{Mutex, RwLock};

/// Where a registered route lives and what it told us.
#[derive(Debug, Clone)]
pub struct Remote {
    pub reactor: usize,
    pub token: usize,
    pub cid: u64,
    pub name: String,
    /// The URL to show for it (without password).
    pub url: String,
    /// The URL to dial it at again (ours when we solicited it, else its INFO's `ip`).
    pub dial_url: Option<super::url::RouteUrl>,
    /// A configured route.
    pub explicit: bool,
    /// We solicited it (or a duplicate we solicited was folded into it): we re-dial it when
    /// it drops.
    pub solicited: bool,
    /// Re-dial it when it drops even if we did not solicit it: both sides may have kept
    /// the other's connection and closed their own (nats-server's `retry`).
    pub retry: bool,
    pub connect_urls: Vec<String>,
    pub ws_connect_urls: Vec<String>,
    /// Its leaf listener's URLs (INFO `leafnode_urls`), for our leaf nodes to fail over to.
    pub leafnode_urls: Vec<String>,
    /// The remote entered lame duck mode: its URLs were withdrawn from our clients.
    pub lame_duck: bool,
}

/// The outcome of registering a route.
#[derive(Debug, PartialEq, Eq)]
pub enum Registration {
    /// The first connection to this remote; `others` are the reactors holding routes to
    /// the other remotes (to forward the newcomer's INFO to: gossip).
    Added { others: Vec<usize> },
    /// A connection to this remote is already registered: the new one is closed.
    Duplicate,
}

#[derive(Debug, Default)]
struct State {
    remotes: HashMap<String, Remote>,
    /// Client URLs for INFO, own first, then the peers', with a count of the remotes that
    /// advertise each (two servers behind one address count twice).
    connect_urls: Vec<(String, usize)>,
    ws_connect_urls: Vec<(String, usize)>,
    /// A route has been registered at least once: from then on INFO carries
    /// `connect_urls` (with our own URLs even when alone again), as nats-server's does.
    ever_connected: bool,
}

/// The server's view of its cluster.
#[derive(Debug)]
pub struct Registry {
    state: Mutex<State>,
    name: RwLock<String>,
    /// The name was generated, not configured (INFO and CONNECT `cluster_dynamic`).
    dynamic: RwLock<bool>,
    own_urls: Vec<String>,
    own_ws_urls: Vec<String>,
}

/// The client URL lists after a change, when they changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlChange {
    pub connect_urls: Vec<String>,
    pub ws_connect_urls: Vec<String>,
    pub ws_changed: bool,
}

impl Registry {
    pub fn new(
        name: String,
        dynamic: bool,
        own_urls: Vec<String>,
        own_ws_urls: Vec<String>,
    ) -> Self {
        let state = State {
            connect_urls: own_urls.iter().map(|u| (u.clone(), 1)).collect(),
            ws_connect_urls: own_ws_urls.iter().map(|u| (u.clone(), 1)).collect(),
            ..State::default()
        };
        Registry {
            state: Mutex::new(state),
            name: RwLock::new(name),
            dynamic: RwLock::new(dynamic),
            own_urls,
            own_ws_urls,
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn name(&self) -> String {
        self.name.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn is_dynamic(&self) -> bool {
        *self.dynamic.read().unwrap_or_else(|e| e.into_inner())
    }

    /// nats-server's rule when a peer's cluster name differs from ours: a dynamically named
    /// server adopts the peer's name when the peer's is configured, or sorts after ours.
    /// Returns whether the name is (now) `theirs`.
    pub fn adopt_name(&self, theirs: &str, their_dynamic: bool) -> bool {
        let mut name = self.name.write().unwrap_or_else(|e| e.into_inner());
        if *name == theirs {
            return true;
        }
        if !self.is_dynamic() || (their_dynamic && name.as_str() >= theirs) {
            return false;
        }
        *name = theirs.to_string();
        true
    }

    /// Our own client URLs (INFO `connect_urls` starts with them).
    pub fn own_urls(&self) -> &Vec<String> {
        &self.own_urls
    }

    pub fn own_ws_urls(&self) -> &Vec<String> {
        &self.own_ws_urls
    }

    pub fn is_connected(&self, id: &str) -> bool {
        self.state().remotes.contains_key(id)
    }

    /// The URLs of the connected remotes, to avoid dialling them again.
    pub fn connected_urls(&self) -> Vec<String> {
        self.state()
            .remotes
            .values()
            .map(|r| r.url.clone())
            .collect()
    }

    /// Registers a route whose INFO just arrived.
    pub fn register(&self, id: &str, remote: Remote) -> Registration {
        let mut st = self.state();
        if let Some(existing) = st.remotes.get_mut(id) {
            // nats-server's `handleDuplicateRoute`: the kept connection takes over the
            // dropped one's duty to reconnect, and both sides retry in case each kept the
            // other's connection.
            if remote.solicited && !existing.solicited {
                existing.solicited = true;
                existing.url = remote.url;
                existing.dial_url = remote.dial_url;
            }
            existing.explicit |= remote.explicit;
            existing.retry = true;
            return Registration::Duplicate;
        }
        let others: Vec<usize> = {
            let mut v: Vec<usize> = st.remotes.values().map(|r| r.reactor).collect();
            v.sort_unstable();
            v.dedup();
            v
        };
        st.remotes.insert(id.to_string(), remote);
        st.ever_connected = true;
        Registration::Added { others }
    }

    /// Removes the registration of route `(reactor, token, cid)` if it is the registered one
    /// for `id`; returns it.
    pub fn unregister(&self, id: &str, reactor: usize, token: usize, cid: u64) -> Option<Remote> {
        let mut st = self.state();
        let is_it = st
            .remotes
            .get(id)
            .is_some_and(|r| r.reactor == reactor && r.token == token && r.cid == cid);
        if is_it {
            st.remotes.remove(id)
        } else {
            None
        }
    }

    /// Every registered remote (for `/routez` ordering and shutdown).
    /// The leaf URLs the connected remotes advertise, each once.
    pub fn peer_leafnode_urls(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for r in self.state().remotes.values() {
            for u in &r.leafnode_urls {
                if !out.contains(u) {
                    out.push(u.clone());
                }
            }
        }
        out
    }

    pub fn remotes(&self) -> Vec<(String, Remote)> {
        self.state()
            .remotes
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Adds (`delta` +1) or removes (-1) a remote's client URLs; returns the new lists when
    /// they changed. nats-server's `addConnectURLsAndSendINFOToClients` and its removal twin.
    pub fn change_urls(
        &self,
        urls: &[String],
        ws_urls: &[String],
        delta: i32,
    ) -> Option<UrlChange> {
        let mut st = self.state();
        let changed = apply_urls(&mut st.connect_urls, urls, delta);
        let ws_changed = apply_urls(&mut st.ws_connect_urls, ws_urls, delta);
        (changed || ws_changed).then(|| UrlChange {
            connect_urls: st.connect_urls.iter().map(|(u, _)| u.clone()).collect(),
            ws_connect_urls: st.ws_connect_urls.iter().map(|(u, _)| u.clone()).collect(),
            ws_changed,
        })
    }

    /// The client URL lists for INFO: none before any route ever connected.
    pub fn client_urls(&self) -> (Vec<String>, Vec<String>) {
        let st = self.state();
        if !st.ever_connected {
            return (Vec::new(), Vec::new());
        }
        (
            st.connect_urls.iter().map(|(u, _)| u.clone()).collect(),
            st.ws_connect_urls.iter().map(|(u, _)| u.clone()).collect(),
        )
    }

    /// The URLs of every server but this one, for a lame duck INFO (clients should move).
    pub fn peer_urls(&self) -> (Vec<String>, Vec<String>) {
        let st = self.state();
        let others = |list: &[(String, usize)], own: &[String]| {
            list.iter()
                .filter(|(u, n)| !own.contains(u) || *n > 1)
                .map(|(u, _)| u.clone())
                .collect::<Vec<_>>()
        };
        (
            others(&st.connect_urls, &self.own_urls),
            others(&st.ws_connect_urls, &self.own_ws_urls),
        )
    }

    /// Marks a remote as in lame duck mode; returns its URLs the first time.
    pub fn remote_lame_duck(&self, id: &str) -> Option<(Vec<String>, Vec<String>)> {
        let mut st = self.state();
        let r = st.remotes.get_mut(id)?;
        if r.lame_duck {
            return None;
        }
        r.lame_duck = true;
        Some((r.connect_urls.clone(), r.ws_connect_urls.clone()))
    }
}

/// Adds or removes URLs in a ref-counted, ordered list; whether the set of URLs changed.
fn apply_urls(list: &mut Vec<(String, usize)>, urls: &[String], delta: i32) -> bool {
    let mut changed = false;
    for url in urls {
        match list.iter().position(|(u, _)| u == url) {
            Some(i) if delta > 0 => list[i].1 += 1,
            Some(i) => {
                list[i].1 -= 1;
                if list[i].1 == 0 {
                    list.remove(i);
                    changed = true;
                }
            }
            None if delta > 0 => {
                list.push((url.clone(), 1));
                changed = true;
            }
            None => {}
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remote(reactor: usize, token: usize, solicited: bool) -> Remote {
        Remote {
            reactor,
            token,
            cid: token as u64,
            name: "B".into(),
            url: "nats-route://127.0.0.1:6222/".into(),
            dial_url: None,
            explicit: false,
            solicited,
            retry: false,
            connect_urls: vec!["127.0.0.1:4223".into()],
            ws_connect_urls: vec![],
            leafnode_urls: vec![],
            lame_duck: false,
        }
    }

    #[test]
    fn duplicates_keep_the_first_and_take_over_its_reconnect_duty() {
        let r = Registry::new("C".into(), false, vec!["127.0.0.1:4222".into()], vec![]);
        assert_eq!(
            r.register("NB", remote(0, 1, false)),
            Registration::Added { others: vec![] }
        );
        assert_eq!(
            r.register("NB", remote(1, 2, true)),
            Registration::Duplicate
        );
        let kept = &r.remotes()[0].1;
        assert_eq!((kept.token, kept.solicited, kept.retry), (1, true, true));
        // Only the registered connection unregisters.
        assert!(r.unregister("NB", 1, 2, 2).is_none());
        assert!(r.unregister("NB", 0, 1, 1).is_some());
        assert!(!r.is_connected("NB"));
    }

    #[test]
    fn client_urls_are_ref_counted_and_own_first() {
        let r = Registry::new("C".into(), false, vec!["127.0.0.1:4222".into()], vec![]);
        assert_eq!(r.client_urls().0, Vec::<String>::new());
        r.register("NB", remote(0, 1, false));
        let b = vec!["127.0.0.1:4223".to_string()];
        let change = r.change_urls(&b, &[], 1).unwrap();
        assert_eq!(
            change.connect_urls,
            vec!["127.0.0.1:4222", "127.0.0.1:4223"]
        );
        assert!(
            r.change_urls(&b, &[], 1).is_none(),
            "second advertiser of the same URL"
        );
        assert!(r.change_urls(&b, &[], -1).is_none());
        let change = r.change_urls(&b, &[], -1).unwrap();
        assert_eq!(change.connect_urls, vec!["127.0.0.1:4222"]);
        assert_eq!(r.client_urls().0, vec!["127.0.0.1:4222"], "own URL stays");
    }

    #[test]
    fn dynamic_names_converge_on_the_larger() {
        let r = Registry::new("AAA".into(), true, vec![], vec![]);
        assert!(!r.adopt_name("000", true), "ours sorts after theirs: keep");
        assert!(r.adopt_name("ZZZ", true));
        assert_eq!(r.name(), "ZZZ");
        let fixed = Registry::new("prod".into(), false, vec![], vec![]);
        assert!(!fixed.adopt_name("other", false));
    }
}
