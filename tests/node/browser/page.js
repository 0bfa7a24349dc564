// The test page's script, bundled from npm's nats.ws by esbuild (no CDN). It connects to the
// WebSocket URL in the page's query string, says "ready" on browser.out, shows what arrives on
// browser.in, answers with ten messages of its own, and leaves the result in window.testResult.
import { connect, StringCodec } from "nats.ws";

const sc = StringCodec();
const log = (text) => {
  const li = document.createElement("li");
  li.textContent = text;
  document.getElementById("log").appendChild(li);
};

async function run() {
  const url = new URLSearchParams(location.search).get("ws");
  document.getElementById("server").textContent = url;
  const nc = await connect({ servers: url, name: "natrium-browser-test" });
  document.getElementById("status").textContent = `connected to ${nc.getServer()}`;
  const received = [];
  const sub = nc.subscribe("browser.in");
  const got = (async () => {
    for await (const m of sub) {
      const text = sc.decode(m.data);
      received.push(text);
      log(`from TCP client: ${text}`);
      if (received.length === 10) break;
    }
  })();
  await nc.flush();
  nc.publish("browser.out", sc.encode("ready"));
  await got;
  for (let i = 0; i < 10; i++) {
    nc.publish("browser.out", sc.encode(`page #${i}`));
    log(`to TCP client: page #${i}`);
  }
  await nc.flush();
  const info = nc.info;
  document.getElementById("status").textContent =
    `done: ${received.length} messages in, 10 out, via ${info.server_name.slice(0, 12)}… (${info.version})`;
  await nc.close();
  window.testResult = { received, userAgent: navigator.userAgent };
}

run().catch((e) => {
  document.getElementById("status").textContent = `error: ${e}`;
  window.testResult = { error: String(e) };
});
