"""nats-py authenticating against a running server. Prints "OK" on success.

Usage:
  python3 auth.py userpass     URL USER PASS    -- connects, round trip
  python3 auth.py userpass-bad URL USER PASS    -- the server must refuse
  python3 auth.py token        URL TOKEN
  python3 auth.py nkey         URL SEEDFILE     -- signs the INFO nonce with the seed
  python3 auth.py nkey-bad     URL SEEDFILE     -- the server must refuse
"""
import asyncio
import sys

import nats


async def round_trip(nc):
    got = asyncio.get_running_loop().create_future()

    async def on_msg(msg):
        if not got.done():
            got.set_result(msg.data)

    await nc.subscribe("py.auth", cb=on_msg)
    await nc.publish("py.auth", b"hello")
    await nc.flush()
    assert await asyncio.wait_for(got, 5) == b"hello"


async def expect_refused(url, **kw):
    errors = []

    async def on_error(e):
        errors.append(e)

    try:
        nc = await nats.connect(url, allow_reconnect=False, connect_timeout=3,
                                max_reconnect_attempts=0, error_cb=on_error, **kw)
    except Exception as e:  # nats-py raises on a refused initial connect
        text = str(e) + " ".join(str(x) for x in errors)
        assert "uthorization" in text or errors, text
        return
    await nc.close()
    raise AssertionError("server accepted bad credentials")


async def main(mode, url, *args):
    if mode == "userpass":
        nc = await nats.connect(url, user=args[0], password=args[1])
        await round_trip(nc)
        await nc.close()
    elif mode == "userpass-bad":
        await expect_refused(url, user=args[0], password=args[1])
    elif mode == "token":
        nc = await nats.connect(url, token=args[0])
        await round_trip(nc)
        await nc.close()
    elif mode == "nkey":
        nc = await nats.connect(url, nkeys_seed=args[0])
        await round_trip(nc)
        await nc.close()
    elif mode == "nkey-bad":
        await expect_refused(url, nkeys_seed=args[0])
    else:
        raise SystemExit(f"unknown mode {mode}")
    print("OK")


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:]))
