//! JetStream streams against nats-server: the same requests and publishes, in the same
//! order, to both servers, and the same answers byte for byte (times and the server name
//! aside); a stream kept across `kill -9`; clients' own JetStream APIs.

use std::time::Duration;

use crate::harness::{natrium_bin, spawn, NatsServer, Proc, Raw, TempDir};

/// One step of the corpus: subject, headers (`K: v` lines joined by `|`), body.
pub(crate) type Step = (&'static str, &'static str, &'static str);

const CORPUS: &[Step] = &[
    ("$JS.API.INFO", "", ""),
    ("$JS.API.INFO", "Nats-Required-Api-Level: 6", ""),
    (
        "$JS.API.STREAM.CREATE.S1",
        "",
        r#"{"name":"S1","subjects":["s1.>"]}"#,
    ),
    (
        "$JS.API.STREAM.CREATE.S1",
        "",
        r#"{"name":"S1","subjects":["s1.>"]}"#,
    ),
    (
        "$JS.API.STREAM.CREATE.S1",
        "",
        r#"{"name":"S1","subjects":["other"]}"#,
    ),
    (
        "$JS.API.STREAM.CREATE.S2",
        "",
        r#"{"name":"S2","subjects":["s1.a"]}"#,
    ),
    ("$JS.API.STREAM.CREATE.S3", "", r#"{"name":"S4"}"#),
    ("$JS.API.STREAM.CREATE.S3", "", ""),
    ("$JS.API.STREAM.CREATE.S3", "", r#"{"name":"S3","bogus":1}"#),
    (
        "$JS.API.STREAM.CREATE.S3",
        "",
        r#"{"name":"S3","retention":"bogus"}"#,
    ),
    (
        "$JS.API.STREAM.CREATE.S3",
        "",
        r#"{"name":"S3","subjects":["a..b"]}"#,
    ),
    (
        "$JS.API.STREAM.CREATE.S3",
        "",
        r#"{"name":"S3","subjects":["x.a","x.*"]}"#,
    ),
    (
        "$JS.API.STREAM.CREATE.S3",
        "",
        r#"{"name":"S3","subjects":[">"]}"#,
    ),
    (
        "$JS.API.STREAM.CREATE.S3",
        "",
        r#"{"name":"S3","subjects":["$JS.API.x"]}"#,
    ),
    (
        "$JS.API.STREAM.CREATE.S3",
        "",
        r#"{"name":"S3","num_replicas":3}"#,
    ),
    (
        "$JS.API.STREAM.CREATE.S3",
        "",
        r#"{"name":"S3","max_age":1000}"#,
    ),
    (
        "$JS.API.STREAM.CREATE.S3",
        "",
        r#"{"name":"S3","sealed":true}"#,
    ),
    (
        "$JS.API.STREAM.CREATE.S3",
        "",
        r#"{"name":"S3","deny_purge":true,"allow_rollup_hdrs":true}"#,
    ),
    (
        "$JS.API.STREAM.CREATE.S3",
        "",
        r#"{"name":"S3","discard_new_per_subject":true}"#,
    ),
    (
        "$JS.API.STREAM.CREATE.M1",
        "",
        r#"{"name":"M1","storage":"memory","subjects":["m1.*"],"max_msgs":3,"allow_direct":true,"description":"a <memory> & stream","metadata":{"k":"v"}}"#,
    ),
    (
        "$JS.API.STREAM.CREATE.AGE",
        "",
        r#"{"name":"AGE","max_age":60000000000}"#,
    ),
    ("s1.a", "", "m1"),
    ("s1.b", "X-K: v1", "m2"),
    ("s1.a", "Nats-Msg-Id: a", "m3"),
    ("s1.a", "Nats-Msg-Id: a", "m3 again"),
    ("s1.a", "Nats-Expected-Stream: nope", "x"),
    ("s1.a", "Nats-Expected-Stream: S1", "ok"),
    ("s1.a", "Nats-Expected-Last-Sequence: 1", "x"),
    ("s1.b", "Nats-Expected-Last-Subject-Sequence: 2", "m5"),
    ("s1.c", "Nats-Expected-Last-Subject-Sequence: 0", "m6"),
    ("s1.c", "Nats-Expected-Last-Subject-Sequence: 0", "x"),
    (
        "s1.a",
        "Nats-Expected-Last-Subject-Sequence-Subject: s1.b",
        "x",
    ),
    ("s1.a", "Nats-Expected-Last-Msg-Id: zzz", "x"),
    ("s1.a", "Nats-Rollup: sub", "x"),
    ("s1.a", "Nats-TTL: 5s", "x"),
    ("m1.x", "", "1"),
    ("m1.x", "", "2"),
    ("m1.y", "", "3"),
    ("m1.x", "A: b", "4"),
    ("$JS.API.STREAM.INFO.S1", "", ""),
    ("$JS.API.STREAM.INFO.S1", "", "junk"),
    (
        "$JS.API.STREAM.INFO.S1",
        "",
        r#"{"subjects_filter":"s1.*"}"#,
    ),
    (
        "$JS.API.STREAM.INFO.M1",
        "",
        r#"{"subjects_filter":">","offset":1}"#,
    ),
    ("$JS.API.STREAM.MSG.GET.S1", "", r#"{"seq":2}"#),
    (
        "$JS.API.STREAM.MSG.GET.S1",
        "",
        r#"{"last_by_subj":"s1.a"}"#,
    ),
    (
        "$JS.API.STREAM.MSG.GET.S1",
        "",
        r#"{"last_by_subj":"s1.*"}"#,
    ),
    (
        "$JS.API.STREAM.MSG.GET.S1",
        "",
        r#"{"next_by_subj":"s1.b","seq":3}"#,
    ),
    (
        "$JS.API.STREAM.MSG.GET.S1",
        "",
        r#"{"next_by_subj":"s1.c"}"#,
    ),
    ("$JS.API.STREAM.MSG.GET.S1", "", r#"{"seq":99}"#),
    (
        "$JS.API.STREAM.MSG.GET.S1",
        "",
        r#"{"seq":1,"last_by_subj":"s1.a"}"#,
    ),
    ("$JS.API.STREAM.MSG.GET.S1", "", r#"{"seq":1,"batch":2}"#),
    (
        "$JS.API.STREAM.MSG.GET.S1",
        "",
        r#"{"seq":2,"no_hdr":true}"#,
    ),
    ("$JS.API.STREAM.MSG.GET.S1", "", r#"{}"#),
    ("$JS.API.STREAM.MSG.DELETE.S1", "", r#"{"seq":2}"#),
    ("$JS.API.STREAM.MSG.DELETE.S1", "", r#"{"seq":2}"#),
    ("$JS.API.STREAM.MSG.DELETE.S1", "", ""),
    (
        "$JS.API.STREAM.MSG.DELETE.S1",
        "",
        r#"{"seq":3,"no_erase":true}"#,
    ),
    ("$JS.API.STREAM.INFO.S1", "", r#"{"deleted_details":true}"#),
    ("$JS.API.DIRECT.GET.M1", "", r#"{"seq":2}"#),
    ("$JS.API.DIRECT.GET.M1", "", r#"{"seq":4,"no_hdr":true}"#),
    ("$JS.API.DIRECT.GET.M1.m1.x", "", ""),
    ("$JS.API.DIRECT.GET.M1.m1.x", "", r#"{"seq":1}"#),
    ("$JS.API.DIRECT.GET.M1", "", r#"{"seq":1}"#),
    ("$JS.API.DIRECT.GET.M1", "", ""),
    ("$JS.API.DIRECT.GET.M1", "", "{nope"),
    ("$JS.API.DIRECT.GET.S1", "", r#"{"seq":1}"#),
    ("$JS.API.CONSUMER.MSG.NEXT.S1.nope", "", ""),
    ("$JS.API.STREAM.NAMES", "", ""),
    ("$JS.API.STREAM.NAMES", "", r#"{"subject":"m1.x"}"#),
    ("$JS.API.STREAM.NAMES", "", r#"{"subject":"nothing"}"#),
    ("$JS.API.STREAM.NAMES", "", r#"{"offset":2}"#),
    ("$JS.API.STREAM.LIST", "", r#"{"offset":2}"#),
    ("$JS.API.STREAM.LIST", "", r#"{"offset":1000}"#),
    ("$JS.API.STREAM.LIST", "", r#"{"bogus":true}"#),
    ("$JS.API.STREAM.PURGE.S1", "", r#"{"seq":3,"keep":1}"#),
    (
        "$JS.API.STREAM.PURGE.S1",
        "",
        r#"{"filter":"s1.a","keep":1}"#,
    ),
    ("$JS.API.STREAM.INFO.S1", "", r#"{"subjects_filter":">"}"#),
    ("$JS.API.STREAM.PURGE.S1", "", r#"{"seq":5}"#),
    ("$JS.API.STREAM.PURGE.S1", "", ""),
    ("$JS.API.STREAM.INFO.S1", "", ""),
    ("s1.z", "", "after purge"),
    (
        "$JS.API.STREAM.UPDATE.S1",
        "",
        r#"{"name":"S1","subjects":["s1.>","more"],"max_msgs":10}"#,
    ),
    ("more", "", "via new subject"),
    (
        "$JS.API.STREAM.UPDATE.S1",
        "",
        r#"{"name":"S1","storage":"memory","subjects":["s1.>"]}"#,
    ),
    ("$JS.API.STREAM.UPDATE.S1", "", r#"{"name":"S2"}"#),
    (
        "$JS.API.STREAM.UPDATE.S1",
        "",
        r#"{"name":"S1","subjects":["m1.q"]}"#,
    ),
    ("$JS.API.STREAM.UPDATE.NOPE", "", r#"{"name":"NOPE"}"#),
    (
        "$JS.API.STREAM.UPDATE.M1",
        "",
        r#"{"name":"M1","storage":"memory","subjects":["m1.*"],"max_msgs":1,"allow_direct":true}"#,
    ),
    ("$JS.API.STREAM.INFO.M1", "", ""),
    (
        "$JS.API.STREAM.CREATE.F",
        "",
        r#"{"name":"F","subjects":["f"],"first_seq":100}"#,
    ),
    ("f", "", "first"),
    (
        "$JS.API.STREAM.CREATE.DN",
        "",
        r#"{"name":"DN","subjects":["dn.*"],"max_msgs":1,"discard":"new"}"#,
    ),
    ("dn.a", "", "1"),
    ("dn.a", "", "2"),
    (
        "$JS.API.STREAM.CREATE.DNB",
        "",
        r#"{"name":"DNB","subjects":["dnb"],"max_bytes":60,"discard":"new"}"#,
    ),
    ("dnb", "", "1"),
    ("dnb", "", "2"),
    (
        "$JS.API.STREAM.CREATE.PS",
        "",
        r#"{"name":"PS","subjects":["ps.*"],"max_msgs_per_subject":1,"discard":"new","discard_new_per_subject":true}"#,
    ),
    ("ps.a", "", "1"),
    ("ps.a", "", "2"),
    ("ps.b", "", "3"),
    (
        "$JS.API.STREAM.CREATE.MS",
        "",
        r#"{"name":"MS","subjects":["ms"],"max_msg_size":4}"#,
    ),
    ("ms", "", "12345"),
    ("ms", "", "1234"),
    (
        "$JS.API.STREAM.CREATE.RU",
        "",
        r#"{"name":"RU","subjects":["ru.*"],"allow_rollup_hdrs":true}"#,
    ),
    ("ru.a", "", "1"),
    ("ru.a", "", "2"),
    ("ru.b", "", "3"),
    ("ru.a", "Nats-Rollup: sub", "4"),
    ("ru.a", "Nats-Rollup: bogus", "5"),
    ("$JS.API.STREAM.INFO.RU", "", r#"{"subjects_filter":">"}"#),
    ("ru.b", "Nats-Rollup: all", "6"),
    ("$JS.API.STREAM.INFO.RU", "", ""),
    (
        "$JS.API.STREAM.UPDATE.RU",
        "",
        r#"{"name":"RU","subjects":["ru.*"],"allow_rollup_hdrs":true,"sealed":true}"#,
    ),
    ("ru.c", "", "sealed"),
    ("$JS.API.STREAM.PURGE.RU", "", ""),
    ("$JS.API.STREAM.MSG.DELETE.RU", "", r#"{"seq":6}"#),
    (
        "$JS.API.STREAM.CREATE.DD",
        "",
        r#"{"name":"DD","subjects":["dd"],"deny_delete":true,"deny_purge":true}"#,
    ),
    ("dd", "", "1"),
    ("$JS.API.STREAM.MSG.DELETE.DD", "", r#"{"seq":1}"#),
    ("$JS.API.STREAM.PURGE.DD", "", ""),
    (
        "$JS.API.STREAM.UPDATE.DD",
        "",
        r#"{"name":"DD","subjects":["dd"]}"#,
    ),
    (
        "$JS.API.STREAM.CREATE.S5",
        "",
        r#"{"name":"S5","subjects":["$SYS.x"]}"#,
    ),
    (
        "$JS.API.STREAM.CREATE.S5",
        "",
        r#"{"name":"S5","subjects":["$SYS.ACCOUNT.x"]}"#,
    ),
    ("$JS.API.STREAM.DELETE.S5", "", ""),
    (
        "$JS.API.STREAM.CREATE.S5",
        "",
        r#"{"name":"S5","max_age":1000000000,"duplicate_window":2000000000}"#,
    ),
    (
        "$JS.API.STREAM.CREATE.S5",
        "",
        r#"{"name":"S5","duplicate_window":-1}"#,
    ),
    (
        "$JS.API.STREAM.CREATE.S5",
        "",
        r#"{"name":"S5","duplicate_window":1000}"#,
    ),
    (
        "$JS.API.STREAM.CREATE.S5",
        "",
        r#"{"name":"S5","max_age":-1}"#,
    ),
    (
        "$JS.API.STREAM.CREATE.S5",
        "",
        r#"{"name":"S5","num_replicas":-1}"#,
    ),
    (
        "$JS.API.STREAM.CREATE.S5",
        "",
        r#"{"name":"S5","num_replicas":6}"#,
    ),
    (
        "$JS.API.STREAM.CREATE.S5",
        "",
        r#"{"name":"S5","subjects":["a","a"]}"#,
    ),
    (
        "$JS.API.STREAM.CREATE.S5",
        "",
        r#"{"name":"S5","storage":"bogus"}"#,
    ),
    (
        "$JS.API.STREAM.CREATE.S5",
        "",
        r#"{"name":"S5","discard":"bogus"}"#,
    ),
    (
        "$JS.API.STREAM.CREATE.S5",
        "",
        r#"{"name":"S5","mirror_direct":true}"#,
    ),
    (
        "$JS.API.STREAM.CREATE.S5",
        "",
        r#"{"name":"S5","pedantic":true,"max_msgs":-5}"#,
    ),
    (
        "$JS.API.STREAM.CREATE.S5",
        "",
        r#"{"name":"S5","subjects":null,"max_msgs":null,"retention":"limits"}"#,
    ),
    ("$JS.API.STREAM.DELETE.S5", "", ""),
    (
        "$JS.API.STREAM.CREATE.S5",
        "",
        r#"{"name":"S5","subjects":["s5"],"metadata":{"team":"a\u0026b"},"description":"five","max_msgs":100,"storage":"memory","max_bytes":100000}"#,
    ),
    ("s5", "Nats-Expected-Last-Sequence: 0", "first"),
    ("s5", "Nats-Msg-Id: x", "second"),
    ("s5", "Nats-Expected-Last-Msg-Id: x", "third"),
    (
        "s5",
        "Nats-Msg-Id: x|Nats-Expected-Last-Sequence: 1",
        "dup with a wrong sequence",
    ),
    (
        "s5",
        "Nats-Expected-Last-Subject-Sequence: abc",
        "not a number",
    ),
    ("$JS.API.STREAM.INFO.S5", "", r#"{"bogus":1}"#),
    ("$JS.API.STREAM.INFO.S5", "", r#"{"subjects_filter":"s5"}"#),
    ("$JS.API.STREAM.NAMES", "", r#"{"offset":-3}"#),
    (
        "$JS.API.STREAM.MSG.GET.S5",
        "",
        r#"{"start_time":"2000-01-01T00:00:00Z"}"#,
    ),
    (
        "$JS.API.STREAM.MSG.GET.S5",
        "",
        r#"{"start_time":"2000-01-01T00:00:00Z","seq":1}"#,
    ),
    ("$JS.API.STREAM.MSG.GET.NOPE", "", r#"{"seq":1}"#),
    ("$JS.API.STREAM.PURGE.NOPE", "", ""),
    ("$JS.API.STREAM.MSG.DELETE.NOPE", "", r#"{"seq":1}"#),
    ("$JS.API.STREAM.DELETE.NOPE", "", ""),
    (
        "$JS.API.STREAM.INFO.NOPE",
        "",
        r#"{"deleted_details":true}"#,
    ),
    (
        "$JS.API.STREAM.CREATE.PSO",
        "",
        r#"{"name":"PSO","subjects":["pso.*"],"max_msgs_per_subject":2,"allow_direct":true}"#,
    ),
    ("pso.a", "", "1"),
    ("pso.a", "", "2"),
    ("pso.b", "", "3"),
    ("pso.a", "", "4"),
    (
        "$JS.API.STREAM.INFO.PSO",
        "",
        r#"{"subjects_filter":"pso.*"}"#,
    ),
    ("$JS.API.DIRECT.GET.PSO", "", r#"{"last_by_subj":"pso.a"}"#),
    (
        "$JS.API.DIRECT.GET.PSO",
        "",
        r#"{"next_by_subj":"pso.*","seq":1}"#,
    ),
    ("$JS.API.DIRECT.GET.PSO.pso.nothing", "", ""),
    ("$JS.API.STREAM.PURGE.PSO", "", r#"{"filter":"pso.a"}"#),
    ("$JS.API.STREAM.INFO.PSO", "", ""),
    (
        "$JS.API.STREAM.CREATE.MB",
        "",
        r#"{"name":"MB","subjects":["mb"],"storage":"memory","max_bytes":40}"#,
    ),
    ("mb", "", "1"),
    ("mb", "", "2"),
    ("$JS.API.STREAM.INFO.MB", "", ""),
    (
        "$JS.API.STREAM.CREATE.DB",
        "",
        r#"{"name":"DB","subjects":["db.*"],"allow_direct":true}"#,
    ),
    ("db.a", "", "1"),
    ("db.b", "X-H: y", "2"),
    ("db.a", "", "3"),
    ("db.c", "", "4"),
    ("$JS.API.DIRECT.GET.DB", "", r#"{"seq":1,"batch":3}"#),
    (
        "$JS.API.DIRECT.GET.DB",
        "",
        r#"{"next_by_subj":"db.a","batch":5}"#,
    ),
    ("$JS.API.DIRECT.GET.DB", "", r#"{"batch":2}"#),
    (
        "$JS.API.DIRECT.GET.DB",
        "",
        r#"{"seq":2,"batch":3,"max_bytes":5}"#,
    ),
    (
        "$JS.API.DIRECT.GET.DB",
        "",
        r#"{"seq":1,"batch":2,"no_hdr":true}"#,
    ),
    ("$JS.API.DIRECT.GET.DB", "", r#"{"multi_last":["db.*"]}"#),
    (
        "$JS.API.DIRECT.GET.DB",
        "",
        r#"{"multi_last":["db.a","db.c"],"batch":1}"#,
    ),
    (
        "$JS.API.DIRECT.GET.DB",
        "",
        r#"{"multi_last":["db.*"],"up_to_seq":2}"#,
    ),
    (
        "$JS.API.DIRECT.GET.DB",
        "",
        r#"{"multi_last":["db.*"],"seq":3}"#,
    ),
    ("$JS.API.DIRECT.GET.DB", "", r#"{"multi_last":["nothing"]}"#),
    (
        "$JS.API.DIRECT.GET.DB",
        "",
        r#"{"multi_last":["db.*"],"next_by_subj":"db.a"}"#,
    ),
    (
        "$JS.API.DIRECT.GET.DB",
        "",
        r#"{"multi_last":["db.*"],"up_to_time":"2000-01-01T00:00:00Z"}"#,
    ),
    (
        "$JS.API.DIRECT.GET.DB",
        "",
        r#"{"start_time":"2000-01-01T00:00:00Z","batch":2}"#,
    ),
    ("$JS.API.DIRECT.GET.DB", "", r#"{"seq":1,"bogus":1}"#),
    ("$JS.API.DIRECT.GET.DB", "", r#"{"seq":99,"batch":2}"#),
    (
        "$JS.API.DIRECT.GET.DB",
        "",
        r#"{"last_by_subj":"db.a","batch":2}"#,
    ),
    (
        "$JS.API.DIRECT.GET.DB",
        "Nats-Required-Api-Level: 9",
        r#"{"seq":1}"#,
    ),
    ("$JS.API.DIRECT.GET.DB.db.b", "", "{}"),
    ("$JS.API.DIRECT.GET.DB.db.b", "", r#"{"no_hdr":true}"#),
    (
        "$JS.API.STREAM.CREATE.TT",
        "",
        r#"{"name":"TT","subjects":["tt.*"],"allow_msg_ttl":true}"#,
    ),
    ("tt.a", "Nats-TTL: 500ms", "too short"),
    ("tt.a", "Nats-TTL: abc", "not a duration"),
    ("tt.a", "Nats-TTL: 0", "zero"),
    ("tt.a", "Nats-TTL: never", "forever"),
    ("tt.a", "Nats-TTL: 60", "a minute"),
    ("tt.a", "Nats-TTL: 1h", "an hour"),
    (
        "$JS.API.STREAM.UPDATE.TT",
        "",
        r#"{"name":"TT","subjects":["tt.*"]}"#,
    ),
    (
        "$JS.API.STREAM.CREATE.SD",
        "",
        r#"{"name":"SD","subjects":["sd.*"],"subject_delete_marker_ttl":60000000000}"#,
    ),
    (
        "$JS.API.STREAM.CREATE.SD2",
        "",
        r#"{"name":"SD2","subject_delete_marker_ttl":500000000}"#,
    ),
    (
        "$JS.API.STREAM.CREATE.SD3",
        "",
        r#"{"name":"SD3","subject_delete_marker_ttl":5000000000,"pedantic":true}"#,
    ),
    ("sd.a", "Nats-TTL: 1s", "raised to the marker TTL"),
    (
        "$JS.API.STREAM.MSG.GET.SD",
        "",
        r#"{"last_by_subj":"sd.a"}"#,
    ),
    (
        "$JS.API.STREAM.CREATE.IN",
        "",
        r#"{"name":"IN","subjects":["in.*"],"retention":"interest"}"#,
    ),
    ("in.a", "", "nobody is interested"),
    ("in.b", "Nats-Msg-Id: i1", "nor here"),
    ("in.b", "Nats-Msg-Id: i1", "a duplicate all the same"),
    ("$JS.API.STREAM.INFO.IN", "", ""),
    (
        "$JS.API.STREAM.CREATE.WQ",
        "",
        r#"{"name":"WQ","subjects":["wq.*"],"retention":"workqueue"}"#,
    ),
    ("wq.a", "", "work"),
    ("wq.b", "", "more work"),
    ("$JS.API.STREAM.INFO.WQ", "", ""),
    (
        "$JS.API.STREAM.UPDATE.WQ",
        "",
        r#"{"name":"WQ","subjects":["wq.*"]}"#,
    ),
    (
        "$JS.API.STREAM.CREATE.LI",
        "",
        r#"{"name":"LI","subjects":["li"]}"#,
    ),
    ("li", "", "1"),
    ("li", "", "2"),
    (
        "$JS.API.STREAM.UPDATE.LI",
        "",
        r#"{"name":"LI","subjects":["li"],"retention":"interest"}"#,
    ),
    ("li", "", "3"),
    ("$JS.API.STREAM.INFO.LI", "", ""),
    (
        "$JS.API.STREAM.CREATE.ST",
        "",
        r#"{"name":"ST","subjects":["st.*"],"subject_transform":{"src":"st.*","dest":"stored.{{wildcard(1)}}"}}"#,
    ),
    ("st.x", "", "transformed"),
    (
        "$JS.API.STREAM.MSG.GET.ST",
        "",
        r#"{"last_by_subj":"stored.x"}"#,
    ),
    ("$JS.API.STREAM.INFO.ST", "", r#"{"subjects_filter":">"}"#),
    (
        "$JS.API.STREAM.CREATE.ST2",
        "",
        r#"{"name":"ST2","subjects":["st2.*"],"subject_transform":{"src":"st2.*","dest":"x.$2"}}"#,
    ),
    (
        "$JS.API.STREAM.CREATE.ST2",
        "",
        r#"{"name":"ST2","subjects":["st2.*"],"subject_transform":{"src":"st2..x","dest":"x"}}"#,
    ),
    (
        "$JS.API.STREAM.CREATE.RP",
        "",
        r#"{"name":"RP","subjects":["rpin.*"],"republish":{"src":"rpin.*","dest":"rpout.$1"}}"#,
    ),
    (
        "$JS.API.STREAM.CREATE.RP2",
        "",
        r#"{"name":"RP2","subjects":["rp2.*"],"republish":{"dest":"rp2.x"}}"#,
    ),
    (
        "$JS.API.STREAM.CREATE.RP2",
        "",
        r#"{"name":"RP2","subjects":["rp2.*"],"republish":{"src":"rp2.*","dest":"o.*"}}"#,
    ),
    (
        "$JS.API.STREAM.CREATE.RP2",
        "",
        r#"{"name":"RP2","subjects":["rp2.*"],"republish":{"dest":"rp2out.>","headers_only":true}}"#,
    ),
    ("$JS.API.STREAM.DELETE.M1", "", ""),
    ("$JS.API.STREAM.DELETE.M1", "", ""),
    ("$JS.API.STREAM.INFO.M1", "", ""),
    ("$JS.API.STREAM.LEADER.STEPDOWN.S1", "", ""),
    ("$JS.API.STREAM.NAMES", "", ""),
    ("$JS.API.INFO", "", "junk"),
];

pub(crate) fn start(js_dir: &std::path::Path, real: bool) -> Option<Proc> {
    let dir = js_dir.to_str().expect("utf-8 path");
    let args = ["-js", "-sd", dir, "-n", "n1"];
    if real {
        NatsServer::start(&args)
    } else {
        Some(spawn(&natrium_bin(), &args))
    }
}

/// Replaces what differs between any two runs: times and sizes derived from them.
pub(crate) fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        // An RFC 3339 time that is not Go's zero time: 20YY-MM-DDTHH:MM:SS[.f]Z
        if b[i..].starts_with(b"20") && i + 20 <= b.len() && b[i + 10] == b'T' && b[i + 4] == b'-' {
            let mut j = i + 19;
            if j < b.len() && b[j] == b'.' {
                j += 1;
                while j < b.len() && b[j].is_ascii_digit() {
                    j += 1;
                }
            }
            if j < b.len() && b[j] == b'Z' {
                out.push_str("<time>");
                i = j + 1;
                continue;
            }
        }
        out.push(b[i] as char);
        i += 1;
    }
    out
}

/// Runs the corpus; each answer as `MSG|HMSG <subject>` and the normalized bytes, or
/// `<none>`.
fn run_corpus(srv: &Proc) -> Vec<String> {
    run_steps(srv, "", CORPUS)
}

/// Runs `steps` on one connection (logged in with `login`, e.g. `"user":"a","pass":"a",`).
fn run_steps(srv: &Proc, login: &str, steps: &[Step]) -> Vec<String> {
    let mut raw = Raw::connect(srv.addr());
    raw.handshake(&format!(
        r#"{{{login}"verbose":false,"headers":true,"no_responders":true,"protocol":1}}"#
    ));
    raw.send_str("SUB _R.> 1\r\nPING\r\n");
    raw.expect("PONG\r\n");
    let mut answers = Vec::new();
    for (n, (subject, hdrs, body)) in steps.iter().enumerate() {
        let reply = format!("_R.{n}");
        if hdrs.is_empty() {
            raw.send_str(&format!(
                "PUB {subject} {reply} {}\r\n{body}\r\n",
                body.len()
            ));
        } else {
            let block = format!("NATS/1.0\r\n{}\r\n\r\n", hdrs.replace('|', "\r\n"));
            raw.send_str(&format!(
                "HPUB {subject} {reply} {} {}\r\n{block}{body}\r\n",
                block.len(),
                block.len() + body.len()
            ));
        }
        // Batched direct gets answer with several messages, up to an end marker or a status.
        let batched = body.contains("\"batch\"") || body.contains("multi_last");
        let mut parts_seen = Vec::new();
        while let Some((line, bytes)) = raw.read_msg(Duration::from_secs(2)) {
            let mut parts = line.split(' ');
            let kind = parts.next().unwrap_or_default();
            let to = parts.next().unwrap_or_default();
            assert_eq!(to, reply, "step {n} ({subject}): answer to another request");
            let text = normalize(&String::from_utf8_lossy(&bytes));
            let last = !batched || text.starts_with("NATS/1.0 ");
            parts_seen.push(format!("{kind} {text}"));
            if last {
                break;
            }
        }
        let answer = if parts_seen.is_empty() {
            "<none>".to_string()
        } else {
            parts_seen.join("\n       ")
        };
        answers.push(format!("{n:3} {subject} {hdrs} {body}\n    => {answer}"));
    }
    answers
}

/// Every step of the corpus gets nats-server's answer.
#[test]
fn stream_api_answers_as_nats_server() {
    let theirs_dir = TempDir::new("js-corpus-nats");
    let ours_dir = TempDir::new("js-corpus-natrium");
    let Some(theirs) = start(theirs_dir.path(), true) else {
        return;
    };
    let want = run_corpus(&theirs);
    drop(theirs);
    let ours = start(ours_dir.path(), false).expect("natrium");
    let got = run_corpus(&ours);
    let mut diffs = Vec::new();
    for (w, g) in want.iter().zip(&got) {
        if w != g {
            diffs.push(format!("nats-server: {w}\nnatrium:     {g}\n"));
        }
    }
    assert!(
        diffs.is_empty(),
        "{} differences:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}

/// async-nats's JetStream API end to end: a stream created, published to with acks, read
/// back, purged and deleted.
#[test]
fn async_nats_streams_publish_get_purge() {
    let dir = TempDir::new("js-async-nats");
    let srv = start(dir.path(), false).expect("natrium");
    crate::harness::rt().block_on(async {
        let client = async_nats::connect(srv.url()).await.expect("connect");
        let js = async_nats::jetstream::new(client);
        let mut stream = js
            .create_stream(async_nats::jetstream::stream::Config {
                name: "ORDERS".into(),
                subjects: vec!["orders.>".into()],
                max_messages_per_subject: 5,
                ..Default::default()
            })
            .await
            .expect("create");
        for i in 0..20u32 {
            let ack = js
                .publish(format!("orders.{}", i % 2), i.to_string().into())
                .await
                .expect("publish")
                .await
                .expect("ack");
            assert_eq!(ack.stream, "ORDERS");
            assert_eq!(ack.sequence, u64::from(i) + 1);
        }
        let info = stream.info().await.expect("info");
        assert_eq!(info.state.messages, 10, "5 per subject kept");
        assert_eq!(info.state.first_sequence, 11);
        assert_eq!(info.state.last_sequence, 20);
        let last = stream
            .get_last_raw_message_by_subject("orders.1")
            .await
            .expect("last");
        assert_eq!(last.sequence, 20);
        assert_eq!(&last.payload[..], b"19");
        let m = stream.get_raw_message(12).await.expect("get 12");
        assert_eq!(&m.payload[..], b"11");
        assert!(stream.get_raw_message(3).await.is_err(), "evicted");
        let purged = stream.purge().filter("orders.0").await.expect("purge");
        assert_eq!(purged.purged, 5);
        assert_eq!(stream.info().await.expect("info").state.messages, 5);
        let names: Vec<String> = futures::TryStreamExt::try_collect(js.stream_names())
            .await
            .expect("names");
        assert_eq!(names, vec!["ORDERS".to_string()]);
        assert!(js.delete_stream("ORDERS").await.expect("delete").success);
        assert!(js.get_stream("ORDERS").await.is_err());
    });
}

/// What was acknowledged is there after `kill -9` and a restart (file streams; a memory
/// stream starts empty, and its configuration is gone with it, as in nats-server).
#[test]
fn acknowledged_messages_survive_kill_9() {
    let dir = TempDir::new("js-kill9");
    let srv = start(dir.path(), false).expect("natrium");
    let acked = crate::harness::rt().block_on(async {
        let client = async_nats::connect(srv.url()).await.expect("connect");
        let js = async_nats::jetstream::new(client);
        js.create_stream(async_nats::jetstream::stream::Config {
            name: "LOG".into(),
            subjects: vec!["log.*".into()],
            ..Default::default()
        })
        .await
        .expect("create");
        js.create_stream(async_nats::jetstream::stream::Config {
            name: "MEM".into(),
            subjects: vec!["mem".into()],
            storage: async_nats::jetstream::stream::StorageType::Memory,
            ..Default::default()
        })
        .await
        .expect("create memory");
        js.publish("mem", "gone".into())
            .await
            .expect("pub")
            .await
            .expect("ack");
        // Acks in flight as a fast publisher has them: many outstanding at once.
        let mut pending = Vec::new();
        for i in 0..2000u32 {
            let f = js
                .publish(format!("log.{}", i % 7), format!("entry {i}").into())
                .await
                .expect("publish");
            pending.push(f);
        }
        let mut acked = Vec::new();
        for f in pending {
            acked.push(f.await.expect("ack").sequence);
        }
        let log = js.get_stream("LOG").await.expect("LOG");
        assert!(log.delete_message(10).await.expect("delete 10"));
        acked
    });
    assert_eq!(acked.len(), 2000);
    drop(srv); // SIGKILL
    let srv = start(dir.path(), false).expect("natrium again");
    crate::harness::rt().block_on(async {
        let client = async_nats::connect(srv.url()).await.expect("connect");
        let js = async_nats::jetstream::new(client);
        let mut stream = js.get_stream("LOG").await.expect("recovered");
        let info = stream.info().await.expect("info");
        assert_eq!(info.state.messages, 1999);
        assert_eq!(info.state.last_sequence, 2000);
        assert_eq!(info.state.deleted_count, Some(1));
        for seq in [1u64, 9, 11, 1000, 2000] {
            let m = stream.get_raw_message(seq).await.expect("acked message");
            assert_eq!(m.payload, format!("entry {}", seq - 1).into_bytes());
        }
        assert!(
            stream.get_raw_message(10).await.is_err(),
            "deleted stays deleted"
        );
        assert!(
            js.get_stream("MEM").await.is_err(),
            "memory streams do not persist"
        );
        // Publishing goes on from where it was.
        let ack = js
            .publish("log.x", "after".into())
            .await
            .expect("publish")
            .await
            .expect("ack");
        assert_eq!(ack.sequence, 2001);
    });
}

/// Damaged files never stop the server: a corrupt `meta.inf` leaves that stream out (and
/// on disk), a corrupt record is dropped with what follows in its segment, and every
/// other stream and message is served.
#[test]
fn damaged_store_files_do_not_stop_the_server() {
    let dir = TempDir::new("js-damage");
    let srv = start(dir.path(), false).expect("natrium");
    crate::harness::rt().block_on(async {
        let client = async_nats::connect(srv.url()).await.expect("connect");
        let js = async_nats::jetstream::new(client);
        for name in ["A", "B"] {
            js.create_stream(async_nats::jetstream::stream::Config {
                name: name.into(),
                ..Default::default()
            })
            .await
            .expect("create");
            for i in 0..10 {
                js.publish(name, format!("{name}{i}").into())
                    .await
                    .expect("pub")
                    .await
                    .expect("ack");
            }
        }
    });
    drop(srv);
    let streams = dir.path().join("jetstream").join("$G").join("streams");
    std::fs::write(streams.join("A").join("meta.inf"), b"{\"created\":").expect("damage meta");
    let seg = streams.join("B").join("msgs").join("1.blk");
    let mut bytes = std::fs::read(&seg).expect("segment");
    let len = bytes.len();
    bytes[len - 3] ^= 0xff; // inside the last record
    std::fs::write(&seg, bytes).expect("damage segment");
    let srv = start(dir.path(), false).expect("natrium starts anyway");
    assert!(srv.wait_log("could not recover the stream", Duration::from_secs(2)));
    crate::harness::rt().block_on(async {
        let client = async_nats::connect(srv.url()).await.expect("connect");
        let js = async_nats::jetstream::new(client);
        assert!(js.get_stream("A").await.is_err());
        let mut b = js.get_stream("B").await.expect("B");
        let info = b.info().await.expect("info");
        assert_eq!(
            info.state.messages, 9,
            "the damaged last record is not served"
        );
        for seq in 1..=9u64 {
            let m = b.get_raw_message(seq).await.expect("intact");
            assert_eq!(m.payload, format!("B{}", seq - 1).into_bytes());
        }
    });
    assert!(streams.join("A").join("meta.inf").exists(), "left on disk");
}

/// `/jsz` (plain, and with account, stream and config details) and `/varz` `jetstream` as
/// nats-server writes them, after the same stream work (ids, times, paths and the
/// machine-dependent size limits aside).
#[test]
fn jsz_and_varz_match_nats_server() {
    let capture = |real: bool| -> Option<Vec<serde_json::Value>> {
        let dir = TempDir::new("js-jsz");
        let d = dir.path().to_str().expect("utf-8").to_string();
        let args = ["-js", "-sd", &d, "-n", "n1", "-m", "-1"];
        let srv = if real {
            NatsServer::start(&args)?
        } else {
            spawn(&natrium_bin(), &args)
        };
        let mut raw = Raw::connect(srv.addr());
        raw.handshake(r#"{"verbose":false,"headers":true,"protocol":1}"#);
        raw.send_str("SUB _R.> 1\r\n");
        let create = r#"{"name":"S","subjects":["s.*"],"max_bytes":1000}"#;
        raw.send_str(&format!(
            "PUB $JS.API.STREAM.CREATE.S _R.1 {}\r\n{create}\r\n",
            create.len()
        ));
        raw.read_msg(Duration::from_secs(2)).expect("created");
        for i in 0..3 {
            raw.send_str(&format!("PUB s.{i} _R.2 2\r\nhi\r\n"));
            raw.read_msg(Duration::from_secs(2)).expect("ack");
        }
        let port = srv.monitor_port.expect("monitor");
        // Monitoring figures may lag a round behind the acks.
        std::thread::sleep(Duration::from_millis(600));
        let mut out = Vec::new();
        for path in ["/jsz", "/jsz?accounts=true&streams=true&config=true"] {
            let body = crate::monitor::get(port, path).body;
            out.push(serde_json::from_str(&body).expect("json"));
        }
        let varz: serde_json::Value =
            serde_json::from_str(&crate::monitor::get(port, "/varz").body).expect("varz");
        out.push(varz["jetstream"].clone());
        Some(out)
    };
    fn scrub(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(o) => {
                for (k, x) in o.iter_mut() {
                    match k.as_str() {
                        "server_id" | "now" | "created" | "first_ts" | "last_ts" | "leader"
                        | "store_dir" | "max_memory" | "max_storage" => {
                            *x = serde_json::Value::Null
                        }
                        "metadata" => *x = serde_json::Value::Null,
                        _ => scrub(x),
                    }
                }
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(scrub),
            _ => {}
        }
    }
    let Some(mut theirs) = capture(true) else {
        return;
    };
    let mut ours = capture(false).expect("natrium");
    theirs.iter_mut().for_each(scrub);
    ours.iter_mut().for_each(scrub);
    for (t, o) in theirs.iter().zip(&ours) {
        assert_eq!(o, t, "natrium:\n{o:#}\nnats-server:\n{t:#}");
    }
}

/// The `nats` npm package's JetStream manager and publisher, against natrium and (the same
/// script) nats-server.
#[test]
fn nats_npm_package_manages_streams() {
    let node = crate::harness::root().join("tests/node");
    assert!(
        node.join("node_modules/nats").exists(),
        "tests/node/node_modules is missing: run `make deps`"
    );
    let run = |srv: &Proc| {
        let out = std::process::Command::new("node")
            .arg("jetstream_streams.mjs")
            .arg(srv.url())
            .current_dir(&node)
            .output()
            .expect("node");
        (
            String::from_utf8_lossy(&out.stdout).trim().to_string(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let theirs_dir = TempDir::new("js-npm-nats");
    if let Some(theirs) = start(theirs_dir.path(), true) {
        let (out, err) = run(&theirs);
        assert_eq!(out, "ok", "the script against nats-server: {err}");
    }
    let dir = TempDir::new("js-npm");
    let ours = start(dir.path(), false).expect("natrium");
    let (out, err) = run(&ours);
    assert_eq!(out, "ok", "{err}");
}

/// Streams, messages, deletes and per-subject state come back after a clean stop
/// (SIGTERM) as they were, checked message by message.
#[test]
fn streams_survive_a_clean_restart() {
    let dir = TempDir::new("js-restart");
    let mut srv = start(dir.path(), false).expect("natrium");
    let before = crate::harness::rt().block_on(async {
        let client = async_nats::connect(srv.url()).await.expect("connect");
        let js = async_nats::jetstream::new(client);
        let stream = js
            .create_stream(async_nats::jetstream::stream::Config {
                name: "KEEP".into(),
                subjects: vec!["keep.*".into()],
                max_messages_per_subject: 3,
                ..Default::default()
            })
            .await
            .expect("create");
        for i in 0..50u32 {
            js.publish(format!("keep.{}", i % 5), format!("v{i}").into())
                .await
                .expect("pub")
                .await
                .expect("ack");
        }
        assert!(stream.delete_message(48).await.expect("delete"));
        let mut msgs = Vec::new();
        for seq in 1..=50u64 {
            msgs.push(
                stream
                    .get_raw_message(seq)
                    .await
                    .ok()
                    .map(|m| (m.subject.to_string(), m.payload)),
            );
        }
        msgs
    });
    srv.signal("TERM");
    assert!(
        srv.wait_exit(Duration::from_secs(10)).is_some(),
        "clean exit"
    );
    let srv = start(dir.path(), false).expect("natrium again");
    crate::harness::rt().block_on(async {
        let client = async_nats::connect(srv.url()).await.expect("connect");
        let js = async_nats::jetstream::new(client);
        let mut stream = js.get_stream("KEEP").await.expect("recovered");
        let info = stream.info().await.expect("info");
        assert_eq!(info.config.max_messages_per_subject, 3);
        assert_eq!(info.state.messages, 14, "3 per subject, one deleted");
        for (i, want) in before.iter().enumerate() {
            let seq = i as u64 + 1;
            let got = stream
                .get_raw_message(seq)
                .await
                .ok()
                .map(|m| (m.subject.to_string(), m.payload));
            assert_eq!(&got, want, "message {seq}");
        }
        // Per-subject state: the last of each subject, and the limit still applies.
        let last = stream
            .get_last_raw_message_by_subject("keep.3")
            .await
            .expect("last");
        assert_eq!((last.sequence, &last.payload[..]), (49, &b"v48"[..]));
        js.publish("keep.0", "new".into())
            .await
            .expect("pub")
            .await
            .expect("ack");
        let info = stream.info().await.expect("info");
        assert_eq!(info.state.messages, 14, "the oldest keep.0 made room");
    });
}

/// Stream and consumer advisories on `$JS.EVENT.ADVISORY.STREAM.>` and `CONSUMER.>`: created
/// (not again for an identical create), updated, deleted (a stream's consumers go with it),
/// with nats-server's subjects and JSON (ids and times aside).
#[test]
fn stream_advisories_as_nats_server() {
    let run = |real: bool| -> Option<Vec<String>> {
        let dir = TempDir::new("js-advisories");
        let srv = start(dir.path(), real)?;
        let mut raw = Raw::connect(srv.addr());
        raw.handshake(r#"{"verbose":false,"headers":true,"protocol":1}"#);
        raw.send_str(
            "SUB $JS.EVENT.ADVISORY.STREAM.> 2\r\nSUB $JS.EVENT.ADVISORY.CONSUMER.> 3\r\nSUB _R.> 1\r\nPING\r\n",
        );
        raw.expect("PONG\r\n");
        let advisory = |line: &str, bytes: &[u8]| {
            let subject = line.split(' ').nth(1).unwrap_or_default().to_string();
            let mut v: serde_json::Value = serde_json::from_slice(bytes).expect("json");
            v["id"] = serde_json::Value::from(v["id"].as_str().map_or(0, str::len));
            v["timestamp"] = serde_json::Value::Null;
            format!("{subject} {v}")
        };
        let mut events = Vec::new();
        let create = r#"{"name":"ADV","subjects":["adv"]}"#;
        let update = r#"{"name":"ADV","subjects":["adv"],"max_msgs":5}"#;
        let consumer = r#"{"stream_name":"ADV","config":{"durable_name":"C"}}"#;
        let consumer2 = r#"{"stream_name":"ADV","config":{"durable_name":"C2"}}"#;
        for (subject, body) in [
            ("$JS.API.STREAM.CREATE.ADV", create),
            ("$JS.API.STREAM.CREATE.ADV", create),
            ("$JS.API.STREAM.UPDATE.ADV", update),
            ("$JS.API.CONSUMER.CREATE.ADV.C", consumer),
            ("$JS.API.CONSUMER.CREATE.ADV.C", consumer),
            ("$JS.API.CONSUMER.DELETE.ADV.C", ""),
            ("$JS.API.CONSUMER.CREATE.ADV.C2", consumer2),
            ("$JS.API.STREAM.DELETE.ADV", ""),
            ("$JS.API.STREAM.DELETE.ADV", ""),
        ] {
            raw.send_str(&format!("PUB {subject} _R.x {}\r\n{body}\r\n", body.len()));
            // One request at a time: nats-server runs pipelined API requests concurrently,
            // and an update that overtakes its create is refused.
            loop {
                let (line, bytes) = raw
                    .read_msg(Duration::from_millis(5000))
                    .expect("an API answer");
                if !matches!(line.split(' ').nth(2), Some("2" | "3")) {
                    break;
                }
                events.push(advisory(&line, &bytes));
            }
        }
        // The last advisory is sent with the last answer, but after it: what else arrives
        // within half a second.
        while let Some((line, bytes)) = raw.read_msg(Duration::from_millis(500)) {
            if matches!(line.split(' ').nth(2), Some("2" | "3")) {
                events.push(advisory(&line, &bytes));
            }
        }
        Some(events)
    };
    let Some(theirs) = run(true) else {
        return;
    };
    let ours = run(false).expect("natrium");
    assert_eq!(theirs.len(), 7, "{theirs:?}");
    assert_eq!(ours, theirs);
}

/// A store directory that cannot be created stops the start-up with nats-server's fatal
/// line and exit status.
#[test]
fn unusable_store_directory_is_fatal_as_in_nats_server() {
    let run = |bin: &std::path::Path| {
        let out = std::process::Command::new(bin)
            .args([
                "-js",
                "-sd",
                "/proc/natrium-no-such-dir",
                "-a",
                "127.0.0.1",
                "-p",
                "-1",
            ])
            .output()
            .expect("run");
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        let fatal = err
            .lines()
            .find_map(|l| l.split("[FTL] ").nth(1))
            .unwrap_or_default()
            .to_string();
        (out.status.code(), fatal)
    };
    let ours = run(&natrium_bin());
    assert_eq!(
        ours,
        (
            Some(1),
            "Can't start JetStream: could not create storage directory - mkdir /proc/natrium-no-such-dir: no such file or directory".to_string()
        )
    );
    if let Some(nats) = crate::harness::nats_server_bin() {
        assert_eq!(run(&nats), ours);
    }
}

/// Messages expire by TTL and by `max_age` as in nats-server, a `never` TTL outlives
/// `max_age`, and with subject delete markers the last message of a subject is replaced by
/// nats-server's `MaxAge` marker, which expires in turn.
#[test]
fn ttls_max_age_and_delete_markers_as_nats_server() {
    let run = |real: bool| -> Option<Vec<String>> {
        let dir = TempDir::new("js-ttl");
        let srv = start(dir.path(), real)?;
        let mut raw = Raw::connect(srv.addr());
        raw.handshake(r#"{"verbose":false,"headers":true,"protocol":1}"#);
        raw.send_str("SUB _R.> 1\r\nPING\r\n");
        raw.expect("PONG\r\n");
        let mut n = 0;
        let mut ask = |raw: &mut Raw, subject: &str, hdrs: &str, body: &str| -> String {
            n += 1;
            if hdrs.is_empty() {
                raw.send_str(&format!(
                    "PUB {subject} _R.{n} {}\r\n{body}\r\n",
                    body.len()
                ));
            } else {
                let block = format!("NATS/1.0\r\n{hdrs}\r\n\r\n");
                raw.send_str(&format!(
                    "HPUB {subject} _R.{n} {} {}\r\n{block}{body}\r\n",
                    block.len(),
                    block.len() + body.len()
                ));
            }
            let (_, bytes) = raw.read_msg(Duration::from_secs(2)).expect("answer");
            normalize(&String::from_utf8_lossy(&bytes))
        };
        let mut out = Vec::new();
        let create = r#"{"name":"X","subjects":["x.*"],"max_age":3000000000,"allow_msg_ttl":true,"subject_delete_marker_ttl":4000000000}"#;
        let start = std::time::Instant::now();
        let at = |secs: f64| {
            let t = start + Duration::from_secs_f64(secs);
            std::thread::sleep(t.saturating_duration_since(std::time::Instant::now()));
        };
        out.push(ask(&mut raw, "$JS.API.STREAM.CREATE.X", "", create));
        out.push(ask(&mut raw, "x.a", "", "old"));
        out.push(ask(&mut raw, "x.a", "", "older"));
        out.push(ask(&mut raw, "x.b", "Nats-TTL: never", "kept"));
        out.push(ask(&mut raw, "x.c", "Nats-TTL: 1s", "short"));
        let info = r#"{"subjects_filter":">"}"#;
        // Timeline: x.c's TTL passes at 1 s (a marker takes its place, gone by max_age at
        // 4 s), x.a's messages reach max_age at 3 s (a marker, gone by max_age at 6 s), x.b
        // never expires. Each look is well clear of the nearest expiry.
        at(2.0);
        out.push(ask(&mut raw, "$JS.API.STREAM.INFO.X", "", info));
        at(5.0);
        out.push(ask(&mut raw, "$JS.API.STREAM.INFO.X", "", info));
        out.push(ask(
            &mut raw,
            "$JS.API.STREAM.MSG.GET.X",
            "",
            r#"{"last_by_subj":"x.a"}"#,
        ));
        at(8.0);
        out.push(ask(&mut raw, "$JS.API.STREAM.INFO.X", "", info));
        Some(out)
    };
    let Some(theirs) = run(true) else {
        return;
    };
    let ours = run(false).expect("natrium");
    for (t, o) in theirs.iter().zip(&ours) {
        assert_eq!(o, t);
    }
}

/// Account limits (`accounts { A { jetstream { … } } }`) reported and enforced as
/// nats-server does: stream counts, required and capped `max_bytes`, reservations, consumer
/// caps, and account storage on publish; an account without JetStream.
#[test]
fn account_limits_as_nats_server() {
    const LIMITED: &[Step] = &[
        ("$JS.API.INFO", "", ""),
        (
            "$JS.API.STREAM.CREATE.limits",
            "",
            r#"{"name":"limits","subjects":["limits"]}"#,
        ),
        (
            "$JS.API.STREAM.CREATE.limits",
            "",
            r#"{"name":"limits","subjects":["limits"],"max_bytes":65536}"#,
        ),
        (
            "$JS.API.STREAM.CREATE.limits",
            "",
            r#"{"name":"limits","subjects":["limits"],"max_bytes":128}"#,
        ),
        ("limits", "", "x"),
        ("limits", "", "x"),
        ("limits", "", "x"),
        ("$JS.API.STREAM.INFO.limits", "", ""),
        ("limits", "", "x"),
        (
            "$JS.API.STREAM.CREATE.mem",
            "",
            r#"{"name":"mem","storage":"memory","max_bytes":4096}"#,
        ),
        (
            "$JS.API.STREAM.CREATE.mem",
            "",
            r#"{"name":"mem","storage":"memory","max_bytes":1024,"max_consumers":50}"#,
        ),
        (
            "$JS.API.STREAM.CREATE.mem",
            "",
            r#"{"name":"mem","storage":"memory","max_bytes":1024}"#,
        ),
        (
            "$JS.API.STREAM.UPDATE.mem",
            "",
            r#"{"name":"mem","storage":"memory","max_bytes":4096}"#,
        ),
        ("$JS.API.INFO", "", ""),
    ];
    const TIGHT: &[Step] = &[
        ("$JS.API.STREAM.CREATE.A", "", r#"{"name":"A"}"#),
        (
            "$JS.API.STREAM.CREATE.B",
            "",
            r#"{"name":"B","max_bytes":300}"#,
        ),
        (
            "$JS.API.STREAM.CREATE.B",
            "",
            r#"{"name":"B","max_bytes":150}"#,
        ),
        ("$JS.API.STREAM.CREATE.C", "", r#"{"name":"C"}"#),
        ("A", "", "0123456789012345678901234567890123456789"),
        ("A", "", "0123456789012345678901234567890123456789"),
        ("A", "", "0123456789012345678901234567890123456789"),
        ("A", "", "0123456789012345678901234567890123456789"),
        ("$JS.API.INFO", "", ""),
    ];
    const NONE: &[Step] = &[("$JS.API.INFO", "", ""), ("$JS.API.STREAM.NAMES", "", "")];
    let run = |real: bool| -> Option<Vec<String>> {
        let dir = TempDir::new("js-limits");
        let conf = dir.path().join("limits.conf");
        std::fs::write(
            &conf,
            format!(
                "jetstream {{ store_dir: {:?} }}\n\
                 accounts {{\n\
                 \x20 JS {{ jetstream {{ max_mem: 64MB, max_file: 32MB, max_streams: 10, max_consumers: 20, max_ack_pending: 100, memory_max_stream_bytes: 2048, store_max_stream_bytes: 4096, max_stream_bytes: true }}, users [{{user: js, password: js}}] }}\n\
                 \x20 TIGHT {{ jetstream {{ max_file: 200, max_streams: 2 }}, users [{{user: t, password: t}}] }}\n\
                 \x20 NOJS {{ users [{{user: n, password: n}}] }}\n\
                 }}\n",
                dir.path().display()
            ),
        )
        .expect("conf");
        let args = ["-c", conf.to_str().expect("utf-8"), "-n", "n1"];
        let srv = if real {
            NatsServer::start(&args)?
        } else {
            spawn(&natrium_bin(), &args)
        };
        let mut out = run_steps(&srv, r#""user":"js","pass":"js","#, LIMITED);
        out.extend(run_steps(&srv, r#""user":"t","pass":"t","#, TIGHT));
        out.extend(run_steps(&srv, r#""user":"n","pass":"n","#, NONE));
        Some(out)
    };
    let Some(theirs) = run(true) else {
        return;
    };
    let ours = run(false).expect("natrium");
    let diffs: Vec<String> = theirs
        .iter()
        .zip(&ours)
        .filter(|(t, o)| t != o)
        .map(|(t, o)| format!("nats-server: {t}\nnatrium:     {o}\n"))
        .collect();
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}

/// Republished messages, with and without `headers_only`, and through a subject transform,
/// as nats-server sends them (times aside).
#[test]
fn republish_as_nats_server() {
    let run = |real: bool| -> Option<Vec<String>> {
        let dir = TempDir::new("js-republish");
        let srv = start(dir.path(), real)?;
        let mut raw = Raw::connect(srv.addr());
        raw.handshake(r#"{"verbose":false,"headers":true,"protocol":1}"#);
        raw.send_str("SUB out.> 2\r\nSUB _R.> 1\r\nPING\r\n");
        raw.expect("PONG\r\n");
        let steps: &[(&str, &str, &str)] = &[
            (
                "$JS.API.STREAM.CREATE.R1",
                "",
                r#"{"name":"R1","subjects":["r1.*"],"republish":{"src":"r1.*","dest":"out.r1.{{wildcard(1)}}"}}"#,
            ),
            (
                "$JS.API.STREAM.CREATE.R2",
                "",
                r#"{"name":"R2","subjects":["r2.>"],"republish":{"dest":"out.r2.>","headers_only":true}}"#,
            ),
            (
                "$JS.API.STREAM.CREATE.R3",
                "",
                r#"{"name":"R3","subjects":["r3.*"],"subject_transform":{"src":"r3.*","dest":"t3.$1"},"republish":{"src":"t3.*","dest":"out.r3.$1"}}"#,
            ),
            ("r1.a", "", "one"),
            ("r1.a", "X-Y: z", "two"),
            ("r1.b", "", "three"),
            ("r2.a.b", "", "hidden payload"),
            ("r3.q", "", "via transform"),
        ];
        let mut out = Vec::new();
        let mut collect = |raw: &mut Raw, until_answer: bool| loop {
            let wait = if until_answer { 5000 } else { 500 };
            let Some((line, bytes)) = raw.read_msg(Duration::from_millis(wait)) else {
                break;
            };
            let mut parts = line.split(' ');
            let (kind, subject, sid) = (parts.next(), parts.next(), parts.next());
            if sid == Some("1") {
                if until_answer {
                    break;
                }
                continue;
            }
            out.push(format!(
                "{} {} {}",
                kind.unwrap_or_default(),
                subject.unwrap_or_default(),
                normalize(&String::from_utf8_lossy(&bytes))
            ));
        };
        // One step at a time: a publish sent before its stream exists is not stored.
        for (subject, hdrs, body) in steps {
            if hdrs.is_empty() {
                raw.send_str(&format!("PUB {subject} _R.x {}\r\n{body}\r\n", body.len()));
            } else {
                let block = format!("NATS/1.0\r\n{hdrs}\r\n\r\n");
                raw.send_str(&format!(
                    "HPUB {subject} _R.x {} {}\r\n{block}{body}\r\n",
                    block.len(),
                    block.len() + body.len()
                ));
            }
            collect(&mut raw, true);
        }
        collect(&mut raw, false);
        Some(out)
    };
    let Some(theirs) = run(true) else {
        return;
    };
    assert_eq!(theirs.len(), 5, "{theirs:#?}");
    let ours = run(false).expect("natrium");
    assert_eq!(ours, theirs);
}

/// Past `max_buffered_msgs` publishes waiting for the store, a publisher is answered as
/// nats-server answers an overflowing ingest queue (429 and a pub-ack error), nothing of
/// the refused message is kept, and every message acknowledged is in the stream.
#[test]
fn an_overflowing_ingest_queue_answers_429_as_nats_server() {
    const BURST: usize = 3000;
    let run = |real: bool| -> Option<(usize, usize, Option<String>, u64)> {
        let dir = TempDir::new("js-ingest");
        let conf = dir.path().join("ingest.conf");
        std::fs::write(
            &conf,
            format!(
                "jetstream {{ store_dir: {:?}, max_buffered_msgs: 2 }}\n",
                dir.path().display()
            ),
        )
        .expect("conf");
        let args = ["-c", conf.to_str().expect("utf-8"), "-n", "n1"];
        let srv = if real {
            NatsServer::start(&args)?
        } else {
            spawn(&natrium_bin(), &args)
        };
        let mut raw = Raw::connect(srv.addr());
        raw.handshake(r#"{"verbose":false,"headers":true,"protocol":1}"#);
        let create = r#"{"name":"IN","subjects":["in"]}"#;
        raw.send_str(&format!(
            "SUB _R.> 1\r\nPUB $JS.API.STREAM.CREATE.IN _R.c {}\r\n{create}\r\n",
            create.len()
        ));
        raw.read_msg(Duration::from_secs(5)).expect("create answer");
        let mut burst = String::new();
        for i in 0..BURST {
            burst.push_str(&format!("PUB in _R.{i} 1\r\nx\r\n"));
        }
        raw.send_str(&burst);
        let (mut acked, mut refused, mut refusal) = (0, 0, None);
        for _ in 0..BURST {
            let (line, body) = raw.read_msg(Duration::from_secs(10)).expect("an answer");
            let body = String::from_utf8_lossy(&body).to_string();
            if line.starts_with("HMSG ") {
                refused += 1;
                refusal.get_or_insert(body);
            } else if body.contains("\"seq\":") && !body.contains("error") {
                acked += 1;
            }
        }
        let info = "$JS.API.STREAM.INFO.IN";
        raw.send_str(&format!("PUB {info} _R.i 0\r\n\r\n"));
        let (_, body) = raw.read_msg(Duration::from_secs(5)).expect("info");
        let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
        let stored = v["state"]["messages"].as_u64().unwrap_or(u64::MAX);
        Some((acked, refused, refusal, stored))
    };
    let Some((_, _, their_refusal, _)) = run(true) else {
        return;
    };
    let (acked, refused, refusal, stored) = run(false).expect("natrium");
    assert_eq!(acked + refused, BURST, "every publish is answered once");
    assert!(refused > 0, "a burst of {BURST} overflows a queue of 2");
    assert_eq!(
        stored, acked as u64,
        "what was acknowledged and nothing else"
    );
    let expected = "NATS/1.0 429 Too Many Requests\r\n\r\n\
                    {\"error\":{\"code\":429,\"err_code\":10167,\"description\":\"too many requests\"},\"stream\":\"IN\",\"seq\":0}";
    assert_eq!(refusal.as_deref(), Some(expected));
    // nats-server keeps up with this burst on most runs; when it does overflow, its
    // answer is the same.
    if let Some(theirs) = their_refusal {
        assert_eq!(theirs, expected);
    }
}
