//! Unit tests of the config reader: nats' own `lex_test.go` and `parse_test.go` inputs, the
//! samples and launchers' files, error positions and messages, includes, variables, bounds,
//! durations, and properties over arbitrary input.

use super::*;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

// ---- helpers ----------------------------------------------------------------------

fn corpus(name: &str) -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/conf/")).join(name)
}

fn no_env(_: &str) -> Option<String> {
    None
}

/// A compact rendering of a map for comparing whole results:
/// `{key=value,…}`, strings in Rust debug quotes, floats with a dot, `dt(…)` datetimes.
fn render(m: &Map) -> String {
    let mut out = String::new();
    render_map(m, &mut out);
    out
}

fn render_map(m: &Map, out: &mut String) {
    out.push('{');
    for (i, (k, v)) in m.entries.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&k.value);
        out.push('=');
        render_value(&v.value, out);
    }
    out.push('}');
}

fn render_value(v: &Value, out: &mut String) {
    match v {
        Value::Bool(b) => write!(out, "{b}").unwrap(),
        Value::Int(i) => write!(out, "{i}").unwrap(),
        Value::Float(f) => write!(out, "{f:?}").unwrap(),
        Value::String(s) => write!(out, "{s:?}").unwrap(),
        Value::DateTime(s) => write!(out, "dt({s})").unwrap(),
        Value::Array(items) => {
            out.push('[');
            for (i, x) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                render_value(&x.value, out);
            }
            out.push(']');
        }
        Value::Map(m) => render_map(m, out),
    }
}

fn show_errs(errs: &[ConfError]) -> String {
    errs.iter().map(|e| format!("\n  {e}")).collect()
}

fn parse_env(text: &str, env: &[(&str, &str)]) -> Result<Map, Vec<ConfError>> {
    let lookup = |n: &str| {
        env.iter()
            .find(|(k, _)| *k == n)
            .map(|(_, v)| v.to_string())
    };
    parse_str_with_env(text, "t.conf", &lookup)
}

fn ok_env(text: &str, env: &[(&str, &str)]) -> String {
    match parse_env(text, env) {
        Ok(m) => render(&m),
        Err(e) => panic!("unexpected errors for {text:?}:{}", show_errs(&e)),
    }
}

fn ok(text: &str) -> String {
    ok_env(text, &[])
}

fn errs_env(text: &str, env: &[(&str, &str)]) -> Vec<ConfError> {
    match parse_env(text, env) {
        Ok(m) => panic!("expected an error for {text:?}, got {}", render(&m)),
        Err(e) => {
            assert!(!e.is_empty());
            e
        }
    }
}

fn errs(text: &str) -> Vec<ConfError> {
    errs_env(text, &[])
}

/// The first error, checked for position and message fragment.
#[track_caller]
fn assert_err(text: &str, line: u32, col: u32, fragment: &str) {
    let e = errs(text);
    let first = &e[0];
    assert_eq!(
        (first.pos.line, first.pos.col),
        (line, col),
        "position for {text:?}: {}",
        show_errs(&e)
    );
    assert!(
        first.msg.contains(fragment),
        "message for {text:?} lacks {fragment:?}: {}",
        show_errs(&e)
    );
}

/// A fresh directory under the system temp dir.
fn temp_dir(tag: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "natrium-conf-{}-{tag}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// (name, contents) of files to create.
type Files<'a> = &'a [(&'a str, &'a str)];

fn write_files(dir: &Path, files: Files) {
    for (name, text) in files {
        let p = dir.join(name);
        if let Some(parent) = p.parent() {
            fs::create_dir_all(parent).unwrap();
        }
        fs::write(p, text).unwrap();
    }
}

// ---- nats lex_test.go inputs, checked at the value level --------------------------

#[test]
fn nats_lex_inputs() {
    let cases: &[(&str, &str)] = &[
            ("foo = \"bar\"", r#"{foo="bar"}"#),
            ("foo = 'bar'", r#"{foo="bar"}"#),
            ("foo='bar'", r#"{foo="bar"}"#),
            ("foo='bar'\r\n", r#"{foo="bar"}"#),
            ("foo=\t'bar'\t", r#"{foo="bar"}"#),
            ("foo = 'bar\\r\\n  \\t'", r#"{foo="bar\\r\\n  \\t"}"#),
            ("foo = 3xyz", r#"{foo="3xyz"}"#),
            ("foo = 3xyz,", r#"{foo="3xyz"}"#),
            ("foo = 3xyz;", r#"{foo="3xyz"}"#),
            ("\n        foo = 3xyz\n        ", r#"{foo="3xyz"}"#),
            ("\n        map {\n          foo = 3xyz}\n        ", r#"{map={foo="3xyz"}}"#),
            ("\n        map {\n          foo = 3xyz;\n        }\n        ", r#"{map={foo="3xyz"}}"#),
            (
                "\n        map {\n          foo = 3xyz,\n          bar = 4wqs\n        }\n        ",
                r#"{map={foo="3xyz",bar="4wqs"}}"#,
            ),
            ("foo = \\x65", r#"{foo="e"}"#),
            ("foo = 123", "{foo=123}"),
            ("foo=123", "{foo=123}"),
            ("foo=123\r\n", "{foo=123}"),
            ("foo = -123", "{foo=-123}"),
            ("foo=-123", "{foo=-123}"),
            ("foo=-123\r\n", "{foo=-123}"),
            ("foo = 1k", "{foo=1000}"),
            ("foo = 1K", "{foo=1000}"),
            ("foo = 1m", "{foo=1000000}"),
            ("foo = 1M", "{foo=1000000}"),
            ("foo = 1g", "{foo=1000000000}"),
            ("foo = 1G", "{foo=1000000000}"),
            ("foo = 1MB", "{foo=1048576}"),
            ("foo = 1Gb", "{foo=1073741824}"),
            ("foo = -1m", "{foo=-1000000}"),
            ("foo = -1GB ", "{foo=-1073741824}"),
            ("foo = 1Ghz", r#"{foo="1Ghz"}"#),
            ("foo = 2Pie", r#"{foo="2Pie"}"#),
            ("foo = 3Mbs,", r#"{foo="3Mbs"}"#),
            ("foo = 4Gb, bar = 5Gø", r#"{foo=4294967296,bar="5Gø"}"#),
            ("foo = 22.2", "{foo=22.2}"),
            ("foo=22.2", "{foo=22.2}"),
            ("foo=22.2\r\n", "{foo=22.2}"),
            ("foo = true", "{foo=true}"),
            ("foo=true", "{foo=true}"),
            ("foo=true\r\n", "{foo=true}"),
            ("# This is a comment", "{}"),
            ("# This is a comment\r\n", "{}"),
            ("// This is a comment\r\n", "{}"),
            ("foo = 123 // This is a comment", "{foo=123}"),
            ("foo=123    # This is a comment", "{foo=123}"),
            ("foo = bar", r#"{foo="bar"}"#),
            ("foo = bar' ", r#"{foo="bar"}"#),
            ("foo = 2016-05-04T18:53:41Z", "{foo=dt(2016-05-04T18:53:41Z)}"),
            ("foo = [1, 2, 3, 'bar']", r#"{foo=[1,2,3,"bar"]}"#),
            ("foo = [1,2,3,'bar']", r#"{foo=[1,2,3,"bar"]}"#),
            ("foo = [1, 2,3,'bar']", r#"{foo=[1,2,3,"bar"]}"#),
            (
                "\n# top level comment\nfoo = [\n 1, # One\n 2, // Two\n 3 # Three\n 'bar'     ,\n \"bar\"\n]\n",
                r#"{foo=[1,2,3,"bar","bar"]}"#,
            ),
            (
                "\n# top level comment\nfoo = [\n 1 // foo\n 2\n 3\n 'bar'\n \"bar\"\n]\n",
                r#"{foo=[1,2,3,"bar","bar"]}"#,
            ),
            ("foo = {ip='127.0.0.1', port = 4242}", r#"{foo={ip="127.0.0.1",port=4242}}"#),
            (
                "\nfoo = {\n  ip = '127.0.0.1' # the IP\n  port= 4242 // the port\n}\n",
                r#"{foo={ip="127.0.0.1",port=4242}}"#,
            ),
            (
                "\nfoo = {\n  host = {\n    ip = '127.0.0.1'\n    port= 4242\n  }\n}\n",
                r#"{foo={host={ip="127.0.0.1",port=4242}}}"#,
            ),
            ("foo : 123", "{foo=123}"),
            ("'foo' : 123", "{foo=123}"),
            ("\"foo\" : 123", "{foo=123}"),
            ("' foo' : 123", "{ foo=123}"),
            ("\" foo\" : 123", "{ foo=123}"),
            ("foo:123", "{foo=123}"),
            ("foo: 123", "{foo=123}"),
            ("foo:  123\r\n", "{foo=123}"),
            ("foo 123", "{foo=123}"),
            ("foo\t123", "{foo=123}"),
            ("foo\t\t123\r\n", "{foo=123}"),
            (
                "\nfoo  = \\t\nbar  = \\r\nbaz  = \\n\nq    = \\\"\nbs   = \\\\\n",
                r#"{foo="\t",bar="\r",baz="\n",q="\"",bs="\\"}"#,
            ),
            (r#"foo = "\\end""#, r#"{foo="\\end"}"#),
            (r#"foo = "start\\""#, r#"{foo="start\\"}"#),
            (r"foo = \x45\x71", r#"{foo="Eq"}"#),
            (r"foo = start\x45\x71", r#"{foo="startEq"}"#),
            (r"foo = start\x7Cend", r#"{foo="start|end"}"#),
            (r"foo = \x3c\x3eend", r#"{foo="<>end"}"#),
            (r"foo = \x3cmiddle\x3E", r#"{foo="<middle>"}"#),
            (r"foo = \\true", r#"{foo="\\true"}"#),
            (r"foo = \\$var", r#"{foo="\\$var"}"#),
            (r#"foo = """#, r#"{foo=""}"#),
            ("foo = ''", r#"{foo=""}"#),
            (
                "\nfoo  {\n  host  {\n    ip = '127.0.0.1'\n    port= 4242\n  }\n}\n",
                r#"{foo={host={ip="127.0.0.1",port=4242}}}"#,
            ),
            (
                "\nfoo = 123;\nbar = 'baz';\nbaz = 'boo'\nmap {\n id = 1;\n}\n",
                r#"{foo=123,bar="baz",baz="boo",map={id=1}}"#,
            ),
            ("foo='1'; bar=2.2; baz=true;", r#"{foo="1",bar=2.2,baz=true}"#),
            (
                "\nfoo = 123\nbar = baz\nbaz=boo\nmap {\n id:one\n id2 : onetwo\n}\nt true\nf false\ntstr \"true\"\ntkey = two\nfkey = five # This should be a string\n",
                r#"{foo=123,bar="baz",baz="boo",map={id="one",id2="onetwo"},t=true,f=false,tstr="true",tkey="two",fkey="five"}"#,
            ),
            ("foo = {'bar' = 4242}", "{foo={bar=4242}}"),
            ("foo = {\"bar\" = 4242}", "{foo={bar=4242}}"),
            ("foo = {'bar-1.2.3' = { port:4242 }}", "{foo={bar-1.2.3={port=4242}}}"),
            ("foo = {\"bar-1.2.3\" = { port:4242 }}", "{foo={bar-1.2.3={port=4242}}}"),
            (
                "\nsystems {\n  allinone {\n    description: \"This is a description.\"\n  }\n}\n",
                r#"{systems={allinone={description="This is a description."}}}"#,
            ),
            ("\nnumbers (\n1234567890\n)\n", r#"{numbers="\n1234567890\n"}"#),
            // nats' TestBlockStringEOF ends the input with a NUL; a real EOF does the same here.
            ("\nnumbers (\n1234567890\n)", r#"{numbers="\n1234567890\n"}"#),
            (
                "\nnumbers (\n  12(34)56\n  (\n    7890\n  )\n)\n",
                r#"{numbers="\n  12(34)56\n  (\n    7890\n  )\n"}"#,
            ),
            ("listen: 127.0.0.1:4222", r#"{listen="127.0.0.1:4222"}"#),
            ("listen: 127.0.0.1", r#"{listen="127.0.0.1"}"#),
            ("listen: apcera.me:80", r#"{listen="apcera.me:80"}"#),
            ("listen: nats.io:-1", r#"{listen="nats.io:-1"}"#),
            ("listen: -1", "{listen=-1}"),
            ("listen: :-1", r#"{listen=":-1"}"#),
            ("listen = :80", r#"{listen=":80"}"#),
            (
                "listen = [localhost:4222, localhost:4333]",
                r#"{listen=["localhost:4222","localhost:4333"]}"#,
            ),
            (
                "\nauthorization {\n    users = [\n      {user: alice, password: foo}\n      {user: bob,   password: bar}\n    ]\n    timeout: 0.5\n}\n",
                r#"{authorization={users=[{user="alice",password="foo"},{user="bob",password="bar"}],timeout=0.5}}"#,
            ),
        ];
    for (text, want) in cases {
        assert_eq!(&ok(text), want, "input {text:?}");
    }
}

#[test]
fn nats_lex_variable_inputs() {
    for text in ["foo = $bar", "foo =$bar", "foo $bar"] {
        assert_eq!(ok_env(text, &[("bar", "7")]), "{foo=7}", "{text:?}");
    }
}

#[test]
fn nats_lex_json_inputs() {
    let cases: &[(&str, &str)] = &[
            (
                "\n                        {\n                          \"http_port\": 8223\n                        }\n                        ",
                "{http_port=8223}",
            ),
            (
                "\n                        {\n                          \"http_port\": 8223,\n                          \"port\": 4223\n                        }\n                        ",
                "{http_port=8223,port=4223}",
            ),
            (
                "\n{\n  \"http_port\": 8223,\n  \"port\": 4223,\n  \"max_payload\": \"5MB\",\n  \"debug\": true,\n  \"max_control_line\": 1024\n}\n",
                r#"{http_port=8223,port=4223,max_payload="5MB",debug=true,max_control_line=1024}"#,
            ),
            ("{\"http_port\": 8224,\"port\": 4224}\n                        ", "{http_port=8224,port=4224}"),
            ("{\"http_port\": 8225,\"port\": 4225\n                        }\n", "{http_port=8225,port=4225}"),
            (
                "{\"http_port\": 8227,\"port\": 4227,\"write_deadline\": \"1h\",\"cluster\": {\"port\": 6222,\"routes\": [\"nats://127.0.0.1:4222\",\"nats://127.0.0.1:4223\",\"nats://127.0.0.1:4224\"]}}\n",
                r#"{http_port=8227,port=4227,write_deadline="1h",cluster={port=6222,routes=["nats://127.0.0.1:4222","nats://127.0.0.1:4223","nats://127.0.0.1:4224"]}}"#,
            ),
            (
                "{\n  \"jetstream\": {\n    \"store_dir\": \"/tmp/nats\"\n    \"max_mem\": 1000000,\n  },\n  \"port\": 4222,\n  \"server_name\": \"nats1\"\n}\n",
                r#"{jetstream={store_dir="/tmp/nats",max_mem=1000000},port=4222,server_name="nats1"}"#,
            ),
        ];
    for (text, want) in cases {
        assert_eq!(&ok(text), want, "input {text:?}");
    }
}

#[test]
fn nats_lex_error_inputs() {
    // nats' lexer has read the newline when it complains, so the error is on line 2.
    assert_err(
        "foo = xyz\\x\n",
        2,
        1,
        "two hexadecimal digits after '\\x', but hit end of line",
    );
    assert_err("foo = xyz\\xF\n", 2, 1, "but hit end of line");
    assert_err(r#"foo = "[\x]""#, 1, 9, "but got ']\"'");
    assert_err(r#"foo = "[\xe]""#, 1, 9, "but got 'e]'");
    assert_err("foo = .2", 1, 7, "Floats must start with a digit");
    assert_err(" :foo = 22", 1, 2, "Unexpected key separator ':'");
    assert_err(r"foo = \y", 1, 8, "Invalid escape character 'y'");
    // Dangling quotes and brackets are reported at the end of the text, on the line
    // lex_test.go expects (TestDanglingQuotedString and the others).
    assert_err(
        "\nlisten: \"localhost:4242\n\nhttp: localhost:8222\n",
        5,
        1,
        "Unexpected EOF.",
    );
    assert_err(
        "\nlisten: 'localhost:4242\n\nhttp: localhost:8222\n",
        5,
        1,
        "Unexpected EOF.",
    );
    // The value swallows `listen: ` up to the second quote; the last quote opens a key.
    assert_err(
        "\nfoo = \"\nlisten: \"\n\nhttp: localhost:8222\n\n\"\n",
        8,
        1,
        "Unexpected EOF.",
    );
    assert_err(
        "\nfoo = '\nlisten: '\n\nhttp: localhost:8222\n\n'\n",
        8,
        1,
        "Unexpected EOF.",
    );
    assert_err(
        "\nlisten = 4222\n\ncluster = {\n\n  foo = bar\n\n",
        8,
        1,
        "Unexpected EOF processing map.",
    );
    assert_err(
        "\nlisten = 4222\n\nquote = (\n\n  foo = bar\n\n",
        8,
        1,
        "Unexpected EOF processing block.",
    );
}

// ---- nats parse_test.go inputs ------------------------------------------------------

#[test]
fn nats_parse_simple() {
    assert_eq!(
        ok("foo='1'; bar=2.2; baz=true; boo=22"),
        r#"{foo="1",bar=2.2,baz=true,boo=22}"#
    );
    for text in [
        "foo=true", "foo=TRUE", "foo=yes", "foo=on", "foo=On", "foo=YES",
    ] {
        assert_eq!(ok(text), "{foo=true}", "{text:?}");
    }
    for text in ["foo=false", "foo=FALSE", "foo=no", "foo=off", "foo=Off"] {
        assert_eq!(ok(text), "{foo=false}", "{text:?}");
    }
    assert_eq!(ok("\n  index = 22\n  foo = $index\n"), "{index=22,foo=22}");
    assert_eq!(
        ok("\n  index = 22\n  nest {\n    index = 11\n    foo = $index\n  }\n  bar = $index\n"),
        "{index=22,nest={index=11,foo=11},bar=22}"
    );
    let e = errs("foo=$index");
    assert!(e[0].msg.starts_with("variable reference"), "{}", e[0]);
    assert_eq!(ok("password: $2a$11$ooo"), r#"{password="$2a$11$ooo"}"#);
}

#[test]
fn nats_parse_env_variables() {
    let v = "__UNIQ22__";
    assert_eq!(ok_env("foo = $__UNIQ22__", &[(v, "22")]), "{foo=22}");
    assert_eq!(ok_env("foo = $__UNIQ22__", &[(v, "xyz")]), r#"{foo="xyz"}"#);
    assert_eq!(
        ok_env("foo = $__UNIQ22__", &[(v, "3xyz")]),
        r#"{foo="3xyz"}"#
    );
    assert_eq!(
        ok_env("foo = $__UNIQ22__", &[(v, "3Gyz")]),
        r#"{foo="3Gyz"}"#
    );
    assert_eq!(
        ok_env("foo = $__UNIQ22__", &[(v, "'3xyz'")]),
        r#"{foo="3xyz"}"#
    );
    // nats' TestEnvVariableStringStartingWithNumber parses the literal "foo = $%s".
    assert!(parse_env("foo = $%s", &[(v, "3xyz")]).is_err());
}

#[test]
fn real_process_environment() {
    // Cargo and nextest give test processes CARGO_PKG_NAME; setting a variable instead
    // would race with other tests' threads reading the environment through libc.
    let Ok(name) = std::env::var("CARGO_PKG_NAME") else {
        return;
    };
    let m = parse_str("pkg: $CARGO_PKG_NAME", "env.conf").unwrap();
    assert_eq!(m.get("pkg").unwrap().value, Value::String(name));
    let e = parse_str("x: $NATRIUM_SURELY_UNSET_VARIABLE_4711", "env.conf").unwrap_err();
    assert_eq!(
        e[0].to_string(),
        "variable reference for 'NATRIUM_SURELY_UNSET_VARIABLE_4711' on line 1 can not be found"
    );
    assert_eq!((e[0].pos.line, e[0].pos.col), (1, 4));
    assert!(process_env("A=B").is_none() && process_env("").is_none());
}

#[test]
fn nats_parse_convenient_numbers() {
    let text = "\nk = 8k\nkb = 4kb\nki = 3ki\nkib = 4ki\nm = 1m\nmb = 2MB\nmi = 2Mi\nmib = 64MiB\ng = 2g\ngb = 22GB\ngi = 22Gi\ngib = 22GiB\ntb = 22TB\nti = 22Ti\ntib = 22TiB\npb = 22PB\npi = 22Pi\npib = 22PiB\n";
    let m = parse_env(text, &[]).unwrap();
    let k: i64 = 1024;
    let want: &[(&str, i64)] = &[
        ("k", 8000),
        ("kb", 4 * k),
        ("ki", 3 * k),
        ("kib", 4 * k),
        ("m", 1_000_000),
        ("mb", 2 * k * k),
        ("mi", 2 * k * k),
        ("mib", 64 * k * k),
        ("g", 2_000_000_000),
        ("gb", 22 * k * k * k),
        ("gi", 22 * k * k * k),
        ("gib", 22 * k * k * k),
        ("tb", 22 * k.pow(4)),
        ("ti", 22 * k.pow(4)),
        ("tib", 22 * k.pow(4)),
        ("pb", 22 * k.pow(5)),
        ("pi", 22 * k.pow(5)),
        ("pib", 22 * k.pow(5)),
    ];
    for (key, n) in want {
        assert_eq!(m.get(key).and_then(|v| v.value.as_int()), Some(*n), "{key}");
    }
    assert_eq!(
        ok("t = 3t\np = 2P\ne = 1e\neb = 7EB"),
        "{t=3000000000000,p=2000000000000000,e=1000000000000000000,eb=8070450532247928832}"
    );
}

#[test]
fn nats_parse_samples() {
    assert_eq!(
            ok("\nfoo  {\n  host {\n    ip   = '127.0.0.1'\n    port = 4242\n  }\n  servers = [ \"a.com\", \"b.com\", \"c.com\"]\n}\n"),
            r#"{foo={host={ip="127.0.0.1",port=4242},servers=["a.com","b.com","c.com"]}}"#
        );
    let cluster = "\ncluster {\n  port: 4244\n\n  authorization {\n    user: route_user\n    password: top_secret\n    timeout: 1\n  }\n\n  # Routes are actively solicited and connected to from this server.\n  # Other servers can connect to us if they supply the correct credentials\n  # in their routes definitions from above.\n\n  // Test both styles of comments\n\n  routes = [\n    nats-route://foo:bar@apcera.me:4245\n    nats-route://foo:bar@apcera.me:4246\n  ]\n}\n";
    assert_eq!(
        ok(cluster),
        r#"{cluster={port=4244,authorization={user="route_user",password="top_secret",timeout=1},routes=["nats-route://foo:bar@apcera.me:4245","nats-route://foo:bar@apcera.me:4246"]}}"#
    );
    assert_eq!(
            ok("\nfoo  {\n  expr = '(true == \"false\")'\n  text = 'This is a multi-line\ntext block.'\n}\n"),
            r#"{foo={expr="(true == \"false\")",text="This is a multi-line\ntext block."}}"#
        );
    assert_eq!(
        ok("\n  array [\n    { abc: 123 }\n    { xyz: \"word\" }\n  ]\n"),
        r#"{array=[{abc=123},{xyz="word"}]}"#
    );
    assert_eq!(
        ok("\n  now = 2016-05-04T18:53:41Z\n  gmt = false\n\n"),
        "{now=dt(2016-05-04T18:53:41Z),gmt=false}"
    );
}

#[test]
fn nats_parse_includes_corpus() {
    let m = parse_file_with_env(&corpus("simple.conf"), &no_env).unwrap();
    assert_eq!(
        render(&m),
        r#"{listen="127.0.0.1:4222",authorization={ALICE_PASS="$2a$10$UHR6GhotWhpLsKtVP0/i6.Nh9.fuY73cWjLoJjb2sKT8KISBcUW5q",BOB_PASS="$2a$11$dZM98SpGeI7dCFFGSpt.JObQcix8YHml4TBUZoge9R1uxnMIln5ly",users=[{user="alice",password="$2a$10$UHR6GhotWhpLsKtVP0/i6.Nh9.fuY73cWjLoJjb2sKT8KISBcUW5q"},{user="bob",password="$2a$11$dZM98SpGeI7dCFFGSpt.JObQcix8YHml4TBUZoge9R1uxnMIln5ly"}],timeout=0.5}}"#
    );
    // Positions of included keys name the included file.
    let auth = m.get("authorization").unwrap().value.as_map().unwrap();
    let (k, _) = auth.get_entry("alice_pass").unwrap();
    assert!(k.pos.file.ends_with("includes/passwords.conf"), "{}", k.pos);
    assert_eq!((k.pos.line, k.pos.col), (2, 1));
}

#[test]
fn nats_parse_include_variables() {
    let dir = temp_dir("incvars");
    write_files(
            &dir,
            &[
                (
                    "includes/passwords.conf",
                    &fs::read_to_string(corpus("includes/passwords.conf")).unwrap(),
                ),
                (
                    "main.conf",
                    "\nauthorization {\n\n  include \"./includes/passwords.conf\"\n\n  CAROL_PASS: foo\n\n  users = [\n   {user: alice, password: $ALICE_PASS}\n   {user: bob,   password: $BOB_PASS}\n   {user: carol, password: $CAROL_PASS}\n  ]\n}\n",
                ),
            ],
        );
    let m = parse_file_with_env(&dir.join("main.conf"), &no_env).unwrap();
    let auth = m.get("authorization").unwrap().value.as_map().unwrap();
    let (k, v) = auth.get_entry("CAROL_PASS").unwrap();
    assert_eq!(v.value.as_str(), Some("foo"));
    assert_eq!((k.pos.line, k.pos.col), (6, 3));
    let (k, _) = auth.get_entry("BOB_PASS").unwrap();
    assert_eq!((k.pos.line, k.pos.col), (3, 1));
    let users = auth.get("users").unwrap().value.as_array().unwrap();
    let carol = users[2].value.as_map().unwrap().get("password").unwrap();
    assert_eq!(carol.value.as_str(), Some("foo"));
    // A variable's copy is positioned at its reference.
    assert_eq!((carol.pos.line, carol.pos.col), (11, 28));
    let _ = fs::remove_dir_all(dir);
}

#[test]
fn nats_parser_no_infinite_loop() {
    for text in ["A@@Føøøø?˛ø:{øøøø˙˙", "include \"9/\u{fffd}"] {
        let e = errs(text);
        assert!(
            e[0].msg.contains("Unexpected EOF"),
            "{text:?}:{}",
            show_errs(&e)
        );
    }
}

#[test]
fn nats_parse_keys_without_values_are_invalid() {
    // nats' parse_test.go: the message names where nats' lexer stands at EOF.
    let a41 = "a".repeat(41);
    assert_err(&a41, 1, 1, "config is invalid (t.conf:1:41)");
    assert_err(
        &format!("              {}", "a".repeat(27)),
        1,
        15,
        "config is invalid (t.conf:1:41)",
    );
    assert_err(
        &format!("     {}         ", "a".repeat(27)),
        1,
        6,
        "config is invalid (t.conf:1:41)",
    );
    let comments = format!(
            "\n          \t\t# with comments and no spaces to create key values\n         \t\t# is also an invalid config.\n         \t\t{}\n                        ",
            "a".repeat(45)
        );
    assert_err(&comments, 4, 12, "config is invalid (t.conf:5:25)");
    assert_err(
        "\n                        a,a,a,a,a,a,a,a,a,a,a\n                        ",
        2,
        25,
        "config is invalid (t.conf:3:25)",
    );
    let e = errs(&a41);
    assert_eq!(e[0].kind, ErrorKind::Parse);
    assert_eq!(e[0].to_string(), "config is invalid (t.conf:1:41)");
}

#[test]
fn nats_parse_empty_and_bracketed_configs_are_valid() {
    for text in [
            "",
            "\n\n\n                        ",
            "\n                        # just comments with no values\n                        # is still valid.\n                        ",
            "{}",
            "\n                        {\n                        # comments in the body\n                        }\n                        ",
        ] {
            assert_eq!(ok(text), "{}", "{text:?}");
        }
    // A stray closing brace after the config, as nats tolerates for JSON-ish files.
    assert_eq!(
            ok("\n                        accounts { users = [{}]}\n                        }\n                        "),
            "{accounts={users=[{}]}}"
        );
    assert_eq!(
            ok("{\n                          accounts { users = [{}]}\n                        }\n                        "),
            "{accounts={users=[{}]}}"
        );
}

#[test]
fn nats_parse_includes_without_values() {
    let cases: &[(&str, Files, &str)] = &[
            (
                "# includes\n\t\t\taccounts {\n                          foo { include 'foo.conf'}\n                          bar { users = [{user = \"bar\"}] }\n                          quux { include 'quux.conf'}\n                        }\n                        ",
                &[("foo.conf", ""), ("quux.conf", "?????????????")],
                "quux.conf:1:13",
            ),
            (
                "# includes\n\t\t\taccounts {\n                          foo { include 'foo.conf'}\n                          bar { include 'bar.conf'}\n                          quux { include 'quux.conf'}\n                        }\n                        ",
                &[
                    ("foo.conf", ""),
                    ("bar.conf", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
                    ("quux.conf", "\n                                   # just some comments,\n                                   # and no key values also ok.\n                                "),
                ],
                "bar.conf:1:34",
            ),
        ];
    for (main, includes, where_) in cases {
        let dir = temp_dir("novals");
        write_files(&dir, includes);
        write_files(&dir, &[("nats.conf", main)]);
        let e = parse_file_with_env(&dir.join("nats.conf"), &no_env).unwrap_err();
        assert_eq!(e.len(), 1, "{}", show_errs(&e));
        // nats' parse_test.go: `error parsing include file 'bar.conf', config is
        // invalid (…/bar.conf:1:34)`.
        let shown = e[0].to_string();
        assert!(shown.contains(where_), "{shown}");
        assert!(shown.contains("config is invalid ("), "{shown}");
        assert!(shown.starts_with("error parsing include file '"), "{shown}");
        let _ = fs::remove_dir_all(dir);
    }
}

#[test]
fn nats_parse_json_compat() {
    let cases: &[(&str, Files, &str)] = &[
            (
                "\n{\n  \"http_port\": 8227,\n  \"port\": 4227,\n  \"write_deadline\": \"1h\",\n  \"cluster\": {\n    \"port\": 6222,\n    \"routes\": [\n      \"nats://127.0.0.1:4222\",\n      \"nats://127.0.0.1:4223\",\n      \"nats://127.0.0.1:4224\"\n    ]\n  }\n}\n",
                &[],
                r#"{http_port=8227,port=4227,write_deadline="1h",cluster={port=6222,routes=["nats://127.0.0.1:4222","nats://127.0.0.1:4223","nats://127.0.0.1:4224"]}}"#,
            ),
            (
                "{\n  \"jetstream\": {\n    \"store_dir\": \"/tmp/nats\"\n    \"max_mem\": 1000000,\n  },\n  \"port\": 4222,\n  \"server_name\": \"nats1\"\n}\n",
                &[],
                r#"{jetstream={store_dir="/tmp/nats",max_mem=1000000},port=4222,server_name="nats1"}"#,
            ),
            ("{}", &[], "{}"),
            ("\n{\n}\n", &[], "{}"),
            (
                "\naccounts {\n  foo  { include 'foo.json'  }\n  bar  { include 'bar.json'  }\n  quux { include 'quux.json' }\n}\n",
                &[
                    ("foo.json", "{ \"users\": [ {\"user\": \"foo\"} ] }"),
                    ("bar.json", "{\n  \"users\": [ {\"user\": \"bar\"} ]\n}"),
                    ("quux.json", "{}"),
                ],
                r#"{accounts={foo={users=[{user="foo"}]},bar={users=[{user="bar"}]},quux={}}}"#,
            ),
        ];
    for (main, includes, want) in cases {
        let dir = temp_dir("json");
        write_files(&dir, includes);
        write_files(&dir, &[("nats.conf", main)]);
        let m = parse_file_with_env(&dir.join("nats.conf"), &no_env)
            .unwrap_or_else(|e| panic!("{main:?}:{}", show_errs(&e)));
        assert_eq!(&render(&m), want);
        let _ = fs::remove_dir_all(dir);
    }
}

#[test]
fn nats_parse_blocks() {
    let cases: &[(&str, &str)] = &[
            ("{ listen: 0.0.0.0:4222 }", r#"{listen="0.0.0.0:4222"}"#),
            ("{\n\t\t\t\tlisten: 0.0.0.0:4222\n\t\t\t }", r#"{listen="0.0.0.0:4222"}"#),
            ("\n\t\t\t{\n\t\t\t\tlisten: 0.0.0.0:4222\n\t\t\t}\n\t\t\t# wibble\n\t\t\t", r#"{listen="0.0.0.0:4222"}"#),
            (
                "\n\t\t\t{\n\t\t\t\t{\n\t\t\t\t\tlisten: 0.0.0.0:4222 // random comment\n\t\t\t\t}\n\t\t\t\t# wibble1\n\t\t\t}\n\t\t\t# wibble2\n\t\t\t",
                r#"{listen="0.0.0.0:4222"}"#,
            ),
            (
                "\n\t\t\t{\n\t\t\t  \"debug\":              False\n\t\t\t  \"prof_port\":          8221\n\t\t\t  \"server_name\":        \"aws-useast2-natscj1-1\"\n\t\t\t}\n\t\t\t",
                r#"{debug=false,prof_port=8221,server_name="aws-useast2-natscj1-1"}"#,
            ),
            (
                "\n\t\t\t{\n\t\t\t  \"debug\":              False\n\t\t\t  \"server_name\":        \"gcp-asianortheast3-natscj1-1\"\n\n\t\t\t  # Profile port specification.\n\t\t\t  \"prof_port\":          8221\n\t\t\t}\n\t\t\t",
                r#"{debug=false,server_name="gcp-asianortheast3-natscj1-1",prof_port=8221}"#,
            ),
        ];
    for (text, want) in cases {
        assert_eq!(&ok(text), want, "{text:?}");
    }
}

/// nats' TestParseDigest: inputs with equal digests must parse to equal maps.
#[test]
fn nats_parse_digest_equivalences() {
    let same = [
            "foo = bar",
            "# Comments and whitespace have no effect\n                        foo = bar\n                        ",
            "# Syntax changes have no effect\n                        'foo': 'bar'\n                        ",
            "# Syntax changes have no effect\n                        { 'foo': 'bar' }\n                        ",
        ];
    for text in same {
        assert_eq!(ok(text), r#"{foo="bar"}"#, "{text:?}");
    }
    assert_eq!(
            ok("BAR_USERS = { users = [ {user = \"foo\"} ]}\nbar = $BAR_USERS\naccounts {\n  users = $BAR_USERS\n}\n"),
            r#"{BAR_USERS={users=[{user="foo"}]},bar={users=[{user="foo"}]},accounts={users={users=[{user="foo"}]}}}"#
        );
    assert_eq!(
            ok("BAR_USERS = { users = [ {user = \"bar\"} ]}\nhello = 'world'\naccounts {\n  QUUX_USERS = [ { user: quux }]\n  bar = $BAR_USERS\n  quux = { users = $QUUX_USERS }\n}\nvery { nested { env { VAR = 'NESTED', quux = $VAR }}}\n"),
            r#"{BAR_USERS={users=[{user="bar"}]},hello="world",accounts={QUUX_USERS=[{user="quux"}],bar={users=[{user="bar"}]},quux={users=[{user="quux"}]}},very={nested={env={VAR="NESTED",quux="NESTED"}}}}"#
        );
    let dir = temp_dir("digest");
    write_files(
            &dir,
            &[
                ("foo.conf", " users = [{user = \"foo\"}]"),
                ("bar.conf", " users = [{user = \"bar\"}]"),
                ("quux.conf", " users = [{user = \"quux\"}]"),
                ("a.conf", "accounts {\n  foo { include 'foo.conf'}\n  bar { users = [{user = \"bar\"}] }\n  quux { include 'quux.conf'}\n}\n"),
                ("b.conf", "accounts {\n  foo { include 'foo.conf'}\n  bar { include 'bar.conf'}\n  quux { include 'quux.conf'}\n}\n"),
            ],
        );
    let a = parse_file_with_env(&dir.join("a.conf"), &no_env).unwrap();
    let b = parse_file_with_env(&dir.join("b.conf"), &no_env).unwrap();
    assert_eq!(render(&a), render(&b));
    let _ = fs::remove_dir_all(dir);
}

/// Values checked against the nats-server 2.15.1 release: `nats-server -t -c` prints a
/// SHA-256 of the JSON of its parsed map, which matched ours for each of these.
#[test]
fn nats_release_digest_facts() {
    let cases: &[(&str, &str)] = &[
        ("pid_file = 4'41k1k.\n", r#"{pid_file="4'41k1k."}"#),
        (
            "server_tags [\n \n 5\\x41{\n]\n",
            r#"{server_tags=["5\\x41{"]}"#,
        ),
        ("pid_file = 1\\u00e9\n", r#"{pid_file="1\\u00e9"}"#),
        ("server_tags = [1k]\n", r#"{server_tags=["1k"]}"#),
        ("pid_file = 1k5\n", r#"{pid_file="1k5"}"#),
        ("pid_file = 4]x\n", r#"{pid_file="4]x"}"#),
        ("pid_file = a\\x41\\t\n", r#"{pid_file="aA\t"}"#),
        ("pid_file = 'a\\x41'\n", r#"{pid_file="a\\x41"}"#),
        ("pid_file = \"a\\x41\\\\\"\n", r#"{pid_file="aA\\"}"#),
        (
            "pid_file = (\nline\n  )\n)\n",
            r#"{pid_file="\nline\n  )\n"}"#,
        ),
        ("pid_file = 1.2.3-4:5\n", r#"{pid_file="1.2.3-4:5"}"#),
        ("pid_file = bar'\n", r#"{pid_file="bar"}"#),
        ("pid_file = ;\n", r#"{pid_file=""}"#),
        ("{ \"pid_file\": \"x\" }\n}\n", r#"{pid_file="x"}"#),
        (
            "debug: TRUE\npid_file: \"\\t\\r\\n\\\\\\\"<>&\"\n",
            r#"{debug=true,pid_file="\t\r\n\\\"<>&"}"#,
        ),
    ];
    for (text, want) in cases {
        assert_eq!(&ok(text), want, "{text:?}");
    }
}

// ---- realistic configs ------------------------------------------------------------

#[test]
fn full_server_config() {
    let m = parse_file_with_env(&corpus("server.conf"), &no_env)
        .unwrap_or_else(|e| panic!("{}", show_errs(&e)));
    let int = |k: &str| m.get(k).and_then(|v| v.value.as_int());
    let s = |k: &str| m.get(k).and_then(|v| v.value.as_str()).map(str::to_string);
    assert_eq!(s("server_name").as_deref(), Some("n1-east"));
    assert_eq!(s("listen").as_deref(), Some("0.0.0.0:4222"));
    assert_eq!(int("http"), Some(8222));
    assert_eq!(int("max_payload"), Some(1 << 20));
    assert_eq!(int("max_pending"), Some(64 << 20));
    assert_eq!(int("max_connections"), Some(64_000));
    assert_eq!(int("max_control_line"), Some(4096));
    assert_eq!(int("log_size_limit"), Some(1 << 30));
    assert_eq!(s("pid_file").as_deref(), Some("/var/run/nats/nats.pid"));
    assert_eq!(
        parse_duration(&s("write_deadline").unwrap()),
        Ok(Duration::from_secs(10))
    );
    assert_eq!(m.get("DEBUG").and_then(|v| v.value.as_bool()), Some(false));

    let auth = m.get("authorization").unwrap().value.as_map().unwrap();
    assert_eq!(auth.get("timeout").unwrap().value, Value::Int(2));
    let users = auth.get("users").unwrap().value.as_array().unwrap();
    assert_eq!(users.len(), 3);
    assert_eq!(
        render_one(&users[0].value),
        r#"{user="admin",password="$2a$11$W2zko751KUvVy59mUTWmpOdWjpEm5qhcCZRd05GjI/sSOT.xtiHyG",permissions={publish=">",subscribe=">"}}"#
    );
    assert_eq!(
        render_one(&users[1].value),
        r#"{user="client",password="s3cr3t",permissions={publish=["req.a","req.b"],subscribe="_INBOX.>"}}"#
    );
    assert_eq!(
        render_one(&users[2].value),
        r#"{user="other",password="p w",permissions={publish={deny=["$SYS.>"]},subscribe=">"}}"#
    );

    assert_eq!(
        render_one(&m.get("tls").unwrap().value),
        r#"{cert_file="./certs/server-cert.pem",key_file="./certs/server-key.pem",ca_file="./certs/ca.pem",verify=true,timeout=2.5}"#
    );
    assert_eq!(
        render_one(&m.get("cluster").unwrap().value),
        r#"{name="east",listen="0.0.0.0:6222",authorization={user="route_user",password="T0pS3cr3t",timeout=0.5},routes=["nats-route://route_user:T0pS3cr3t@n2.example.net:6222","nats-route://route_user:T0pS3cr3t@n3.example.net:6222"]}"#
    );
    assert_eq!(
        render_one(&m.get("jetstream").unwrap().value),
        r#"{store_dir="/data/jetstream",max_memory_store=1073741824,max_file_store=10737418240,sync_interval="2m"}"#
    );
    assert_eq!(
        render_one(&m.get("accounts").unwrap().value),
        r#"{APP={jetstream="enabled",users=[{user="app",password="app"}]},SYS={users=[{user="sys",password="sys"}]}}"#
    );
    assert_eq!(
        render_one(&m.get("websocket").unwrap().value),
        "{port=8080,no_tls=true}"
    );
    assert_eq!(
        render_one(&m.get("leafnodes").unwrap().value),
        "{port=7422}"
    );
    // Positions: the tls block's `verify` key, line 50 col 3.
    let tls = m.get("tls").unwrap().value.as_map().unwrap();
    let (k, v) = tls.get_entry("verify").unwrap();
    assert!(k.pos.file.ends_with("tests/conf/server.conf"));
    assert_eq!((k.pos.line, k.pos.col, v.pos.col), (50, 3, 14));
}

fn render_one(v: &Value) -> String {
    let mut out = String::new();
    render_value(v, &mut out);
    out
}

#[test]
fn json_file() {
    let m = parse_file_with_env(&corpus("server.json"), &no_env).unwrap();
    assert_eq!(
        render(&m),
        r#"{port=4567,http_port=8227,write_deadline="1h",jetstream={store_dir="/tmp/nats",max_mem=1000000},cluster={port=6222,routes=["nats://127.0.0.1:4222","nats://127.0.0.1:4223"]}}"#
    );
    assert_eq!(ok(r#"{ "port": 4567 }"#), "{port=4567}");
    assert_eq!(ok(r#"{ "jetstream": true }"#), "{jetstream=true}");
    assert_eq!(
        ok(r#"{"a": [1, 2], "b": {"c": null}}"#),
        r#"{a=[1,2],b={c="null"}}"#
    );
}

/// Config shapes written by the official clients' test launchers.
#[test]
fn client_launcher_shapes() {
    assert_eq!(
        ok("port: -1\nhttp: \"127.0.0.1:-1\"\nports_file_dir: \"/tmp/x\"\n"),
        r#"{port=-1,http="127.0.0.1:-1",ports_file_dir="/tmp/x"}"#
    );
    assert_eq!(
        ok("websocket\n{\n port: -1\n no_tls: true\n}\n"),
        "{websocket={port=-1,no_tls=true}}"
    );
    assert_eq!(ok("server_tags [ id:XYZ ]"), r#"{server_tags=["id:XYZ"]}"#);
    assert_eq!(
        ok("tls { cert_file: \"a\", key_file: 'b', handshake_first: true }"),
        r#"{tls={cert_file="a",key_file="b",handshake_first=true}}"#
    );
    // nats.js's toConf: nested maps without separators, array elements on their own
    // lines, unquoted absolute paths.
    let js = "host: localhost\ntls {\n  handshake_first: true\n  cert_file: /home/u/certs/localhost.crt\n }\nauthorization {\n  PERM {\n    publish: \"a\"\n    subscribe: \">\"\n   }\n  users [\n     {\n      user: a\n      password: b\n      permission: $PERM\n     }\n   ]\n }\n";
    assert_eq!(
        ok(js),
        r#"{host="localhost",tls={handshake_first=true,cert_file="/home/u/certs/localhost.crt"},authorization={PERM={publish="a",subscribe=">"},users=[{user="a",password="b",permission={publish="a",subscribe=">"}}]}}"#
    );
    assert_eq!(
            ok("authorization { PERM { publish: \"a\", subscribe: \">\" }, users [ {user: a, password: b, permission: $PERM} ] }"),
            r#"{authorization={PERM={publish="a",subscribe=">"},users=[{user="a",password="b",permission={publish="a",subscribe=">"}}]}}"#
        );
    // Entries on one line need ',' or ';' between them, in nats as here.
    assert_err(
        "authorization { PERM { publish: \"a\" subscribe: \">\" } }",
        1,
        37,
        "Expected a map value terminator \",\" or a map terminator \"}\", but got 's' instead.",
    );
}

// ---- syntax details ---------------------------------------------------------------

#[test]
fn separators_and_terminators() {
    assert_eq!(ok("a 1; b = 2, c: 3\nd=4"), "{a=1,b=2,c=3,d=4}");
    assert_eq!(ok("m { a 1; b = 2, c: 3\n d=4 }"), "{m={a=1,b=2,c=3,d=4}}");
    assert_eq!(ok("a = [1\n2,3 ,\n\n 4,]"), "{a=[1,2,3,4]}");
    // A key may be separated from its value by newlines; after '=' a newline is an
    // error at top level but not in a map.
    assert_eq!(ok("a\n\n  5"), "{a=5}");
    assert_eq!(ok("m {\n a =\n 5\n}"), "{m={a=5}}");
    // (On the line after the newline: nats' lexer has read it.)
    assert_err("a =\n5", 2, 1, "Expected value but found new line");
    assert_err("a\n=\n5", 3, 1, "Expected value but found new line");
    // Values that end before they start are empty strings, as in nats.
    assert_eq!(ok("a ="), r#"{a=""}"#);
    assert_eq!(ok("a = ;b = 1"), r#"{a="",b=1}"#);
    assert_eq!(ok("m { a = ; }"), r#"{m={a=""}}"#);
    // '}' after a top-level value is a terminator.
    assert_eq!(ok("a = b}"), r#"{a="b"}"#);
    // Bare strings keep '#', ':', '=', '{' and '"'.
    assert_eq!(ok("a = b#c:d=e{f\"g"), r#"{a="b#c:d=e{f\"g"}"#);
    assert_eq!(ok("a = #hash // x"), r##"{a="#hash"}"##);
    assert_eq!(ok("store_dir: /data/js"), r#"{store_dir="/data/js"}"#);
    assert_eq!(ok("dirs: [/a, /b]"), r#"{dirs=["/a","/b"]}"#);
    assert_eq!(ok("a = //x"), r#"{a="//x"}"#);
    // Quoted keys may hold anything.
    assert_eq!(ok("\"a b:c=d\" = 1"), "{a b:c=d=1}");
    // Keys run to whitespace or a separator: `foo{` is a key.
    assert_err("foo{ a = 1 }", 1, 8, "top-level value to end");
    assert_eq!(ok("a = 1\r\nb = 2\r\n"), "{a=1,b=2}");
    assert_eq!(ok("\u{feff}port: 1"), "{port=1}");
}

#[test]
fn numbers() {
    // nats-server 2.15.1 reads a size directly followed by ']' or a digit as a string.
    assert_eq!(
        ok("a = [1k]\nb = [1k ]\nc = 1k5\nd = 1e5"),
        r#"{a=["1k"],b=[1000],c="1k5",d="1e5"}"#
    );
    // After a leading digit, nats takes the next character as written.
    assert_eq!(ok(r"a = 4'41k"), r#"{a="4'41k"}"#);
    assert_eq!(ok(r"a = 5\x41\t"), r#"{a="5\\x41\t"}"#);
    assert_eq!(ok(r"a = 1\u00e9 "), r#"{a="1\\u00e9"}"#);
    assert_eq!(ok("a = [1]\nb = [1.5]\nc = [-1]"), "{a=[1],b=[1.5],c=[-1]}");
    // Outside arrays nats makes a string of a number running into ']'.
    assert_eq!(ok("a = 4]x\nm { b = 4]}"), r#"{a="4]x",m={b="4]"}}"#);
    assert_eq!(ok("a = 0123"), "{a=123}");
    assert_eq!(ok("a = -0"), "{a=0}");
    assert_eq!(ok("a = 1_000"), r#"{a="1_000"}"#);
    assert_eq!(ok("a = 12:30"), r#"{a="12:30"}"#);
    assert_eq!(ok("a = 4222#x"), r#"{a="4222#x"}"#);
    assert_eq!(ok("a = 1.2.3"), r#"{a="1.2.3"}"#);
    assert_eq!(ok("a = 10.0.0.1:4222"), r#"{a="10.0.0.1:4222"}"#);
    assert_eq!(ok("a = -1.5.6"), r#"{a="-1.5.6"}"#);
    assert_eq!(ok("a = -1Ghz"), r#"{a="-1Ghz"}"#);
    assert_eq!(ok("a = +5"), r#"{a="+5"}"#);
    assert_eq!(ok("a = 1.0"), "{a=1.0}");
    assert_eq!(ok("a = -0.25"), "{a=-0.25}");
    assert_eq!(ok("a = 9223372036854775807"), "{a=9223372036854775807}");
    assert_eq!(ok("a = -9223372036854775808"), "{a=-9223372036854775808}");
    assert_eq!(
        ok("a = 1kib\nb = 1KIB\nc = 2Mi"),
        "{a=1024,b=1024,c=2097152}"
    );
    assert_err(
        "a = 9223372036854775808",
        1,
        5,
        "integer '9223372036854775808' is out of the range",
    );
    assert_err("a = 8EB", 1, 5, "out of the range");
    assert_err("a = 16E", 1, 5, "out of the range");
    assert_err("a = 1kbb", 1, 5, "invalid size suffix 'kbb'");
    assert_err("a = 1MiBi", 1, 5, "invalid size suffix 'MiBi'");
    assert_err("a = 1.5s", 1, 8, "but got 's' instead");
    assert_err(
        "a = 1.",
        1,
        7,
        "Floats must have a digit after the '.', but got EOF instead.",
    );
    assert_err("a = 1.x", 1, 7, "Floats must have a digit after the '.'");
    assert_err("a = -x", 1, 6, "Expected a digit but got 'x'.");
    assert_err("a = -.5", 1, 6, "Floats must start with a digit, not '.'.");
    assert_err("a = -5x", 1, 7, "but got 'x' instead");
    assert_err(&format!("a = 1{}.5", "0".repeat(400)), 1, 5, "float");
}

#[test]
fn datetimes() {
    assert_eq!(
        ok("a = 2016-02-29T23:59:59Z"),
        "{a=dt(2016-02-29T23:59:59Z)}"
    );
    assert_eq!(
        ok("a = [2000-01-01T00:00:00Z]"),
        "{a=[dt(2000-01-01T00:00:00Z)]}"
    );
    assert_err(
        "a = 2015-02-29T00:00:00Z",
        1,
        5,
        "expected Zulu formatted DateTime",
    );
    assert_err(
        "a = 2016-13-01T00:00:00Z",
        1,
        5,
        "expected Zulu formatted DateTime",
    );
    assert_err(
        "a = 2016-01-01T24:00:00Z",
        1,
        5,
        "expected Zulu formatted DateTime",
    );
    assert_err(
        "a = 2016-01-01T00:00:60Z",
        1,
        5,
        "expected Zulu formatted DateTime",
    );
    assert_err(
        "a = 2016-05-04",
        1,
        15,
        "Expected 'T' in ISO8601 datetime, but found EOF instead.",
    );
    assert_err("a = 2016-05-04T18:53:41", 1, 24, "Expected 'Z'");
    assert_err(
        "a = 2016-0x",
        1,
        11,
        "Expected digit in ISO8601 datetime, but found 'x' instead.",
    );
    assert_err(
        "a = 1-2",
        1,
        5,
        "All ISO8601 dates must be in full Zulu form.",
    );
}

#[test]
fn strings_and_escapes() {
    assert_eq!(ok(r#"a = "\u00e9\u20AC""#), r#"{a="é€"}"#);
    assert_eq!(ok(r#"a = "\ud83d\ude00""#), r#"{a="😀"}"#);
    assert_eq!(ok(r#"a = "\xc3\xa9""#), r#"{a="é"}"#);
    assert_eq!(ok(r#"a = "tab\there""#), r#"{a="tab\there"}"#);
    assert_eq!(ok("a = \"multi\nline\""), r#"{a="multi\nline"}"#);
    assert_eq!(ok(r"a = 'raw \n \x'"), r#"{a="raw \\n \\x"}"#);
    assert_eq!(ok("a = \"$notavar\""), r#"{a="$notavar"}"#);
    assert_eq!(ok("a = 'true'"), r#"{a="true"}"#);
    assert_eq!(ok("a = true'"), r#"{a="true"}"#);
    assert_eq!(
        ok("a = (\nline 1\n  ) not yet\n)\r\n"),
        r#"{a="\nline 1\n  ) not yet\n"}"#
    );
    let e = errs(r#"a = "\xe9""#);
    assert_eq!((e[0].pos.line, e[0].pos.col), (1, 5));
    assert!(e[0].msg.contains("not valid UTF-8"), "{}", e[0]);
    assert_err(r#"a = "\ud83d""#, 1, 6, "unpaired surrogate");
    assert_err(r#"a = "\ude00""#, 1, 6, "unpaired surrogate");
    assert_err(r#"a = "\u12""#, 1, 11, "four hexadecimal digits");
    assert_err("a = \"x\\", 1, 7, "Unexpected EOF after '\\'");
    assert_err("a = (x)", 1, 8, "Unexpected EOF processing block.");
    assert_err("a = \"x\" y", 1, 9, "but got 'y' instead");
}

#[test]
fn used_variables_are_marked() {
    let m = parse_env(
        "P = {a: 1}\nQ = 2\nauth { R = 3, u = $R }\nx = $P\nP2 = $Q",
        &[],
    )
    .unwrap();
    let used: Vec<&str> = m
        .iter()
        .enumerate()
        .filter(|(i, _)| m.is_used_variable(*i))
        .map(|(_, (k, _))| k.value.as_str())
        .collect();
    assert_eq!(used, ["P", "Q"]);
    let auth = m.get("auth").and_then(|v| v.value.as_map()).unwrap();
    assert!(auth.is_used_variable(0) && !auth.is_used_variable(1));
}

#[test]
fn variables() {
    // Innermost scope first, then outer ones; arrays are not scopes.
    assert_eq!(
        ok("x = 1\nm { x = 2, a = [ { y = $x } ], n { z = $x } }\nw = $x"),
        "{x=1,m={x=2,a=[{y=2}],n={z=2}},w=1}"
    );
    // Only keys written before the reference are visible.
    let e = errs("a = $b\nb = 1");
    assert_eq!((e[0].pos.line, e[0].pos.col), (1, 5));
    assert_eq!(
        e[0].msg,
        "variable reference for 'b' on line 1 can not be found"
    );
    assert_eq!(e[0].kind, ErrorKind::Parse);
    // Lookup is case-sensitive, unlike Map::get; later definitions win.
    assert!(parse_env("X = 1\na = $x", &[]).is_err());
    assert_eq!(ok("X = 1\nX = 2\na = $X"), "{X=1,X=2,a=2}");
    // Variables may hold maps and arrays; the file's variables shadow the environment.
    assert_eq!(
        ok_env(
            "P = { publish = \"foo\" }\nL = [1, $P]\nperm: $P\nl = $L",
            &[("P", "1")]
        ),
        r#"{P={publish="foo"},L=[1,{publish="foo"}],perm={publish="foo"},l=[1,{publish="foo"}]}"#
    );
    // bcrypt hashes are literals.
    for h in ["$2a$10$abc", "$2b$12$abc", "$2y$05$abc", "$2x$05$abc"] {
        assert_eq!(ok(&format!("p = {h}")), format!(r#"{{p="{h}"}}"#));
    }
    assert_err(
        "p = $",
        1,
        5,
        "variable reference for '' on line 1 can not be found",
    );
    // Every undefined variable is reported.
    let e = errs("a = $x\nb = [$y]\nc = { d = $z }");
    let at: Vec<(u32, u32)> = e.iter().map(|e| (e.pos.line, e.pos.col)).collect();
    assert_eq!(at, [(1, 5), (2, 6), (3, 11)]);
}

#[test]
fn environment_variables() {
    assert_eq!(ok_env("a = $SIZE", &[("SIZE", "4MB")]), "{a=4194304}");
    assert_eq!(
        ok_env("a = $M", &[("M", "{ x = 1, y = [a, b] }")]),
        r#"{a={x=1,y=["a","b"]}}"#
    );
    assert_eq!(ok_env("a = $E", &[("E", "")]), r#"{a=""}"#);
    assert_eq!(ok_env("a = $A", &[("A", "$B"), ("B", "true")]), "{a=true}");
    // A value from the environment is positioned at its reference, all through.
    let m = parse_env("\n  a = $M", &[("M", "{ x = [1] }")]).unwrap();
    let a = m.get("a").unwrap();
    let x = a.value.as_map().unwrap().get("x").unwrap();
    let one = &x.value.as_array().unwrap()[0];
    for p in [&a.pos, &x.pos, &one.pos] {
        assert_eq!(p.to_string(), "t.conf:2:7");
    }
    // The environment does not see the file's keys (nats parses it on its own).
    let e = errs_env("port = 1\na = $P", &[("P", "$port")]);
    assert_eq!(
        e[0].to_string(),
        "variable reference for 'P' on line 2 could not be parsed: variable reference for \
             'port' on line 1 can not be found"
    );
    // Cycles are errors, not hangs; worded as nats-server words them.
    let e = errs_env("a = $FOO", &[("FOO", "$FOO")]);
    assert_eq!(e[0].to_string(), "variable reference for 'FOO' on line 1 could not be parsed: variable reference for 'FOO' on line 1 could not be parsed: variable reference cycle for 'FOO'");
    // A syntax error in the value is nats' `Parse error`, inside the reference's error.
    let e = errs_env("a = $X", &[("X", "[1 2]")]);
    assert_eq!(e[0].to_string(), "variable reference for 'X' on line 1 could not be parsed: Parse error on line 1: 'Expected an array value terminator \",\" or an array terminator \"]\", but got '2' instead.'");
    let e = errs_env("a = $A", &[("A", "[$B]"), ("B", "{ x = $A }")]);
    assert!(
        e[0].msg.contains("variable reference cycle for 'A'"),
        "{}",
        e[0]
    );
    let e = errs_env("a = $A", &[("A", "1 2")]);
    assert!(e[0].msg.contains("could not be parsed"), "{}", e[0]);
}

#[test]
fn variable_expansion_is_bounded() {
    let mut text = String::from(
        "a0 = \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"\n",
    );
    for i in 1..40 {
        let p = i - 1;
        writeln!(
            text,
            "a{i} = [$a{p}, $a{p}, $a{p}, $a{p}, $a{p}, $a{p}, $a{p}, $a{p}]"
        )
        .unwrap();
    }
    let e = errs(&text);
    assert!(
        e.iter()
            .any(|e| e.msg.contains("expands the config beyond")),
        "{}",
        show_errs(&e[..1])
    );
}

#[test]
fn variable_nesting_is_bounded() {
    // Each copy wraps the previous one: without a bound, values would nest as deep as
    // the chain is long and overflow the stack when cloned or dropped.
    let mut text = String::from("a0 = 1\n");
    for i in 1..2000 {
        writeln!(text, "a{i} = [$a{}]", i - 1).unwrap();
    }
    let e = errs(&text);
    assert_eq!((e[0].pos.line, e[0].pos.col), (258, 9), "{}", e[0]);
    assert!(
        e[0].msg.contains("nests values deeper than 256 levels"),
        "{}",
        e[0]
    );
    // Inside 256 levels of arrays a copied array no longer fits; a scalar does.
    let inner = format!("{}$A{}", "[".repeat(256), "]".repeat(256));
    assert!(parse_env(&format!("A = 1\nb = {inner}"), &[]).is_ok());
    assert!(parse_env(&format!("A = []\nb = {inner}"), &[]).is_err());
    assert!(parse_env(&format!("b = {inner}"), &[("A", "[]")]).is_err());
}

#[test]
fn nesting_is_bounded() {
    let ok_depth = format!("a = {}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
    assert!(parse_env(&ok_depth, &[]).is_ok());
    let deep = format!(
        "a = {}{}",
        "[".repeat(MAX_DEPTH + 1),
        "]".repeat(MAX_DEPTH + 1)
    );
    assert_err(
        &deep,
        1,
        5 + MAX_DEPTH as u32,
        "nesting is deeper than 256 levels",
    );
    assert_err(
        &"[".repeat(100_000),
        1,
        1,
        "config is invalid (t.conf:1:100000)",
    );
    assert_err(
        &format!("a = {}", "[".repeat(100_000)),
        1,
        261,
        "nesting is deeper",
    );
    assert_err(
        &format!("a = {}", "{a = ".repeat(100_000)),
        1,
        5 + 5 * 256,
        "nesting is deeper",
    );
    assert_err(&"{".repeat(100_000), 1, 257, "nesting is deeper");
    assert_err(
        &format!("a {}", "{a ".repeat(100_000)),
        1,
        3 + 3 * 256,
        "nesting is deeper",
    );
    // Deep nesting also fits the 2 MiB stack of a test thread in debug builds.
    let deep_maps = format!(
        "a = {}1{}",
        "{a = ".repeat(MAX_DEPTH),
        "}".repeat(MAX_DEPTH)
    );
    let m = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || parse_env(&deep_maps, &[]).is_ok())
        .unwrap()
        .join()
        .unwrap();
    assert!(m);
}

#[test]
fn duplicate_keys_and_case() {
    let m = parse_env("Port = 1\nport = 2\nPORT = 3\nother = 4", &[]).unwrap();
    assert_eq!(m.len(), 4);
    assert_eq!(m.get("port").unwrap().value, Value::Int(3));
    assert_eq!(m.get("pOrT").unwrap().value, Value::Int(3));
    let (k, v) = m.get_entry("port").unwrap();
    assert_eq!((k.value.as_str(), k.pos.line, v.pos.col), ("PORT", 3, 8));
    assert!(m.get("missing").is_none());
    // Later wins whether the earlier one came from an include or not.
    let dir = temp_dir("dups");
    write_files(
        &dir,
        &[
            ("inc.conf", "a = inc\nb = inc\n"),
            ("main.conf", "a = main\ninclude inc.conf\nb = main\n"),
        ],
    );
    let m = parse_file_with_env(&dir.join("main.conf"), &no_env).unwrap();
    assert_eq!(m.get("a").unwrap().value.as_str(), Some("inc"));
    assert_eq!(m.get("b").unwrap().value.as_str(), Some("main"));
    let _ = fs::remove_dir_all(dir);
}

#[test]
fn includes() {
    // From a string, relative to the current directory (cargo runs tests in the crate).
    assert_eq!(
        ok("include tests/conf/includes/passwords.conf"),
        r#"{ALICE_PASS="$2a$10$UHR6GhotWhpLsKtVP0/i6.Nh9.fuY73cWjLoJjb2sKT8KISBcUW5q",BOB_PASS="$2a$11$dZM98SpGeI7dCFFGSpt.JObQcix8YHml4TBUZoge9R1uxnMIln5ly"}"#
    );
    assert_eq!(
        ok("m { INCLUDE 'tests/conf/includes/passwords.conf'; x = 1 }"),
        r#"{m={ALICE_PASS="$2a$10$UHR6GhotWhpLsKtVP0/i6.Nh9.fuY73cWjLoJjb2sKT8KISBcUW5q",BOB_PASS="$2a$11$dZM98SpGeI7dCFFGSpt.JObQcix8YHml4TBUZoge9R1uxnMIln5ly",x=1}}"#
    );
    // An absolute include path is joined onto the including file's directory (Go's
    // filepath.Join), so this file finds tests/conf/includes/passwords.conf.
    let m = parse_file_with_env(&corpus("include_abs.conf"), &no_env).unwrap();
    assert_eq!(m.len(), 2);
    // `include` with a separator is an ordinary key.
    assert_eq!(ok("include: 5\ninclude=6"), "{include=5,include=6}");

    let dir = temp_dir("inc");
    write_files(
        &dir,
        &[
            ("sub/inner.conf", "v = inner\ninclude ../leaf.conf\n"),
            ("leaf.conf", "leaf = true\n"),
            ("uses_parent_var.conf", "y = $X\n"),
            ("main.conf", "X = 1\ninclude sub/inner.conf\n"),
            ("main2.conf", "X = 1\ninclude uses_parent_var.conf\n"),
            ("dir.conf", "include sub\n"),
        ],
    );
    let m = parse_file_with_env(&dir.join("main.conf"), &no_env).unwrap();
    assert_eq!(render(&m), r#"{X=1,v="inner",leaf=true}"#);
    // An included file is parsed on its own: it cannot see the includer's variables.
    let e = parse_file_with_env(&dir.join("main2.conf"), &no_env).unwrap_err();
    assert_eq!(
        e[0].to_string(),
        "error parsing include file 'uses_parent_var.conf', variable reference for 'X' on \
             line 1 can not be found"
    );
    assert!(
        e[0].pos.file.ends_with("uses_parent_var.conf"),
        "{}",
        e[0].pos
    );
    assert_eq!((e[0].pos.line, e[0].pos.col), (1, 5));
    let e = parse_file_with_env(&dir.join("dir.conf"), &no_env).unwrap_err();
    assert!(e[0].msg.contains("is a directory"), "{}", e[0]);
    let _ = fs::remove_dir_all(dir);

    let e = errs("a = 1\ninclude ./no/such/file.conf\nb = $nope");
    assert_eq!(e.len(), 2, "{}", show_errs(&e));
    assert_eq!((e[0].pos.line, e[0].pos.col), (2, 9));
    assert!(
        e[0].msg
            .starts_with("error parsing include file './no/such/file.conf', open ")
            && e[0]
                .msg
                .ends_with("/no/such/file.conf: no such file or directory"),
        "{}",
        e[0]
    );
    assert_err(
        "include [x]",
        1,
        9,
        "Expected include value but found start of an array",
    );
    assert_err("include {x}", 1, 9, "start of a map");
    assert_err("include (x)", 1, 9, "start of a block");
    assert_err("include 5", 1, 9, "start of a number");
    assert_err("include \\x", 1, 9, "escape sequence");
    assert_err("include \n x", 2, 1, "found new line");
    assert_err(
        "include \"x",
        1,
        11,
        "Unexpected EOF in double quoted include",
    );
    assert_err("include 'x", 1, 11, "Unexpected EOF in quoted include");
    assert_err(
        "include ;",
        1,
        9,
        "Expected include value but found nothing",
    );
    let e = errs("include \"x\" y");
    assert_eq!((e[1].pos.line, e[1].pos.col), (1, 13), "{}", show_errs(&e));
    assert!(e[1].msg.contains("but got 'y' instead"));
}

#[test]
fn include_cycles() {
    let e = parse_file_with_env(&corpus("cycle_a.conf"), &no_env).unwrap_err();
    assert_eq!(e.len(), 1, "{}", show_errs(&e));
    assert!(e[0].pos.file.ends_with("cycle_b.conf"), "{}", e[0]);
    assert_eq!((e[0].pos.line, e[0].pos.col), (2, 9));
    assert!(e[0].msg.contains("include cycle:"), "{}", e[0]);
    assert!(e[0].msg.contains("cycle_a.conf -> "), "{}", e[0]);
    // Each include level says which file it was reading, as nats-server does.
    assert!(
        e[0].msg.starts_with(
            "error parsing include file './cycle_b.conf', error parsing include file \
                 'cycle_a.conf', include cycle: "
        ),
        "{}",
        e[0]
    );
    let e = parse_file_with_env(&corpus("self_include.conf"), &no_env).unwrap_err();
    assert_eq!((e[0].pos.line, e[0].pos.col), (2, 9));
    assert!(e[0].msg.contains("include cycle"), "{}", e[0]);
    // From a string, the cycle is caught one level later.
    let e = errs("include tests/conf/self_include.conf");
    assert!(e[0].msg.contains("include cycle"), "{}", e[0]);
}

#[test]
fn error_positions() {
    // Syntax errors stand where nats' lexer gives up: on the offending character, or at
    // the end of the text for what is not closed (checked against nats-server 2.15.1).
    assert_err(r#"{ "port": : "invalid syntax" }"#, 1, 13, "Expected a block-level value to end with a new line, comment or EOF, but got '\"' instead.");
    assert_err("a = \"abc", 1, 9, "Unexpected EOF.");
    assert_err("a = 'abc", 1, 9, "Unexpected EOF.");
    assert_err("\"abc = 1", 1, 9, "Unexpected EOF.");
    assert_err("a = 1\n\"", 2, 2, "Unexpected EOF.");
    assert_err("a = 1\n'", 2, 2, "Unexpected EOF.");
    assert_err("m {\n  a = 1\n", 3, 1, "Unexpected EOF processing map.");
    let eof_in_map =
        "Expected a map value terminator \",\" or a map terminator \"}\", but got EOF instead.";
    assert_err("m { a = 1", 1, 10, eof_in_map);
    assert_err("m { a ", 1, 7, eof_in_map);
    assert_err("m { a", 1, 6, "Unexpected EOF processing map key.");
    assert_err("m { 'a ", 1, 8, "Unexpected EOF processing quoted map key.");
    assert_err(
        "m { \"a",
        1,
        7,
        "Unexpected EOF processing double quoted map key.",
    );
    let eof_in_array = "Expected an array value terminator \",\" or an array terminator \"]\", but got EOF instead.";
    assert_err("a = [1,\n 2\n", 3, 1, eof_in_array);
    assert_err("a = [", 1, 6, eof_in_array);
    assert_err("a = [1 2]", 1, 8, "Expected an array value terminator \",\" or an array terminator \"]\", but got '2' instead.");
    assert_err("a = [,1]", 1, 6, "Unexpected array value terminator ','.");
    assert_err(
        "m { a = , }",
        1,
        9,
        "Unexpected map value terminator \",\".",
    );
    assert_err(
        "m { a = }",
        1,
        9,
        "Expected a value for key 'a' but found '}'",
    );
    assert_err("m { a }", 1, 7, "Expected a value for key 'a'");
    assert_err("m { ] }", 1, 5, "Unexpected array end ']' processing map.");
    assert_err("m { = 1 }", 1, 5, "Unexpected key separator '='.");
    assert_err("= 1", 1, 1, "Unexpected key separator '='");
    assert_err("a = 1 / 2", 1, 7, "top-level value to end");
    assert_err("/ a = 1", 1, 1, "Unexpected '/'");
    assert_err("m { /a = 1 }", 1, 5, "Unexpected '/'");
    // A newline that nats' lexer has read puts its error on the next line.
    assert_err("a =\n5", 2, 1, "Expected value but found new line");
    assert_err(
        "include\n",
        2,
        1,
        "Expected include value but found new line",
    );
    assert_err("a = \"x\\\ny\"", 2, 1, "Invalid escape character '\\n'");
    assert_err(
        "a = $undefined",
        1,
        5,
        "variable reference for 'undefined' on line 1 can not be found",
    );
    assert_err("a = 1kbib", 1, 5, "invalid size suffix 'kbib'");
    assert_err("\n\n   x = 1\u{0}", 3, 9, "unexpected NUL character");
    assert_err(
        "\u{7f}\u{1} ]]]",
        1,
        4,
        "Expected a top-level value to end with a new line, comment or EOF, but got ']' instead.",
    );
    assert_err("a = '1'\u{b}", 1, 8, "but got '\\u{b}' instead");
    assert_eq!(ok("{ a = 1 } }"), "{a=1}");
    assert_err("a = [1]]", 1, 8, "but got ']' instead");
    let e = errs("a = $x\nb = [1 2]\nc = $y");
    assert_eq!(
        e.len(),
        2,
        "semantic errors before the syntax error are kept"
    );
    // Display, by kind, as nats-server words each.
    assert_eq!(
        e[0].to_string(),
        "variable reference for 'x' on line 1 can not be found"
    );
    assert_eq!(
            e[1].to_string(),
            "Parse error on line 2: 'Expected an array value terminator \",\" or an array terminator \"]\", but got '2' instead.'"
        );
    assert_eq!(e[1].kind, ErrorKind::Syntax);
    let e = errs("a = 1kbib");
    assert_eq!(e[0].kind, ErrorKind::ParseAt);
    assert!(e[0]
        .to_string()
        .starts_with("t.conf:1:5: invalid size suffix"));
    let e = ConfError::option(e[0].pos.clone(), "unknown field \"foo\"");
    assert_eq!(e.to_string(), "t.conf:1:5: unknown field \"foo\"");
    assert_eq!(
        Pos {
            file: Arc::from("x.conf"),
            line: 3,
            col: 7
        }
        .to_string(),
        "x.conf:3:7"
    );
}

/// [`report`]: option errors end with a newline each, as nats-server's
/// `processConfigErr` prints them; parse errors do not.
#[test]
fn reports_like_nats_server() {
    let e = errs("a = $x\nb = $y");
    assert_eq!(
        report(&e),
        "variable reference for 'x' on line 1 can not be found\n\
             variable reference for 'y' on line 2 can not be found"
    );
    let pos = |line| Pos {
        file: Arc::from("b.conf"),
        line,
        col: 1,
    };
    let e = [
        ConfError::option(pos(2), "unknown field \"foo\""),
        ConfError::option(pos(3), "unknown field \"baz\""),
    ];
    assert_eq!(
        report(&e),
        "b.conf:2:1: unknown field \"foo\"\nb.conf:3:1: unknown field \"baz\"\n"
    );
}

#[test]
fn top_level_braces() {
    // nats accepts a file ending inside top-level braces; we do with or without newline.
    assert_eq!(ok("{ port: 1\n"), "{port=1}");
    assert_eq!(ok("{ port: 1"), "{port=1}");
    assert_eq!(ok("{ {a=1} b=2 }"), "{a=1,b=2}");
    assert_eq!(ok("a = 1\n{ b = 2 }\nc = 3"), "{a=1,b=2,c=3}");
    assert_eq!(
        ok("{ include tests/conf/includes/passwords.conf }"),
        ok("include tests/conf/includes/passwords.conf")
    );
}

#[test]
fn files() {
    // Go's os.ReadFile error, as nats-server prints it.
    let e = parse_file_with_env(Path::new("/definitely/not/here.conf"), &no_env).unwrap_err();
    assert_eq!(
        e[0].to_string(),
        "open /definitely/not/here.conf: no such file or directory"
    );
    let e = parse_file_with_env(Path::new("/"), &no_env).unwrap_err();
    assert_eq!(e[0].to_string(), "read /: is a directory");
    // Non-UTF-8 bytes (a Latin-1 comment) do not make a file unreadable.
    let dir = temp_dir("latin1");
    fs::write(dir.join("l.conf"), b"# D\xe9partement\nport: 1\n").unwrap();
    let m = parse_file_with_env(&dir.join("l.conf"), &no_env).unwrap();
    assert_eq!(render(&m), "{port=1}");
    let _ = fs::remove_dir_all(dir);
}

#[test]
fn value_accessors() {
    let m = parse_env(
        "a = 1\nb = x\nc = true\nd = [1]\ne = {}\nf = 1.5\ng = 2016-05-04T18:53:41Z",
        &[],
    )
    .unwrap();
    let v = |k: &str| &m.get(k).unwrap().value;
    assert_eq!(v("a").as_int(), Some(1));
    assert_eq!(v("b").as_str(), Some("x"));
    assert_eq!(v("c").as_bool(), Some(true));
    assert_eq!(v("d").as_array().map(<[_]>::len), Some(1));
    assert!(v("e").as_map().is_some_and(Map::is_empty));
    assert_eq!(v("a").as_str(), None);
    let names: Vec<&str> = m.iter().map(|(_, v)| v.value.type_name()).collect();
    assert_eq!(
        names,
        ["integer", "string", "boolean", "array", "map", "float", "datetime"]
    );
}

// ---- durations ----------------------------------------------------------------------

#[test]
fn go_duration_table() {
    const NS: i64 = 1;
    const US: i64 = 1000 * NS;
    const MS: i64 = 1000 * US;
    const S: i64 = 1000 * MS;
    const M: i64 = 60 * S;
    const H: i64 = 60 * M;
    // Go's time_test.go parseDurationTests.
    let good: &[(&str, i64)] = &[
        ("0", 0),
        ("5s", 5 * S),
        ("30s", 30 * S),
        ("1478s", 1478 * S),
        ("-5s", -5 * S),
        ("+5s", 5 * S),
        ("-0", 0),
        ("+0", 0),
        ("5.0s", 5 * S),
        ("5.6s", 5 * S + 600 * MS),
        ("5.s", 5 * S),
        (".5s", 500 * MS),
        ("1.0s", S),
        ("1.00s", S),
        ("1.004s", S + 4 * MS),
        ("1.0040s", S + 4 * MS),
        ("100.00100s", 100 * S + MS),
        ("10ns", 10 * NS),
        ("11us", 11 * US),
        ("12µs", 12 * US),
        ("12μs", 12 * US),
        ("13ms", 13 * MS),
        ("14s", 14 * S),
        ("15m", 15 * M),
        ("16h", 16 * H),
        ("3h30m", 3 * H + 30 * M),
        ("10.5s4m", 4 * M + 10 * S + 500 * MS),
        ("-2m3.4s", -(2 * M + 3 * S + 400 * MS)),
        (
            "1h2m3s4ms5us6ns",
            H + 2 * M + 3 * S + 4 * MS + 5 * US + 6 * NS,
        ),
        ("39h9m14.425s", 39 * H + 9 * M + 14 * S + 425 * MS),
        ("52763797000ns", 52763797000 * NS),
        ("0.3333333333333333333h", 20 * M),
        ("9007199254740993ns", (1 << 53) + 1),
        ("9223372036854775807ns", i64::MAX),
        ("9223372036854775.807us", i64::MAX),
        ("9223372036s854ms775us807ns", i64::MAX),
        ("-9223372036854775808ns", i64::MIN),
        ("-9223372036854775.808us", i64::MIN),
        ("-9223372036s854ms775us808ns", i64::MIN),
        ("-2562047h47m16.854775808s", i64::MIN),
        ("0.100000000000000000000h", 6 * M),
        ("0.830103483285477580700h", 49 * M + 48 * S + 372539827 * NS),
        ("300ms", 300 * MS),
        ("1.5h", 90 * M),
        ("2h45m", 2 * H + 45 * M),
        ("1us", US),
        ("1µs", US),
    ];
    for (s, want) in good {
        assert_eq!(parse_duration_nanos(s), Ok(*want), "{s:?}");
    }
    let bad = [
        "",
        "3",
        "-",
        "s",
        ".",
        "-.",
        ".s",
        "+.s",
        "1d",
        "1h 2m",
        "hello",
        "1.5 h",
        "9223372036854775808ns",
        "9223372036854775.808us",
        "9223372036s854ms775us808ns",
        "-9223372036854775809ns",
        "9223372036854775808ns9223372036854775808ns",
    ];
    for s in bad {
        assert!(parse_duration_nanos(s).is_err(), "{s:?}");
    }
    assert_eq!(
        parse_duration_nanos("3"),
        Err("time: missing unit in duration \"3\"".into())
    );
    assert_eq!(
        parse_duration_nanos("1d"),
        Err("time: unknown unit \"d\" in duration \"1d\"".into())
    );
    assert_eq!(
        parse_duration_nanos(""),
        Err("time: invalid duration \"\"".into())
    );
    assert_eq!(parse_duration("300ms"), Ok(Duration::from_millis(300)));
    assert_eq!(parse_duration("1.5h"), Ok(Duration::from_secs(5400)));
    assert_eq!(parse_duration("1us"), Ok(Duration::from_micros(1)));
    assert_eq!(parse_duration("-0s"), Ok(Duration::ZERO));
    assert!(parse_duration("-1s").unwrap_err().contains("negative"));
}

// ---- robustness ---------------------------------------------------------------------

/// xorshift64*, so the loop needs no dependency and is reproducible.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const TOKENS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    "(",
    ")",
    "=",
    ":",
    ",",
    ";",
    "\n",
    "\r",
    " ",
    "\t",
    "\"",
    "'",
    "#",
    "//",
    "/",
    "\\",
    "\\x",
    "\\u",
    "\\x4",
    "\\ud83d",
    "$",
    "$a",
    "$b",
    "$c",
    "$2a$1",
    "a",
    "key",
    "include",
    "include x",
    "1",
    "-",
    ".",
    "1k",
    "1kb",
    "5E",
    "0.5",
    "1.2.3",
    "2016-05-04T18:53:41Z",
    "2016-",
    "true",
    "no",
    "é",
    "\u{a0}",
    "\u{feff}",
    "9999999999999999999",
    "\n)\n",
    "x\\t",
];

fn fuzz_env(name: &str) -> Option<String> {
    match name {
        "a" => Some("$b".into()),
        "b" => Some("{ x = [$a] }".into()),
        "c" => Some("4MB".into()),
        _ => None,
    }
}

fn must_not_panic(text: &str) {
    let _ = parse_str_with_env(text, "fuzz.conf", &fuzz_env);
}

#[test]
fn random_inputs_never_panic() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let base = fs::read(corpus("server.conf")).unwrap();
    for _ in 0..3000 {
        // Random bytes, read as the file reader would.
        let len = rng.below(64);
        let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        must_not_panic(&String::from_utf8_lossy(&bytes));
        // Token soup.
        let n = rng.below(40);
        let text: String = (0..n).map(|_| TOKENS[rng.below(TOKENS.len())]).collect();
        must_not_panic(&text);
        // A real config with a few bytes changed, dropped or a token spliced in.
        let mut b = base.clone();
        for _ in 0..1 + rng.below(4) {
            let i = rng.below(b.len());
            match rng.below(3) {
                0 => b[i] = rng.next() as u8,
                1 => {
                    b.remove(i);
                }
                _ => {
                    let t = TOKENS[rng.below(TOKENS.len())].as_bytes();
                    b.splice(i..i, t.iter().copied());
                }
            }
        }
        must_not_panic(&String::from_utf8_lossy(&b));
    }
    for text in [
        "", "{", "}", "[", "]", "=", "$", "\\", "(", "\"", "'", "include", "-", ".",
    ] {
        must_not_panic(text);
    }
}

mod props {
    use super::*;
    use proptest::prelude::*;
    use proptest::{collection, sample};

    proptest! {
        #[test]
        fn any_string_never_panics(s in "\\PC{0,80}") {
            must_not_panic(&s);
        }

        #[test]
        fn token_soup_never_panics(v in collection::vec(sample::select(TOKENS.to_vec()), 0..48)) {
            must_not_panic(&v.concat());
        }

        #[test]
        fn durations_never_panic(s in "[-+]?[0-9.µμnsmhu]{0,24}") {
            let _ = parse_duration(&s);
        }

        #[test]
        fn integers_round_trip(n in any::<i64>()) {
            let m = parse_str_with_env(&format!("n = {n}"), "p.conf", &no_env).unwrap();
            prop_assert_eq!(m.get("n").and_then(|v| v.value.as_int()), Some(n));
        }

        #[test]
        fn quoted_strings_round_trip(s in "[^\"\\\\\\x00]{0,40}") {
            let m = parse_str_with_env(&format!("s = \"{s}\""), "p.conf", &no_env).unwrap();
            prop_assert_eq!(m.get("s").and_then(|v| v.value.as_str()), Some(s.as_str()));
        }
    }
}
