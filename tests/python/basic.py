"""nats-py against a running server: connect, publish, subscribe, request/reply.

Usage: python3 basic.py nats://127.0.0.1:PORT   -- prints "OK" on success.
"""
import asyncio
import sys

import nats


async def main(url: str) -> None:
    nc = await nats.connect(url)
    received = []

    async def on_msg(msg):
        received.append(msg.data)

    await nc.subscribe("greet.*", cb=on_msg)

    async def responder(msg):
        await msg.respond(b"pong:" + msg.data)

    await nc.subscribe("svc.ping", cb=responder)
    await nc.flush()

    other = await nats.connect(url)
    await other.publish("greet.joe", b"hello")
    await other.publish("greet.sue", b"hi")
    await other.flush()
    for _ in range(50):
        if len(received) == 2:
            break
        await asyncio.sleep(0.05)
    assert received == [b"hello", b"hi"], received

    resp = await other.request("svc.ping", b"1", timeout=2)
    assert resp.data == b"pong:1", resp.data

    try:
        await other.request("svc.nobody", b"", timeout=2)
        raise AssertionError("expected no responders")
    except nats.errors.NoRespondersError:
        pass

    await other.close()
    await nc.close()
    print("OK")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
