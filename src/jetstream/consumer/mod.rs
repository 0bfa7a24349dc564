//! Consumers: their configuration as nats-server reads and checks it (`config`), pull
//! requests (`pull`), and the delivery state machine (`runtime`). The API that creates
//! them and the service glue that drives them live in `api::consumers`.

mod checks;
pub mod config;
pub mod pull;
pub mod runtime;
