// Bundles browser/page.js (nats.ws from npm) with esbuild, serves it from a local HTTP
// server, and runs it in headless Chromium (Debian's, via playwright-core). Prints the
// page's result as one JSON line and saves a screenshot.
//
// Env: WS_URL (natrium's WebSocket URL), CHROMIUM (default /usr/bin/chromium),
//      SCREENSHOT (PNG path, optional).
import { build } from "esbuild";
import { chromium } from "playwright-core";
import http from "node:http";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const bundle = await build({
  entryPoints: [path.join(here, "page.js")],
  bundle: true,
  format: "esm",
  target: "es2020",
  platform: "browser",
  // nats.ws' bundled tweetnacl falls back to Node's crypto only when the browser has no
  // crypto.getRandomValues; Chromium has it.
  external: ["crypto"],
  write: false,
});
const files = {
  "/": ["text/html", fs.readFileSync(path.join(here, "index.html"))],
  "/bundle.js": ["text/javascript", bundle.outputFiles[0].contents],
};
const server = http.createServer((req, res) => {
  const f = files[new URL(req.url, "http://x").pathname];
  if (!f) {
    res.writeHead(404).end();
    return;
  }
  res.writeHead(200, { "content-type": f[0] }).end(f[1]);
});
await new Promise((r) => server.listen(0, "127.0.0.1", r));
const pageUrl = `http://127.0.0.1:${server.address().port}/?ws=${encodeURIComponent(process.env.WS_URL)}`;

const profile = fs.mkdtempSync(path.join(os.tmpdir(), "natrium-chromium-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
  viewport: { width: 900, height: 620 },
});
let result;
try {
  const page = context.pages()[0] ?? (await context.newPage());
  page.on("console", (m) => process.stderr.write(`[page] ${m.text()}\n`));
  await page.goto(pageUrl);
  await page.waitForFunction(() => window.testResult !== undefined, null, { timeout: 60000 });
  result = await page.evaluate(() => window.testResult);
  if (process.env.SCREENSHOT) await page.screenshot({ path: process.env.SCREENSHOT });
} finally {
  await context.close();
  server.close();
  fs.rmSync(profile, { recursive: true, force: true });
}
console.log(JSON.stringify(result));
if (result.error) process.exit(1);
