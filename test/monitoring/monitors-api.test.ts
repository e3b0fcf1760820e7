/**
 * Monitors end to end over HTTP, on every metadata backend: a model version whose package names
 * its training dataset, six hours of logged traffic with a shift injected into two features from
 * hour 3, labels that arrive in two waves, and a webhook served by the test.
 *
 * Done-when checks of issue #6: the shift is flagged on the shifted columns only, from the window
 * where it starts; labels joined late change the performance series; a failing monitor calls the
 * webhook (which fails once, so the retry is exercised) and records a pipeline trigger.
 */
import { createServer, type IncomingMessage, type Server } from "node:http";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { metadataBackends, tempDir, titleOf } from "../helpers/backends.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { HOUR, T0, logTraffic, registerChurn, writeReference, type Traffic } from "./fixtures.js";

const V1 = "/api/v1";

interface Hook {
  server: Server;
  url: string;
  received: { headers: IncomingMessage["headers"]; body: any }[];
}

async function webhook(failFirst: number): Promise<Hook> {
  const received: Hook["received"] = [];
  let calls = 0;
  const server = createServer((req, res) => {
    let text = "";
    req.on("data", (c: Buffer) => (text += c.toString("utf8")));
    req.on("end", () => {
      received.push({ headers: req.headers, body: JSON.parse(text) });
      calls++;
      res.statusCode = calls <= failFirst ? 500 : 200;
      res.end("ok");
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const addr = server.address() as { port: number };
  return { server, url: `http://127.0.0.1:${addr.port}/hook`, received };
}

async function until<T>(what: string, f: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

for (const backend of metadataBackends) {
  describe.skipIf(backend.skip !== undefined)(`monitors over HTTP on ${titleOf(backend)}`, () => {
    let s: TestServer;
    let hook: Hook;
    let traffic: Traffic;
    const dir = tempDir("flywheel-monitor-");

    beforeAll(async () => {
      s = await startTestServer(backend);
      hook = await webhook(1);
      await registerChurn(s, writeReference(dir.path, 5000));
      traffic = await logTraffic(s.inferenceLog, { hours: 6, shiftFrom: 3, requests: 10, perRequest: 120 });
      // The first wave of labels: half the rows of every request.
      const labels = traffic.hours.flatMap((reqs, h) => reqs.flatMap((rows, k) => rows.slice(0, 60).map((r, i) => ({ request_id: `h${h}-r${k}`, row: i, label: String(r.y) }))));
      expect((await s.call("POST", `${V1}/labels`, { labels })).status).toBe(200);
    }, 60_000);
    afterAll(async () => {
      await s?.stop();
      hook?.server.close();
      dir.remove();
    });

    const spec = () => ({
      name: "churn-hourly",
      model: "churn@champion",
      window: "1h",
      reference: { target: "y", prediction: "prediction", probability: "proba" },
      checks: { drift: { failOn: "column" }, quality: {}, performance: { minLabelled: 20, margin: 0.1 }, cbpe: {} },
      alerts: { webhooks: [{ url: hook.url, headers: { authorization: "Bearer t0ken" } }] },
      pipeline: "retrain-churn",
    });

    test("a monitor is created, listed and read back; bad definitions name the field", async () => {
      const created = await s.call("POST", `${V1}/monitors`, spec());
      expect(created.status).toBe(200);
      expect(created.json.monitor).toMatchObject({ name: "churn-hourly", next_run_time: null, last_status: null, spec: { window: "1h", model: "churn@champion" } });
      expect((await s.call("POST", `${V1}/monitors`, spec())).json.error_code).toBe("FW_MONITOR_EXISTS");
      const bad = await s.call("POST", `${V1}/monitors`, { ...spec(), name: "x", window: "1 hour" });
      expect(bad.status).toBe(400);
      expect(bad.json.message).toMatch(/^Invalid value for 'window': '1 hour' is not a duration/);
      const noChecks = await s.call("POST", `${V1}/monitors`, { ...spec(), name: "y", checks: {} });
      expect(noChecks.json.message).toMatch(/'checks'.*at least one check/);
      const badHook = await s.call("POST", `${V1}/monitors`, { ...spec(), name: "z", alerts: { webhooks: [{ url: "ftp://x" }] } });
      expect(badHook.json.message).toMatch(/alerts\.webhooks\[0\]\.url/);
      expect((await s.call("GET", `${V1}/monitors`)).json.monitors.map((m: any) => m.name)).toEqual(["churn-hourly"]);
      expect((await s.call("GET", `${V1}/monitors/churn-hourly`)).json.monitor.spec.pipeline).toBe("retrain-churn");
      expect((await s.call("GET", `${V1}/monitors/nope`)).json.error_code).toBe("FW_MONITOR_NOT_FOUND");
      const paths = Object.keys((await s.call("GET", "/api/openapi.json")).json.paths);
      expect(paths).toEqual(expect.arrayContaining([`${V1}/monitors`, `${V1}/monitors/{name}`, `${V1}/monitors/{name}/run`, `${V1}/monitors/{name}/history`, `${V1}/monitoring/report`]));
    });

    test("the injected shift is flagged on the shifted columns only, from the window where it starts", async () => {
      const res = await s.call("POST", `${V1}/monitors/churn-hourly/run`, { until: new Date(T0 + 6 * HOUR).toISOString(), windows: 6 });
      expect(res.status).toBe(200);
      const run = res.json.run;
      expect(run.status).toBe("alert");
      expect(run).toMatchObject({ model: "churn", version: "1", window: { start: T0 + 5 * HOUR, end: T0 + 6 * HOUR } });
      const windows = run.result.windows;
      expect(windows.map((w: any) => w.rows)).toEqual([1200, 1200, 1200, 1200, 1200, 1200]);
      expect(windows.map((w: any) => w.checks.drift.drifted)).toEqual([[], [], [], ["f3", "f4"], ["f3", "f4"], ["f3", "f4"]]);
      expect(windows.map((w: any) => w.checks.drift.status)).toEqual(["pass", "pass", "pass", "fail", "fail", "fail"]);
      // The drift table covers the features and both prediction columns, with Evidently's choice of test.
      const cols = windows[3].checks.drift.report.columns;
      expect(cols.map((c: any) => `${c.column}:${c.role}:${c.result.test}`)).toEqual([
        "f1:feature:wasserstein",
        "f2:feature:wasserstein",
        "f3:feature:wasserstein",
        "f4:feature:wasserstein",
        "prediction:prediction:jensenshannon",
        "proba:prediction:wasserstein",
      ]);
      // Quality: f4 scaled by 3 leaves the reference range from hour 3 on.
      expect(windows.map((w: any) => w.checks.quality.status)).toEqual(["pass", "pass", "pass", "fail", "fail", "fail"]);
      expect(windows[4].checks.quality.summary).toMatch(/^f4: .* outside the reference range/);
      // Predictions do not depend on f3 or f4: CBPE sees no change, performance holds.
      expect(windows.map((w: any) => w.checks.cbpe.status)).toEqual(["pass", "pass", "pass", "pass", "pass", "pass"]);
      expect(windows.map((w: any) => w.checks.performance.status)).toEqual(["pass", "pass", "pass", "pass", "pass", "pass"]);
      expect(windows[0].checks.performance.labelled).toBe(600);
      expect(run.result.failed.map((f: any) => `${f.start}:${f.check}`)).toEqual([
        `${T0 + 3 * HOUR}:drift`,
        `${T0 + 3 * HOUR}:quality`,
        `${T0 + 4 * HOUR}:drift`,
        `${T0 + 4 * HOUR}:quality`,
        `${T0 + 5 * HOUR}:drift`,
        `${T0 + 5 * HOUR}:quality`,
      ]);
      expect(run.events.map((e: any) => e.kind)).toEqual(["alert", "pipeline_trigger"]);

      const history = (await s.call("GET", `${V1}/monitors/churn-hourly/history?check=drift&metric=drifted`)).json;
      const bySeries = Object.fromEntries(history.series.map((x: any) => [x.series, x.points.map((p: any) => p.value)]));
      expect(bySeries).toEqual({ f1: [0, 0, 0, 0, 0, 0], f2: [0, 0, 0, 0, 0, 0], f3: [0, 0, 0, 1, 1, 1], f4: [0, 0, 0, 1, 1, 1], prediction: [0, 0, 0, 0, 0, 0], proba: [0, 0, 0, 0, 0, 0] });
      expect((await s.call("GET", `${V1}/monitors/churn-hourly`)).json.monitor.last_status).toBe("alert");
    });

    test("the failing monitor calls the webhook (retrying a 500) and records the pipeline trigger", async () => {
      await until("two webhook calls", async () => (hook.received.length >= 2 ? true : undefined));
      const [first, second] = hook.received;
      expect(first?.body).toEqual(second?.body);
      expect(second?.headers.authorization).toBe("Bearer t0ken");
      expect(second?.headers["x-flywheel-event"]).toBe("alert");
      const body = second?.body;
      expect(body).toMatchObject({ event: "flywheel.monitor.alert", monitor: "churn-hourly", model_ref: "churn@champion", model: "churn", version: "1", pipeline: "retrain-churn" });
      expect(body.windows.map((w: any) => w.start)).toEqual([3, 4, 5].map((h) => new Date(T0 + h * HOUR).toISOString()));
      expect(body.windows[0].failed[0]).toMatchObject({ check: "drift", summary: expect.stringContaining("f3, f4") });
      const events = await until("the delivery record", async () => {
        const h = (await s.call("GET", `${V1}/monitors/churn-hourly/history?metric=none`)).json;
        const alert = h.events.find((e: any) => e.kind === "alert");
        return alert?.delivery?.webhooks === undefined ? undefined : h.events;
      });
      const alert = events.find((e: any) => e.kind === "alert");
      expect(alert.delivery.webhooks[0]).toMatchObject({ url: hook.url, delivered: true });
      expect(alert.delivery.webhooks[0].attempts.map((a: any) => a.status)).toEqual([500, 200]);
      expect(alert.delivery.stream).toBeNull();
      const trigger = events.find((e: any) => e.kind === "pipeline_trigger");
      expect(trigger.payload).toMatchObject({ pipeline: "retrain-churn", status: "recorded", alert_event_id: alert.id });
    });

    test("labels joined late change the performance series", async () => {
      const accuracyOf = async () => {
        const h = (await s.call("GET", `${V1}/monitors/churn-hourly/history?check=performance&metric=accuracy`)).json;
        return h.series[0].points.find((p: any) => p.window_start === T0)!;
      };
      const before = await accuracyOf();
      expect(before.count).toBe(600);
      // The second wave, late: the other half of hour 0's rows, every label the opposite of the prediction.
      const late = traffic.hours[0]!.flatMap((rows, k) => rows.slice(60).map((r, i) => ({ request_id: `h0-r${k}`, row: 60 + i, label: r.p >= 0.5 ? "0" : "1" })));
      expect((await s.call("POST", `${V1}/labels`, { labels: late })).status).toBe(200);
      // A later run covers the newest window; hour 0 is computed again with its labels.
      const res = await s.call("POST", `${V1}/monitors/churn-hourly/run`, { until: T0 + 6 * HOUR });
      expect(res.json.run.result.backfill.map((b: any) => b.labelled)).toEqual([1200, 600, 600, 600, 600]);
      const after = await accuracyOf();
      expect(after.count).toBe(1200);
      expect(after.value).toBeCloseTo(before.value / 2, 12);
      expect(after.run_id).toBeGreaterThan(before.run_id);
    });

    test("a one-off report covers drift, quality and performance over time in binned form", async () => {
      const res = await s.call("POST", `${V1}/monitoring/report`, { model: "churn@champion", window: "6h", step: "1h", until: T0 + 6 * HOUR, monitor: "churn-hourly" });
      expect(res.status).toBe(200);
      const r = res.json.report;
      expect(r).toMatchObject({ format: "flywheel.monitor-report/v1", model: "churn", version: "1", rows: 7200, step: HOUR, window: { start: T0, end: T0 + 6 * HOUR } });
      expect(r.drift.columns.filter((c: any) => c.drifted).map((c: any) => c.column)).toEqual(["f3", "f4"]);
      expect(r.drift.columns[0].histogram.reference.length).toBeGreaterThan(5);
      expect(r.performance.map((p: any) => p.labelled)).toEqual([1200, 600, 600, 600, 600, 600]);
      expect(r.cbpe).toHaveLength(6);
      expect(r.cbpe[0].accuracy.lower).toBeLessThan(r.cbpe[0].accuracy.value);
      expect(JSON.stringify(r).length).toBeLessThan(200_000);
      const bad = await s.call("POST", `${V1}/monitoring/report`, { model: "churn@champion", window: "6h", step: "1s" });
      expect(bad.json.message).toMatch(/'step'.*at most 500/);
    });

    test("a model without a reference is a recorded error run; deleting a monitor removes it", async () => {
      expect((await s.call("POST", `${API_MLFLOW}/registered-models/create`, { name: "bare" })).status).toBe(200);
      await s.call("POST", `${V1}/monitors`, { name: "bare-mon", model: "bare@champion", window: "1h", checks: { drift: {} } });
      const run = (await s.call("POST", `${V1}/monitors/bare-mon/run`, {})).json.run;
      expect(run.status).toBe("error");
      expect(run.result.error.code).toBe("FW_REGISTRY_ALIAS_NOT_FOUND");
      expect((await s.call("POST", `${V1}/monitors/bare-mon/run`, { windows: 0 })).json.message).toMatch(/'windows'/);
      expect((await s.call("DELETE", `${V1}/monitors/bare-mon`)).status).toBe(200);
      expect((await s.call("DELETE", `${V1}/monitors/bare-mon`)).json.error_code).toBe("FW_MONITOR_NOT_FOUND");
    });
  });
}

const API_MLFLOW = "/api/2.0/mlflow";
