//! The `websocket {}` (or `ws {}`) block of the configuration file → [`WebsocketOptions`]
//! (nats-server's `parseWebsocket`). The file mapper calls [`parse_websocket`] with the
//! block's value; errors carry the position of the offending key.
//!
//! The `tls {}` inside it is read by [`parse_tls_block`], a small reader of the keys the
//! WebSocket listener uses; when the file mapper has its own `tls {}` reader, that one should
//! replace it here so that both listeners accept the same keys.

use std::time::Duration;

use super::conf::{self, Map, Spanned, Value};
use crate::tls::TlsConfig;
use crate::websocket::WebsocketOptions;

fn err<T>(v: &Spanned<T>, msg: impl std::fmt::Display) -> String {
    format!("{}: {msg}", v.pos)
}

fn string(v: &Spanned<Value>, what: &str) -> Result<String, String> {
    v.value.as_str().map(String::from).ok_or_else(|| {
        err(
            v,
            format!("{what}: expected a string, got {}", v.value.type_name()),
        )
    })
}

fn boolean(v: &Spanned<Value>, what: &str) -> Result<bool, String> {
    v.value.as_bool().ok_or_else(|| {
        err(
            v,
            format!("{what}: expected a boolean, got {}", v.value.type_name()),
        )
    })
}

fn int(v: &Spanned<Value>, what: &str) -> Result<i64, String> {
    v.value.as_int().ok_or_else(|| {
        err(
            v,
            format!("{what}: expected an integer, got {}", v.value.type_name()),
        )
    })
}

/// A duration as nats-server reads these keys: a number of seconds, or a Go duration string.
fn duration(v: &Spanned<Value>, what: &str) -> Result<Duration, String> {
    match &v.value {
        Value::Int(n) => Ok(Duration::from_secs((*n).max(0) as u64)),
        Value::Float(f) if *f >= 0.0 => Ok(Duration::from_secs_f64(*f)),
        Value::String(s) => conf::parse_duration(s).map_err(|e| err(v, e)),
        other => Err(err(
            v,
            format!(
                "error parsing {what}: unsupported type {}",
                other.type_name()
            ),
        )),
    }
}

fn strings(v: &Spanned<Value>, what: &str) -> Result<Vec<String>, String> {
    match &v.value {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(a) => a.iter().map(|e| string(e, what)).collect(),
        other => Err(err(
            v,
            format!(
                "error parsing {what}: unsupported type {}",
                other.type_name()
            ),
        )),
    }
}

/// `listen: "host:port"` (or a bare port).
fn listen(v: &Spanned<Value>) -> Result<(Option<String>, i64), String> {
    match &v.value {
        Value::Int(p) => Ok((None, *p)),
        Value::String(s) => {
            let (h, p) = s
                .rsplit_once(':')
                .ok_or_else(|| err(v, format!("could not parse address string {s:?}")))?;
            let port = p
                .parse::<i64>()
                .map_err(|_| err(v, format!("could not parse port {p:?}")))?;
            let host = h.trim_start_matches('[').trim_end_matches(']');
            Ok((Some(host.to_string()), port))
        }
        other => Err(err(
            v,
            format!("expected port or host:port, got {}", other.type_name()),
        )),
    }
}

/// Reads a `websocket {}` block. Unknown keys are errors, as in nats-server.
pub fn parse_websocket(v: &Spanned<Value>) -> Result<WebsocketOptions, Vec<String>> {
    let Some(map) = v.value.as_map() else {
        return Err(vec![err(
            v,
            format!(
                "Expected websocket to be a map, got {}",
                v.value.type_name()
            ),
        )]);
    };
    let mut o = WebsocketOptions::default();
    let mut port: i64 = 0;
    let mut errors = Vec::new();
    for (k, val) in map.iter() {
        let key = k.value.to_lowercase();
        let r: Result<(), String> = (|| {
            match key.as_str() {
                "listen" => {
                    let (h, p) = listen(val)?;
                    if let Some(h) = h {
                        o.host = h;
                    }
                    port = p;
                }
                "port" => port = int(val, "port")?,
                "host" | "net" => o.host = string(val, "host")?,
                "advertise" => o.advertise = string(val, "advertise")?,
                "no_tls" => o.no_tls = boolean(val, "no_tls")?,
                "tls" => o.tls = Some(parse_tls_block(val)?),
                "same_origin" => o.same_origin = boolean(val, "same_origin")?,
                "allowed_origins" | "allowed_origin" | "allow_origins" | "allow_origin"
                | "origins" | "origin" => o.allowed_origins = strings(val, "allowed origins")?,
                "handshake_timeout" => {
                    o.handshake_timeout = Some(duration(val, "handshake timeout")?)
                }
                "compress" | "compression" => o.compression = boolean(val, "compression")?,
                "authorization" | "authentication" => {
                    let m = val
                        .value
                        .as_map()
                        .ok_or_else(|| err(val, "authorization: expected a map"))?;
                    for (ak, av) in m.iter() {
                        match ak.value.to_lowercase().as_str() {
                            "user" | "username" => o.username = string(av, "user")?,
                            "pass" | "password" => o.password = string(av, "password")?,
                            "token" => o.token = string(av, "token")?,
                            "timeout" => o.auth_timeout = Some(duration(av, "timeout")?),
                            other => {
                                return Err(err(ak, format!("unknown field {other:?}")));
                            }
                        }
                    }
                }
                "jwt_cookie" => o.jwt_cookie = string(val, "jwt_cookie")?,
                "user_cookie" => o.user_cookie = string(val, "user_cookie")?,
                "pass_cookie" => o.pass_cookie = string(val, "pass_cookie")?,
                "token_cookie" => o.token_cookie = string(val, "token_cookie")?,
                "no_auth_user" => o.no_auth_user = string(val, "no_auth_user")?,
                "headers" => {
                    let m = val.value.as_map().ok_or_else(|| {
                        err(
                            val,
                            format!(
                                "error parsing headers: unsupported type {}",
                                val.value.type_name()
                            ),
                        )
                    })?;
                    o.headers.clear();
                    for (hk, hv) in m.iter() {
                        let value = hv.value.as_str().ok_or_else(|| {
                            err(
                                hv,
                                format!(
                                    "error parsing header key {}: unsupported type {}",
                                    hk.value,
                                    hv.value.type_name()
                                ),
                            )
                        })?;
                        o.headers.push((hk.value.clone(), value.to_string()));
                    }
                }
                "ping_interval" => o.ping_interval = Some(duration(val, "ping_interval")?),
                _ => return Err(err(k, format!("unknown field \"{}\"", k.value))),
            }
            Ok(())
        })();
        if let Err(e) = r {
            errors.push(e);
        }
    }
    // Port 0 (or none): no listener; -1: a random port.
    o.port = match port {
        0 => None,
        p if p < 0 => Some(0),
        p => match u16::try_from(p) {
            Ok(p) => Some(p),
            Err(_) => {
                errors.push(err(v, format!("websocket port {p} out of range")));
                None
            }
        },
    };
    if o.port.is_some() && o.host.is_empty() {
        o.host = super::DEFAULT_HOST.to_string();
    }
    if errors.is_empty() {
        Ok(o)
    } else {
        Err(errors)
    }
}

/// The keys of a `tls {}` block the WebSocket listener uses.
pub fn parse_tls_block(v: &Spanned<Value>) -> Result<TlsConfig, String> {
    let m: &Map = v
        .value
        .as_map()
        .ok_or_else(|| err(v, "tls: expected a map"))?;
    let mut t = TlsConfig::default();
    for (k, val) in m.iter() {
        match k.value.to_lowercase().as_str() {
            "cert_file" => t.cert_file = string(val, "cert_file")?,
            "key_file" => t.key_file = string(val, "key_file")?,
            "ca_file" => t.ca_file = string(val, "ca_file")?,
            "verify" => t.verify = boolean(val, "verify")?,
            "verify_and_map" => t.verify_and_map = boolean(val, "verify_and_map")?,
            "timeout" => t.timeout = Some(duration(val, "timeout")?),
            "cipher_suites" => t.cipher_suites = strings(val, "cipher_suites")?,
            "min_version" => {
                let version = string(val, "min_version")?;
                if version != "1.2" && version != "1.3" {
                    return Err(err(val, format!("unsupported TLS version {version:?}")));
                }
                t.min_version = version;
            }
            other => return Err(err(k, format!("unknown field {other:?} in tls block"))),
        }
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(text: &str) -> Result<WebsocketOptions, Vec<String>> {
        let map = conf::parse_str(text, "test.conf").expect("conf");
        parse_websocket(map.get("websocket").expect("websocket block"))
    }

    #[test]
    fn keys_as_nats_server_reads_them() {
        let o = block(
            r#"
            websocket {
                listen: "127.0.0.1:-1"
                no_tls: true
                same_origin: true
                allowed_origins: ["http://a.example", "https://b.example:8443"]
                compression: true
                handshake_timeout: "3s"
                jwt_cookie: "jwt"
                user_cookie: "u"
                pass_cookie: "p"
                token_cookie: "t"
                headers { "X-A": "1", "X-B": "2" }
                ping_interval: "30s"
                advertise: "ws.example:443"
            }
            "#,
        )
        .unwrap();
        assert_eq!((o.host.as_str(), o.port), ("127.0.0.1", Some(0)));
        assert!(o.no_tls && o.same_origin && o.compression);
        assert_eq!(o.allowed_origins.len(), 2);
        assert_eq!(o.handshake_timeout, Some(Duration::from_secs(3)));
        assert_eq!(
            o.headers,
            vec![("X-A".into(), "1".into()), ("X-B".into(), "2".into())]
        );
        assert_eq!(o.ping_interval, Some(Duration::from_secs(30)));
        assert_eq!(o.user_cookie, "u");
        let o = block(
            "websocket { port: 8080, tls { cert_file: c.pem, key_file: k.pem, timeout: 2 } }",
        )
        .unwrap();
        assert_eq!((o.host.as_str(), o.port), ("0.0.0.0", Some(8080)));
        let tls = o.tls.unwrap();
        assert_eq!(tls.cert_file, "c.pem");
        assert_eq!(tls.timeout, Some(Duration::from_secs(2)));
        let e = block("websocket { port: 1, bogus: 1, compression: \"yes\" }").unwrap_err();
        assert_eq!(e.len(), 2, "{e:?}");
        assert!(e[0].contains("unknown field \"bogus\""));
        // No port: no listener.
        assert_eq!(block("websocket { no_tls: true }").unwrap().port, None);
    }
}
