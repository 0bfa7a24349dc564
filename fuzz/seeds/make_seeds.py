#!/usr/bin/env python3
"""Writes the committed seed corpora under fuzz/seeds/<target>/ (run from anywhere).

The parser inputs start with a config byte (natrium_fuzz::Config::from_byte):
bits 0-1 max_control_line [16, 64, 1024, 4096], bits 2-3 max_payload [no limit, 0, 32, 1 MiB],
0x10 headers on, 0x20 CONNECT expected first, 0x40 server mode (CONNECT JSON decides headers).
parser_split inputs add a plan byte (low 4 bits: chunk-length bytes that follow; 0x40 byte at
a time; 0x80 honour bytes_needed). The sublist script encoding is described in
fuzz_targets/sublist.rs.
"""
import hashlib
import os

HERE = os.path.dirname(os.path.abspath(__file__))


def write(target, name, data):
    d = os.path.join(HERE, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("latin-1")
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# Config bytes.
DEFAULTS = 0x13  # mcl 4096, no payload limit, headers on
NATS = 0x1F  # mcl 4096, max_payload 1 MiB, headers on
SMALL = 0x18  # mcl 16, max_payload 32, headers on
SERVER = 0x63  # mcl 4096, no limit, CONNECT expected, server mode, headers off until CONNECT

PROTO = {
    "ping_pong": (NATS, "PING\r\nPONG\r\n+OK\r\n-ERR 'Unknown Protocol Operation'\r\nping\r\n"),
    "connect_pub": (
        NATS,
        'CONNECT {"verbose":false,"pedantic":false,"tls_required":false,"headers":true,'
        '"name":"fuzz","lang":"rust","version":"0.1","protocol":1,"echo":true}\r\n'
        "PUB foo 5\r\nhello\r\nPING\r\n",
    ),
    "pub_reply": (NATS, "PUB foo.bar _INBOX.abc 11\r\nhello world\r\nPUB a 0\r\n\r\n"),
    "hpub": (
        NATS,
        "HPUB foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\n"
        "HPUB foo reply 22 22\r\nNATS/1.0\r\nA: B\r\n\r\n\r\n"
        "HPUB x 0 0\r\n\r\n",
    ),
    "sub_unsub": (
        NATS,
        "SUB foo.* q 1\r\nSUB bar.> 2\r\nSUB  baz\t\t3\r\nUNSUB 1 10\r\nUNSUB 2\r\n",
    ),
    "tabs_case": (NATS, "pub\tfoo\t\t3\r\nabc\r\nsUb foo 1\r\nuNsUb 1\r\nPiNg\r\n"),
    "info_hmsg": (NATS, 'INFO {"server_id":"x"}\r\nHMSG x\r\n\r\nCONNECT{}\r\n'),
    "quirks": (NATS, "CONNECT\r\nPUB \nfoo 1\r\nx\r\nSUB a\rb 1\n"),
    "size_limits": (NATS, "PUB foo 999999999\r\n"),
    "size_bad": (NATS, "PUB foo -1\r\nx\r\n"),
    "size_overflow": (NATS, "PUB foo 99999999999999999999\r\n"),
    "over_max_payload": (SMALL, "PUB foo 33\r\n" + "x" * 33 + "\r\n"),
    "control_line_edge": (SMALL, "SUB abcdefghij 1234\r\nSUB abcdefghij 12345\r\n"),
    "junk_after_ping": (SMALL, "PING" + " " * 16 + "\r\nPING" + " " * 17 + "\r\n"),
    "hpub_header_too_big": (NATS, "HPUB foo 10 5\r\nhello\r\n"),
    "hpub_no_headers": (0x03, "HPUB foo 0 0\r\n\r\n"),
    "expect_connect": (
        SERVER,
        'CONNECT {"headers":true,"verbose":false}\r\nHPUB a 12 12\r\nNATS/1.0\r\n\r\n\r\nPING\r\n',
    ),
    "expect_connect_bad": (SERVER, "PING\r\n"),
    "server_bad_json": (SERVER, 'CONNECT {"verbose":"yes"}\r\nPING\r\n'),
    "binary": (NATS, bytes(range(256)).decode("latin-1")),
    "msg_from_client": (NATS, "MSG foo 1 2\r\nhi\r\n"),
    "payload_bad_crlf": (NATS, "PUB foo 2\r\nhiX\n"),
}

for name, (cfg, text) in PROTO.items():
    data = bytes([cfg]) + text.encode("latin-1")
    write("parser", name, data)
    # Whole, three odd splits, byte at a time, byte at a time honouring bytes_needed.
    write("parser_split", name + "_whole", bytes([cfg, 0x00]) + data[1:])
    write("parser_split", name + "_3cuts", bytes([cfg, 0x03, 3, 0, 7]) + data[1:])
    write("parser_split", name + "_bytes", bytes([cfg, 0x40]) + data[1:])
    write("parser_split", name + "_needed", bytes([cfg, 0xC0]) + data[1:])

# ---- sublist scripts -------------------------------------------------------------------
TOKENS = ["a", "b", "c", "a", "b", "*", "*", ">", ">", "", "foo", "a*", "*a", ">>", "a b", "\xff"]
QUEUES = ["q1", "q2", "", "q.x"]
INSERT, REMOVE, MATCH, INTEREST, BATCH = 0, 2, 3, 4, 5


def op(kind, value=0, queue=None):
    q = 0 if queue is None else 4 + QUEUES.index(queue)
    return bytes([kind | (value << 3) | (q << 5)])


def subj(s):
    toks = s.split(".")
    assert 1 <= len(toks) <= 5
    return bytes([len(toks) - 1] + [TOKENS.index(t) for t in toks])


def script(*steps):
    return b"".join(steps)


write("sublist", "basic", script(
    op(INSERT, 0), subj("a.b"),
    op(INSERT, 1), subj("a.*"),
    op(INSERT, 2), subj("a.>"),
    op(MATCH), subj("a.b"),
    op(REMOVE, 1), subj("a.*"),
    op(MATCH), subj("a.b"),
    op(INTEREST), subj("a.b.c"),
))
write("sublist", "queues", script(
    op(INSERT, 0, "q1"), subj("foo.*"),
    op(INSERT, 1, "q1"), subj("foo.>"),
    op(INSERT, 2, "q2"), subj("foo.a"),
    op(INSERT, 3, "q.x"), subj("*.a"),
    op(MATCH), subj("foo.a"),
    op(REMOVE, 0, "q1"), subj("foo.*"),
    op(MATCH), subj("foo.a"),
    op(BATCH, 1),
    op(MATCH), subj("foo.a"),
))
write("sublist", "invalid", script(
    op(INSERT, 0), subj("a..b"),
    op(INSERT, 0), subj("a.>.b"),
    op(INSERT, 1), subj(""),
    op(INSERT, 2), subj(">>.a*.*a"),
    op(MATCH), subj(">>.a*.*a"),
    op(MATCH), subj("*.*.*"),
    op(REMOVE, 2), subj(">>.a*.*a"),
))
write("sublist", "cache_churn", script(
    *[op(MATCH) + subj(s) for s in ["a", "a.b", "a.b.c", "b", "foo.a"]],
    op(INSERT, 0), subj(">"),
    *[op(MATCH) + subj(s) for s in ["a", "a.b", "a.b.c", "b", "foo.a"]],
    op(INSERT, 1), subj("a"),
    op(REMOVE, 0), subj(">"),
    *[op(MATCH) + subj(s) for s in ["a", "a.b", "a.b.c", "b", "foo.a"]],
))
write("sublist", "raw", script(
    bytes([7 | (0 << 3)]), bytes([7]) + b"x.y.*\x00",
    bytes([6]), bytes([5]) + b"x.y.z",
    bytes([6]), bytes([4]) + b"x..y",
    bytes([7 | 8]), bytes([7]) + b"x.y.*\x00",
))
write("sublist", "deep", script(
    op(INSERT, 0), subj("a.b.c.*.>"),
    op(INSERT, 1), subj("a.*.c.foo.a"),
    op(INSERT, 2, "q2"), subj("*.*.*.*.*"),
    op(MATCH), subj("a.b.c.foo.a"),
    op(MATCH), subj("a.b.c.foo"),
    op(INTEREST), subj("a.b.c.foo.a"),
))

# ---- CONNECT JSON ----------------------------------------------------------------------
JSON = {
    "go": '{"verbose":false,"pedantic":false,"tls_required":false,"name":"","lang":"go",'
          '"version":"1.37.0","protocol":1,"echo":true,"headers":true,"no_responders":true}',
    "js": '{"protocol":1,"version":"2.28.2","lang":"nats.js","verbose":false,"pedantic":false,'
          '"headers":true,"no_responders":true,"user":"a","pass":"b"}',
    "rust": '{"verbose":false,"pedantic":false,"lang":"rust","version":"0.38.0","protocol":1,'
            '"echo":true,"headers":true,"no_responders":true,"tls_required":false,'
            '"auth_token":"t","nkey":"UABC","sig":"c2ln"}',
    "null": "null",
    "empty": "{}",
    "nulls": '{"verbose":null,"echo":null,"name":null}',
    "wrong_type": '{"verbose":"yes"}',
    "float_protocol": '{"protocol":1.5}',
    "big_protocol": '{"protocol":18446744073709551615}',
    "case": '{"Verbose":false,"PEDANTIC":false,"eCho":false}',
    "case_dup": '{"verbose":false,"Verbose":true}',
    "escapes": '{"\\u0076erbose":false,"name":"\\ud83d\\ude00\\n"}',
    "unknown": '{"unknown":[1,{"a":[]}],"jwt":"x.y.z","account":"A","new_account":true}',
    "array": "[1,2]",
    "truncated": '{"verbose":true',
    "nested": "[" * 200 + "]" * 200,
}
for name, text in JSON.items():
    write("connect_json", name, text.encode("utf-8"))

# ---- conf ------------------------------------------------------------------------------
CONF = {
    "server": """# nats-server.conf
server_name: n1
listen: 0.0.0.0:4222
http: 8222
max_payload: 1MB
max_control_line: 4KB
ping_interval: "2m"
write_deadline: 10s
debug: false, trace: true
logtime = true
authorization {
  users = [
    {user: alice, password: "$2a$11$abcdefghijklmnopqrstuu", permissions: {publish: ">", subscribe: ["a.*", "b.>"]}}
    {user: bob, password: 'raw pass'}
  ]
  timeout: 2.5
}
tls {
  cert_file: "./cert.pem"
  key_file:  "./key.pem"
}
""",
    "vars": "port = 4222\np2: $port\nm { x = 1k, y = $x, z = $NATS_FUZZ_INT, s = $NATS_FUZZ_STR }\n",
    "env_rec": "a = $NATS_FUZZ_SELF\nb = $NATS_FUZZ_TWICE\nc = $NATS_FUZZ_MAP\nd = $NATS_FUZZ_BAD\n",
    # The conf target writes these fixtures into /tmp/natrium-fuzz-conf before the first run.
    "includes": "include /tmp/natrium-fuzz-conf/a.conf\ninclude '/tmp/natrium-fuzz-conf/b.conf'\n"
                "include \"/tmp/natrium-fuzz-conf/sub/d.conf\"\ninclude /tmp/natrium-fuzz-conf/self.conf\n"
                "m { include /tmp/natrium-fuzz-conf/loop1.conf }\ninclude missing.conf\n"
                "include /tmp/natrium-fuzz-conf/bad.conf\ninclude /tmp/natrium-fuzz-conf\n",
    "block": "text: (\nline one\n  line two )\n)\nafter = 1\n",
    "json": '{"port": 4222, "cluster": {"routes": ["nats://a:4248", "nats://b:4248"]}}\n',
    "numbers": "a = 1kb\nb = -5\nc = 1.5\nd = 1.2.3\ne = 2016-05-04T18:53:41Z\nf = 16EB\n"
               "g = 3xyz\nh = 1_000\ni = 0x10\nj = 1GiB\n",
    "durations": "a = 1h2m3.5s\nb = 300ms\nc = -1.5us\nd = 1\xb5s\ne = 9223372036854775807ns\n",
    "nesting": "a = " + "{b = " * 300 + "1" + "}" * 300 + "\n",
    "arrays": "a = [1, 2, [3, [4]], {x: y}]\nb = [\n  one\n  two, three\n]\n",
    "strings": 'a = "tab\\there \\x41 \\u00e9 \\" \\\\"\nb = bare#notcomment\nc = nats://u:p@h:4222\n'
               "// comment\n# comment\nd: yes, e: off, f: TRUE\n",
    "errors": "a = {\nb = [1, 2\nc = \"unterminated\n",
    "bom": "\ufeffport: 4222\n",
}
for name, text in CONF.items():
    write("conf", name, text.encode("utf-8"))


# ws_frame: config byte (bit 0 deflate, bit 1 unmasked allowed, bits 2-3 max_payload
# [64, 1024, 65536, 1 MiB], 0x10 round trip), plan byte (low 4 bits: chunk-length bytes that
# follow; 0x40 byte at a time), then client frames.
def ws(op, payload, fin=True, rsv1=False, mask=b"\x12\x34\x56\x78"):
    if isinstance(payload, str):
        payload = payload.encode()
    b0 = op | (0x80 if fin else 0) | (0x40 if rsv1 else 0)
    n = len(payload)
    mbit = 0x80 if mask else 0
    if n <= 125:
        hdr = bytes([b0, mbit | n])
    elif n < 65536:
        hdr = bytes([b0, mbit | 126]) + n.to_bytes(2, "big")
    else:
        hdr = bytes([b0, mbit | 127]) + n.to_bytes(8, "big")
    if not mask:
        return hdr + payload
    return hdr + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def deflated(text):
    import zlib
    c = zlib.compressobj(1, zlib.DEFLATED, -15)
    out = c.compress(text.encode()) + c.flush(zlib.Z_SYNC_FLUSH)
    return out[:-4]  # the receiver adds 00 00 ff ff back


WS = {
    "connect_ping": (0x0C, b"\x00", ws(2, 'CONNECT {"verbose":false}\r\nPING\r\n')),
    "fragmented": (0x0C, b"\x02\x03\x05", ws(2, "PUB foo 5\r\n", fin=False) + ws(0, "hel", fin=False)
                   + ws(9, "ping!") + ws(0, "lo\r\n")),
    "ping_pong_close": (0x04, b"\x40", ws(9, "x") + ws(10, "") + ws(8, b"\x03\xe8bye")),
    "close_empty": (0x04, b"\x00", ws(8, b"")),
    "close_bad": (0x04, b"\x00", ws(8, b"\x03") + ws(8, b"\x03\xe8\xff\xfe")),
    "text_frame": (0x04, b"\x00", ws(1, "PING\r\n")),
    "unmasked": (0x06, b"\x01\x02", ws(2, "PING\r\n", mask=None)),
    "unmasked_refused": (0x04, b"\x00", ws(2, "PING\r\n", mask=None)),
    "len16": (0x08, b"\x01\x07", ws(2, "PUB a 200\r\n" + "y" * 200 + "\r\n")),
    "len64": (0x0C, b"\x01\xff", ws(2, "x" * 70000)),
    "huge_len": (0x04, b"\x00", bytes([0x82, 0xFF]) + b"\x7f" + b"\xff" * 7 + b"\x00" * 4),
    "compressed": (0x0D, b"\x00", ws(2, deflated("PUB foo 2\r\nhi\r\n" * 8), rsv1=True)),
    "compressed_frag": (0x0D, b"\x01\x04", ws(2, deflated("SUB foo 1\r\n" * 10)[:10], fin=False, rsv1=True)
                        + ws(0, deflated("SUB foo 1\r\n" * 10)[10:])),
    "compressed_bomb": (0x01, b"\x00", ws(2, deflated("z" * 5000), rsv1=True)),
    "rsv_bits": (0x04, b"\x00", bytes([0xB2, 0x80]) + b"\x00" * 4),
    "control_too_long": (0x04, b"\x00", ws(9, "p" * 126)),
    "round_trip": (0x1C, b"\x01\x03", b"PUB foo 11\r\nhello world\r\n" * 20),
    "round_trip_deflate": (0x1D, b"\x01\x05", b"HPUB foo 22 24\r\nNATS/1.0\r\nA: b\r\n\r\nhi\r\n" * 30),
}
for name, (cfg, plan_bytes, frames) in WS.items():
    write("ws_frame", name, bytes([cfg]) + plan_bytes + frames)
