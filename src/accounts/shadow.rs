//! Which subscription in the exporting account stands in for a subscription of the
//! importing account (nats-server's `addShadowSubscriptions`): the import's own subject
//! when the subscription covers all of it, else the exporter's form of the part both cover.

use super::StreamImport;
use crate::subject::is_subset_match;

/// The exporting account's subject that shadows a subscription on `subject` in the
/// importing account, if it overlaps `import` at all.
pub fn shadow_subject(subject: &str, import: &StreamImport) -> Option<String> {
    if subject == import.to {
        return Some(import.from.clone());
    }
    let sub = subject.as_bytes();
    let to = import.to.as_bytes();
    if is_subset_match(sub, to) {
        return Some(import.exporter_subject(subject));
    }
    let wild = subject.split('.').any(|t| t == "*" || t == ">");
    if !wild {
        return None;
    }
    if is_subset_match(to, sub) {
        return Some(import.from.clone());
    }
    // An overlap: narrow the subscription's wildcards with the import's tokens.
    let mut tokens: Vec<&str> = subject.split('.').collect();
    let im: Vec<&str> = import.to.split('.').collect();
    for (i, t) in tokens.iter_mut().enumerate() {
        if i >= im.len() {
            break;
        }
        if *t == "*" && im[i] != ">" {
            *t = im[i];
        }
    }
    let last = tokens.len() - 1;
    if tokens[last] == ">" && im.len() >= tokens.len() {
        tokens[last] = im[last];
        if im.len() > tokens.len() {
            tokens.extend_from_slice(&im[tokens.len()..]);
        }
    }
    let overlap = tokens.join(".");
    if overlap != subject && is_subset_match(overlap.as_bytes(), to) {
        Some(import.exporter_subject(&overlap))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::shadow_subject;
    use crate::accounts::{AccountShares, Export, Import, Sharing};

    fn import(subject: &str, to: &str, prefix: &str) -> std::sync::Arc<super::StreamImport> {
        let exports = [Export {
            subject: ">".into(),
            ..Export::default()
        }];
        let imports = [Import {
            account: "E".into(),
            subject: subject.into(),
            to: to.into(),
            prefix: prefix.into(),
            ..Import::default()
        }];
        let accounts = [
            AccountShares {
                name: "E",
                exports: &exports,
                imports: &[],
                mappings: &[],
                lenient: false,
            },
            AccountShares {
                name: "I",
                exports: &[],
                imports: &imports,
                mappings: &[],
                lenient: false,
            },
        ];
        let number = |n: &str| ["E", "I"].iter().position(|a| *a == n).map(|i| i as u32);
        let sharing = Sharing::build(&accounts, number, "").expect("valid");
        sharing.of(1).expect("I").streams[0].clone()
    }

    #[test]
    fn shadows_follow_nats_server() {
        let p = import("events.>", "", "fromA");
        assert_eq!(p.to, "fromA.events.>");
        let cases = [
            ("fromA.events.>", Some("events.>")),
            ("fromA.events.x", Some("events.x")),
            ("fromA.>", Some("events.>")),
            ("fromA.*.x", Some("events.x")),
            (">", Some("events.>")),
            ("other.x", None),
        ];
        for (sub, want) in cases {
            assert_eq!(shadow_subject(sub, &p).as_deref(), want, "prefix, {sub}");
        }
        assert_eq!(p.shown(b"events.a.b"), b"fromA.events.a.b");
        let m = import("private.*", "priv.*", "");
        for (sub, want) in [
            ("priv.1", Some("private.1")),
            ("priv.*", Some("private.*")),
            ("priv.>", Some("private.*")),
            ("*.1", Some("private.1")),
            ("private.1", None),
        ] {
            assert_eq!(shadow_subject(sub, &m).as_deref(), want, "to, {sub}");
        }
        assert_eq!(m.shown(b"private.7"), b"priv.7");
        let l = import("a.b", "c", "");
        assert_eq!(shadow_subject("c", &l).as_deref(), Some("a.b"));
        assert_eq!(shadow_subject(">", &l).as_deref(), Some("a.b"));
        assert_eq!(l.shown(b"a.b"), b"c");
    }
}
