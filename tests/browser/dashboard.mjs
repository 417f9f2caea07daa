// Loads the admin dashboard in headless Chromium and checks that it shows live data.
//   node dashboard.mjs <dashboard url> <screenshot.png>
// Exit 0: the page reached data-state="live", every chart drew points, the tables hold the
// proxy's buckets and replicas, no error banner, no console error. Exit 1 with a reason
// otherwise. Chromium is Debian's (CHROMIUM or /usr/bin/chromium); playwright-core only
// drives it.
import { chromium } from "playwright-core";

const [url, shot] = process.argv.slice(2);
if (!url || !shot) {
  console.error("usage: node dashboard.mjs <url> <screenshot.png>");
  process.exit(2);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
});
const problems = [];
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  page.on("console", (m) => { if (m.type() === "error") problems.push("console: " + m.text()); });
  page.on("pageerror", (e) => problems.push("page error: " + e.message));
  // Any request leaving the proxy's origin would mean the page is not self-contained.
  const origin = new URL(url).origin;
  page.on("request", (r) => {
    if (!r.url().startsWith(origin) && !r.url().startsWith("data:")) {
      problems.push("external request: " + r.url());
    }
  });
  const resp = await page.goto(url, { waitUntil: "load" });
  if (!resp || resp.status() !== 200) throw new Error(`GET ${url} -> ${resp && resp.status()}`);
  await page.waitForFunction(() => document.body.dataset.state === "live", null,
                             { timeout: 20000 });
  // Charts: the requests/s, latency and bytes charts must have drawn points from live data.
  await page.waitForFunction(() =>
      ["chart-rps", "chart-latency", "chart-bytes"].every(
          (id) => Number(document.getElementById(id).dataset.points) >= 3),
      null, { timeout: 20000 });
  // For the README picture: let more history accumulate (YG_DASHBOARD_SETTLE_MS).
  await page.waitForTimeout(Number(process.env.YG_DASHBOARD_SETTLE_MS || 0));
  const state = await page.evaluate(() => ({
    rps: document.getElementById("kpi-rps").textContent,
    error: getComputedStyle(document.getElementById("error")).display !== "none",
    buckets: [...document.querySelectorAll("#buckets tr td:first-child")].map((t) => t.textContent),
    replicas: [...document.querySelectorAll("#replicas tr td:first-child")].map((t) => t.textContent),
    errors: document.querySelectorAll("#errors tr").length,
    cacheNote: document.getElementById("cache-note").textContent,
  }));
  if (state.error) problems.push("the page shows its error banner");
  if (!(Number(state.rps) > 0)) problems.push(`requests/s shows ${state.rps}`);
  if (!state.buckets.includes("public")) problems.push("bucket table lacks 'public': " + state.buckets);
  if (!state.replicas.some((r) => r.startsWith("public/"))) problems.push("no replica rows");
  await page.screenshot({ path: shot, fullPage: true });
  console.log(JSON.stringify(state));
} catch (e) {
  problems.push(String(e && e.message || e));
} finally {
  await browser.close();
}
if (problems.length) {
  console.error(problems.join("\n"));
  process.exit(1);
}
