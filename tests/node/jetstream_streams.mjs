// The `nats` npm package's JetStream manager and publisher against a server: a stream
// created, published to with acks and dedupe, messages got and deleted, the stream purged
// and deleted. Prints "ok" when every step gave what nats-server gives (tests/it/jetstream.rs).
import nats from "nats";
const { connect, StringCodec, headers } = nats;

const [url] = process.argv.slice(2);
const sc = StringCodec();
const fail = (why) => {
  console.log(why);
  process.exit(1);
};
const expect = (cond, why) => {
  if (!cond) fail(why);
};
const timer = setTimeout(() => fail("timeout"), 20000);

const nc = await connect({ servers: url });
const jsm = await nc.jetstreamManager();
const si = await jsm.streams.add({ name: "NODE", subjects: ["node.>"] });
expect(si.config.name === "NODE" && si.state.messages === 0, "stream add");
const js = nc.jetstream();
for (let i = 1; i <= 5; i++) {
  const pa = await js.publish(`node.${i % 2}`, sc.encode(`m${i}`), { msgID: `id${i}` });
  expect(pa.stream === "NODE" && pa.seq === i && !pa.duplicate, `publish ${i}`);
}
const dup = await js.publish("node.1", sc.encode("again"), { msgID: "id5" });
expect(dup.duplicate === true && dup.seq === 5, "dedupe");
const h = headers();
h.set("X-Tag", "t1");
const pa6 = await js.publish("node.h", sc.encode("with headers"), { headers: h, expect: { lastSequence: 5 } });
expect(pa6.seq === 6, "expected last sequence");
try {
  await js.publish("node.h", sc.encode("x"), { expect: { lastSequence: 1 } });
  fail("a wrong last sequence was accepted");
} catch (e) {
  expect(String(e.message).includes("wrong last sequence: 6"), `wrong last sequence: ${e.message}`);
}
const m3 = await jsm.streams.getMessage("NODE", { seq: 3 });
expect(sc.decode(m3.data) === "m3" && m3.subject === "node.1", "get by sequence");
const last = await jsm.streams.getMessage("NODE", { last_by_subj: "node.h" });
expect(last.seq === 6 && last.header.get("X-Tag") === "t1", "get last by subject");
expect((await jsm.streams.deleteMessage("NODE", 2)) === true, "delete message");
try {
  await jsm.streams.getMessage("NODE", { seq: 2 });
  fail("a deleted message was served");
} catch (e) {
  expect(String(e.message).includes("no message found"), `deleted: ${e.message}`);
}
let info = await jsm.streams.info("NODE");
expect(info.state.messages === 5 && info.state.num_deleted === 1, "info after delete");
const pr = await jsm.streams.purge("NODE", { filter: "node.1" });
expect(pr.success && pr.purged === 3, `purge filter: ${JSON.stringify(pr)}`);
const all = await jsm.streams.purge("NODE");
expect(all.purged === 2, "purge all");
info = await jsm.streams.info("NODE");
expect(info.state.messages === 0 && info.state.first_seq === 7, "info after purge");
const names = [];
for await (const n of jsm.streams.names()) names.push(n);
expect(names.length === 1 && names[0] === "NODE", "names");
expect((await jsm.streams.delete("NODE")) === true, "stream delete");
try {
  await jsm.streams.info("NODE");
  fail("a deleted stream has info");
} catch (e) {
  expect(String(e.message).includes("stream not found"), `deleted stream: ${e.message}`);
}
await nc.close();
clearTimeout(timer);
console.log("ok");
