//! The `mqtt {}` block of the configuration file → [`MqttOptions`], with nats-server's keys,
//! aliases, defaults, error texts and start-up checks (`opts.go` `parseMQTT`,
//! `parseSimpleAuth`, `setBaselineOptions`; `mqtt.go` `validateMQTTOptions`).
//!
//! This module owns [`MqttOptions`] and opens no socket; the MQTT listener and connections
//! (`reactor::mqtt`) read it. The `tls {}` inside the block is read by the same reader as
//! the client `tls {}` (nats-server's `parseTLS(tk, true)`), so both accept the same keys.
//!
//! Defaults are resolved here, where nats-server resolves them at use: an `ack_wait` of 0
//! (or none) is 30 s, a `max_ack_pending` of 0 is 1024, a `js_api_timeout` of 0 is 5 s.

use std::time::Duration;

use super::cluster::go_type;
use super::conf::{self, ConfError, Spanned, Value};
use super::file::{lower, Reader};
use super::security::{self, TlsConfig, TlsContext};
use super::{Options, DEFAULT_HOST};

/// nats-server's `mqttDefaultAckWait`: how long a QoS 1/2 message waits for its PUBACK
/// (or PUBREC/PUBCOMP) before it is sent again.
pub const DEFAULT_ACK_WAIT: Duration = Duration::from_secs(30);
/// nats-server's `mqttDefaultMaxAckPending`: unacknowledged QoS 1/2 messages per
/// subscription.
pub const DEFAULT_MAX_ACK_PENDING: u16 = 1024;
/// nats-server's `mqttDefaultJSAPITimeout`: the timeout of the JetStream API calls MQTT makes.
pub const DEFAULT_JS_API_TIMEOUT: Duration = Duration::from_secs(5);

/// nats-server's `errMQTTServerNameMustBeSet`.
pub const ERR_SERVER_NAME_MUST_BE_SET: &str = "mqtt requires server name to be explicitly set";
/// nats-server's `errMQTTUserMixWithUsersNKeys`.
pub const ERR_USER_MIX_WITH_USERS_NKEYS: &str =
    "mqtt authentication username not compatible with presence of users/nkeys";
/// nats-server's `errMQTTTokenMixWIthUsersNKeys`.
pub const ERR_TOKEN_MIX_WITH_USERS_NKEYS: &str =
    "mqtt authentication token not compatible with presence of users/nkeys";
/// nats-server's `errMQTTAckWaitMustBePositive`.
pub const ERR_ACK_WAIT_MUST_BE_POSITIVE: &str = "ack wait must be a positive value";
/// nats-server's `errMQTTJSAPITimeoutMustBePositive`.
pub const ERR_JS_API_TIMEOUT_MUST_BE_POSITIVE: &str = "JS API timeout must be a positive value";

/// The `mqtt {}` block (nats-server's `MQTTOpts`). `Options.mqtt` is `None` without the
/// block; the listener runs when [`MqttOptions::port`] is set.
#[derive(Debug, Clone, PartialEq)]
pub struct MqttOptions {
    /// `host`/`net`, or the host of `listen`; `0.0.0.0` once a port is set.
    pub host: String,
    /// `port`, or the port of `listen`. `None` (also `0`) = no MQTT listener; `Some(0)` = a
    /// random port (`-1`).
    pub port: Option<u16>,
    /// `tls {}`: the listener speaks TLS only. Its `verify`/`verify_and_map` and
    /// `pinned_certs` apply to MQTT clients; its `timeout` is the handshake timeout
    /// (`crate::tls::timeout`, 2 s by default).
    pub tls: Option<TlsConfig>,
    /// `authorization { user, password }`: the one login of MQTT clients, overriding the
    /// top-level authorization for them.
    pub username: String,
    pub password: String,
    /// `authorization { token }`: MQTT clients send it as the CONNECT password.
    pub token: String,
    /// `authorization { timeout }` (seconds); `None` (also 0) = the top-level auth timeout,
    /// see [`MqttOptions::effective_auth_timeout`].
    pub auth_timeout: Option<Duration>,
    /// `no_auth_user`: the user a client without credentials is bound to.
    pub no_auth_user: String,
    /// `ack_wait`/`ackwait`; 30 s when 0 or absent.
    pub ack_wait: Duration,
    /// `js_api_timeout`/`api_timeout`; 5 s when 0 or absent.
    pub js_api_timeout: Duration,
    /// `max_ack_pending`/`max_pending`/`max_inflight`, 0..=65535; 1024 when 0 or absent.
    /// The total over a session's subscriptions cannot exceed 65535 (a SUBACK failure);
    /// a `#` filter counts twice (two subscriptions).
    pub max_ack_pending: u16,
    /// `js_domain`: the JetStream domain the MQTT streams live in.
    pub js_domain: String,
    /// `stream_replicas`; 0 or less = as many as the cluster has, at most 3.
    pub stream_replicas: i64,
    /// `consumer_memory_storage`: MQTT consumers in memory.
    pub consumer_memory_storage: bool,
    /// `consumer_inactive_threshold`/`consumer_auto_cleanup`; `None` (also 0 or less) = the
    /// consumers are never cleaned up.
    pub consumer_inactive_threshold: Option<Duration>,
    /// `reject_qos2_publish`: a QoS 2 PUBLISH closes the connection.
    pub reject_qos2_publish: bool,
    /// `downgrade_qos2_subscribe`: a QoS 2 SUBSCRIBE is granted QoS 1.
    pub downgrade_qos2_subscribe: bool,
}

impl Default for MqttOptions {
    fn default() -> Self {
        MqttOptions {
            host: String::new(),
            port: None,
            tls: None,
            username: String::new(),
            password: String::new(),
            token: String::new(),
            auth_timeout: None,
            no_auth_user: String::new(),
            ack_wait: DEFAULT_ACK_WAIT,
            js_api_timeout: DEFAULT_JS_API_TIMEOUT,
            max_ack_pending: DEFAULT_MAX_ACK_PENDING,
            js_domain: String::new(),
            stream_replicas: 0,
            consumer_memory_storage: false,
            consumer_inactive_threshold: None,
            reject_qos2_publish: false,
            downgrade_qos2_subscribe: false,
        }
    }
}

impl MqttOptions {
    /// Whether the MQTT listener runs.
    pub fn enabled(&self) -> bool {
        self.port.is_some()
    }

    /// Whether the block's own authorization replaces the top-level one for MQTT clients
    /// (nats-server `mqttConfigAuth`: a user, a token or a `no_auth_user`).
    pub fn auth_override(&self) -> bool {
        !self.username.is_empty() || !self.token.is_empty() || !self.no_auth_user.is_empty()
    }

    /// The auth timeout of an MQTT connection: the block's own, else the server's.
    pub fn effective_auth_timeout(&self, o: &Options) -> Duration {
        self.auth_timeout
            .unwrap_or_else(|| o.effective_auth_timeout())
    }

    /// nats-server's `validateMQTTOptions`, the checks that need the rest of the options
    /// (the others are made while reading the block). Nothing is checked without a port.
    ///
    /// Not checked here: nats-server also refuses MQTT on a standalone server without
    /// JetStream ("mqtt requires JetStream to be enabled if running in standalone mode"),
    /// which is the MQTT runtime's decision.
    pub fn validate(&self, o: &Options) -> Result<(), String> {
        if !self.enabled() {
            return Ok(());
        }
        // Sessions are keyed by server name in a cluster (natrium has no gateways).
        let clustered = o.cluster.as_ref().is_some_and(|c| c.port.is_some());
        if o.server_name.is_empty() && clustered {
            return Err(ERR_SERVER_NAME_MUST_BE_SET.to_string());
        }
        let has_users = o
            .authorization
            .as_ref()
            .is_some_and(|a| !a.users.is_empty() || !a.nkeys.is_empty())
            || o.accounts
                .iter()
                .any(|a| !a.users.is_empty() || !a.nkeys.is_empty());
        if !self.no_auth_user.is_empty() {
            // nats-server `validateNoAuthUser`.
            if !o.operators.is_empty() {
                return Err("no_auth_user not compatible with Trusted Operator".to_string());
            }
            if !has_users {
                return Err(format!(
                    "no_auth_user: \"{}\" present, but users/nkeys are not defined",
                    self.no_auth_user
                ));
            }
            if !o.has_user(&self.no_auth_user) {
                return Err(format!(
                    "no_auth_user: \"{}\" not present as user or nkey in authorization block or \
                     account configuration",
                    self.no_auth_user
                ));
            }
        }
        if has_users {
            if !self.username.is_empty() {
                return Err(ERR_USER_MIX_WITH_USERS_NKEYS.to_string());
            }
            if !self.token.is_empty() {
                return Err(ERR_TOKEN_MIX_WITH_USERS_NKEYS.to_string());
            }
        }
        Ok(())
    }
}

/// Reads an `mqtt {}` block (nats-server's `parseMQTT`): errors and warnings go to `r`
/// with nats-server's texts; unknown keys are errors unless only used as variables.
pub(crate) fn parse_mqtt(
    r: &mut Reader,
    key: &Spanned<String>,
    v: &Spanned<Value>,
) -> Option<MqttOptions> {
    let Value::Map(m) = &v.value else {
        r.error(
            &key.pos,
            format!("Expected mqtt to be a map, got {}", go_type(&v.value)),
        );
        return None;
    };
    let mut o = MqttOptions::default();
    let mut port: i64 = 0;
    // Negative durations are refused only when the listener is on, as nats-server does
    // (`validateMQTTOptions` returns early without a port); where they were written.
    let mut negative: Vec<(conf::Pos, &'static str)> = Vec::new();
    for (i, (k, mv)) in m.iter().enumerate() {
        match lower(k).as_str() {
            "listen" => {
                if let Some((host, p)) = r.listen(k, mv) {
                    if let Some(h) = host {
                        o.host = h;
                    }
                    port = p;
                }
            }
            "port" => {
                if let Some(p) = r.port(k, mv) {
                    port = p;
                }
            }
            "host" | "net" => set(&mut o.host, r.string(k, mv)),
            "tls" => {
                if let Some(tls) = security::parse_tls_in(r, k, mv, TlsContext::Client) {
                    o.tls = tls.is_configured().then_some(tls);
                }
            }
            "authorization" | "authentication" => parse_simple_auth(r, k, mv, &mut o),
            "no_auth_user" => set(&mut o.no_auth_user, r.string(k, mv)),
            "ack_wait" | "ackwait" => {
                if let Some(ns) = signed_duration(r, k, mv, "ack_wait") {
                    if ns < 0 {
                        negative.push((k.pos.clone(), ERR_ACK_WAIT_MUST_BE_POSITIVE));
                    }
                    o.ack_wait = positive_or(ns, DEFAULT_ACK_WAIT);
                }
            }
            "js_api_timeout" | "api_timeout" => {
                if let Some(ns) = signed_duration(r, k, mv, "js_api_timeout") {
                    if ns < 0 {
                        negative.push((k.pos.clone(), ERR_JS_API_TIMEOUT_MUST_BE_POSITIVE));
                    }
                    o.js_api_timeout = positive_or(ns, DEFAULT_JS_API_TIMEOUT);
                }
            }
            "max_ack_pending" | "max_pending" | "max_inflight" => {
                if let Some(n) = r.int(k, mv) {
                    match u16::try_from(n) {
                        Ok(0) => o.max_ack_pending = DEFAULT_MAX_ACK_PENDING,
                        Ok(n) => o.max_ack_pending = n,
                        Err(_) => r.error(
                            &k.pos,
                            format!("invalid value {n}, should in [0..{}] range", u16::MAX),
                        ),
                    }
                }
            }
            "js_domain" => set(&mut o.js_domain, r.string(k, mv)),
            "stream_replicas" => set(&mut o.stream_replicas, r.int(k, mv)),
            // nats-server reads nothing: the messages stream's interest retention needs
            // consumers with the stream's replica count.
            "consumer_replicas" => r.warnings.push(ConfError::option(
                k.pos.clone(),
                format!(
                    "invalid use of field {:?}: consumer replicas setting ignored in this \
                     server version",
                    k.value
                ),
            )),
            "consumer_memory_storage" => set(&mut o.consumer_memory_storage, r.boolean(k, mv)),
            "consumer_inactive_threshold" | "consumer_auto_cleanup" => {
                if let Some(ns) = signed_duration(r, k, mv, "consumer_inactive_threshold") {
                    o.consumer_inactive_threshold = (ns > 0).then(|| nanos(ns));
                }
            }
            "reject_qos2_publish" => set(&mut o.reject_qos2_publish, r.boolean(k, mv)),
            "downgrade_qos2_subscribe" => set(&mut o.downgrade_qos2_subscribe, r.boolean(k, mv)),
            _ => {
                if !m.is_used_variable(i) {
                    r.unknown(k);
                }
            }
        }
    }
    o.port = super::cli::optional_port(port);
    if o.port.is_some() {
        if o.host.is_empty() {
            o.host = DEFAULT_HOST.to_string();
        }
        for (pos, msg) in negative {
            r.error(&pos, msg);
        }
    }
    Some(o)
}

/// nats-server's `parseSimpleAuth`: user, password, token and timeout only (no users
/// list, no nkeys, no permissions).
fn parse_simple_auth(r: &mut Reader, k: &Spanned<String>, v: &Spanned<Value>, o: &mut MqttOptions) {
    let Some(m) = r.map(k, v) else {
        return;
    };
    for (i, (ak, av)) in m.iter().enumerate() {
        match lower(ak).as_str() {
            "user" | "username" => set(&mut o.username, r.string(ak, av)),
            "pass" | "password" => set(&mut o.password, r.string(ak, av)),
            "token" => set(&mut o.token, r.string(ak, av)),
            "timeout" => {
                // nats-server takes an int or a float of seconds; any other value (even a
                // duration string) is 1 second.
                let secs = match av.value {
                    Value::Int(n) => n as f64,
                    Value::Float(f) => f,
                    _ => 1.0,
                };
                o.auth_timeout = if secs == 0.0 {
                    None
                } else if secs.is_nan() || secs < 0.0 {
                    // A negative timeout expires at once in nats-server.
                    Some(Duration::ZERO)
                } else {
                    Some(Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX))
                };
            }
            _ => {
                if !m.is_used_variable(i) {
                    r.unknown(ak);
                }
            }
        }
    }
}

/// nats-server's `parseDuration` under the name `field`, keeping the sign (its MQTT
/// durations are checked for being negative later): a Go duration string, or a number of
/// seconds with nats-server's warning. Nanoseconds.
fn signed_duration(
    r: &mut Reader,
    k: &Spanned<String>,
    v: &Spanned<Value>,
    field: &str,
) -> Option<i64> {
    match &v.value {
        Value::String(s) => match conf::parse_duration_nanos(s) {
            Ok(ns) => Some(ns),
            Err(e) => {
                r.error(&k.pos, format!("error parsing {field}: {e}"));
                None
            }
        },
        Value::Int(secs) => {
            r.warnings.push(ConfError::option(
                k.pos.clone(),
                format!(
                    "invalid use of field {field:?}: {field} should be converted to a duration"
                ),
            ));
            Some(secs.saturating_mul(1_000_000_000))
        }
        // The reader's type error.
        _ => r.duration(k, v).map(|_| 0),
    }
}

fn nanos(ns: i64) -> Duration {
    Duration::from_nanos(u64::try_from(ns).unwrap_or(0))
}

fn positive_or(ns: i64, default: Duration) -> Duration {
    if ns > 0 {
        nanos(ns)
    } else {
        default
    }
}

fn set<T>(slot: &mut T, v: Option<T>) {
    if let Some(v) = v {
        *slot = v;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{conf, file};

    /// The options after the file, or the errors (messages without positions).
    fn load(text: &str) -> Result<(Options, file::Report), Vec<String>> {
        let map = conf::parse_str(text, "t.conf")
            .map_err(|e| e.iter().map(|e| e.to_string()).collect::<Vec<_>>())?;
        let mut o = Options::default();
        match file::apply(&map, &mut o) {
            Ok(r) => Ok((o, r)),
            Err(e) => Err(e.iter().map(|e| e.msg.clone()).collect()),
        }
    }

    fn mqtt(text: &str) -> MqttOptions {
        load(text).expect("loads").0.mqtt.expect("mqtt")
    }

    fn errors(text: &str) -> Vec<String> {
        load(text).map(|_| ()).expect_err("errors")
    }

    /// The positive cases of nats-server's `TestMQTTParseOptions`, and the other keys.
    #[test]
    fn keys_as_nats_server_reads_them() {
        let o = mqtt("mqtt { listen: 1234 }");
        assert_eq!((o.host.as_str(), o.port), ("0.0.0.0", Some(1234)));
        let o = mqtt(r#"mqtt { listen: "localhost:1234" }"#);
        assert_eq!((o.host.as_str(), o.port), ("localhost", Some(1234)));
        let o = mqtt(r#"mqtt { host: "localhost" }"#);
        assert_eq!((o.host.as_str(), o.port), ("localhost", None));
        assert!(!o.enabled());
        let o = mqtt("mqtt { port: 1234 }");
        assert_eq!(o.port, Some(1234));
        assert!(o.enabled());
        let o = mqtt(r#"mqtt { no_auth_user: "noauthuser" }"#);
        assert_eq!(o.no_auth_user, "noauthuser");
        assert!(o.auth_override());
        let o = mqtt(
            r#"mqtt { authorization { user: "mqttuser", password: "pwd", token: "token", timeout: 2.0 } }"#,
        );
        assert_eq!(
            (o.username.as_str(), o.password.as_str(), o.token.as_str()),
            ("mqttuser", "pwd", "token")
        );
        assert_eq!(o.auth_timeout, Some(Duration::from_secs(2)));
        let o = mqtt("mqtt { authentication { timeout: 2 } }");
        assert_eq!(o.auth_timeout, Some(Duration::from_secs(2)));
        assert!(!o.auth_override());
        assert_eq!(
            mqtt(r#"mqtt { ack_wait: "10s" }"#).ack_wait,
            Duration::from_secs(10)
        );
        assert_eq!(mqtt("mqtt { max_ack_pending: 123 }").max_ack_pending, 123);
        assert!(mqtt("mqtt { reject_qos2_publish: true }").reject_qos2_publish);
        assert!(mqtt("mqtt { downgrade_qos2_subscribe: true }").downgrade_qos2_subscribe);
        assert_eq!(
            mqtt(r#"mqtt { js_api_timeout: "60s" }"#).js_api_timeout,
            Duration::from_secs(60)
        );

        let o = mqtt(
            r#"mqtt {
                net: 127.0.0.1
                port: -1
                ackwait: "1m"
                max_inflight: 65535
                js_domain: hub
                stream_replicas: 3
                consumer_memory_storage: true
                consumer_auto_cleanup: "5m"
                api_timeout: "2s"
                tls { cert_file: c.pem, key_file: k.pem, verify_and_map: true, timeout: 3 }
            }"#,
        );
        assert_eq!((o.host.as_str(), o.port), ("127.0.0.1", Some(0)));
        assert_eq!(o.ack_wait, Duration::from_secs(60));
        assert_eq!(o.max_ack_pending, u16::MAX);
        assert_eq!((o.js_domain.as_str(), o.stream_replicas), ("hub", 3));
        assert!(o.consumer_memory_storage);
        assert_eq!(
            o.consumer_inactive_threshold,
            Some(Duration::from_secs(300))
        );
        assert_eq!(o.js_api_timeout, Duration::from_secs(2));
        let tls = o.tls.expect("tls");
        assert_eq!(
            (tls.cert_file.as_str(), tls.key_file.as_str()),
            ("c.pem", "k.pem")
        );
        // verify_and_map implies verify, as for the client port.
        assert!(tls.verify && tls.verify_and_map);
        assert_eq!(tls.timeout, Some(Duration::from_secs(3)));
    }

    #[test]
    fn defaults() {
        let o = mqtt("mqtt {}");
        assert_eq!(o, MqttOptions::default());
        assert_eq!(o.port, None);
        assert_eq!(o.host, "");
        assert_eq!(o.ack_wait, DEFAULT_ACK_WAIT);
        assert_eq!(o.max_ack_pending, 1024);
        assert_eq!(o.js_api_timeout, Duration::from_secs(5));
        assert_eq!(o.consumer_inactive_threshold, None);
        // 0 means the default, as in nats-server; port 0 means no listener.
        let o = mqtt(
            r#"mqtt { port: 0, ack_wait: "0s", max_ack_pending: 0, consumer_inactive_threshold: "0s" }"#,
        );
        assert_eq!(o, MqttOptions::default());
        assert_eq!(load("port: 4222").unwrap().0.mqtt, None);
        // An empty tls block configures nothing.
        assert_eq!(mqtt("mqtt { port: 1883, tls {} }").tls, None);
        // The auth timeout: the block's own, else the server's.
        let (opts, _) = load("mqtt { port: 1883 }").unwrap();
        let m = opts.mqtt.clone().unwrap();
        assert_eq!(m.effective_auth_timeout(&opts), Duration::from_secs(2));
        let m = MqttOptions {
            auth_timeout: Some(Duration::from_millis(500)),
            ..m
        };
        assert_eq!(m.effective_auth_timeout(&opts), Duration::from_millis(500));
    }

    #[test]
    fn warnings_as_nats_server_gives_them() {
        let (o, r) = load("mqtt { ack_wait: 10, consumer_replicas: 3 }").unwrap();
        assert_eq!(o.mqtt.unwrap().ack_wait, Duration::from_secs(10));
        let w: Vec<&str> = r.warnings.iter().map(|w| w.msg.as_str()).collect();
        assert_eq!(
            w,
            [
                "invalid use of field \"ack_wait\": ack_wait should be converted to a duration",
                "invalid use of field \"consumer_replicas\": consumer replicas setting ignored \
                 in this server version",
            ]
        );
        // A duration string as the auth timeout is one second (nats-server's quirk).
        let o = mqtt(r#"mqtt { authorization { timeout: "5s" } }"#);
        assert_eq!(o.auth_timeout, Some(Duration::from_secs(1)));
    }

    /// The negative cases of nats-server's `TestMQTTParseOptions` (natrium's type error
    /// texts), and the range and sign checks.
    #[test]
    fn errors_with_nats_texts() {
        assert_eq!(
            errors("mqtt: []"),
            ["Expected mqtt to be a map, got []interface {}"]
        );
        assert_eq!(
            errors("mqtt: { listen: [] }"),
            ["expected port or host:port, got array"]
        );
        assert_eq!(
            errors(r#"mqtt: { port: "abc" }"#),
            ["\"port\" expects an integer, got a string"]
        );
        assert_eq!(
            errors("mqtt: { host: 123 }"),
            ["\"host\" expects a string, got an integer"]
        );
        assert_eq!(
            errors("mqtt: { tls: 123 }"),
            ["\"tls\" expects a map, got an integer"]
        );
        assert_eq!(
            errors("mqtt: { this_does_not_exist: 123 }"),
            ["unknown field \"this_does_not_exist\""]
        );
        assert_eq!(
            errors("mqtt: { ack_wait: abc }"),
            ["error parsing ack_wait: time: invalid duration \"abc\""]
        );
        assert_eq!(
            errors("mqtt: { max_ack_pending: abc }"),
            ["\"max_ack_pending\" expects an integer, got a string"]
        );
        assert_eq!(
            errors("mqtt: { max_ack_pending: 12345678 }"),
            ["invalid value 12345678, should in [0..65535] range"]
        );
        assert_eq!(
            errors("mqtt: { max_pending: -1 }"),
            ["invalid value -1, should in [0..65535] range"]
        );
        assert_eq!(
            errors("mqtt: { js_api_timeout: abc }"),
            ["error parsing js_api_timeout: time: invalid duration \"abc\""]
        );
        assert_eq!(
            errors("mqtt: { port: 70000 }"),
            ["invalid port 70000: the largest is 65535"]
        );
        // Only nats-server's simple authorization keys.
        assert_eq!(
            errors("mqtt { authorization { users: [ {user: a, password: b} ] } }"),
            ["unknown field \"users\""]
        );
        assert_eq!(
            errors("mqtt { tls { cert_file: c.pem, bogus: 1 } }"),
            ["error parsing tls config, unknown field \"bogus\""]
        );
        // Negative durations, only with a listener.
        assert_eq!(
            errors(r#"mqtt { port: 1883, ack_wait: "-10s", js_api_timeout: "-1s" }"#),
            [
                ERR_ACK_WAIT_MUST_BE_POSITIVE,
                ERR_JS_API_TIMEOUT_MUST_BE_POSITIVE
            ]
        );
        assert_eq!(
            mqtt(r#"mqtt { ack_wait: "-10s" }"#).ack_wait,
            DEFAULT_ACK_WAIT
        );
        // Keys only used as variables are accepted, as in other blocks.
        assert_eq!(mqtt("mqtt { P: 1883, port: $P }").port, Some(1883));
        // Every error is reported, with its position.
        let map = conf::parse_str("mqtt {\n  bogus: 1\n  port: x\n}", "t.conf").unwrap();
        let e = file::apply(&map, &mut Options::default()).unwrap_err();
        let e: Vec<String> = e
            .iter()
            .map(|e| format!("{}:{}: {}", e.pos.line, e.pos.col, e.msg))
            .collect();
        assert_eq!(
            e,
            [
                "2:3: unknown field \"bogus\"",
                "3:3: \"port\" expects an integer, got a string"
            ]
        );
    }

    fn validate(text: &str) -> Result<(), String> {
        let (o, _) = load(text).expect("loads");
        o.validate()
    }

    /// nats-server's `TestMQTTValidateOptions` and `TestMQTTServerNameRequired`.
    #[test]
    fn start_up_checks() {
        assert_eq!(validate("mqtt { port: 1883 }"), Ok(()));
        // Without a listener nothing is checked.
        assert_eq!(
            validate("cluster { port: -1 }\nmqtt { authorization { user: u } }"),
            Ok(())
        );
        assert_eq!(
            validate("cluster { port: -1 }\nmqtt { port: -1 }"),
            Err(ERR_SERVER_NAME_MUST_BE_SET.to_string())
        );
        assert_eq!(
            validate("server_name: a\ncluster { port: -1 }\nmqtt { port: -1 }"),
            Ok(())
        );
        let users = "authorization { users: [ {user: abc, password: pwd} ] }\n";
        assert_eq!(
            validate(&format!(
                "{users}mqtt {{ port: -1, authorization {{ user: b, password: pwd }} }}"
            )),
            Err(ERR_USER_MIX_WITH_USERS_NKEYS.to_string())
        );
        assert_eq!(
            validate(&format!(
                "{users}mqtt {{ port: -1, authorization {{ token: mytoken }} }}"
            )),
            Err(ERR_TOKEN_MIX_WITH_USERS_NKEYS.to_string())
        );
        assert_eq!(
            validate("accounts { A { users: [ {user: abc, password: pwd} ] } }\nmqtt { port: -1, authorization { token: t } }"),
            Err(ERR_TOKEN_MIX_WITH_USERS_NKEYS.to_string())
        );
        // Without users, the block's own user or token is the MQTT login.
        assert_eq!(
            validate("mqtt { port: -1, authorization { user: b, password: pwd } }"),
            Ok(())
        );
        assert_eq!(
            validate("mqtt { port: -1, no_auth_user: nobody }"),
            Err("no_auth_user: \"nobody\" present, but users/nkeys are not defined".to_string())
        );
        assert_eq!(
            validate(&format!("{users}mqtt {{ port: -1, no_auth_user: nobody }}")),
            Err(
                "no_auth_user: \"nobody\" not present as user or nkey in authorization block \
                 or account configuration"
                    .to_string()
            )
        );
        assert_eq!(
            validate(&format!("{users}mqtt {{ port: -1, no_auth_user: abc }}")),
            Ok(())
        );
        assert_eq!(
            validate("accounts { A { users: [ {user: abc, password: pwd} ] } }\nmqtt { port: -1, no_auth_user: abc }"),
            Ok(())
        );
    }
}
