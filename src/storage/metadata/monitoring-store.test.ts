/**
 * The MonitoringStore contract on every metadata backend (SQLite always, PostgreSQL when
 * FLYWHEEL_TEST_POSTGRES_URL is set): monitors, the scheduler's compare-and-set claim, runs,
 * time-series points replaced per window, events and reference records.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { metadataBackends, titleOf } from "../../../test/helpers/backends.js";
import type { MetadataStore } from "./metadata-store.js";
import type { MonitorPoint } from "./monitoring-store.js";
import { openMetadataStore } from "./open.js";

const NOW = 1_700_000_000_000;
const HOUR = 3_600_000;

for (const backend of metadataBackends) {
  describe.skipIf(backend.skip !== undefined)(`MonitoringStore on ${titleOf(backend)}`, () => {
    let store: MetadataStore;
    let drop: () => Promise<void> = async () => undefined;

    beforeAll(async () => {
      const db = await backend.create();
      drop = db.drop;
      store = await openMetadataStore(db.uri);
    });
    afterAll(async () => {
      await store?.close();
      await drop();
    });

    const monitor = (name: string, next: number | null) => ({
      name,
      spec: JSON.stringify({ name, model: "churn@champion" }),
      createdTime: NOW,
      updatedTime: NOW,
      nextRunTime: next,
      lastRunTime: null,
      lastStatus: null,
    });

    test("monitors are created once, listed by name, updated and deleted", async () => {
      const m = store.monitoring;
      await m.createMonitor(monitor("b-mon", NOW + HOUR));
      await m.createMonitor(monitor("a-mon", null));
      await expect(m.createMonitor(monitor("a-mon", null))).rejects.toMatchObject({ code: "FW_MONITOR_EXISTS" });
      expect((await m.listMonitors()).map((x) => x.name)).toEqual(["a-mon", "b-mon"]);
      expect(await m.getMonitor("b-mon")).toMatchObject({ nextRunTime: NOW + HOUR, lastStatus: null });
      expect(await m.updateMonitor("a-mon", '{"x":1}', NOW + 5, NOW + 1)).toBe(true);
      expect(await m.getMonitor("a-mon")).toMatchObject({ spec: '{"x":1}', nextRunTime: NOW + 5, updatedTime: NOW + 1 });
      expect(await m.updateMonitor("nope", "{}", null, NOW)).toBe(false);
      expect(await m.deleteMonitor("a-mon")).toBe(true);
      expect(await m.deleteMonitor("a-mon")).toBe(false);
      expect(await m.getMonitor("a-mon")).toBeUndefined();
    });

    test("due monitors are claimed by one caller only", async () => {
      const m = store.monitoring;
      await m.createMonitor(monitor("due-1", NOW - 10));
      await m.createMonitor(monitor("due-2", NOW - 20));
      await m.createMonitor(monitor("later", NOW + 10));
      const due = await m.dueMonitors(NOW, 10);
      expect(due.filter((n) => n.startsWith("due") || n === "later")).toEqual(["due-2", "due-1"]);
      const claims = await Promise.all([m.claimRun("due-1", NOW - 10, NOW + HOUR), m.claimRun("due-1", NOW - 10, NOW + HOUR)]);
      expect(claims.filter(Boolean)).toHaveLength(1);
      expect(await m.claimRun("due-1", NOW - 10, NOW + 2 * HOUR)).toBe(false);
      expect((await m.dueMonitors(NOW, 10)).includes("due-1")).toBe(false);
    });

    test("runs are stored with the monitor's last status; points are replaced per window", async () => {
      const m = store.monitoring;
      await m.createMonitor(monitor("series", null));
      const run = (status: "ok" | "alert", start: number) => ({
        monitor: "series",
        trigger: "request",
        startedTime: NOW,
        finishedTime: NOW + 1,
        windowStart: start,
        windowEnd: start + HOUR,
        model: "churn",
        version: "3",
        status,
        result: JSON.stringify({ status }),
      });
      const r1 = await m.addRun(run("ok", NOW));
      const r2 = await m.addRun(run("alert", NOW + HOUR));
      expect(r2).toBeGreaterThan(r1);
      expect(await m.getMonitor("series")).toMatchObject({ lastStatus: "alert", lastRunTime: NOW + 1 });
      expect((await m.runs("series", 10)).map((r) => r.id)).toEqual([r2, r1]);
      expect((await m.runs("series", 10, r2)).map((r) => r.id)).toEqual([r1]);
      expect(await m.getRun("series", r1)).toMatchObject({ status: "ok", version: "3", windowStart: NOW });

      const point = (metric: string, start: number, value: number, runId: number, count: number | null = null): MonitorPoint => ({
        monitor: "series",
        check: "performance",
        metric,
        series: "",
        windowStart: start,
        windowEnd: start + HOUR,
        value,
        count,
        runId,
        computedTime: NOW,
      });
      await m.upsertPoints([point("accuracy", NOW, 0.5, r1, 10), point("accuracy", NOW + HOUR, 0.9, r2, 20), point("f1", NOW, 0.4, r1)]);
      // Late labels: the first window is computed again and its value replaced.
      await m.upsertPoints([point("accuracy", NOW, 0.75, r2, 40)]);
      const acc = await m.points("series", { metric: "accuracy", limit: 100 });
      expect(acc.map((p) => [p.windowStart, p.value, p.count, p.runId])).toEqual([
        [NOW, 0.75, 40, r2],
        [NOW + HOUR, 0.9, 20, r2],
      ]);
      expect(await m.points("series", { since: NOW + 1, limit: 100 })).toHaveLength(1);
      expect(await m.points("series", { until: NOW + 1, limit: 100 })).toHaveLength(2);
      const many = Array.from({ length: 1200 }, (_, i) => point(`m${i % 3}`, NOW + 10 * HOUR + i * HOUR, i / 7, r2));
      await m.upsertPoints(many);
      expect(await m.points("series", { metric: "m1", limit: 10_000 })).toHaveLength(400);
    });

    test("events record their delivery; references are keyed by model, version and fingerprint", async () => {
      const m = store.monitoring;
      const id = await m.addEvent({ monitor: "series", runId: 1, kind: "alert", time: NOW, payload: '{"a":1}', delivery: "{}" });
      await m.setEventDelivery(id, '{"webhooks":[{"ok":true}]}');
      const [e] = await m.events("series", 5);
      expect(e).toMatchObject({ id, kind: "alert", payload: '{"a":1}', delivery: '{"webhooks":[{"ok":true}]}' });

      expect(await m.getReference("churn", "3", "abc")).toBeUndefined();
      await m.putReference({ model: "churn", version: "3", fingerprint: "abc", artifactKey: "monitoring/x.json", rows: 10, createdTime: NOW });
      await m.putReference({ model: "churn", version: "3", fingerprint: "abc", artifactKey: "monitoring/y.json", rows: 12, createdTime: NOW + 1 });
      expect(await m.getReference("churn", "3", "abc")).toEqual({
        model: "churn",
        version: "3",
        fingerprint: "abc",
        artifactKey: "monitoring/y.json",
        rows: 12,
        createdTime: NOW + 1,
      });
      expect(await m.deleteMonitor("series")).toBe(true);
      expect(await m.events("series", 5)).toEqual([]);
      expect(await m.points("series", { limit: 5 })).toEqual([]);
    });
  });
}
