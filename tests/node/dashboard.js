// Loads natrium's dashboard in headless Chromium (playwright-core, the system chromium),
// waits for the live charts to show traffic and for a client's row in the connections
// table, checks the table sorts, and saves a screenshot.
// With STREAM set, the JetStream section lists that stream with its messages.
// Env: MONITOR_URL, CHROMIUM, PROFILE_DIR, SCREENSHOT, CLIENT_NAME, STREAM. Prints OK on success.
"use strict";
const { chromium } = require("playwright-core");

async function main() {
  const url = process.env.MONITOR_URL;
  const client = process.env.CLIENT_NAME;
  const context = await chromium.launchPersistentContext(process.env.PROFILE_DIR, {
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    viewport: { width: 1360, height: 900 },
  });
  try {
    const page = context.pages()[0] || (await context.newPage());
    const external = [];
    const failures = [];
    page.on("request", (r) => { if (!r.url().startsWith(new URL(url).origin)) external.push(r.url()); });
    page.on("pageerror", (e) => failures.push(e.message));
    page.on("console", (m) => { if (m.type() === "error") failures.push(m.text()); });
    await page.goto(url, { waitUntil: "load" });

    // The message-rate chart shows incoming traffic once two polls have passed.
    await page.waitForFunction(() => {
      const d = window.natriumDashboard;
      if (!d || d.polls < 3) return false;
      const s = d.charts.msgs.series[0];
      return s.length > 1 && s[s.length - 1] > 0;
    }, null, { timeout: 20000 });
    const inRate = await page.evaluate(() => {
      const s = window.natriumDashboard.charts.msgs.series[0];
      return s[s.length - 1];
    });
    const tile = await page.textContent("#stat-in_msgs");
    if (!(parseFloat(tile) > 0)) throw new Error("msgs-in tile shows " + tile);

    // The publishing client's row in the connections table.
    const row = page.locator("#conns tbody tr", { hasText: client });
    await row.first().waitFor({ timeout: 10000 });
    const cells = await row.first().locator("td").allTextContents();
    if (!(parseFloat(cells[4]) > 0)) throw new Error("client row shows no msgs in: " + cells.join(" | "));

    // Sorting: "msgs in" descending puts the publisher first.
    await page.click('#conns th[data-k="in_msgs"]');
    const first = await page.locator("#conns tbody tr").first().textContent();
    if (!first.includes(client)) throw new Error("sorting by msgs in did not put the publisher first: " + first);
    if (process.env.STREAM) {
      const srow = page.locator("#streams tbody tr", { hasText: process.env.STREAM });
      await srow.first().waitFor({ timeout: 10000 });
      const sc = await srow.first().locator("td").allTextContents();
      if (!(parseFloat(sc[4]) > 0)) throw new Error("stream row shows no messages: " + sc.join(" | "));
    }
    // The reactor chart has one series per reactor.
    const reactors = await page.evaluate(() => window.natriumDashboard.charts.reactors.series.length);
    if (reactors < 1) throw new Error("no reactor series");
    // Every endpoint is linked.
    const links = await page.$$eval("#links a", (as) => as.map((a) => a.getAttribute("href")));
    for (const p of ["/varz", "/connz", "/subsz", "/accountz", "/accstatz", "/routez", "/leafz",
      "/gatewayz", "/jsz", "/healthz", "/metrics", "/reactorz"]) {
      if (!links.includes(p)) throw new Error("missing link " + p + " in " + links);
    }
    await page.waitForTimeout(4000); // a few more points on the charts for the picture
    await page.screenshot({ path: process.env.SCREENSHOT, fullPage: true });
    if (external.length) throw new Error("external requests: " + external.join(", "));
    if (failures.length) throw new Error("page errors: " + failures.join("; "));
    console.log("OK in-rate=" + inRate.toFixed(0) + "/s reactors=" + reactors);
  } finally {
    await context.close();
  }
}

main().catch((e) => { console.error(e && e.stack || e); process.exit(1); });
