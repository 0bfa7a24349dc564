// The `nats` npm package's consumers, Key-Value and Object Store against a server: a
// durable pull consumer fetched and acknowledged, an ordered consumer, a push subscription
// with flow control and heartbeats, a KV bucket (put, get, update, watch, history, delete,
// purge) and an object in and out. Prints "ok" when every step gave what nats-server gives
// (tests/it/jetstream_clients.rs).
import nats from "nats";
const { connect, StringCodec, AckPolicy, consumerOpts, createInbox } = nats;

const [url] = process.argv.slice(2);
const sc = StringCodec();
const fail = (why) => {
  console.log(why);
  process.exit(1);
};
const expect = (cond, why) => {
  if (!cond) fail(why);
};
const timer = setTimeout(() => fail("timeout"), 30000);

const nc = await connect({ servers: url });
const jsm = await nc.jetstreamManager();
const js = nc.jetstream();
await jsm.streams.add({ name: "JOBS", subjects: ["jobs.>"] });
for (let i = 1; i <= 10; i++) {
  await js.publish(`jobs.${i % 2}`, sc.encode(`job ${i}`));
}

// A durable pull consumer: fetched, acknowledged with confirmation.
await jsm.consumers.add("JOBS", { durable_name: "W", ack_policy: AckPolicy.Explicit });
const w = await js.consumers.get("JOBS", "W");
const batch = await w.fetch({ max_messages: 4, expires: 2000 });
const seen = [];
for await (const m of batch) {
  seen.push(m.seq);
  expect(await m.ackAck(), `ack of ${m.seq} confirmed`);
}
expect(seen.join() === "1,2,3,4", `fetched ${seen}`);
const wi = await w.info();
expect(wi.ack_floor.stream_seq === 4 && wi.num_pending === 6, "info after acks");

// A NAK comes back; the rest follow.
const next = await w.next({ expires: 2000 });
expect(next && next.seq === 5, "next is 5");
// Confirmed NAK (a reply is answered once it is recorded), so the next pull sees it.
await nc.request(next.reply, sc.encode("-NAK"));
const again = await w.next({ expires: 2000 });
expect(again && again.seq === 5 && again.info.redeliveryCount === 2, `NAK redelivers 5: got ${again && again.seq} ${again && again.info.redeliveryCount}`);
again.ack();

// An ordered consumer reads everything, in order.
const oc = await js.consumers.get("JOBS");
const om = await oc.fetch({ max_messages: 10, expires: 2000 });
const order = [];
for await (const m of om) order.push(m.seq);
expect(order.join() === "1,2,3,4,5,6,7,8,9,10", `ordered ${order}`);

// A push subscription with flow control and heartbeats.
const opts = consumerOpts();
opts.deliverTo(createInbox());
opts.ackExplicit();
opts.flowControl();
opts.idleHeartbeat(500);
opts.filterSubject("jobs.1");
const sub = await js.subscribe("jobs.1", opts);
const pushed = [];
for await (const m of sub) {
  pushed.push(m.seq);
  m.ack();
  if (pushed.length === 5) break;
}
expect(pushed.join() === "1,3,5,7,9", `pushed ${pushed}`);

// Key-Value.
const kv = await js.views.kv("prefs", { history: 5 });
const r1 = await kv.put("theme", sc.encode("dark"));
expect(sc.decode((await kv.get("theme")).value) === "dark", "kv get");
await kv.update("theme", sc.encode("light"), r1);
let stale = false;
try {
  await kv.update("theme", sc.encode("x"), r1);
} catch {
  stale = true;
}
expect(stale, "a stale revision is refused");
const watch = await kv.watch({ key: "theme" });
const changes = [];
const watching = (async () => {
  for await (const e of watch) {
    changes.push(e.string());
    if (changes.includes("blue")) break;
  }
})();
await kv.put("theme", sc.encode("blue"));
await watching;
expect(changes[changes.length - 1] === "blue", `watch saw ${changes}`);
const hist = [];
for await (const e of await kv.history({ key: "theme" })) hist.push(e.string());
expect(hist.join() === "dark,light,blue", `history ${hist}`);
await kv.delete("theme");
expect((await kv.get("theme")).operation === "DEL", "delete marker");
await kv.purge("theme");
expect((await kv.get("theme")).operation === "PURGE", "purge marker");

// Object Store.
const os = await js.views.os("blobs");
const data = new Uint8Array(1_000_000).map((_, i) => i % 251);
await os.putBlob({ name: "b.bin" }, data);
const back = await os.getBlob("b.bin");
expect(back && back.length === data.length && back.every((v, i) => v === data[i]), "object");

await nc.drain();
clearTimeout(timer);
console.log("ok");
