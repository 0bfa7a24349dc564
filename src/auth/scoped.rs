//! Scoped signing keys of operator mode: an account's signing key may carry a user template
//! (`{"kind":"user_scope","key","role","template"}`); a user it signs must bring no
//! permissions or limits of its own and gets the template's instead, with the placeholders
//! of its subjects filled in — nats-server's `processUserPermissionsTemplate`.

use serde_json::{Map, Value};

use crate::subject::is_valid_subject;

/// The user fields a template sets (and a scoped user must leave unset).
const TEMPLATE_FIELDS: [&str; 12] = [
    "pub",
    "sub",
    "resp",
    "src",
    "times",
    "times_location",
    "subs",
    "data",
    "payload",
    "bearer_token",
    "allowed_connection_types",
    "proxy_required",
];

/// nats-server caps what tag placeholders may expand to.
const MAX_EXPANSIONS: usize = 4096;

/// What a template's placeholders are filled with.
pub struct Subjects<'a> {
    pub user_name: &'a str,
    pub user_key: &'a str,
    pub user_tags: &'a [String],
    pub account_name: &'a str,
    pub account_key: &'a str,
    pub account_tags: &'a [String],
}

/// The jwt library's `HasEmptyPermissions`: the user claims set none of the template's
/// fields.
pub fn has_no_permissions(user: &Value) -> bool {
    TEMPLATE_FIELDS.iter().all(|f| match user.get(*f) {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => !b,
        Some(Value::Number(n)) => n.as_i64() == Some(0),
        Some(Value::String(s)) => s.is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        Some(Value::Object(o)) => o.values().all(|v| match v {
            Value::Array(a) => a.is_empty(),
            Value::Null => true,
            _ => false,
        }),
    })
}

/// The user's claims with the template's fields in place of its own; an error when a
/// placeholder is unknown or a deny list would get an invalid subject.
pub fn apply(user: &Value, template: &Value, s: &Subjects<'_>) -> Result<Value, String> {
    let mut out: Map<String, Value> = user.as_object().cloned().unwrap_or_default();
    for f in TEMPLATE_FIELDS {
        out.remove(f);
        if let Some(v) = template.get(f) {
            out.insert(f.to_string(), v.clone());
        }
    }
    for which in ["pub", "sub"] {
        let Some(Value::Object(p)) = out.get_mut(which) else {
            continue;
        };
        let had_allow = p
            .get("allow")
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty());
        for (list, fail_on_bad) in [("allow", false), ("deny", true)] {
            if let Some(Value::Array(a)) = p.get(list) {
                let subjects: Vec<String> = a
                    .iter()
                    .filter_map(Value::as_str)
                    .map(String::from)
                    .collect();
                let filled = fill_list(&subjects, fail_on_bad, s)?;
                p.insert(list.into(), filled.into_iter().map(Value::String).collect());
            }
        }
        let allow_now_empty = p
            .get("allow")
            .and_then(Value::as_array)
            .is_none_or(|a| a.is_empty());
        // An allow list that filled in to nothing must not become "allow everything".
        if had_allow && allow_now_empty {
            let deny = p.entry("deny").or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(d) = deny {
                d.push(Value::String(">".into()));
            }
        }
    }
    Ok(Value::Object(out))
}

/// The `{{…}}` placeholders of `subject`, with their positions.
fn placeholders(subject: &str) -> Vec<(usize, usize, &str)> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(start) = subject[from..].find("{{").map(|i| from + i) {
        let inner = start + 2;
        let Some(len) = subject[inner..].find('}') else {
            break;
        };
        let end = inner + len;
        if len > 0 && subject[end..].starts_with("}}") {
            found.push((start, end + 2, &subject[inner..end]));
            from = end + 2;
        } else {
            from = end + 1;
        }
    }
    found
}

/// The values of a tag placeholder: `tag:value` entries of `tags` (case-insensitive name).
fn tag_values(tags: &[String], name: &str) -> Vec<String> {
    let prefix = format!("{}:", name.to_ascii_lowercase());
    tags.iter()
        .filter_map(|t| t.strip_prefix(prefix.as_str()).map(String::from))
        .collect()
}

/// `op` with a case-insensitive `prefix(`…`)` form: the argument.
fn call_arg<'a>(op: &'a str, prefix: &str) -> Option<&'a str> {
    let head = op.get(..prefix.len())?;
    if !head.eq_ignore_ascii_case(prefix) {
        return None;
    }
    op[prefix.len()..].strip_suffix(')')
}

fn fill_list(list: &[String], fail_on_bad: bool, s: &Subjects<'_>) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for subject in list {
        let marks = placeholders(subject);
        if marks.is_empty() {
            out.push(subject.clone());
            continue;
        }
        let mut choices: Vec<Vec<String>> = Vec::with_capacity(marks.len());
        for (_, _, raw) in &marks {
            let op = raw.trim();
            let values = if op.eq_ignore_ascii_case("name()") {
                vec![s.user_name.to_string()]
            } else if op.eq_ignore_ascii_case("subject()") {
                vec![s.user_key.to_string()]
            } else if op.eq_ignore_ascii_case("account-name()") {
                vec![s.account_name.to_string()]
            } else if op.eq_ignore_ascii_case("account-subject()") {
                vec![s.account_key.to_string()]
            } else if let Some(tag) = call_arg(op, "tag(") {
                tag_values(s.user_tags, tag)
            } else if let Some(tag) = call_arg(op, "account-tag(") {
                tag_values(s.account_tags, tag)
            } else {
                return Err(format!(
                    "template operation in {subject:?}: {op:?} is not defined"
                ));
            };
            if values.is_empty() {
                if fail_on_bad {
                    return Err(format!(
                        "generated invalid subject {subject:?}: {op:?} is not defined"
                    ));
                }
                // An invalid subject, dropped below.
                choices.push(vec![" ".into()]);
            } else {
                choices.push(values);
            }
        }
        let combinations = choices
            .iter()
            .try_fold(1usize, |n, c| n.checked_mul(c.len()))
            .filter(|n| out.len() + n <= MAX_EXPANSIONS)
            .ok_or_else(|| format!("template expansion exceeds limit: {MAX_EXPANSIONS}"))?;
        for k in 0..combinations {
            let mut filled = String::with_capacity(subject.len());
            let mut at = 0;
            let mut rest = k;
            for (m, (start, end, _)) in marks.iter().enumerate() {
                let c = &choices[m];
                filled.push_str(&subject[at..*start]);
                filled.push_str(&c[rest % c.len()]);
                rest /= c.len();
                at = *end;
            }
            filled.push_str(&subject[at..]);
            if is_valid_subject(filled.as_bytes()) {
                out.push(filled);
            } else if fail_on_bad {
                return Err("generated invalid subject".into());
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn subjects<'a>(user_tags: &'a [String], account_tags: &'a [String]) -> Subjects<'a> {
        Subjects {
            user_name: "alice",
            user_key: "UKEY",
            user_tags,
            account_name: "Acme",
            account_key: "AKEY",
            account_tags,
        }
    }

    #[test]
    fn placeholders_fill_from_the_user_and_account() {
        let tags = vec!["dept:eng".to_string(), "dept:ops".to_string()];
        let template = json!({
            "pub": {"allow": ["u.{{name()}}.>", "k.{{subject()}}", "a.{{account-name()}}.{{account-subject()}}", "d.{{tag(dept)}}"]},
            "sub": {"allow": ["x.{{account-tag(zone)}}"]},
            "subs": -1
        });
        let out = apply(&json!({"type":"user"}), &template, &subjects(&tags, &[])).expect("fills");
        assert_eq!(
            out["pub"]["allow"],
            json!(["u.alice.>", "k.UKEY", "a.Acme.AKEY", "d.eng", "d.ops"])
        );
        // The account has no zone tag: the allow list fills to nothing, so all is denied.
        assert_eq!(out["sub"]["allow"], json!([]));
        assert_eq!(out["sub"]["deny"], json!([">"]));
        assert_eq!(out["subs"], json!(-1));
        assert_eq!(out["type"], json!("user"));
    }

    #[test]
    fn unknown_operations_and_bad_deny_subjects_fail() {
        let s = subjects(&[], &[]);
        let bad_op = json!({"pub": {"allow": ["{{nope()}}"]}});
        assert!(apply(&json!({}), &bad_op, &s).is_err());
        let bad_deny = json!({"sub": {"deny": ["x.{{tag(missing)}}"]}});
        assert!(apply(&json!({}), &bad_deny, &s).is_err());
    }

    #[test]
    fn scoped_users_must_bring_no_permissions() {
        assert!(has_no_permissions(
            &json!({"type":"user","version":2,"subs":0,"pub":{}})
        ));
        assert!(!has_no_permissions(&json!({"pub":{"allow":["a"]}})));
        assert!(!has_no_permissions(&json!({"subs":-1})));
        assert!(!has_no_permissions(&json!({"bearer_token":true})));
    }
}
