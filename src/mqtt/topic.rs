//! MQTT topic names and topic filters ↔ NATS subjects, as nats-server maps them (`mqtt.go`,
//! "Subject/Topic conversion functions"), so that MQTT and NATS clients of natrium see the
//! same subjects they would see on nats-server.
//!
//! This module owns the mapping and the checks on topics and filters; it holds no state and
//! does no I/O. What the connection does with the results (SUBACK codes, subscription ids,
//! delivery) is the MQTT connection's business (`reactor::mqtt`).
//!
//! The mapping, both ways:
//!
//! | MQTT | NATS | why |
//! |---|---|---|
//! | `/` between two levels | `.` | the level separator |
//! | `/` at the start, or after a `/` that already became `.` | `/.` | an empty level becomes the token `/` (NATS has no empty tokens) |
//! | `/` at the end, or followed by `/` | `./` | same |
//! | `.` | `//` | `.` is NATS's separator; `//` cannot occur otherwise |
//! | `+` (filters only) | `*` | |
//! | `#` (filters only) | `>` | |
//! | space, `\t`, `\n`, `\r`, `\f`, DEL | rejected | would break the NATS control line on routes and leaf nodes; DEL is the subject tree's pivot |
//!
//! So `/foo` is `/.foo`, `foo/` is `foo./`, `foo//bar` is `foo./.bar`, `foo.bar` is
//! `foo//bar`. A NATS `*` or `>` inside an MQTT topic or filter is not escaped: in a filter
//! `foo/*/bar` is the NATS wildcard `foo.*.bar`, as in nats-server.
//!
//! Three subscription rules come with it:
//! - **`#` also matches its parent level** (`sport/#` matches `sport`, MQTT-4.7.1-2): NATS's
//!   `>` needs at least one token, so nats-server adds a second subscription on the parent
//!   subject (`foo.>` and `foo`; its sid is the subject plus `" fwc"`).
//!   [`filter_to_subjects`] returns both.
//! - **`$` topics** are not matched by a filter whose first level is a wildcard (`#`, `+`,
//!   `+/…`; MQTT-4.7.2-1): nats-server marks such subscriptions as reserved
//!   ([`is_reserved_subscription`]) and skips, at delivery, messages whose subject starts
//!   with `$` ([`skip_for_reserved`]).
//! - **`$MQTT.` subjects are internal** (sessions, retained messages, QoS 1/2 streams): a
//!   filter that maps under them is refused, so that `$MQTT/msgs/+` cannot bypass
//!   subscription permissions.
//!
//! MQTT 5 shared subscriptions (`$share/{group}/{filter}`) are not in nats-server (MQTT
//! 3.1.1 only); [`parse_shared`] follows the MQTT 5 specification (§4.8.2).

use std::fmt;

/// The MQTT level separator.
const LEVEL_SEP: u8 = b'/';
/// The NATS token separator.
const TOKEN_SEP: u8 = b'.';
const MQTT_SINGLE_WC: u8 = b'+';
const MQTT_MULTI_WC: u8 = b'#';
const NATS_PWC: u8 = b'*';
const NATS_FWC: u8 = b'>';
/// The prefix of nats-server's internal MQTT subjects (`mqttPrefix`).
const INTERNAL_PREFIX: &[u8] = b"$MQTT.";
/// MQTT 5's shared subscription prefix.
const SHARE_PREFIX: &[u8] = b"$share/";

/// Why a topic name or filter is refused. The texts are nats-server's where it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicError {
    /// A PUBLISH (or Will) topic of zero length (`errMQTTTopicIsEmpty`).
    EmptyTopic,
    /// A SUBSCRIBE or UNSUBSCRIBE filter of zero length (`errMQTTTopicFilterCannotBeEmpty`).
    EmptyFilter,
    /// Not UTF-8 (MQTT-1.5.3-1); `field` is "topic" or "topic filter".
    InvalidUtf8 { field: &'static str, topic: Vec<u8> },
    /// A U+0000 (MQTT-1.5.3-2).
    NullCharacter { field: &'static str, topic: Vec<u8> },
    /// Whitespace or DEL (`errMQTTUnsupportedCharacters`).
    UnsupportedCharacters,
    /// `+` or `#` in a topic name (MQTT-3.3.2-2, MQTT-4.7.1-1).
    WildcardInTopic(Vec<u8>),
    /// `#` not alone in the last level, or `+` not alone in its level (MQTT-4.7.1-2,
    /// MQTT-4.7.1-3). natrium's own check and text: nats-server takes `foo#` or `a+b` as
    /// literal tokens.
    InvalidWildcard(Vec<u8>),
    /// The filter maps to no valid NATS subject: a NATS `>` that is not the last level
    /// (`foo/>/bar`). nats-server's sublist refuses it (SUBACK failure).
    InvalidSubject(Vec<u8>),
    /// The filter maps under `$MQTT.`, nats-server's internal subjects (a SUBACK failure
    /// there, with no text).
    InternalSubject(Vec<u8>),
    /// A malformed `$share/{group}/{filter}` (MQTT-4.8.2-1, MQTT-4.8.2-2).
    InvalidShare {
        filter: Vec<u8>,
        reason: &'static str,
    },
}

impl fmt::Display for TopicError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TopicError::EmptyTopic => f.write_str("topic cannot be empty"),
            TopicError::EmptyFilter => f.write_str("topic filter cannot be empty"),
            TopicError::InvalidUtf8 { field, topic } => {
                write!(f, "invalid utf8 for {field} {}", go_quote(topic))
            }
            TopicError::NullCharacter { field, topic } => {
                write!(f, "invalid null character in {field} {}", go_quote(topic))
            }
            TopicError::UnsupportedCharacters => {
                f.write_str("character not supported for MQTT topics")
            }
            TopicError::WildcardInTopic(t) => {
                write!(
                    f,
                    "wildcards not allowed in publish's topic: {}",
                    go_quote(t)
                )
            }
            TopicError::InvalidWildcard(t) => {
                write!(
                    f,
                    "invalid use of wildcards in topic filter {}",
                    go_quote(t)
                )
            }
            TopicError::InvalidSubject(t) => {
                write!(f, "topic filter {} maps to an invalid subject", go_quote(t))
            }
            TopicError::InternalSubject(t) => write!(
                f,
                "topic filter {} maps to internal MQTT subjects",
                go_quote(t)
            ),
            TopicError::InvalidShare { filter, reason } => {
                write!(
                    f,
                    "invalid shared subscription {}: {reason}",
                    go_quote(filter)
                )
            }
        }
    }
}

impl std::error::Error for TopicError {}

/// A PUBLISH (or Will) topic name → the NATS subject it is published on (nats-server
/// `mqttParsePub`: the empty check, `mqttValidateTopic`, then `mqttTopicToNATSPubSubject`).
///
/// A NATS `*` or `>` in the topic passes through unchanged, as in nats-server: `foo/*`
/// publishes on `foo.*`.
pub fn topic_to_subject(topic: &[u8]) -> Result<Vec<u8>, TopicError> {
    if topic.is_empty() {
        return Err(TopicError::EmptyTopic);
    }
    validate_string(topic, "topic")?;
    convert(topic, false)
}

/// A SUBSCRIBE (or UNSUBSCRIBE) topic filter → the NATS subjects to subscribe to: the
/// filter's own subject first, then, for a filter whose subject ends in `.>` (`foo/#`), its
/// parent (`foo`), which MQTT's `#` also matches (nats-server `processSubs`, `fwc`).
///
/// The checks are nats-server's (empty, UTF-8, NUL, unsupported characters, a valid NATS
/// subject, not under `$MQTT.`) plus the specification's wildcard placement, which
/// nats-server does not check (see [`TopicError::InvalidWildcard`]).
pub fn filter_to_subjects(filter: &[u8]) -> Result<Vec<Vec<u8>>, TopicError> {
    if filter.is_empty() {
        return Err(TopicError::EmptyFilter);
    }
    validate_string(filter, "topic filter")?;
    check_wildcards(filter)?;
    let subject = convert(filter, true)?;
    if !crate::subject::is_valid_subject(&subject) {
        return Err(TopicError::InvalidSubject(filter.to_vec()));
    }
    if subject.starts_with(INTERNAL_PREFIX) {
        return Err(TopicError::InternalSubject(filter.to_vec()));
    }
    // nats-server `mqttNeedSubForLevelUp`: more than one token and ending with ".>".
    let parent = (subject.len() >= 3 && subject.ends_with(b".>"))
        .then(|| subject[..subject.len() - 2].to_vec());
    let mut subjects = vec![subject];
    subjects.extend(parent);
    Ok(subjects)
}

/// The NATS subject of a delivered message → the topic an MQTT subscriber sees (nats-server
/// `natsSubjectToMQTTTopic`): `.` → `/`, `/.` → `/`, `//` → `.`, and a `/` followed by
/// anything else (or last) is dropped, so `foo./` → `foo/` and the NATS subject `a/b`
/// becomes `ab`.
pub fn subject_to_topic(subject: &[u8]) -> Vec<u8> {
    let mut topic = Vec::with_capacity(subject.len());
    let mut i = 0;
    while i < subject.len() {
        match subject[i] {
            LEVEL_SEP => match subject.get(i + 1) {
                Some(&TOKEN_SEP) => {
                    topic.push(LEVEL_SEP);
                    i += 1;
                }
                Some(&LEVEL_SEP) => {
                    topic.push(TOKEN_SEP);
                    i += 1;
                }
                _ => {}
            },
            TOKEN_SEP => topic.push(LEVEL_SEP),
            b => topic.push(b),
        }
        i += 1;
    }
    topic
}

/// An MQTT 5 shared subscription, `$share/{group}/{filter}`: subscribers of one group share
/// the messages (a NATS queue group).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SharedFilter<'a> {
    pub group: &'a [u8],
    /// The topic filter after the group, for [`filter_to_subjects`].
    pub filter: &'a [u8],
}

/// Splits a `$share/{group}/{filter}` filter (MQTT 5 §4.8.2); `None` for any other filter.
/// The group must be non-empty and free of `/`, `+` and `#` (MQTT-4.8.2-1, MQTT-4.8.2-2),
/// and, since it becomes a NATS queue name, of whitespace, DEL and NUL; the filter after it
/// must be non-empty. The filter itself is checked by [`filter_to_subjects`].
pub fn parse_shared(filter: &[u8]) -> Result<Option<SharedFilter<'_>>, TopicError> {
    let Some(rest) = filter.strip_prefix(SHARE_PREFIX) else {
        return Ok(None);
    };
    let invalid = |reason| TopicError::InvalidShare {
        filter: filter.to_vec(),
        reason,
    };
    let Some(slash) = rest.iter().position(|&b| b == LEVEL_SEP) else {
        return Err(invalid(
            "the share name must be followed by '/' and a topic filter",
        ));
    };
    let (group, inner) = (&rest[..slash], &rest[slash + 1..]);
    if group.is_empty() {
        return Err(invalid("the share name cannot be empty"));
    }
    if group.contains(&MQTT_SINGLE_WC) || group.contains(&MQTT_MULTI_WC) {
        return Err(invalid("the share name cannot contain '+' or '#'"));
    }
    if group.iter().any(|&b| is_unsupported(b) || b == 0) {
        return Err(TopicError::UnsupportedCharacters);
    }
    if inner.is_empty() {
        return Err(invalid(
            "the topic filter after the share name cannot be empty",
        ));
    }
    Ok(Some(SharedFilter {
        group,
        filter: inner,
    }))
}

/// Whether a subscription on `subject` (a converted filter) starts with a wildcard level:
/// `>`, `*` or `*.…` (nats-server `isMQTTReservedSubscription`). Such a subscription must
/// not receive messages on subjects starting with `$` (MQTT-4.7.2-1); see
/// [`skip_for_reserved`]. The parent subscription of `+/#` (`*`) is reserved too.
pub fn is_reserved_subscription(subject: &[u8]) -> bool {
    matches!(subject, [NATS_FWC] | [NATS_PWC] | [NATS_PWC, TOKEN_SEP, ..])
}

/// Whether a message on `subject` must not be delivered to a subscription marked with
/// [`is_reserved_subscription`] (nats-server `mqttMustIgnoreForReservedSub`).
pub fn skip_for_reserved(reserved: bool, subject: &[u8]) -> bool {
    reserved && subject.first() == Some(&b'$')
}

/// nats-server `mqttValidateTopic`: UTF-8 and no NUL.
fn validate_string(topic: &[u8], field: &'static str) -> Result<(), TopicError> {
    if std::str::from_utf8(topic).is_err() {
        return Err(TopicError::InvalidUtf8 {
            field,
            topic: topic.to_vec(),
        });
    }
    if topic.contains(&0) {
        return Err(TopicError::NullCharacter {
            field,
            topic: topic.to_vec(),
        });
    }
    Ok(())
}

/// MQTT-4.7.1-2 and MQTT-4.7.1-3: `#` only as the whole last level, `+` only as a whole
/// level.
fn check_wildcards(filter: &[u8]) -> Result<(), TopicError> {
    let mut levels = filter.split(|&b| b == LEVEL_SEP).peekable();
    while let Some(level) = levels.next() {
        let last = levels.peek().is_none();
        let bad_multi = level.contains(&MQTT_MULTI_WC) && (level != [MQTT_MULTI_WC] || !last);
        let bad_single = level.contains(&MQTT_SINGLE_WC) && level != [MQTT_SINGLE_WC];
        if bad_multi || bad_single {
            return Err(TopicError::InvalidWildcard(filter.to_vec()));
        }
    }
    Ok(())
}

/// The characters nats-server refuses in topics and filters.
fn is_unsupported(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0c | 0x7f)
}

/// nats-server `mqttToNATSSubjectConversion`, byte for byte.
fn convert(mt: &[u8], wildcards_ok: bool) -> Result<Vec<u8>, TopicError> {
    let mut res = Vec::with_capacity(mt.len() + 10);
    let end = mt.len() - 1;
    for (i, &b) in mt.iter().enumerate() {
        match b {
            LEVEL_SEP => {
                // An empty level (first, or right after one already written) becomes "/".
                if i == 0 || res.last() == Some(&TOKEN_SEP) {
                    res.extend_from_slice(b"/.");
                } else if i == end || mt[i + 1] == LEVEL_SEP {
                    res.extend_from_slice(b"./");
                } else {
                    res.push(TOKEN_SEP);
                }
            }
            b if is_unsupported(b) => return Err(TopicError::UnsupportedCharacters),
            TOKEN_SEP => res.extend_from_slice(b"//"),
            MQTT_SINGLE_WC | MQTT_MULTI_WC => {
                if !wildcards_ok {
                    return Err(TopicError::WildcardInTopic(mt.to_vec()));
                }
                res.push(if b == MQTT_SINGLE_WC {
                    NATS_PWC
                } else {
                    NATS_FWC
                });
            }
            b => res.push(b),
        }
    }
    // A trailing empty level.
    if res.last() == Some(&TOKEN_SEP) {
        res.push(LEVEL_SEP);
    }
    Ok(res)
}

/// Go's `%q` of a byte slice, for nats-server's error texts: printable characters as they
/// are, Go's escapes for the others and `\xNN` for bytes that are not UTF-8.
fn go_quote(b: &[u8]) -> String {
    let mut out = String::with_capacity(b.len() + 2);
    out.push('"');
    for chunk in b.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\x07' => out.push_str("\\a"),
                '\x08' => out.push_str("\\b"),
                '\x0c' => out.push_str("\\f"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\x0b' => out.push_str("\\v"),
                c if (c as u32) < 0x20 || c == '\x7f' => {
                    out.push_str(&format!("\\x{:02x}", c as u32))
                }
                c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
                c => out.push(c),
            }
        }
        for byte in chunk.invalid() {
            out.push_str(&format!("\\x{byte:02x}"));
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(b: &[u8]) -> String {
        String::from_utf8_lossy(b).into_owned()
    }

    /// nats-server's `TestMQTTTopicAndSubjectConversion` table, and more: topic → subject,
    /// and back.
    #[test]
    fn topic_and_subject_conversion() {
        for (topic, subject) in [
            ("/", "/./"),
            ("//", "/././"),
            ("///", "/./././"),
            ("////", "/././././"),
            ("foo", "foo"),
            ("/foo", "/.foo"),
            ("//foo", "/./.foo"),
            ("///foo", "/././.foo"),
            ("///foo/", "/././.foo./"),
            ("///foo//", "/././.foo././"),
            ("///foo///", "/././.foo./././"),
            ("//.foo.//", "/././/foo//././"),
            ("foo/bar", "foo.bar"),
            ("/foo/bar", "/.foo.bar"),
            ("/foo/bar/", "/.foo.bar./"),
            ("foo/bar/baz", "foo.bar.baz"),
            ("/foo/bar/baz", "/.foo.bar.baz"),
            ("/foo/bar/baz/", "/.foo.bar.baz./"),
            ("bar/", "bar./"),
            ("bar//", "bar././"),
            ("bar///", "bar./././"),
            ("foo//bar", "foo./.bar"),
            ("foo///bar", "foo././.bar"),
            ("foo////bar", "foo./././.bar"),
            (".", "//"),
            ("..", "////"),
            ("...", "//////"),
            ("./", "//./"),
            (".//.", "//././/"),
            ("././.", "//.//.//"),
            ("././/.", "//.//././/"),
            (".foo", "//foo"),
            ("foo.", "foo//"),
            (".foo.", "//foo//"),
            ("foo../bar/", "foo////.bar./"),
            ("foo../bar/.", "foo////.bar.//"),
            ("/foo/", "/.foo./"),
            ("./foo/.", "//.foo.//"),
            ("foo.bar/baz", "foo//bar.baz"),
            // nats-server `TestMQTTTopicWithDot`.
            ("spBv1.0/plant1", "spBv1//0.plant1"),
            // Beyond nats-server's table.
            ("foo/", "foo./"),
            ("$SYS/foo", "$SYS.foo"),
            ("a/b/c/d", "a.b.c.d"),
            ("é/ü", "é.ü"),
            ("/.", "/.//"),
            ("./.", "//.//"),
            ("a./b", "a//.b"),
            ("a/./b", "a.//.b"),
            // NATS wildcards are not escaped in topic names (nats-server publishes on them).
            ("foo/*", "foo.*"),
            ("foo/>", "foo.>"),
        ] {
            let got = topic_to_subject(topic.as_bytes()).unwrap();
            assert_eq!(s(&got), subject, "topic {topic:?}");
            assert_eq!(s(&subject_to_topic(&got)), topic, "subject {subject:?}");
        }
    }

    #[test]
    fn topic_rejects() {
        for (topic, err) in [
            (&b""[..], "topic cannot be empty"),
            (
                b"foo/+",
                "wildcards not allowed in publish's topic: \"foo/+\"",
            ),
            (
                b"foo/#",
                "wildcards not allowed in publish's topic: \"foo/#\"",
            ),
            (b"+", "wildcards not allowed in publish's topic: \"+\""),
            (b"a#b", "wildcards not allowed in publish's topic: \"a#b\""),
            (b"foo bar", "character not supported for MQTT topics"),
            (b"foo\tbar", "character not supported for MQTT topics"),
            (b"foo\nbar", "character not supported for MQTT topics"),
            (b"foo\rbar", "character not supported for MQTT topics"),
            (b"foo\x0cbar", "character not supported for MQTT topics"),
            (b"foo\x7fbar", "character not supported for MQTT topics"),
            (b"a\xf1", "invalid utf8 for topic \"a\\xf1\""),
            (b"a\0b", "invalid null character in topic \"a\\x00b\""),
        ] {
            let e = topic_to_subject(topic).unwrap_err();
            assert_eq!(e.to_string(), err, "topic {:?}", s(topic));
        }
        // \v is not whitespace to nats-server.
        assert_eq!(topic_to_subject(b"a\x0bb").unwrap(), b"a\x0bb");
    }

    /// NATS subjects published by NATS clients, as an MQTT subscriber sees them.
    #[test]
    fn subjects_from_nats_clients() {
        for (subject, topic) in [
            ("foo.bar", "foo/bar"),
            ("spBv1//0.plant1", "spBv1.0/plant1"),
            ("foo", "foo"),
            ("a/b", "ab"),
            ("a/", "a"),
            ("/", ""),
            ("$SYS.SERVER.x", "$SYS/SERVER/x"),
            ("", ""),
        ] {
            assert_eq!(
                s(&subject_to_topic(subject.as_bytes())),
                topic,
                "{subject:?}"
            );
        }
    }

    /// nats-server's `TestMQTTFilterConversion` table; the second subject is the parent
    /// subscription of a `#` filter.
    #[test]
    fn filter_conversion() {
        for (filter, want) in [
            ("+", &["*"][..]),
            ("/+", &["/.*"]),
            ("+/", &["*./"]),
            ("/+/", &["/.*./"]),
            ("foo/+", &["foo.*"]),
            ("foo/+/", &["foo.*./"]),
            ("foo/+/bar", &["foo.*.bar"]),
            ("foo/+/+", &["foo.*.*"]),
            ("foo/+/+/", &["foo.*.*./"]),
            ("foo/+/+/bar", &["foo.*.*.bar"]),
            ("foo//+", &["foo./.*"]),
            ("foo//+/", &["foo./.*./"]),
            ("foo//+//", &["foo./.*././"]),
            ("foo//+//bar", &["foo./.*./.bar"]),
            ("foo///+///bar", &["foo././.*././.bar"]),
            ("foo.bar///+///baz", &["foo//bar././.*././.baz"]),
            ("#", &[">"]),
            ("/#", &["/.>", "/"]),
            ("/foo/#", &["/.foo.>", "/.foo"]),
            ("foo/#", &["foo.>", "foo"]),
            ("foo//#", &["foo./.>", "foo./"]),
            ("foo///#", &["foo././.>", "foo././"]),
            ("foo/bar/#", &["foo.bar.>", "foo.bar"]),
            ("foo/bar.baz/#", &["foo.bar//baz.>", "foo.bar//baz"]),
            ("+/#", &["*.>", "*"]),
            ("+/+/#", &["*.*.>", "*.*"]),
            ("foo/+/#", &["foo.*.>", "foo.*"]),
            ("$SYS/#", &["$SYS.>", "$SYS"]),
            ("$MQTT", &["$MQTT"]),
            // NATS wildcards in MQTT filters are not escaped: they are NATS wildcards.
            ("foo*/bar", &["foo*.bar"]),
            ("foo>/bar", &["foo>.bar"]),
            ("foo/*/bar", &["foo.*.bar"]),
            ("foo/*/bar/*", &["foo.*.bar.*"]),
            ("foo/>", &["foo.>", "foo"]),
            ("foo/*/bar/>", &["foo.*.bar.>", "foo.*.bar"]),
            ("foo/bar", &["foo.bar"]),
            ("foo.", &["foo//"]),
        ] {
            let got = filter_to_subjects(filter.as_bytes()).unwrap();
            let got: Vec<String> = got.iter().map(|g| s(g)).collect();
            assert_eq!(got, want, "filter {filter:?}");
        }
    }

    #[test]
    fn filter_rejects() {
        for (filter, err) in [
            (&b""[..], "topic filter cannot be empty"),
            (b"foo bar", "character not supported for MQTT topics"),
            (b"foo/\x7f", "character not supported for MQTT topics"),
            (b"a\xf1", "invalid utf8 for topic filter \"a\\xf1\""),
            (b"a\0", "invalid null character in topic filter \"a\\x00\""),
            (b"foo#", "invalid use of wildcards in topic filter \"foo#\""),
            (
                b"foo/#/bar",
                "invalid use of wildcards in topic filter \"foo/#/bar\"",
            ),
            (b"#/", "invalid use of wildcards in topic filter \"#/\""),
            (b"##", "invalid use of wildcards in topic filter \"##\""),
            (b"foo+", "invalid use of wildcards in topic filter \"foo+\""),
            (
                b"foo/+bar",
                "invalid use of wildcards in topic filter \"foo/+bar\"",
            ),
            (b"++", "invalid use of wildcards in topic filter \"++\""),
            (
                b"foo/>/bar",
                "topic filter \"foo/>/bar\" maps to an invalid subject",
            ),
            (
                b"$MQTT/msgs/+",
                "topic filter \"$MQTT/msgs/+\" maps to internal MQTT subjects",
            ),
            (
                b"$MQTT/#",
                "topic filter \"$MQTT/#\" maps to internal MQTT subjects",
            ),
        ] {
            let e = filter_to_subjects(filter).unwrap_err();
            assert_eq!(e.to_string(), err, "filter {:?}", s(filter));
        }
    }

    #[test]
    fn shared_subscriptions() {
        let sh = parse_shared(b"$share/g1/sport/#").unwrap().unwrap();
        assert_eq!((sh.group, sh.filter), (&b"g1"[..], &b"sport/#"[..]));
        let sh = parse_shared(b"$share/g/+").unwrap().unwrap();
        assert_eq!((sh.group, sh.filter), (&b"g"[..], &b"+"[..]));
        // The filter after the group may itself start with '/'.
        let sh = parse_shared(b"$share/g//a").unwrap().unwrap();
        assert_eq!(sh.filter, b"/a");
        for not_shared in [
            &b"sport/#"[..],
            b"$share",
            b"$SHARE/g/a",
            b"$shared/g/a",
            b"#",
        ] {
            assert_eq!(parse_shared(not_shared), Ok(None), "{:?}", s(not_shared));
        }
        for (filter, err) in [
            (
                &b"$share/"[..],
                "invalid shared subscription \"$share/\": the share name must be followed by \
                 '/' and a topic filter",
            ),
            (
                b"$share/group",
                "invalid shared subscription \"$share/group\": the share name must be followed \
                 by '/' and a topic filter",
            ),
            (
                b"$share//a",
                "invalid shared subscription \"$share//a\": the share name cannot be empty",
            ),
            (
                b"$share/g+/a",
                "invalid shared subscription \"$share/g+/a\": the share name cannot contain \
                 '+' or '#'",
            ),
            (
                b"$share/#/a",
                "invalid shared subscription \"$share/#/a\": the share name cannot contain \
                 '+' or '#'",
            ),
            (
                b"$share/g/",
                "invalid shared subscription \"$share/g/\": the topic filter after the share \
                 name cannot be empty",
            ),
            (b"$share/a b/x", "character not supported for MQTT topics"),
        ] {
            let e = parse_shared(filter).unwrap_err();
            assert_eq!(e.to_string(), err, "{:?}", s(filter));
        }
    }

    #[test]
    fn dollar_topics_and_first_level_wildcards() {
        for (filter, reserved) in [
            ("#", true),
            ("+", true),
            ("+/foo", true),
            ("+/#", true),
            ("/#", false),
            ("$SYS/#", false),
            ("foo/#", false),
            ("foo/+", false),
        ] {
            let subjects = filter_to_subjects(filter.as_bytes()).unwrap();
            for sub in &subjects {
                assert_eq!(
                    is_reserved_subscription(sub),
                    reserved,
                    "{filter:?} {:?}",
                    s(sub)
                );
            }
        }
        assert!(skip_for_reserved(true, b"$SYS.foo"));
        assert!(!skip_for_reserved(true, b"SYS.foo"));
        assert!(!skip_for_reserved(false, b"$SYS.foo"));
        assert!(!skip_for_reserved(true, b""));
    }

    #[test]
    fn go_quoting() {
        assert_eq!(go_quote(b"a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(go_quote(b"\x01\x7f\xff"), r#""\x01\x7f\xff""#);
        assert_eq!(go_quote("é\u{85}".as_bytes()), "\"é\\u0085\"");
    }
}
