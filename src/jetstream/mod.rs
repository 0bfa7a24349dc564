//! JetStream (issues 18 and 19): streams, consumers, Key-Value and Object Store.
//!
//! Built bottom-up. What is here so far is the storage of one stream ([`store`]): natrium's
//! own file store, with its crash-consistency tests. The `$JS.API` layer, the stream and
//! consumer logic and the thread that runs them beside the reactors come on top of it;
//! until then the server answers `$JS.API` requests as nats-server does without JetStream
//! (no responders), and `-js` is refused at start-up.

pub mod store;
