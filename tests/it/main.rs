//! Integration tests: the real `natrium` binary driven by real NATS clients.
