//! The INFO the server sends and the CONNECT a client sends, as nats-server shapes them; and
//! the INFO and CONNECT documents routes and leaf nodes exchange.
//!
//! INFO keys, their order and their omit-when-empty rules follow nats-server's `Info` struct
//! (`server.go`), one struct for clients, routes and leafs as in Go; the line is
//! `INFO <json> \r\n` with the space before CRLF that nats-server's `generateInfoJSON`
//! leaves (only a forwarded gossip INFO has none). JSON is written the way Go's
//! `encoding/json` writes it: `<`, `>`, `&`, U+2028 and U+2029 inside strings are escaped
//! (`"foo.\u003e"`), which matters for permission subjects and server names.
//!
//! Documents a peer sends ([`ServerInfo`], [`RouteConnect`], [`LeafConnect`]) are decoded
//! the way Go's `encoding/json` decodes into nats-server's structs ([`decode_go_json`]):
//! unknown keys are ignored, missing keys keep their zero value, `null` changes nothing,
//! keys match case-insensitively, and a value of the wrong type is an error (nats closes).
//! A client's CONNECT is decoded by [`ClientOptions::apply_connect`] with the same rules
//! and nats-server's defaults (`verbose`, `pedantic` and `echo` true).

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::io;

/// nats-server's `JSApiLevel` (`jetstream_versioning.go`) for the release natrium matches.
pub const JS_API_LEVEL: i32 = 5;

/// The INFO document, for clients, routes and leafs. Field order and omitempty rules are
/// those of nats-server's `Info`; a client INFO leaves the route, gateway and leaf fields
/// empty, so they are not written. Decoding a peer's INFO: [`ServerInfo::from_json`].
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
#[serde(default)]
pub struct ServerInfo {
    pub server_id: String,
    pub server_name: String,
    pub version: String,
    pub proto: i32,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub git_commit: String,
    pub go: String,
    /// On a route or leaf listener: that listener's host and port (or its advertise).
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
    /// Routes: `nats-route://h:p/` (advertise, forwarded gossip); leafs: `h:p`.
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
    /// The JetStream domain.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub domain: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub connect_urls: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ws_connect_urls: Vec<String>,
    #[serde(skip_serializing_if = "is_false")]
    pub ldm: bool,
    /// Route/leaf compression mode (`accept`, `s2_auto`, `off`, `not supported`, …).
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
    /// Route permissions (`cluster.permissions`), and a leaf user's, from the hub's view.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub import: Option<SubjectPermission>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub export: Option<SubjectPermission>,
    /// The sender understands `LS+`/`LMSG` with a leaf origin on routes.
    #[serde(skip_serializing_if = "is_false")]
    pub lnoc: bool,
    /// The sender understands `LS-` with a leaf origin on routes.
    #[serde(skip_serializing_if = "is_false")]
    pub lnocu: bool,
    /// Sent by nats-server 2.15.1 on routes (INFO and CONNECT), not in the 2.15.0-dev source
    /// read; its meaning is unknown and it made no visible difference. Read, not sent by
    /// natrium; it sits where 2.15.1 writes it (after `lnocu`).
    #[serde(skip_serializing_if = "is_false")]
    pub ln: bool,
    /// Leaf hub: an INFO with `connect_info` follows the spoke's CONNECT.
    #[serde(skip_serializing_if = "is_false")]
    pub info_on_connect: bool,
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub route_pool_size: i64,
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub route_pool_idx: i64,
    /// The account a pinned route is dedicated to.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub route_account: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub route_acc_add_reqid: String,
    /// 1 = gossip disabled, 2 = override (nats-server's `gossipDisabled`/`gossipOverride`).
    #[serde(skip_serializing_if = "is_zero_u8")]
    pub gossip_mode: u8,
    /// Gateway fields: a route INFO may carry `gateway_url`; the others are gateway-only and
    /// kept so a peer's INFO decodes like Go decodes it.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub gateway: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub gateway_urls: Vec<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub gateway_url: String,
    #[serde(skip_serializing_if = "is_zero_u8")]
    pub gateway_cmd: u8,
    /// Go's `[]byte`, which JSON carries as base64: kept as that text.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub gateway_cmd_payload: String,
    #[serde(skip_serializing_if = "is_false")]
    pub gateway_nrp: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub gateway_iom: bool,
    /// Leaf URLs the receiver may (re)connect to; a leaf hub must send it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub leafnode_urls: Vec<String>,
    /// The server's public x25519 key.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub xkey: String,
}

/// nats-server's `SubjectPermission`: `{"allow":[…],"deny":[…]}`, both omitted when empty.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
#[serde(default)]
pub struct SubjectPermission {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allow: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub deny: Vec<String>,
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

fn is_zero_i64(n: &i64) -> bool {
    *n == 0
}

fn is_zero_u8(n: &u8) -> bool {
    *n == 0
}

impl ServerInfo {
    /// Appends the wire form `INFO <json> \r\n`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"INFO ");
        write_go_json(out, self);
        out.extend_from_slice(b" \r\n");
    }

    /// Appends `INFO <json>\r\n`, without the space: the form of the INFO nats-server
    /// forwards to its other routes when a new server joins (`InfoProto` in `route.go`).
    pub fn write_gossip_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"INFO ");
        write_go_json(out, self);
        out.extend_from_slice(b"\r\n");
    }

    /// Decodes a peer's INFO argument as Go decodes it into `Info` ([`decode_go_json`]).
    pub fn from_json(json: &[u8]) -> Result<ServerInfo, JsonError> {
        decode_go_json(json, "Info")
    }
}

/// The CONNECT a route sends (nats-server's `connectInfo`, `route.go`), in its field order.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
#[serde(default)]
pub struct RouteConnect {
    pub echo: bool,
    pub verbose: bool,
    pub pedantic: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub user: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub pass: String,
    pub tls_required: bool,
    pub headers: bool,
    /// The sender's server id (not its name).
    pub name: String,
    pub cluster: String,
    #[serde(rename = "cluster_dynamic", skip_serializing_if = "is_false")]
    pub dynamic: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub lnoc: bool,
    /// Read by nats-server from a route CONNECT, though it sends it only in INFO.
    #[serde(skip_serializing_if = "is_false")]
    pub lnocu: bool,
    /// As [`ServerInfo::ln`]. nats-server 2.15.1 writes it after `lnoc` and never sends
    /// `lnocu` here, so its place relative to `lnocu` is a guess.
    #[serde(skip_serializing_if = "is_false")]
    pub ln: bool,
    /// Set by gateways only; nats-server rejects a route CONNECT that has it.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub gateway: String,
}

impl RouteConnect {
    /// What `sendRouteConnect` sends: echo on, verbose and pedantic off, `lnoc`, credentials
    /// from the route URL's userinfo (left empty here).
    pub fn new(server_id: &str, cluster: &str, headers: bool, tls_required: bool) -> Self {
        RouteConnect {
            echo: true,
            tls_required,
            headers,
            name: server_id.to_string(),
            cluster: cluster.to_string(),
            lnoc: true,
            ..RouteConnect::default()
        }
    }

    /// Appends `CONNECT <json>\r\n` (nats-server's `ConProto`: no space before CRLF).
    pub fn write_to(&self, out: &mut Vec<u8>) {
        write_connect(out, self);
    }

    pub fn from_json(json: &[u8]) -> Result<RouteConnect, JsonError> {
        decode_go_json(json, "connectInfo")
    }
}

/// The CONNECT a leaf node (the soliciting side) sends (nats-server's `leafConnectInfo`,
/// `leafnode.go`), every field omitted when empty. It has no `lang`, `verbose`, `echo`
/// or `pedantic`; the hub turns the last three off.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
#[serde(default)]
pub struct LeafConnect {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub version: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub nkey: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub jwt: String,
    /// The nonce signature, base64url without padding.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub sig: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub user: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub pass: String,
    /// nats-server sets it to `user` too when a user has no password.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub auth_token: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub server_id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub domain: String,
    /// The spoke's server name (duplicate detection).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(skip_serializing_if = "is_false")]
    pub is_hub: bool,
    /// The spoke's cluster name (its server name when standalone): the origin of its
    /// interest and messages on the hub's routes.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub cluster: String,
    #[serde(skip_serializing_if = "is_false")]
    pub headers: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub jetstream: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub deny_pub: Vec<String>,
    #[serde(skip_serializing_if = "is_false")]
    pub isolate: bool,
    /// The compression mode as the spoke sees it; the key is `compress_mode`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub compress_mode: String,
    /// Set by gateways only (wrong-port detection).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub gateway: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub remote_account: String,
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub protocol: i64,
}

impl LeafConnect {
    /// Appends `CONNECT <json>\r\n`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        write_connect(out, self);
    }

    pub fn from_json(json: &[u8]) -> Result<LeafConnect, JsonError> {
        decode_go_json(json, "leafConnectInfo")
    }
}

fn write_connect<T: Serialize>(out: &mut Vec<u8>, doc: &T) {
    out.extend_from_slice(b"CONNECT ");
    write_go_json(out, doc);
    out.extend_from_slice(b"\r\n");
}

/// Appends `value` as Go's `json.Marshal` writes it: compact, and with `<`, `>`, `&`,
/// U+2028 and U+2029 in strings escaped as `\u003c`-style sequences (Go's HTML-safe
/// escaping, on by default). Serializing plain structs into a Vec cannot fail; should it,
/// `{}` is written.
pub fn write_go_json<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    let start = out.len();
    let mut ser = serde_json::Serializer::with_formatter(&mut *out, GoFormatter);
    if value.serialize(&mut ser).is_err() {
        out.truncate(start);
        out.extend_from_slice(b"{}");
    }
}

/// serde_json's compact formatter plus Go's HTML-safe string escaping.
struct GoFormatter;

impl serde_json::ser::Formatter for GoFormatter {
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut run = 0;
        for (i, c) in fragment.char_indices() {
            let esc: &[u8] = match c {
                '<' => b"\\u003c",
                '>' => b"\\u003e",
                '&' => b"\\u0026",
                '\u{2028}' => b"\\u2028",
                '\u{2029}' => b"\\u2029",
                _ => continue,
            };
            writer.write_all(fragment.get(run..i).unwrap_or_default().as_bytes())?;
            writer.write_all(esc)?;
            run = i + c.len_utf8();
        }
        writer.write_all(fragment.get(run..).unwrap_or_default().as_bytes())
    }
}

/// Why a peer's INFO or CONNECT could not be decoded; nats-server closes the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError(pub String);

impl std::fmt::Display for JsonError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for JsonError {}

/// Decodes `json` into `T` the way Go's `json.Unmarshal` fills a zeroed struct: `null`
/// (the document or a member) changes nothing, keys match case-insensitively (of two
/// spellings the later in the document wins, as in Go), unknown keys are ignored, a value
/// of the wrong type is an error.
/// `go_type` names the Go struct in error texts. Go's Unicode case folding of keys beyond
/// ASCII (`K` and the Kelvin sign) is not reproduced.
pub fn decode_go_json<T: DeserializeOwned + Default>(
    json: &[u8],
    go_type: &str,
) -> Result<T, JsonError> {
    let doc: Ordered = serde_json::from_slice(json).map_err(|e| JsonError(e.to_string()))?;
    match doc.into_go_value() {
        Value::Null => Ok(T::default()),
        obj @ Value::Object(_) => serde_json::from_value(obj)
            .map_err(|e| JsonError(format!("json: {e} (server.{go_type})"))),
        other => Err(JsonError(format!(
            "json: cannot unmarshal {} into Go value of type server.{go_type}",
            kind_name(&other)
        ))),
    }
}

/// A JSON value whose objects keep their members in document order (serde_json's `Map`
/// sorts them unless its `preserve_order` feature is on), so that of two spellings of a key
/// the later one wins, as in Go.
enum Ordered {
    Object(Vec<(String, Ordered)>),
    Value(Value),
}

impl Ordered {
    /// Objects with keys lower-cased and `null` members dropped, recursively (every nested
    /// object of these documents is a Go struct, which Go fills the same way).
    fn into_go_value(self) -> Value {
        match self {
            Ordered::Value(v) => v,
            Ordered::Object(members) => {
                let mut map = Map::new();
                for (k, v) in members {
                    match v.into_go_value() {
                        Value::Null => {}
                        v => {
                            map.insert(k.to_ascii_lowercase(), v);
                        }
                    }
                }
                Value::Object(map)
            }
        }
    }
}

impl<'de> Deserialize<'de> for Ordered {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Ordered, D::Error> {
        d.deserialize_any(OrderedVisitor)
    }
}

struct OrderedVisitor;

impl<'de> serde::de::Visitor<'de> for OrderedVisitor {
    type Value = Ordered;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Ordered, E> {
        Ok(Ordered::Value(Value::Bool(v)))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Ordered, E> {
        Ok(Ordered::Value(Value::from(v)))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Ordered, E> {
        Ok(Ordered::Value(Value::from(v)))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Ordered, E> {
        Ok(Ordered::Value(Value::from(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Ordered, E> {
        Ok(Ordered::Value(Value::String(v.to_owned())))
    }

    fn visit_string<E>(self, v: String) -> Result<Ordered, E> {
        Ok(Ordered::Value(Value::String(v)))
    }

    fn visit_unit<E>(self) -> Result<Ordered, E> {
        Ok(Ordered::Value(Value::Null))
    }

    fn visit_none<E>(self) -> Result<Ordered, E> {
        Ok(Ordered::Value(Value::Null))
    }

    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Ordered, D::Error> {
        Ordered::deserialize(d)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Ordered, A::Error> {
        let mut items = Vec::new();
        while let Some(v) = seq.next_element::<Value>()? {
            items.push(v);
        }
        Ok(Ordered::Value(Value::Array(items)))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Ordered, A::Error> {
        let mut members = Vec::new();
        while let Some(entry) = map.next_entry::<String, Ordered>()? {
            members.push(entry);
        }
        Ok(Ordered::Object(members))
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

    // Lines observed from nats-server 2.15.1 (a raw-socket peer on its cluster and leaf
    // ports; cluster permissions and the server name `B&<x>` configured for the first).
    const ROUTE_INFO: &str = r#"INFO {"server_id":"NCKPIVYW2A6DZPGPGIJB2HCW3LMSVQVK4OOR5TYIRAPOGSQMOWZJ5OF3","server_name":"B\u0026\u003cx\u003e","version":"2.15.1","proto":3,"go":"go1.27.2","host":"127.0.0.1","port":16335,"headers":true,"max_payload":1048576,"nonce":"JOWfpO_SHbUtm9M","cluster":"C1","connect_urls":["192.0.2.2:14225","[fd00::2]:14225"],"compression":"not supported","import":{"allow":["foo.\u003e","bar"],"deny":["baz.*"]},"export":{"allow":["\u003e"]},"lnoc":true,"lnocu":true,"ln":true,"leafnode_urls":["127.0.0.1:17445"]} "#;
    const ROUTE_INFO_POOL: &str = r#"INFO {"server_id":"NA7RGT42","server_name":"B","version":"2.15.1","proto":3,"go":"go1.27.2","host":"127.0.0.1","port":16223,"headers":true,"max_payload":1048576,"nonce":"9TQk2brTM6IqrQg","cluster":"C1","connect_urls":["192.0.2.2:14223","[fd00::2]:14223"],"compression":"not supported","lnoc":true,"lnocu":true,"ln":true,"route_pool_size":3} "#;
    const LEAF_HUB_INFO: &str = r#"INFO {"server_id":"NAJYYAY73HM6K4P5KMVRZR4BPQMOOADV7BZZDO2FZTQNHC4KIHLERRPV","server_name":"A","version":"2.15.1","proto":3,"git_commit":"b2fd3ef","go":"go1.27.2","host":"127.0.0.1","port":17422,"headers":true,"auth_required":true,"max_payload":1024,"ip":"127.0.0.1:17422","client_id":69,"nonce":"-CuN85dK6B5QHzU","cluster":"C1","compression":"s2_auto","api_lvl":5,"info_on_connect":true,"leafnode_urls":["127.0.0.1:17422"]} "#;
    const LEAF_HUB_CONNECT_INFO: &str = r#"INFO {"server_id":"NAJYYAY73HM6K4P5KMVRZR4BPQMOOADV7BZZDO2FZTQNHC4KIHLERRPV","server_name":"A","version":"2.15.1","proto":3,"git_commit":"b2fd3ef","go":"go1.27.2","host":"127.0.0.1","port":17422,"headers":true,"auth_required":true,"max_payload":1024,"ip":"127.0.0.1:17422","client_id":69,"cluster":"C1","connect_info":true,"remote_account":"$G","api_lvl":5,"info_on_connect":true,"leafnode_urls":["127.0.0.1:17422"]} "#;
    const ROUTE_CONNECT: &str = r#"CONNECT {"echo":true,"verbose":false,"pedantic":false,"tls_required":false,"headers":true,"name":"NCRDZ3UP2HKET7Y3J6A4FAGSO4DTGQLTD76MBSH3DL7LZ626SPCO2FPK","cluster":"C1","lnoc":true,"ln":true}"#;
    const LEAF_CONNECT: &str = r#"CONNECT {"version":"2.15.1","user":"u","pass":"p","server_id":"NAYWBCZIYYKEBSXZGMRU3EQIVP6IYZ6CT72N6CFSG4B4KF2QORTWH374","name":"SPOKE","cluster":"SPOKE","headers":true,"compress_mode":"not supported","remote_account":"$G","protocol":3}"#;

    fn line(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut out = Vec::new();
        f(&mut out);
        String::from_utf8(out).unwrap()
    }

    fn json_of(wire: &str) -> &[u8] {
        let rest = wire.split_once(' ').unwrap().1;
        rest.trim_end().as_bytes()
    }

    #[test]
    fn route_info_matches_nats_server_bytes() {
        let info = ServerInfo {
            server_id: "NCKPIVYW2A6DZPGPGIJB2HCW3LMSVQVK4OOR5TYIRAPOGSQMOWZJ5OF3".into(),
            server_name: "B&<x>".into(),
            version: "2.15.1".into(),
            proto: 3,
            go: "go1.27.2".into(),
            host: "127.0.0.1".into(),
            port: 16335,
            headers: true,
            max_payload: 1048576,
            nonce: "JOWfpO_SHbUtm9M".into(),
            cluster: "C1".into(),
            connect_urls: vec!["192.0.2.2:14225".into(), "[fd00::2]:14225".into()],
            compression: "not supported".into(),
            import: Some(SubjectPermission {
                allow: vec!["foo.>".into(), "bar".into()],
                deny: vec!["baz.*".into()],
            }),
            export: Some(SubjectPermission {
                allow: vec![">".into()],
                deny: vec![],
            }),
            lnoc: true,
            lnocu: true,
            ln: true,
            leafnode_urls: vec!["127.0.0.1:17445".into()],
            ..Default::default()
        };
        assert_eq!(line(|o| info.write_to(o)), format!("{ROUTE_INFO}\r\n"));
        assert_eq!(ServerInfo::from_json(json_of(ROUTE_INFO)), Ok(info.clone()));
        // The gossip form has no space before CRLF.
        assert!(line(|o| info.write_gossip_to(o)).ends_with("\"]}\r\n"));
    }

    #[test]
    fn observed_peer_infos_round_trip_byte_for_byte() {
        for wire in [
            ROUTE_INFO,
            ROUTE_INFO_POOL,
            LEAF_HUB_INFO,
            LEAF_HUB_CONNECT_INFO,
        ] {
            let info = ServerInfo::from_json(json_of(wire)).unwrap();
            assert_eq!(line(|o| info.write_to(o)), format!("{wire}\r\n"));
        }
        let pool = ServerInfo::from_json(json_of(ROUTE_INFO_POOL)).unwrap();
        assert_eq!(pool.route_pool_size, 3);
        let hub = ServerInfo::from_json(json_of(LEAF_HUB_CONNECT_INFO)).unwrap();
        assert!(hub.connect_info && hub.info_on_connect);
        assert_eq!((hub.client_id, hub.remote_account.as_str()), (69, "$G"));
        assert_eq!(hub.leafnode_urls, ["127.0.0.1:17422"]);
    }

    #[test]
    fn route_connect_matches_nats_server_bytes() {
        let mut c = RouteConnect::new(
            "NCRDZ3UP2HKET7Y3J6A4FAGSO4DTGQLTD76MBSH3DL7LZ626SPCO2FPK",
            "C1",
            true,
            false,
        );
        // natrium does not send 2.15.1's unexplained `ln`; with it the line is the observed one.
        let without_ln = ROUTE_CONNECT.replace(r#","ln":true"#, "");
        assert_eq!(line(|o| c.write_to(o)), format!("{without_ln}\r\n"));
        c.ln = true;
        assert_eq!(line(|o| c.write_to(o)), format!("{ROUTE_CONNECT}\r\n"));
        assert_eq!(RouteConnect::from_json(json_of(ROUTE_CONNECT)), Ok(c));
        // Every optional key, in connectInfo's order.
        let full = RouteConnect {
            user: "u".into(),
            pass: "p".into(),
            dynamic: true,
            lnocu: true,
            gateway: "G".into(),
            ..RouteConnect::new("N", "C", false, true)
        };
        assert_eq!(
            line(|o| full.write_to(o)),
            "CONNECT {\"echo\":true,\"verbose\":false,\"pedantic\":false,\"user\":\"u\",\"pass\":\"p\",\"tls_required\":true,\"headers\":false,\"name\":\"N\",\"cluster\":\"C\",\"cluster_dynamic\":true,\"lnoc\":true,\"lnocu\":true,\"gateway\":\"G\"}\r\n"
        );
    }

    #[test]
    fn leaf_connect_matches_nats_server_bytes() {
        let c = LeafConnect {
            version: "2.15.1".into(),
            user: "u".into(),
            pass: "p".into(),
            server_id: "NAYWBCZIYYKEBSXZGMRU3EQIVP6IYZ6CT72N6CFSG4B4KF2QORTWH374".into(),
            name: "SPOKE".into(),
            cluster: "SPOKE".into(),
            headers: true,
            compress_mode: "not supported".into(),
            remote_account: "$G".into(),
            protocol: 3,
            ..Default::default()
        };
        assert_eq!(line(|o| c.write_to(o)), format!("{LEAF_CONNECT}\r\n"));
        assert_eq!(LeafConnect::from_json(json_of(LEAF_CONNECT)), Ok(c));
        let full = LeafConnect {
            version: "v".into(),
            nkey: "UA".into(),
            jwt: "j".into(),
            sig: "s".into(),
            user: "u".into(),
            pass: "p".into(),
            auth_token: "t".into(),
            server_id: "N".into(),
            domain: "d".into(),
            name: "n".into(),
            is_hub: true,
            cluster: "c".into(),
            headers: true,
            jetstream: true,
            deny_pub: vec!["a.>".into()],
            isolate: true,
            compress_mode: "s2_auto".into(),
            gateway: "g".into(),
            remote_account: "A".into(),
            protocol: 3,
        };
        assert_eq!(
            line(|o| full.write_to(o)),
            "CONNECT {\"version\":\"v\",\"nkey\":\"UA\",\"jwt\":\"j\",\"sig\":\"s\",\"user\":\"u\",\"pass\":\"p\",\"auth_token\":\"t\",\"server_id\":\"N\",\"domain\":\"d\",\"name\":\"n\",\"is_hub\":true,\"cluster\":\"c\",\"headers\":true,\"jetstream\":true,\"deny_pub\":[\"a.\\u003e\"],\"isolate\":true,\"compress_mode\":\"s2_auto\",\"gateway\":\"g\",\"remote_account\":\"A\",\"protocol\":3}\r\n"
        );
        assert_eq!(
            LeafConnect::from_json(json_of(&line(|o| full.write_to(o)))),
            Ok(full)
        );
        assert_eq!(
            line(|o| LeafConnect::default().write_to(o)),
            "CONNECT {}\r\n"
        );
    }

    #[test]
    fn peer_documents_decode_like_go() {
        // Unknown keys ignored, missing keys zero, null changes nothing, keys fold case.
        let i = ServerInfo::from_json(
            br#"{"SERVER_ID":"N","Port":7,"future":{"x":[1]},"lnoc":null,"Import":{"ALLOW":["a"]}}"#,
        )
        .unwrap();
        assert_eq!((i.server_id.as_str(), i.port, i.lnoc), ("N", 7, false));
        assert_eq!(i.import.unwrap().allow, ["a"]);
        assert_eq!(ServerInfo::from_json(b"null"), Ok(ServerInfo::default()));
        assert_eq!(ServerInfo::from_json(b"{}"), Ok(ServerInfo::default()));
        // Of two spellings, the later in the document wins (not the later in sort order).
        let i = ServerInfo::from_json(br#"{"port":1,"PORT":2}"#).unwrap();
        assert_eq!(i.port, 2);
        let i = ServerInfo::from_json(br#"{"PORT":2,"port":1,"Port":null}"#).unwrap();
        assert_eq!(i.port, 1);
        // Wrong types and non-objects are errors (nats-server closes).
        for bad in [
            &br#"{"headers":"yes"}"#[..],
            br#"{"port":1.5}"#,
            br#"{"route_pool_size":"3"}"#,
            br#"{"gossip_mode":300}"#,
            br#"{"import":["a"]}"#,
            b"[1]",
            b"\"x\"",
            b"{",
            b"",
            b"{} x",
        ] {
            assert!(
                ServerInfo::from_json(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        let c = RouteConnect::from_json(br#"{"Name":"N","lnocu":true,"lang":"go"}"#).unwrap();
        assert_eq!((c.name.as_str(), c.lnocu, c.echo), ("N", true, false));
        assert!(LeafConnect::from_json(br#"{"protocol":"3"}"#).is_err());
    }

    #[test]
    fn client_info_has_no_peer_keys() {
        let info = ServerInfo {
            server_id: "N".into(),
            api_lvl: JS_API_LEVEL,
            ..Default::default()
        };
        assert_eq!(
            line(|o| info.write_to(o)),
            "INFO {\"server_id\":\"N\",\"server_name\":\"\",\"version\":\"\",\"proto\":0,\"go\":\"\",\"host\":\"\",\"port\":0,\"headers\":false,\"max_payload\":0,\"api_lvl\":5} \r\n"
        );
    }

    #[test]
    fn go_escaping() {
        let mut out = Vec::new();
        write_go_json(
            &mut out,
            &["<a&b>", "\u{2028}\u{2029}", "é\"\\\n\u{1}", "plain"],
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"["\u003ca\u0026b\u003e","\u2028\u2029","é\"\\\n\u0001","plain"]"#
        );
    }
}
