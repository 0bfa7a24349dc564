// Two servers of one cluster, through the `nats` npm package: a subscriber and a service on
// the first URL, a publisher and a requester on the second (as user and password given). Prints "ok" when a message, a
// message with headers and a request each crossed the route (tests/it/cluster.rs).
import nats from "nats";
const { connect, StringCodec, headers } = nats;

const [subUrl, pubUrl, user, pass] = process.argv.slice(2);
const sc = StringCodec();
const fail = (why) => {
  console.log(why);
  process.exit(1);
};
setTimeout(() => fail("timeout"), 20000);

const subNc = await connect({ servers: subUrl, user, pass });
const pubNc = await connect({ servers: pubUrl, user, pass });
const tag = Math.random().toString(36).slice(2);
const sub = subNc.subscribe(`js.${tag}.>`);
const svc = subNc.subscribe(`jsvc.${tag}`);
(async () => {
  for await (const m of svc) m.respond(sc.encode("pong:" + sc.decode(m.data)));
})();
const probe = subNc.subscribe(`jprobe.${tag}`, { max: 1 });
await subNc.flush();
// Interest crosses the route asynchronously: probe until the publisher's server has it.
let probed = false;
(async () => {
  for await (const _ of probe) probed = true;
})();
for (let i = 0; i < 100 && !probed; i++) {
  pubNc.publish(`jprobe.${tag}`);
  await pubNc.flush();
  await new Promise((r) => setTimeout(r, 50));
}
if (!probed) fail("interest never crossed the route");

const h = headers();
h.set("X-From", "nats.js");
pubNc.publish(`js.${tag}.a`, sc.encode("plain"));
pubNc.publish(`js.${tag}.b`, sc.encode("with-headers"), { headers: h });
await pubNc.flush();
const got = [];
for await (const m of sub) {
  got.push([sc.decode(m.data), m.headers ? m.headers.get("X-From") : ""]);
  if (got.length === 2) break;
}
if (got[0][0] !== "plain" || got[1][0] !== "with-headers" || got[1][1] !== "nats.js")
  fail("messages: " + JSON.stringify(got));
const r = await pubNc.request(`jsvc.${tag}`, sc.encode("ping"), { timeout: 5000 });
if (sc.decode(r.data) !== "pong:ping") fail("reply: " + sc.decode(r.data));
console.log("ok");
await subNc.close();
await pubNc.close();
process.exit(0);
