/**
 * `flywheel monitor create|list|run|history|report` against a real server, and the report page
 * looked at in headless Chromium: every SVG chart has a non-zero box and draws non-blank pixels
 * (read back from a screenshot), and the page asks for nothing beyond itself.
 *
 * The browser part needs Debian's `chromium` at /usr/bin/chromium (`apt-get install -y chromium`);
 * without it that part is skipped with the reason printed, unless FLYWHEEL_REQUIRE_SERVICES=1.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { registerMonitorCommand } from "../../src/cli/monitor.js";
import { sqliteBackend, tempDir } from "../helpers/backends.js";
import { cliHarness, tableRows } from "../helpers/cli.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { HOUR, T0, logTraffic, registerChurn, writeReference } from "./fixtures.js";

const CHROMIUM = "/usr/bin/chromium";
const BROWSER_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"];
const browserSkip = existsSync(CHROMIUM) ? undefined : `${CHROMIUM} is not installed (apt-get install -y chromium)`;
if (browserSkip !== undefined) {
  if (process.env.FLYWHEEL_REQUIRE_SERVICES === "1") throw new Error(`FLYWHEEL_REQUIRE_SERVICES=1 but ${browserSkip}`);
  console.warn(`skipping the report's browser check: ${browserSkip}`);
}

/**
 * Run in the page (it has the DOM this test's TypeScript does not): decodes a PNG, draws it on a
 * canvas and answers the share of pixels that are not near-white and how many are clearly coloured.
 */
const INKED_JS = `async (src) => {
  const img = new Image();
  img.src = src;
  await img.decode();
  const canvas = document.createElement("canvas");
  canvas.width = img.width;
  canvas.height = img.height;
  const ctx = canvas.getContext("2d");
  ctx.drawImage(img, 0, 0);
  const d = ctx.getImageData(0, 0, img.width, img.height).data;
  let ink = 0;
  let coloured = 0;
  for (let k = 0; k < d.length; k += 4) {
    const r = d[k], g = d[k + 1], b = d[k + 2];
    if (r < 235 || g < 235 || b < 235) ink++;
    if (Math.max(r, g, b) - Math.min(r, g, b) > 60) coloured++;
  }
  return { ink: ink / (d.length / 4), coloured };
}`;

describe("flywheel monitor against a server", () => {
  let s: TestServer;
  const dir = tempDir("flywheel-monitor-cli-");
  const flywheel = cliHarness({ register: [registerMonitorCommand], trackingUri: () => s.url });
  const until = new Date(T0 + 6 * HOUR).toISOString();
  const html = join(dir.path, "report.html");

  beforeAll(async () => {
    s = await startTestServer(sqliteBackend);
    await registerChurn(s, writeReference(dir.path, 5000));
    const traffic = await logTraffic(s.inferenceLog, { hours: 6, shiftFrom: 3, requests: 10, perRequest: 120 });
    const labels = traffic.hours.flatMap((reqs, h) => reqs.flatMap((rows, k) => rows.map((r, i) => ({ request_id: `h${h}-r${k}`, row: i, label: String(r.y) }))));
    expect((await s.call("POST", "/api/v1/labels", { labels })).status).toBe(200);
  }, 60_000);
  afterAll(async () => {
    await s?.stop();
    dir.remove();
  });

  test("create, list, run and history", async () => {
    const created = await flywheel(
      "monitor", "create", "churn-cli", "--model", "churn@champion", "--window", "1h", "--checks", "drift,quality,performance,cbpe",
      "--target", "y", "--prediction", "prediction", "--probability", "proba", "--drift-fail-on", "column", "--pipeline", "retrain",
    );
    expect(created).toMatchObject({ exitCode: 0, stdout: "Created monitor 'churn-cli' (runs on request: flywheel monitor run)\n" });
    const dup = await flywheel("monitor", "create", "churn-cli", "--model", "churn@champion", "--window", "1h");
    expect(dup.exitCode).toBe(1);
    expect(dup.stderr).toMatch(/already exists/);
    const bad = await flywheel("monitor", "create", "other", "--model", "churn@champion", "--window", "soon");
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toMatch(/Invalid value for 'window'/);

    const list = await flywheel("monitor", "list");
    expect(tableRows(list.stdout)[1]?.slice(0, 6)).toEqual(["churn-cli", "churn@champion", "1h", "-", "drift,quality,performance,cbpe", "-"]);

    const run = await flywheel("monitor", "run", "churn-cli", "--until", until, "--windows", "6");
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toMatch(/^Run \d+: ALERT — churn version 1\n/);
    const driftLines = run.stdout.split("\n").filter((l) => l.trim().startsWith("drift"));
    expect(driftLines).toHaveLength(6);
    expect(driftLines.slice(0, 3).every((l) => /PASS +0 of 6 columns drifted/.test(l))).toBe(true);
    expect(driftLines.slice(3).every((l) => /FAIL +2 of 6 columns drifted .*: f3, f4$/.test(l))).toBe(true);
    expect(run.stdout).toMatch(/Raised: alert, pipeline_trigger/);

    const history = await flywheel("monitor", "history", "churn-cli", "--metric", "drifted", "--series", "f4");
    expect(history.exitCode).toBe(0);
    const points = tableRows(history.stdout.split("\n\n")[1] ?? "").slice(1);
    expect(points.map((p) => p[4])).toEqual(["0", "0", "0", "1", "1", "1"]);
    expect(history.stdout).toMatch(/Runs of 'churn-cli':\nRUN +STATUS/);
    const missing = await flywheel("monitor", "run", "nope");
    expect(missing.exitCode).toBe(1);
    expect(missing.stderr).toMatch(/Monitor 'nope' not found/);
  });

  test("report: JSON and a self-contained HTML page with binned summaries only", async () => {
    const json = await flywheel("monitor", "report", "--model", "churn@champion", "--window", "6h", "--until", until, "--monitor", "churn-cli", "--json", "--out", html);
    expect(json.exitCode).toBe(0);
    const report = JSON.parse(json.stdout);
    expect(report).toMatchObject({ model: "churn", version: "1", rows: 7200, labelled: 7200 });
    expect(json.stderr).toContain(`Report (7,200 rows of churn version 1): ${html}`);
    const page = readFileSync(html, "utf8");
    expect(page.startsWith("<!doctype html>")).toBe(true);
    expect(page).not.toMatch(/<script|<link|@import|url\(|https?:\/\/(?!www\.w3\.org\/2000\/svg)/i);
    // Six drift histograms, realized performance (two charts) and CBPE (two charts).
    expect(page.match(/<svg /g)?.length).toBe(10);
    expect(statSync(html).size).toBeLessThan(150_000);
    const usage = await flywheel("monitor", "report", "--model", "churn@champion", "--window", "6h");
    expect(usage.exitCode).toBe(2);
  });

  describe.skipIf(browserSkip !== undefined)(`in headless Chromium${browserSkip === undefined ? "" : ` (skipped: ${browserSkip})`}`, () => {
    test("every chart renders with a box and non-blank pixels, and nothing outside the page is fetched", async () => {
      const { chromium } = await import("playwright-core");
      const browser = await chromium.launch({ executablePath: CHROMIUM, args: BROWSER_ARGS });
      try {
        const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
        const requested: string[] = [];
        page.on("request", (r) => requested.push(r.url()));
        await page.goto(pathToFileURL(html).href);
        expect(requested).toEqual([pathToFileURL(html).href]);
        await page.screenshot({ path: join(dir.path, "report.png"), fullPage: true });
        const charts = page.locator("svg");
        expect(await charts.count()).toBe(10);
        for (let i = 0; i < 10; i++) {
          const chart = charts.nth(i);
          const box = await chart.boundingBox();
          expect(box?.width).toBeGreaterThan(100);
          expect(box?.height).toBeGreaterThan(100);
          const png = await chart.screenshot();
          // Read the screenshot's pixels back in the page: share of pixels that are not near-white.
          const inked = (await page.evaluate(`(${INKED_JS})(${JSON.stringify(`data:image/png;base64,${png.toString("base64")}`)})`)) as { ink: number; coloured: number };
          expect(inked.ink).toBeGreaterThan(0.01);
          expect(inked.coloured).toBeGreaterThan(50);
        }
        expect(statSync(join(dir.path, "report.png")).size).toBeGreaterThan(10_000);
      } finally {
        await browser.close();
      }
    }, 60_000);
  });
});
