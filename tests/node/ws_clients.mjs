// A WebSocket client against natrium's WebSocket port, with async-nats on TCP on the other
// side (driven by tests/it/websocket.rs): pub/sub both ways, request/reply with headers both
// ways, and a queue group shared with the TCP client. Prints one JSON line.
//
// Usage: WS_URL=ws://127.0.0.1:PORT node ws_clients.mjs nats.ws|nats-core
//   nats.ws   — the `nats.ws` package (Node 20 needs the `ws` package as the global
//               WebSocket, as nats.ws documents);
//   nats-core — `wsconnect` from @nats-io/nats-core (the nats.js v3 WebSocket transport).
import { WebSocket } from "ws";

globalThis.WebSocket = WebSocket;

const which = process.argv[2] ?? "nats.ws";
const url = process.env.WS_URL;
let connect, headers;
if (which === "nats.ws") {
  ({ connect, headers } = await import("nats.ws"));
} else {
  const core = await import("@nats-io/nats-core");
  connect = core.wsconnect;
  headers = core.headers;
}
const enc = new TextEncoder();
const dec = new TextDecoder();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const nc = await connect({ servers: url, name: `natrium-test-${which}` });

// TCP → WebSocket: async-nats republishes what we send on ws.out to tcp.in.
const received = [];
const inbound = nc.subscribe("tcp.in");
const done = (async () => {
  for await (const m of inbound) {
    received.push(dec.decode(m.data));
    if (received.length === 100) break;
  }
})();

// A responder for requests from TCP.
let answered = false;
nc.subscribe("ws.svc", {
  callback: (_err, m) => {
    m.respond(enc.encode("ws says: " + dec.decode(m.data)));
    answered = true;
  },
});

// A member of queue group q on `work`, beside async-nats' member.
let wsQueue = 0;
nc.subscribe("work", { queue: "q", callback: () => wsQueue++ });
await nc.flush();

for (let i = 0; i < 100; i++) nc.publish("ws.out", enc.encode(`m${i}`));
await nc.flush();
await Promise.race([done, sleep(10000)]);
const inOrder = received.every((v, i) => v === `m${i}`);

// WebSocket → TCP request with headers.
const h = headers();
h.set("X-From", "from-ws");
const r = await nc.request("svc.echo", enc.encode("hello"), { timeout: 5000, headers: h });

for (let i = 0; i < 200; i++) nc.publish("work", enc.encode(`job ${i}`));
await nc.flush();

// Wait for the TCP side's request (it retries until our responder exists).
for (let i = 0; i < 100 && !answered; i++) await sleep(100);
await sleep(300);
await nc.drain();

console.log(
  JSON.stringify({
    client: which,
    received_from_tcp: received.length,
    in_order: inOrder,
    reply: dec.decode(r.data),
    reply_header: r.headers?.get("X-Served-By") ?? null,
    echoed_header: r.headers?.get("X-From") ?? null,
    ws_queue_count: wsQueue,
    answered,
  }),
);
