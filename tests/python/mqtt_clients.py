"""paho-mqtt (MQTT 3.1.1 and 5) and nats-py against a running natrium with an MQTT listener.

Usage: python3 mqtt_clients.py MQTT_PORT NATS_URL WS_PORT TLS_PORT CA_FILE [case ...]
(WS_PORT: the WebSocket listener, whose /mqtt path takes MQTT; TLS_PORT: an MQTT listener
with TLS whose certificate CA_FILE signs.) Runs every case (or the named ones) and prints "OK <case>" for each; exits non-zero on the
first failure with what differed.
"""
import asyncio
import queue
import sys
import threading
import time
import uuid

import nats
import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

TIMEOUT = 5.0
PORT = 0
NATS_URL = ""
WS_PORT = 0
TLS_PORT = 0
CA_FILE = ""


class Client:
    """A paho client whose callbacks feed queues, so a test reads events in order."""

    def __init__(self, client_id=None, v5=False, clean=True, will=None, props=None,
                 username=None, password=None, via="tcp"):
        self.v5 = v5
        self.via = via
        proto = mqtt.MQTTv5 if v5 else mqtt.MQTTv311
        kwargs = dict(callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
                      client_id=client_id or "", protocol=proto,
                      transport="websockets" if via == "ws" else "tcp")
        if not v5:
            kwargs["clean_session"] = clean
        self.c = mqtt.Client(**kwargs)
        if via == "ws":
            self.c.ws_set_options(path="/mqtt")
        elif via == "tls":
            self.c.tls_set(ca_certs=CA_FILE)
        self.msgs = queue.Queue()
        self.connacks = queue.Queue()
        self.subacks = queue.Queue()
        self.unsubacks = queue.Queue()
        self.disconnects = queue.Queue()
        self.c.on_connect = lambda c, u, flags, rc, p: self.connacks.put((flags, rc, p))
        self.c.on_message = lambda c, u, m: self.msgs.put(m)
        self.c.on_subscribe = lambda c, u, mid, rcs, p: self.subacks.put(rcs)
        self.c.on_unsubscribe = lambda c, u, mid, rcs, p: self.unsubacks.put(rcs)
        self.c.on_disconnect = lambda c, u, flags, rc, p: self.disconnects.put(rc)
        if will:
            self.c.will_set(*will)
        if username is not None:
            self.c.username_pw_set(username, password)
        self.clean = clean
        self.props = props

    def connect(self, expect_ok=True):
        kwargs = {}
        if self.v5:
            kwargs["clean_start"] = self.clean
            if self.props is not None:
                kwargs["properties"] = self.props
        port = {"tcp": PORT, "ws": WS_PORT, "tls": TLS_PORT}[self.via]
        self.c.connect("127.0.0.1", port, keepalive=30, **kwargs)
        self.c.loop_start()
        flags, rc, props = self.connacks.get(timeout=TIMEOUT)
        if expect_ok:
            assert not rc.is_failure, f"CONNACK {rc}"
        return flags, rc, props

    def sub(self, topic, qos=0, **kw):
        self.c.subscribe(topic, qos, **kw)
        return self.subacks.get(timeout=TIMEOUT)

    def pub(self, topic, payload, qos=0, retain=False, properties=None):
        info = self.c.publish(topic, payload, qos=qos, retain=retain, properties=properties)
        info.wait_for_publish(TIMEOUT)
        assert info.is_published(), f"publish to {topic} not acknowledged"
        return info

    def get(self, timeout=TIMEOUT):
        return self.msgs.get(timeout=timeout)

    def none(self, within=0.3):
        try:
            m = self.msgs.get(timeout=within)
        except queue.Empty:
            return
        raise AssertionError(f"unexpected message on {m.topic}: {m.payload!r}")

    def close(self):
        self.c.disconnect()
        self.c.loop_stop()

    def drop(self):
        """Ends the connection without DISCONNECT (an abrupt close)."""
        self.c.loop_stop()
        self.c.socket().close()


def uid():
    return uuid.uuid4().hex[:8]


# ----- MQTT 3.1.1 ---------------------------------------------------------------------

def case_qos_levels():
    sub = Client(uid())
    sub.connect()
    t = f"q/{uid()}"
    assert sub.sub(t, 2)[0].value == 2
    pub = Client(uid())
    pub.connect()
    for qos in (0, 1, 2):
        pub.pub(t, f"m{qos}".encode(), qos=qos)
        m = sub.get()
        assert m.payload == f"m{qos}".encode(), m.payload
        assert m.qos == qos, (qos, m.qos)
    pub.close()
    sub.close()


def case_wildcards():
    sub = Client(uid())
    sub.connect()
    base = uid()
    sub.sub(f"{base}/+/temp", 0)
    sub.sub(f"{base}/house/#", 0)
    pub = Client(uid())
    pub.connect()
    pub.pub(f"{base}/kitchen/temp", b"1", qos=1)
    m = sub.get()
    assert m.topic == f"{base}/kitchen/temp"
    pub.pub(f"{base}/house", b"2", qos=1)  # '#' matches the parent level too
    assert sub.get().payload == b"2"
    pub.pub(f"{base}/house/a/b", b"3", qos=1)
    assert sub.get().payload == b"3"
    pub.pub(f"{base}/kitchen/humidity", b"4", qos=1)
    sub.none()
    pub.close()
    sub.close()


def case_retained():
    t = f"ret/{uid()}"
    pub = Client(uid())
    pub.connect()
    pub.pub(t, b"last", qos=1, retain=True)
    sub = Client(uid())
    sub.connect()
    sub.sub(t.split("/")[0] + "/#", 1)
    m = sub.get()
    assert (m.payload, m.retain, m.qos) == (b"last", True, 1), (m.payload, m.retain, m.qos)
    # A live message is not flagged retained; an empty retained payload clears it.
    pub.pub(t, b"live", qos=1)
    m = sub.get()
    assert (m.payload, m.retain) == (b"live", False)
    pub.pub(t, b"", qos=1, retain=True)
    sub.get()
    late = Client(uid())
    late.connect()
    late.sub(t, 1)
    late.none()
    for c in (pub, sub, late):
        c.close()


def case_will():
    t = f"will/{uid()}"
    watcher = Client(uid())
    watcher.connect()
    watcher.sub(t, 1)
    dev = Client(uid(), will=(t, b"gone", 1, False))
    dev.connect()
    dev.drop()
    m = watcher.get()
    assert m.payload == b"gone", m.payload
    # A clean DISCONNECT discards the will.
    dev2 = Client(uid(), will=(t, b"not sent", 1, False))
    dev2.connect()
    dev2.close()
    watcher.none(0.5)
    watcher.close()


def case_persistent_session():
    cid = uid()
    t = f"sess/{uid()}"
    dev = Client(cid, clean=False)
    flags, _, _ = dev.connect()
    assert not flags.session_present
    dev.sub(t, 1)
    dev.close()
    dev = Client(cid, clean=False)
    flags, _, _ = dev.connect()
    assert flags.session_present, "the session was kept"
    pub = Client(uid())
    pub.connect()
    pub.pub(t, b"after", qos=1)
    assert dev.get().payload == b"after", "the subscription came back with the session"
    dev.close()
    dev = Client(cid, clean=True)
    flags, _, _ = dev.connect()
    assert not flags.session_present
    pub.pub(t, b"gone", qos=1)
    dev.none()
    dev.close()
    pub.close()


def case_offline_messages_wait_for_a_persistent_session():
    for v5 in (False, True):
        cid = uid()
        t = f"off/{uid()}"
        props = None
        if v5:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = 300
        dev = Client(cid, v5=v5, clean=False, props=props)
        dev.connect()
        dev.sub(t, 1)
        dev.close()
        pub = Client(uid(), v5=v5)
        pub.connect()
        for i in range(3):
            pub.pub(t, f"q1-{i}".encode(), qos=1)
        pub.pub(t, b"q0", qos=0)
        pub.pub(t, b"q2", qos=2)
        dev = Client(cid, v5=v5, clean=False, props=props)
        flags, _, _ = dev.connect()
        assert flags.session_present
        got = [dev.get().payload for _ in range(4)]
        assert got == [b"q1-0", b"q1-1", b"q1-2", b"q2"], got
        dev.none()  # QoS 0 is not kept for an absent client
        pub.pub(t, b"live", qos=1)
        assert dev.get().payload == b"live"
        dev.close()
        # A clean session discards what was parked.
        dev = Client(cid, v5=v5, clean=False, props=props)
        dev.connect()
        dev.close()
        pub.pub(t, b"for nobody", qos=1)
        dev = Client(cid, v5=v5, clean=True)
        dev.connect()
        dev.none()
        dev.close()
        pub.close()


def case_takeover_keeps_the_session():
    cid = uid()
    t = f"to/{uid()}"
    a = Client(cid, clean=False)
    a.connect()
    a.sub(t, 1)
    b = Client(cid, clean=False)
    flags, _, _ = b.connect()
    assert flags.session_present, "the session goes with the client ID"
    a.disconnects.get(timeout=TIMEOUT)
    pub = Client(uid())
    pub.connect()
    pub.pub(t, b"to-b", qos=1)
    assert b.get().payload == b"to-b"
    b.close()
    pub.close()


def case_takeover():
    cid = uid()
    a = Client(cid)
    a.connect()
    b = Client(cid)
    b.connect()
    a.disconnects.get(timeout=TIMEOUT)
    b.close()


def case_bad_credentials():
    c = Client(uid(), username="nobody", password="wrong")
    _, rc, _ = c.connect(expect_ok=False)
    assert rc.is_failure, rc
    c.c.loop_stop()


def case_nats_interop():
    async def run():
        nc = await nats.connect(NATS_URL)
        base = uid()
        got = asyncio.Queue()

        async def on_msg(msg):
            await got.put(msg)

        await nc.subscribe(f"{base}.>", cb=on_msg)
        await nc.flush()
        dev = Client(uid())
        dev.connect()
        dev.sub(f"{base}/down/#", 1)
        # MQTT -> NATS: '/' becomes '.', the QoS rides in the Nmqtt-Pub header.
        dev.pub(f"{base}/up/temp", b"21.5", qos=1)
        m = await asyncio.wait_for(got.get(), TIMEOUT)
        assert m.subject == f"{base}.up.temp", m.subject
        assert m.data == b"21.5"
        assert m.headers and m.headers.get("Nmqtt-Pub") == "1", m.headers
        # NATS -> MQTT.
        await nc.publish(f"{base}.down.light", b"on")
        await nc.flush()
        msg = await asyncio.get_running_loop().run_in_executor(None, dev.get)
        assert (msg.topic, msg.payload, msg.qos) == (f"{base}/down/light", b"on", 0)
        dev.close()
        await nc.close()

    asyncio.run(run())


def case_websocket_transport():
    t = f"tr/{uid()}"
    tcp = Client(uid())
    tcp.connect()
    tcp.sub(t + "/#", 1)
    for v5 in (False, True):
        c = Client(uid(), v5=v5, via="ws")
        c.connect()
        c.sub(f"{t}/ws", 1)
        c.pub(f"{t}/ws", f"ws-{v5}".encode(), qos=1)
        assert c.get().payload == f"ws-{v5}".encode()
        assert tcp.get().payload == f"ws-{v5}".encode()
        c.close()
    tcp.close()


def case_tls_transport():
    t = f"tls/{uid()}"
    sub = Client(uid(), via="tls")
    sub.connect()
    sub.sub(t, 2)
    for v5 in (False, True):
        c = Client(uid(), v5=v5, via="tls")
        c.connect()
        c.pub(t, f"tls-{v5}".encode(), qos=2)
        m = sub.get()
        assert (m.payload, m.qos) == (f"tls-{v5}".encode(), 2)
        c.close()
    sub.close()


# ----- MQTT 5 -------------------------------------------------------------------------

def case_v5_connack_properties():
    c = Client("", v5=True)
    _, rc, props = c.connect()
    assert rc.value == 0
    assert getattr(props, "AssignedClientIdentifier", ""), "an ID is assigned"
    assert props.TopicAliasMaximum > 0
    assert props.SharedSubscriptionAvailable == 1
    c.close()


def case_v5_user_properties_and_headers():
    async def run():
        nc = await nats.connect(NATS_URL)
        base = uid()
        got = asyncio.Queue()

        async def on_msg(msg):
            await got.put(msg)

        await nc.subscribe(f"{base}.up", cb=on_msg)
        await nc.flush()
        dev = Client(uid(), v5=True)
        dev.connect()
        dev.sub(f"{base}/down", 0)
        p = Properties(PacketTypes.PUBLISH)
        p.UserProperty = [("unit", "C"), ("room", "kitchen")]
        dev.pub(f"{base}/up", b"x", qos=1, properties=p)
        m = await asyncio.wait_for(got.get(), TIMEOUT)
        assert m.headers.get("unit") == "C" and m.headers.get("room") == "kitchen", m.headers
        await nc.publish(f"{base}.down", b"y", headers={"color": "red"})
        await nc.flush()
        msg = await asyncio.get_running_loop().run_in_executor(None, dev.get)
        assert ("color", "red") in msg.properties.UserProperty, msg.properties
        dev.close()
        await nc.close()

    asyncio.run(run())


def case_v5_shared_subscriptions():
    t = f"work/{uid()}"
    workers = [Client(uid(), v5=True) for _ in range(2)]
    for w in workers:
        w.connect()
        w.sub(f"$share/pool/{t}", 1)
    pub = Client(uid(), v5=True)
    pub.connect()
    for i in range(20):
        pub.pub(t, str(i).encode(), qos=1)
    got = []
    deadline = time.time() + TIMEOUT
    while len(got) < 20 and time.time() < deadline:
        for w in workers:
            try:
                got.append((w, w.get(0.05).payload))
            except queue.Empty:
                pass
    assert len(got) == 20, f"{len(got)} of 20"
    assert sorted(int(p) for _, p in got) == list(range(20)), "each message exactly once"
    for w in workers:
        w.none(0.2)
        w.close()
    pub.close()


def case_v5_no_local_and_topic_alias():
    from paho.mqtt.subscribeoptions import SubscribeOptions
    t = f"nl/{uid()}"
    c = Client(uid(), v5=True)
    c.connect()
    c.sub(t, options=SubscribeOptions(qos=1, noLocal=True))
    c.pub(t, b"mine", qos=1)
    c.none()
    other = Client(uid(), v5=True)
    other.connect()
    p = Properties(PacketTypes.PUBLISH)
    p.TopicAlias = 3
    other.pub(t, b"aliased-1", qos=1, properties=p)
    # Same alias, empty topic: the server remembers the topic.
    other.pub("", b"aliased-2", qos=1, properties=p)
    assert c.get().payload == b"aliased-1"
    m = c.get()
    assert (m.topic, m.payload) == (t, b"aliased-2"), (m.topic, m.payload)
    c.close()
    other.close()


def case_v5_session_expiry():
    cid = uid()
    t = f"se/{uid()}"

    def props(secs):
        p = Properties(PacketTypes.CONNECT)
        p.SessionExpiryInterval = secs
        return p

    dev = Client(cid, v5=True, clean=False, props=props(60))
    dev.connect()
    dev.sub(t, 1)
    dev.close()
    dev = Client(cid, v5=True, clean=False, props=props(1))
    flags, _, _ = dev.connect()
    assert flags.session_present, "within its expiry the session is kept"
    dev.close()
    time.sleep(1.5)
    dev = Client(cid, v5=True, clean=False, props=props(1))
    flags, _, _ = dev.connect()
    assert not flags.session_present, "past its expiry it is gone"
    dev.close()


def case_v5_server_disconnect_with_reason():
    cid = uid()
    old = Client(cid, v5=True)
    old.connect()
    new = Client(cid, v5=True)
    new.connect()
    rc = old.disconnects.get(timeout=TIMEOUT)
    assert rc.value == 0x8E, f"session taken over, got {rc}"
    new.close()


def case_v5_retain_as_published():
    from paho.mqtt.subscribeoptions import SubscribeOptions
    t = f"rap/{uid()}"
    rap = Client(uid(), v5=True)
    rap.connect()
    rap.sub(t, options=SubscribeOptions(qos=1, retainAsPublished=True))
    plain = Client(uid(), v5=True)
    plain.connect()
    plain.sub(t, 1)
    pub = Client(uid(), v5=True)
    pub.connect()
    pub.pub(t, b"kept", qos=1, retain=True)
    assert rap.get().retain, "retain as published: the flag stays"
    assert not plain.get().retain, "otherwise a live message is not flagged"
    pub.pub(t, b"live", qos=1)
    assert not rap.get().retain
    for c in (rap, plain, pub):
        c.close()


def case_v5_retain_handling():
    from paho.mqtt.subscribeoptions import SubscribeOptions
    t = f"rh/{uid()}"
    pub = Client(uid(), v5=True)
    pub.connect()
    pub.pub(t, b"r", qos=1, retain=True)
    c = Client(uid(), v5=True)
    c.connect()
    c.sub(t, options=SubscribeOptions(qos=1, retainHandling=1))
    assert c.get().retain, "a new subscription gets the retained message"
    c.sub(t, options=SubscribeOptions(qos=1, retainHandling=1))
    c.none()
    c.sub(t, options=SubscribeOptions(qos=1, retainHandling=0))
    assert c.get().payload == b"r", "0: every SUBSCRIBE gets it"
    other = Client(uid(), v5=True)
    other.connect()
    other.sub(t, options=SubscribeOptions(qos=1, retainHandling=2))
    other.none()
    for x in (pub, c, other):
        x.close()


def case_v5_reason_codes():
    c = Client(uid(), v5=True)
    c.connect()
    # Whitespace cannot be in a NATS subject: "topic filter invalid" (0x8F).
    rcs = c.sub("bad filter/x", 1)
    assert rcs[0].value == 0x8F, rcs
    c.c.unsubscribe("never/subscribed")
    rcs = c.unsubacks.get(timeout=TIMEOUT)
    assert rcs[0].value == 0x11, rcs  # no subscription existed
    c.close()


def case_v5_retained_message_expiry():
    t = f"exp/{uid()}"
    pub = Client(uid(), v5=True)
    pub.connect()
    p = Properties(PacketTypes.PUBLISH)
    p.MessageExpiryInterval = 1
    pub.pub(t, b"soon gone", qos=1, retain=True, properties=p)
    time.sleep(1.5)
    sub = Client(uid(), v5=True)
    sub.connect()
    sub.sub(t, 1)
    sub.none()
    pub.close()
    sub.close()


def case_v5_calls_nats_service():
    async def run():
        nc = await nats.connect(NATS_URL)
        svc = f"svc.{uid()}"

        async def responder(msg):
            await msg.respond(b"pong:" + msg.data)

        await nc.subscribe(svc + ".ping", cb=responder)
        await nc.flush()
        dev = Client(uid(), v5=True)
        dev.connect()
        resp_topic = f"replies/{uid()}"
        p = Properties(PacketTypes.PUBLISH)
        p.ResponseTopic = resp_topic
        p.CorrelationData = b"req-42"
        dev.pub(svc.replace(".", "/") + "/ping", b"hi", qos=1, properties=p)
        m = await asyncio.get_running_loop().run_in_executor(None, dev.get)
        assert m.topic == resp_topic, m.topic
        assert m.payload == b"pong:hi", m.payload
        assert m.properties.CorrelationData == b"req-42", m.properties
        dev.close()
        await nc.close()

    asyncio.run(run())


def case_nats_calls_v5_device():
    async def run():
        nc = await nats.connect(NATS_URL)
        base = uid()
        dev = Client(uid(), v5=True)
        dev.connect()

        def on_request(c, u, m):
            p = Properties(PacketTypes.PUBLISH)
            if getattr(m.properties, "CorrelationData", None):
                p.CorrelationData = m.properties.CorrelationData
            c.publish(m.properties.ResponseTopic, b"state:" + m.payload, qos=0, properties=p)

        dev.c.on_message = on_request
        dev.sub(f"{base}/cmd", 0)
        reply = await nc.request(f"{base}.cmd", b"get", timeout=TIMEOUT)
        assert reply.data == b"state:get", reply.data
        dev.close()
        await nc.close()

    asyncio.run(run())


def case_v5_receive_maximum():
    t = f"rm/{uid()}"
    p = Properties(PacketTypes.CONNECT)
    p.ReceiveMaximum = 2
    sub = Client(uid(), v5=True, props=p)
    sub.connect()
    sub.sub(t, 1)
    pub = Client(uid(), v5=True)
    pub.connect()
    for i in range(10):
        pub.pub(t, str(i).encode(), qos=1)
    got = [int(sub.get().payload) for _ in range(10)]
    assert got == list(range(10)), got
    sub.close()
    pub.close()


# Run by hand around a restart of the server (not part of the default run): the session and
# the retained message must come back.
def case_restart_before():
    dev = Client("paho-keeper", v5=False, clean=False)
    dev.connect()
    dev.sub("keep/cmd", 1)
    dev.pub("keep/state", b"on", qos=1, retain=True)
    dev.close()


def case_restart_after():
    dev = Client("paho-keeper", v5=False, clean=False)
    flags, _, _ = dev.connect()
    assert flags.session_present, "the session came back after the restart"
    tool = Client(uid())
    tool.connect()
    tool.pub("keep/cmd", b"go", qos=1)
    assert dev.get().payload == b"go"
    reader = Client(uid())
    reader.connect()
    reader.sub("keep/state", 1)
    m = reader.get()
    assert (m.payload, m.retain) == (b"on", True)
    for c in (dev, tool, reader):
        c.close()


CASES = {name[5:]: fn for name, fn in sorted(globals().items()) if name.startswith("case_")}


def main():
    global PORT, NATS_URL, WS_PORT, TLS_PORT, CA_FILE
    PORT = int(sys.argv[1])
    NATS_URL = sys.argv[2]
    WS_PORT = int(sys.argv[3])
    TLS_PORT = int(sys.argv[4])
    CA_FILE = sys.argv[5]
    names = sys.argv[6:] or [n for n in CASES if not n.startswith("restart_")]
    for name in names:
        done = threading.Event()
        err = []

        def run():
            try:
                CASES[name]()
            except BaseException as e:  # noqa: BLE001 - reported below
                import traceback
                err.append(traceback.format_exc())
            finally:
                done.set()

        threading.Thread(target=run, daemon=True).start()
        if not done.wait(60):
            print(f"FAIL {name}: timed out", flush=True)
            sys.exit(1)
        if err:
            print(f"FAIL {name}:\n{err[0]}", flush=True)
            sys.exit(1)
        print(f"OK {name}", flush=True)


if __name__ == "__main__":
    main()
