//! The INFO the server sends and the CONNECT a client sends, as nats-server shapes them.
//!
//! INFO keys, their order and their omit-when-empty rules follow nats-server's `Info` struct;
//! the line is `INFO <json> \r\n` with the space before CRLF that nats-server's
//! `generateInfoJSON` leaves. CONNECT is decoded the way Go's `encoding/json` decodes into
//! nats-server's `ClientOpts`: `verbose`, `pedantic` and `echo` default to true, unknown
//! keys are ignored, `null` leaves a field unchanged, keys match case-insensitively, and a
//! value of the wrong type is an error (which closes the connection).

use serde::Serialize;
use serde_json::Value;

/// nats-server's `JSApiLevel` (`jetstream_versioning.go`) for the release natrium matches.
pub const JS_API_LEVEL: i32 = 5;

/// The INFO document. Field order is nats-server's.
#[derive(Debug, Clone, Serialize, Default)]
pub struct ServerInfo {
    pub server_id: String,
    pub server_name: String,
    pub version: String,
    pub proto: i32,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub git_commit: String,
    pub go: String,
    pub host: String,
    pub port: u16,
    pub headers: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub auth_required: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub tls_required: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub tls_verify: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub tls_available: bool,
    pub max_payload: i32,
    #[serde(skip_serializing_if = "is_false")]
    pub jetstream: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub ip: String,
    #[serde(skip_serializing_if = "is_zero")]
    pub client_id: u64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub client_ip: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub nonce: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub cluster: String,
    /// The cluster name was generated, not configured.
    #[serde(skip_serializing_if = "is_false")]
    pub cluster_dynamic: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub domain: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub connect_urls: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ws_connect_urls: Vec<String>,
    #[serde(skip_serializing_if = "is_false")]
    pub ldm: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub compression: String,
    #[serde(skip_serializing_if = "is_false")]
    pub connect_info: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub remote_account: String,
    #[serde(skip_serializing_if = "is_false")]
    pub acc_is_sys: bool,
    /// The JetStream API level (nats-server's `JSApiLevel`), sent in every client INFO
    /// whether JetStream is on or not; clients gate features on it.
    #[serde(skip_serializing_if = "is_zero_i32")]
    pub api_lvl: i32,
    // Routes and leaf nodes only, in nats-server's order.
    /// Understands `LS+`/`LMSG` with an origin cluster on routes.
    #[serde(skip_serializing_if = "is_false")]
    pub lnoc: bool,
    /// Understands `LS-` with an origin cluster on routes.
    #[serde(skip_serializing_if = "is_false")]
    pub lnocu: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub info_on_connect: bool,
    #[serde(skip_serializing_if = "is_zero_i32")]
    pub route_pool_size: i32,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub route_account: String,
    #[serde(skip_serializing_if = "is_zero_u8")]
    pub gossip_mode: u8,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub leafnode_urls: Vec<String>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn is_zero_i32(n: &i32) -> bool {
    *n == 0
}

fn is_zero_u8(n: &u8) -> bool {
    *n == 0
}

impl ServerInfo {
    /// Appends the wire form `INFO <json> \r\n`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"INFO ");
        // Serializing a struct of strings, bools and numbers into a Vec cannot fail.
        if serde_json::to_writer(&mut *out, self).is_err() {
            out.extend_from_slice(b"{}");
        }
        out.extend_from_slice(b" \r\n");
    }
}

/// What a client said in CONNECT, with nats-server's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientOptions {
    pub verbose: bool,
    pub pedantic: bool,
    pub echo: bool,
    pub tls_required: bool,
    pub headers: bool,
    pub no_responders: bool,
    pub protocol: i64,
    pub name: String,
    pub lang: String,
    pub version: String,
    pub user: String,
    pub pass: String,
    pub auth_token: String,
    pub nkey: String,
    pub sig: String,
    pub jwt: String,
    pub account: String,
    pub new_account: bool,
}

impl Default for ClientOptions {
    /// nats-server seeds `ClientOpts{Verbose: true, Pedantic: true, Echo: true}` before decoding.
    fn default() -> Self {
        ClientOptions {
            verbose: true,
            pedantic: true,
            echo: true,
            tls_required: false,
            headers: false,
            no_responders: false,
            protocol: 0,
            name: String::new(),
            lang: String::new(),
            version: String::new(),
            user: String::new(),
            pass: String::new(),
            auth_token: String::new(),
            nkey: String::new(),
            sig: String::new(),
            jwt: String::new(),
            account: String::new(),
            new_account: false,
        }
    }
}

/// Why a CONNECT argument could not be decoded; the connection is closed without `-ERR`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectError(pub String);

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl ClientOptions {
    /// Decodes a CONNECT argument on top of `self` (a second CONNECT updates the first).
    pub fn apply_connect(&mut self, json: &[u8]) -> Result<(), ConnectError> {
        let doc: Value = serde_json::from_slice(json)
            .map_err(|e| ConnectError(format!("invalid CONNECT: {e}")))?;
        let map = match doc {
            Value::Object(map) => map,
            // Go's decoder accepts `null` into a struct and changes nothing.
            Value::Null => return Ok(()),
            other => {
                return Err(ConnectError(format!(
                    "json: cannot unmarshal {} into Go value of type server.ClientOpts",
                    kind_name(&other)
                )))
            }
        };
        for (key, value) in &map {
            if value.is_null() {
                continue;
            }
            let field = key.to_ascii_lowercase();
            match field.as_str() {
                "verbose" => self.verbose = want_bool(key, value)?,
                "pedantic" => self.pedantic = want_bool(key, value)?,
                "echo" => self.echo = want_bool(key, value)?,
                "tls_required" => self.tls_required = want_bool(key, value)?,
                "headers" => self.headers = want_bool(key, value)?,
                "no_responders" => self.no_responders = want_bool(key, value)?,
                "new_account" => self.new_account = want_bool(key, value)?,
                "protocol" => self.protocol = want_int(key, value)?,
                "name" => self.name = want_string(key, value)?,
                "lang" => self.lang = want_string(key, value)?,
                "version" => self.version = want_string(key, value)?,
                "user" => self.user = want_string(key, value)?,
                "pass" => self.pass = want_string(key, value)?,
                "auth_token" => self.auth_token = want_string(key, value)?,
                "nkey" => self.nkey = want_string(key, value)?,
                "sig" => self.sig = want_string(key, value)?,
                "jwt" => self.jwt = want_string(key, value)?,
                "account" => self.account = want_string(key, value)?,
                _ => {}
            }
        }
        Ok(())
    }
}

fn kind_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn type_error(key: &str, v: &Value, want: &str) -> ConnectError {
    ConnectError(format!(
        "json: cannot unmarshal {} into Go struct field ClientOpts.{key} of type {want}",
        kind_name(v)
    ))
}

fn want_bool(key: &str, v: &Value) -> Result<bool, ConnectError> {
    v.as_bool().ok_or_else(|| type_error(key, v, "bool"))
}

fn want_string(key: &str, v: &Value) -> Result<String, ConnectError> {
    v.as_str()
        .map(str::to_owned)
        .ok_or_else(|| type_error(key, v, "string"))
}

fn want_int(key: &str, v: &Value) -> Result<i64, ConnectError> {
    v.as_i64().ok_or_else(|| type_error(key, v, "int"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_true_when_absent() {
        let mut o = ClientOptions::default();
        o.apply_connect(br#"{"name":"x"}"#).unwrap();
        assert!(o.verbose && o.pedantic && o.echo);
        assert_eq!(o.name, "x");
        assert_eq!(o.protocol, 0);
    }

    #[test]
    fn explicit_values_and_case_insensitive_keys() {
        let mut o = ClientOptions::default();
        o.apply_connect(br#"{"Verbose":false,"pedantic":false,"echo":false,"headers":true,"protocol":1,"no_responders":true,"unknown":[1,2]}"#)
            .unwrap();
        assert!(!o.verbose && !o.pedantic && !o.echo && o.headers && o.no_responders);
        assert_eq!(o.protocol, 1);
    }

    #[test]
    fn null_changes_nothing_and_wrong_types_fail() {
        let mut o = ClientOptions::default();
        o.apply_connect(b"null").unwrap();
        o.apply_connect(br#"{"verbose":null}"#).unwrap();
        assert!(o.verbose);
        assert!(o.apply_connect(br#"{"verbose":"yes"}"#).is_err());
        assert!(o.apply_connect(br#"{"protocol":1.5}"#).is_err());
        assert!(o.apply_connect(br#"[1]"#).is_err());
        assert!(o.apply_connect(br#"{"verbose":true"#).is_err());
        assert!(o.apply_connect(b"").is_err());
    }

    #[test]
    fn info_line_has_space_before_crlf_and_omits_empty() {
        let info = ServerInfo {
            server_id: "NABC".into(),
            server_name: "n".into(),
            version: "2.15.1".into(),
            proto: 1,
            go: "rust".into(),
            host: "0.0.0.0".into(),
            port: 4222,
            headers: true,
            max_payload: 1048576,
            client_id: 7,
            client_ip: "127.0.0.1".into(),
            ..Default::default()
        };
        let mut out = Vec::new();
        info.write_to(&mut out);
        let s = String::from_utf8(out).unwrap();
        assert!(s.starts_with("INFO {\"server_id\":\"NABC\",\"server_name\":\"n\",\"version\":\"2.15.1\",\"proto\":1,\"go\":\"rust\",\"host\":\"0.0.0.0\",\"port\":4222,\"headers\":true,\"max_payload\":1048576,\"client_id\":7,\"client_ip\":\"127.0.0.1\"}"));
        assert!(s.ends_with("} \r\n"));
        assert!(!s.contains("auth_required"));
    }
}
