// MQTT.js (the `mqtt` npm package) at protocol levels 4 and 5 against natrium, over TCP,
// TLS and WebSocket (`/mqtt`), with the `nats` package on the NATS side.
//
// Usage: node mqtt_clients.mjs MQTT_PORT NATS_PORT WS_PORT TLS_PORT CA_FILE
// Prints "OK <case>" per case; exits non-zero on the first failure.
import fs from "node:fs";
import mqtt from "mqtt";
import { connect as natsConnect, headers as natsHeaders } from "nats";

const [mqttPort, natsPort, wsPort, tlsPort, caFile] = process.argv.slice(2);
const TIMEOUT = 5000;
const uid = () => Math.random().toString(16).slice(2, 10);

function url(via) {
  switch (via) {
    case "ws":
      return `ws://127.0.0.1:${wsPort}/mqtt`;
    case "tls":
      return `mqtts://127.0.0.1:${tlsPort}`;
    default:
      return `mqtt://127.0.0.1:${mqttPort}`;
  }
}

// A connected client whose messages queue up for `next()`.
async function client(opts = {}) {
  const { via = "tcp", version = 4, ...rest } = opts;
  const c = mqtt.connect(url(via), {
    protocolVersion: version,
    clientId: rest.clientId ?? `js-${uid()}`,
    reconnectPeriod: 0,
    connectTimeout: TIMEOUT,
    ca: via === "tls" ? fs.readFileSync(caFile) : undefined,
    ...rest,
  });
  const queue = [];
  const waiters = [];
  c.on("message", (topic, payload, packet) => {
    const m = { topic, payload: payload.toString(), packet };
    const w = waiters.shift();
    if (w) w(m);
    else queue.push(m);
  });
  c.next = (ms = TIMEOUT) =>
    queue.length
      ? Promise.resolve(queue.shift())
      : new Promise((resolve, reject) => {
          const t = setTimeout(() => reject(new Error("no message")), ms);
          waiters.push((m) => {
            clearTimeout(t);
            resolve(m);
          });
        });
  await new Promise((resolve, reject) => {
    c.once("connect", resolve);
    c.once("error", reject);
  });
  return c;
}

function check(cond, what) {
  if (!cond) throw new Error(what);
}

const cases = {
  async qos_levels_at_both_levels() {
    for (const version of [4, 5]) {
      const t = `js/q/${uid()}`;
      const sub = await client({ version });
      await sub.subscribeAsync(t, { qos: 2 });
      const pub = await client({ version });
      for (const qos of [0, 1, 2]) {
        await pub.publishAsync(t, `m${qos}`, { qos });
        const m = await sub.next();
        check(m.payload === `m${qos}` && m.packet.qos === qos, `v${version} qos ${qos}: ${m.payload}/${m.packet.qos}`);
      }
      await pub.endAsync();
      await sub.endAsync();
    }
  },

  async retained_and_wildcards() {
    const base = `js/r/${uid()}`;
    const pub = await client();
    await pub.publishAsync(`${base}/a/temp`, "20", { qos: 1, retain: true });
    const sub = await client({ version: 5 });
    await sub.subscribeAsync(`${base}/+/temp`, { qos: 1 });
    const m = await sub.next();
    check(m.payload === "20" && m.packet.retain, "retained on subscribe");
    await sub.subscribeAsync(`${base}/#`, { qos: 0, rh: 2 });
    await pub.publishAsync(`${base}/b/temp`, "21", { qos: 1 });
    const live = [await sub.next(), await sub.next()];
    check(live.every((x) => x.payload === "21" && !x.packet.retain), "live, matched by both filters");
    await pub.endAsync();
    await sub.endAsync();
  },

  async will_on_abrupt_close() {
    const t = `js/w/${uid()}`;
    const watcher = await client();
    await watcher.subscribeAsync(t, { qos: 1 });
    const dev = await client({ will: { topic: t, payload: "offline", qos: 1, retain: false } });
    dev.stream.destroy();
    const m = await watcher.next();
    check(m.payload === "offline", "will");
    await watcher.endAsync();
  },

  async mqtt_and_nats_both_ways() {
    const nc = await natsConnect({ servers: `127.0.0.1:${natsPort}` });
    const base = uid();
    const sub = nc.subscribe(`${base}.up.>`, { max: 1 });
    await nc.flush();
    const dev = await client({ version: 5 });
    await dev.subscribeAsync(`${base}/down`, { qos: 1 });
    await dev.publishAsync(`${base}/up/temp`, "21.5", { qos: 1, properties: { userProperties: { unit: "C" } } });
    for await (const m of sub) {
      check(m.subject === `${base}.up.temp` && m.string() === "21.5", `NATS got ${m.subject}`);
      check(m.headers?.get("Nmqtt-Pub") === "1" && m.headers?.get("unit") === "C", "headers");
    }
    const h = natsHeaders();
    h.set("color", "red");
    nc.publish(`${base}.down`, "on", { headers: h });
    await nc.flush();
    const m = await dev.next();
    check(m.payload === "on" && m.packet.properties?.userProperties?.color === "red", "NATS -> MQTT 5");
    await dev.endAsync();
    await nc.close();
  },

  async websocket_and_tls() {
    // WebSocket on the first server's /mqtt path, TLS on the second server's MQTT port.
    for (const via of ["ws", "tls"]) {
      const t = `js/t/${uid()}`;
      const sub = await client({ via });
      await sub.subscribeAsync(t, { qos: 1 });
      for (const version of [4, 5]) {
        const c = await client({ via, version });
        await c.publishAsync(t, `${via}-${version}`, { qos: 1 });
        const m = await sub.next();
        check(m.payload === `${via}-${version}`, `${via} v${version}`);
        await c.endAsync();
      }
      await sub.endAsync();
    }
  },
};

for (const [name, fn] of Object.entries(cases)) {
  try {
    await Promise.race([fn(), new Promise((_, reject) => setTimeout(() => reject(new Error("timed out")), 30000))]);
    console.log(`OK ${name}`);
  } catch (e) {
    console.log(`FAIL ${name}: ${e.stack || e}`);
    process.exit(1);
  }
}
process.exit(0);
