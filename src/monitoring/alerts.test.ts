/**
 * Alert delivery against a real HTTP server and the in-process stream bus: retries with
 * exponential backoff on 5xx and timeouts, none on other 4xx, the headers sent, the delivery
 * record written back to the event, and the events published on the monitoring stream.
 */
import { createServer, type Server } from "node:http";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { tempDir } from "../../test/helpers/backends.js";
import { openMetadataStore } from "../storage/metadata/open.js";
import type { MetadataStore } from "../storage/metadata/metadata-store.js";
import { openStreamBus } from "../storage/stream/open.js";
import type { StreamMessage } from "../storage/stream/stream-bus.js";
import { backoffMs, deliverWebhook, monitoringStreamNames, type DeliveryPolicy } from "./alerts.js";
import type { RunOutcome } from "./monitor-run.js";
import { parseMonitorSpec } from "./monitor-spec.js";
import { Notifier } from "./notifier.js";

const FAST: DeliveryPolicy = { attempts: 4, baseDelayMs: 20, maxDelayMs: 50, timeoutMs: 300 };

/** A server answering with `statuses` in turn (the last one repeats); -1 never answers. */
async function serve(statuses: number[]) {
  const calls: { at: number; headers: Record<string, unknown>; body: string }[] = [];
  const server: Server = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      calls.push({ at: Date.now(), headers: req.headers, body });
      const status = statuses[Math.min(calls.length, statuses.length) - 1] as number;
      if (status === -1) return;
      res.statusCode = status;
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}/h`, calls, server };
}

const servers: Server[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    s.close();
  }
});

describe("webhook delivery", () => {
  test("5xx answers are retried with growing delays until a 2xx", async () => {
    const s = await serve([503, 500, 204]);
    servers.push(s.server);
    const d = await deliverWebhook({ url: s.url, headers: { "x-team": "ml" } }, "alert", '{"a":1}', FAST);
    expect(d).toMatchObject({ url: s.url, delivered: true });
    expect(d.attempts.map((a) => a.status)).toEqual([503, 500, 204]);
    expect(s.calls.map((c) => c.body)).toEqual(['{"a":1}', '{"a":1}', '{"a":1}']);
    expect(s.calls[0]?.headers).toMatchObject({ "content-type": "application/json", "x-flywheel-event": "alert", "x-team": "ml", "user-agent": "flywheel" });
    const gaps = [(s.calls[1]?.at as number) - (s.calls[0]?.at as number), (s.calls[2]?.at as number) - (s.calls[1]?.at as number)];
    expect(gaps[0]).toBeGreaterThanOrEqual(18);
    expect(gaps[1]).toBeGreaterThanOrEqual(38);
  });

  test("other 4xx answers are not retried; attempts are bounded; no answer is a timeout", async () => {
    const notFound = await serve([404]);
    servers.push(notFound.server);
    expect((await deliverWebhook({ url: notFound.url }, "alert", "{}", FAST)).attempts.map((a) => a.status)).toEqual([404]);
    const down = await serve([500]);
    servers.push(down.server);
    const d = await deliverWebhook({ url: down.url }, "alert", "{}", { ...FAST, attempts: 3 });
    expect(d.delivered).toBe(false);
    expect(d.attempts.map((a) => a.status)).toEqual([500, 500, 500]);
    const silent = await serve([-1, 200]);
    servers.push(silent.server);
    const t = await deliverWebhook({ url: silent.url }, "alert", "{}", FAST);
    expect(t.attempts.map((a) => [a.status, a.error])).toEqual([
      [0, "no answer within 300 ms"],
      [200, undefined],
    ]);
    const gone = await serve([200]);
    gone.server.close();
    const refused = await deliverWebhook({ url: gone.url }, "alert", "{}", { ...FAST, attempts: 2 });
    expect(refused.attempts).toHaveLength(2);
    expect(refused.attempts[0]?.status).toBe(0);
    expect(refused.attempts[0]?.error).toMatch(/ECONNREFUSED|connect/);
  });

  test("the backoff doubles from the base and is capped", () => {
    const p = { attempts: 10, baseDelayMs: 500, maxDelayMs: 30_000, timeoutMs: 5000 };
    expect([2, 3, 4, 5, 8, 9].map((n) => backoffMs(p, n))).toEqual([500, 1000, 2000, 4000, 30_000, 30_000]);
  });
});

describe("the notifier", () => {
  let store: MetadataStore;
  const dir = tempDir("flywheel-notifier-");
  beforeAll(async () => {
    store = await openMetadataStore(`sqlite:///${dir.path}/meta.db`);
  });
  afterAll(async () => {
    await store.close();
    dir.remove();
  });

  test("stores the alert and the pipeline trigger, posts the alert, publishes both on the stream", async () => {
    const hook = await serve([200]);
    servers.push(hook.server);
    const bus = await openStreamBus("memory://notifier-test");
    const notifier = new Notifier({ store: store.monitoring, clock: { now: () => Date.parse("2024-05-02T00:00:00Z") }, project: "shop.eu", policy: FAST, bus: () => bus });
    const spec = parseMonitorSpec({ name: "m1", model: "churn@champion", window: "1h", checks: { drift: {} }, alerts: { webhooks: [{ url: hook.url }] }, pipeline: "retrain" });
    const outcome: RunOutcome = {
      model: "churn",
      version: "3",
      reference: { uri: "file:///ref.csv", from: "package", rows: 10, built: false, notes: [] },
      windows: [{ start: 0, end: 3_600_000, rows: 5, labelled: 0, versions: { "3": 5 }, checks: { drift: { status: "fail", summary: "1 of 2 columns drifted" } } }],
      backfill: [],
      failed: [{ start: 0, end: 3_600_000, check: "drift", summary: "1 of 2 columns drifted" }],
    };
    const events = await notifier.raise(spec, 7, outcome);
    expect(events.map((e) => e.kind)).toEqual(["alert", "pipeline_trigger"]);
    await notifier.settled();
    expect(hook.calls).toHaveLength(1);
    const posted = JSON.parse(hook.calls[0]?.body as string);
    expect(posted).toMatchObject({
      event: "flywheel.monitor.alert",
      event_id: events[0]?.id,
      monitor: "m1",
      model: "churn",
      version: "3",
      run_id: 7,
      pipeline: "retrain",
      windows: [{ start: "1970-01-01T00:00:00.000Z", end: "1970-01-01T01:00:00.000Z", rows: 5, failed: [{ check: "drift", summary: "1 of 2 columns drifted" }] }],
    });
    const stored = await store.monitoring.events("m1", 10);
    const byKind = Object.fromEntries(stored.map((e) => [e.kind, JSON.parse(e.delivery)]));
    expect(byKind.alert.webhooks[0]).toMatchObject({ delivered: true });
    expect(byKind.alert.stream).toMatchObject({ subject: "flywheel.shop_eu.monitoring.alerts" });
    expect(byKind.pipeline_trigger).toMatchObject({ webhooks: [], stream: { subject: "flywheel.shop_eu.monitoring.pipeline_triggers" } });

    const seen: StreamMessage[] = [];
    const sub = await bus.consume(monitoringStreamNames("shop.eu").stream, "test", {}, async (msgs) => void seen.push(...msgs));
    for (let i = 0; i < 50 && seen.length < 2; i++) await new Promise((r) => setTimeout(r, 20));
    await sub.stop();
    expect(seen.map((m) => [m.subject, m.json<{ event: string }>().event])).toEqual([
      ["flywheel.shop_eu.monitoring.alerts", "flywheel.monitor.alert"],
      ["flywheel.shop_eu.monitoring.pipeline_triggers", "flywheel.monitor.pipeline_trigger"],
    ]);
    await bus.close();
  });
});
