/**
 * The monitor scheduler: a scheduled monitor is due at each boundary of its interval, a due run
 * is claimed by exactly one of several services sharing the database (as several server
 * processes would), runs that cannot resolve their model are recorded as errors, and the timer
 * started by `startScheduler` runs due monitors on its own and stops cleanly.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { tempDir } from "../../test/helpers/backends.js";
import { ManualClock } from "../core/clock.js";
import { LineageService } from "../registry/lineage-service.js";
import { checkStoredPackage } from "../registry/package-check.js";
import { RegistryService } from "../registry/registry-service.js";
import type { ArtifactStore } from "../storage/artifacts/artifact-store.js";
import { openArtifactStore } from "../storage/artifacts/open.js";
import type { MetadataStore } from "../storage/metadata/metadata-store.js";
import { openMetadataStore } from "../storage/metadata/open.js";
import { MonitorService, nextBoundary } from "./monitor-service.js";

const HOUR = 3_600_000;
const T = Date.parse("2024-05-01T10:20:00Z");

describe("the monitor scheduler", () => {
  const dir = tempDir("flywheel-scheduler-");
  let metadata: MetadataStore;
  let artifacts: ArtifactStore;
  const clock = new ManualClock(T);

  function service(): MonitorService {
    const registry = new RegistryService(metadata, artifacts, clock, checkStoredPackage);
    const lineage = new LineageService(metadata, artifacts, registry, clock);
    return new MonitorService({ metadata, artifacts, registry, lineage, dataDir: dir.path, project: "default", clock });
  }

  beforeAll(async () => {
    metadata = await openMetadataStore(`sqlite:///${dir.path}/meta.db`);
    artifacts = await openArtifactStore(`${dir.path}/artifacts`);
  });
  afterAll(async () => {
    await artifacts.close();
    await metadata.close();
    dir.remove();
  });

  test("interval boundaries", () => {
    expect(nextBoundary(T, HOUR)).toBe(Date.parse("2024-05-01T11:00:00Z"));
    expect(nextBoundary(Date.parse("2024-05-01T11:00:00Z"), HOUR)).toBe(Date.parse("2024-05-01T11:00:00Z"));
    expect(nextBoundary(Date.parse("2024-05-01T11:00:00Z"), HOUR, true)).toBe(Date.parse("2024-05-01T12:00:00Z"));
  });

  test("a due monitor runs once across services sharing the database, then waits for its next boundary", async () => {
    const a = service();
    const b = service();
    const created = await a.create({ name: "hourly", model: "ghost@champion", window: "1h", schedule: "1h", checks: { drift: {} } });
    expect(created.next_run_time).toBe(Date.parse("2024-05-01T11:00:00Z"));
    await a.create({ name: "manual", model: "ghost@champion", window: "1h", checks: { quality: {} } });
    expect(await a.runDue()).toBe(0);
    clock.advance(40 * 60_000 + 5000);
    const ran = await Promise.all([a.runDue(), b.runDue()]);
    expect(ran[0] + ran[1]).toBe(1);
    const [run] = (await a.history("hourly")).runs;
    expect(run).toMatchObject({ trigger: "schedule", status: "error", window: { start: Date.parse("2024-05-01T10:00:00Z"), end: Date.parse("2024-05-01T11:00:00Z") } });
    expect(run?.error?.code).toBe("FW_REGISTRY_MODEL_NOT_FOUND");
    expect((await a.get("hourly")).next_run_time).toBe(Date.parse("2024-05-01T12:00:00Z"));
    expect((await a.get("manual")).last_status).toBeNull();
    expect(await a.runDue()).toBe(0);
  });

  test("the timer runs due monitors by itself and stops cleanly", async () => {
    const s = service();
    clock.advance(HOUR);
    s.startScheduler(20);
    for (let i = 0; i < 100 && (await s.history("hourly")).runs.length < 2; i++) await new Promise((r) => setTimeout(r, 20));
    await s.stop();
    expect((await s.history("hourly")).runs.map((r) => r.trigger)).toEqual(["schedule", "schedule"]);
    expect((await s.get("hourly")).next_run_time).toBe(Date.parse("2024-05-01T13:00:00Z"));
  });

  test("runs ask for a sensible number of windows; unknown monitors are 404s", async () => {
    const s = service();
    await expect(s.run("hourly", { windows: 1000 })).rejects.toMatchObject({ code: "FW_REQUEST_INVALID_FIELD" });
    await expect(s.run("nope")).rejects.toMatchObject({ code: "FW_MONITOR_NOT_FOUND" });
    await expect(s.delete("nope")).rejects.toMatchObject({ code: "FW_MONITOR_NOT_FOUND" });
    await expect(s.history("nope")).rejects.toMatchObject({ code: "FW_MONITOR_NOT_FOUND" });
  });
});
