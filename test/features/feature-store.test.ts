/**
 * The feature store over applied definitions, on each online backend: apply/plan versioning,
 * materialization (full and incremental, newer-wins, ttl), Feast's online statuses, pushes to
 * the online store and the offline history, on-demand views offline and online, bad input.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { FeatureStore } from "../../src/features/feature-store.js";
import { loadRepo } from "../../src/features/load.js";
import { openMetadataStore } from "../../src/storage/metadata/open.js";
import type { MetadataStore } from "../../src/storage/metadata/metadata-store.js";
import { OfflineDb, quoteLiteral } from "../../src/storage/offline/duckdb.js";
import { openOnlineStore } from "../../src/storage/online/open.js";
import type { OnlineStore } from "../../src/storage/online/online-store.js";
import { tempDir } from "../helpers/backends.js";
import { onlineBackends, onlineTitleOf } from "../helpers/online-backends.js";

const H = 3600_000;
const T0 = Date.parse("2024-05-01T00:00:00Z");
const iso = (ms: number) => new Date(ms).toISOString();

const DEFS = `
import { defineEntity, defineFileSource, definePushSource, defineFeatureView, defineRequestSource, defineOnDemandFeatureView, defineFeatureService } from ${JSON.stringify(join(import.meta.dirname, "../../src/features/definitions.ts"))};

export const driver = defineEntity({ name: "driver", joinKeys: ["driver_id"], valueType: "Int64" });
const statsSource = defineFileSource({ name: "driver_stats_src", path: "driver_stats.parquet", timestampField: "event_timestamp", createdTimestampColumn: "created", fieldMapping: { conv: "conv_rate" } });
export const stats = defineFeatureView({
  name: "driver_stats", entities: [driver], ttl: "2h", source: statsSource,
  schema: [{ name: "conv_rate", dtype: "Float64" }, { name: "trips", dtype: "Int64" }, { name: "city", dtype: "String" }],
  owner: "ml@example.com", tags: { team: "rides" },
});
export const livePush = definePushSource({ name: "live_push", batchSource: defineFileSource({ name: "live_src", path: "live.parquet", timestampField: "event_timestamp" }) });
export const live = defineFeatureView({ name: "driver_live", entities: ["driver"], source: livePush, schema: [{ name: "speed", dtype: "Float64" }] });
const req = defineRequestSource({ name: "trip_request", schema: [{ name: "distance", dtype: "Float64" }] });
export const derived = defineOnDemandFeatureView({
  name: "trip_estimates", sources: [stats, req],
  schema: [{ name: "expected_conv", dtype: "Float64" }, { name: "long_trip", dtype: "Bool" }],
  transform: (row) => ({ expected_conv: row.conv_rate === null ? null : row.conv_rate * row.distance, long_trip: row.distance > 10 }),
});
export const service = defineFeatureService({ name: "driver_service", features: [stats, { view: "trip_estimates", features: ["expected_conv"] }] });
`;

for (const backend of onlineBackends) {
  describe.skipIf(backend.skip !== undefined)(`feature store on ${onlineTitleOf(backend)}`, () => {
    let dir: ReturnType<typeof tempDir>;
    let metadata: MetadataStore;
    let online: OnlineStore;
    let store: FeatureStore;
    let drop: () => Promise<void>;
    let db: OfflineDb;
    let now = T0 + 10 * H;

    beforeAll(async () => {
      dir = tempDir("flywheel-fs-");
      db = await OfflineDb.open();
      // driver 1: two rows, the later one wins; 2: a tie on event time broken by `created`;
      // 3: only an old row (outside the 2h ttl at read time); 4: a null feature.
      await db.run(
        `COPY (SELECT * FROM (VALUES
          (1::BIGINT, 0.1::DOUBLE, 10::BIGINT, 'a', TIMESTAMPTZ '${iso(T0 + 1 * H)}', TIMESTAMPTZ '${iso(T0 + 1 * H)}'),
          (1, 0.2, 11, 'b', TIMESTAMPTZ '${iso(T0 + 9 * H)}', TIMESTAMPTZ '${iso(T0 + 9 * H)}'),
          (2, 0.3, 20, 'c', TIMESTAMPTZ '${iso(T0 + 9 * H)}', TIMESTAMPTZ '${iso(T0 + 9 * H)}'),
          (2, 0.4, 21, 'd', TIMESTAMPTZ '${iso(T0 + 9 * H)}', TIMESTAMPTZ '${iso(T0 + 9.5 * H)}'),
          (3, 0.5, 30, 'e', TIMESTAMPTZ '${iso(T0 + 2 * H)}', TIMESTAMPTZ '${iso(T0 + 2 * H)}'),
          (4, NULL, 40, 'f', TIMESTAMPTZ '${iso(T0 + 9 * H)}', TIMESTAMPTZ '${iso(T0 + 9 * H)}')
        ) t(driver_id, conv, trips, city, event_timestamp, created)) TO ${quoteLiteral(join(dir.path, "driver_stats.parquet"))} (FORMAT parquet)`,
      );
      await db.run(
        `COPY (SELECT 1::BIGINT AS driver_id, 50.0::DOUBLE AS speed, TIMESTAMPTZ '${iso(T0)}' AS event_timestamp) TO ${quoteLiteral(join(dir.path, "live.parquet"))} (FORMAT parquet)`,
      );
      writeFileSync(join(dir.path, "repo.ts"), DEFS);
      metadata = await openMetadataStore(`sqlite:///${join(dir.path, "meta.db")}`);
      const loc = await backend.create();
      drop = loc.drop;
      online = await openOnlineStore(loc.uri, { project: loc.project });
      store = new FeatureStore({ registry: metadata.features, online, project: loc.project, offlineDir: join(dir.path, "offline"), now: () => now });
    });

    afterAll(async () => {
      await online?.close();
      await metadata?.close();
      db?.close();
      await drop?.();
      dir?.remove();
    });

    test("loading a TypeScript repo normalizes references and resolves paths", async () => {
      const repo = await loadRepo([join(dir.path, "repo.ts")]);
      expect(repo.entities.map((e) => e.name)).toEqual(["driver"]);
      expect(repo.sources.map((s) => `${s.kind}:${s.name}`)).toEqual([
        "file_source:driver_stats_src",
        "push_source:live_push",
        "file_source:live_src",
        "request_source:trip_request",
      ]);
      const stats = repo.featureViews.find((v) => v.name === "driver_stats");
      expect(stats).toMatchObject({ entities: ["driver"], source: "driver_stats_src", ttlSeconds: 7200, online: true });
      const src = repo.sources.find((s) => s.name === "driver_stats_src");
      expect(src).toMatchObject({ path: join(dir.path, "driver_stats.parquet"), format: "parquet" });
    });

    test("plan shows the changes, apply stores a new version, an identical apply is a no-op", async () => {
      const repo = await loadRepo([join(dir.path, "repo.ts")]);
      const plan = await store.plan(repo);
      expect(plan.version).toBe(0);
      expect(plan.changes.every((c) => c.op === "create")).toBe(true);
      expect(plan.changes).toHaveLength(9);
      const applied = await store.apply(repo, "alice");
      expect(applied.applied).toBe(1);
      expect((await store.apply(repo, "alice")).applied).toBe(1);
      const changed = { ...repo, featureViews: repo.featureViews.map((v) => (v.name === "driver_live" ? { ...v, ttlSeconds: 60 } : v)) };
      const plan2 = await store.plan(changed);
      expect(plan2.changes).toEqual([{ op: "update", kind: "feature_view", name: "driver_live", fields: ["ttlSeconds"] }]);
      await expect(store.apply(changed, "bob", 0)).rejects.toMatchObject({ code: "FW_FEATURES_CONFLICT" });
      expect((await store.apply(changed, "bob", 1)).applied).toBe(2);
      expect((await store.apply(repo, "bob")).applied).toBe(3);
      const history = await store.history();
      expect(history.map((h) => [h.version, h.appliedBy])).toEqual([
        [3, "bob"],
        [2, "bob"],
        [1, "alice"],
      ]);
    });

    test("online reads before materialization are NOT_FOUND", async () => {
      const res = await store.getOnlineFeatures({ features: ["driver_stats:conv_rate"], entities: { driver_id: [1] } });
      expect(res.results[1]?.statuses).toEqual(["NOT_FOUND"]);
      expect(res.results[1]?.values).toEqual([null]);
    });

    test("materialize writes the latest row per entity; reads report Feast's statuses", async () => {
      const done = await store.materialize(T0, T0 + 10 * H, { views: ["driver_stats"] });
      expect(done).toEqual([{ view: "driver_stats", startTs: T0, endTs: T0 + 10 * H, rows: 4 }]);
      const res = await store.getOnlineFeatures({
        features: ["driver_stats:conv_rate", "driver_stats:trips", "driver_stats:city"],
        entities: { driver_id: [1, 2, 3, 4, 99] },
      });
      expect(res.metadata.feature_names).toEqual(["driver_id", "conv_rate", "trips", "city"]);
      expect(res.results[0]).toEqual({
        values: [1, 2, 3, 4, 99],
        statuses: ["PRESENT", "PRESENT", "PRESENT", "PRESENT", "PRESENT"],
        event_timestamps: Array(5).fill("1970-01-01T00:00:00Z"),
      });
      expect(res.results[1]?.values).toEqual([0.2, 0.4, null, null, null]);
      expect(res.results[1]?.statuses).toEqual(["PRESENT", "PRESENT", "OUTSIDE_MAX_AGE", "NULL_VALUE", "NOT_FOUND"]);
      expect(res.results[2]?.values).toEqual([11, 21, null, 40, null]);
      expect(res.results[1]?.event_timestamps[0]).toBe("2024-05-01T09:00:00Z");
      expect(res.results[1]?.event_timestamps[4]).toBe("1970-01-01T00:00:00Z");
    });

    test("an older materialization never replaces newer values", async () => {
      await store.materialize(T0, T0 + 2 * H, { views: ["driver_stats"] });
      const res = await store.getOnlineFeatures({ features: ["driver_stats:conv_rate"], entities: { driver_id: [1] } });
      expect(res.results[1]?.values).toEqual([0.2]);
    });

    test("materializeIncremental continues from the last interval, and starts at end - ttl the first time", async () => {
      now = T0 + 12 * H;
      const first = await store.materializeIncremental(T0 + 12 * H);
      const byView = Object.fromEntries(first.map((m) => [m.view, m]));
      expect(byView.driver_stats).toMatchObject({ startTs: T0 + 10 * H, endTs: T0 + 12 * H, rows: 0 });
      // driver_live has no ttl and was never materialized: from the epoch.
      expect(byView.driver_live).toMatchObject({ startTs: 0, endTs: T0 + 12 * H, rows: 1 });
      expect(await store.materializeIncremental(T0 + 12 * H)).toEqual([]);
      const records = await store.materializations("driver_stats");
      expect(records.map((r) => [r.startTs, r.endTs])).toEqual([
        [T0, T0 + 10 * H],
        [T0, T0 + 2 * H],
        [T0 + 10 * H, T0 + 12 * H],
      ]);
    });

    test("full feature names, feature services and on-demand views online", async () => {
      now = T0 + 10 * H;
      const res = await store.getOnlineFeatures({
        featureService: "driver_service",
        entities: { driver_id: [1, 2], distance: [20, 5] },
        fullFeatureNames: true,
      });
      expect(res.metadata.feature_names).toEqual([
        "driver_id",
        "driver_stats__conv_rate",
        "driver_stats__trips",
        "driver_stats__city",
        "trip_estimates__expected_conv",
      ]);
      expect(res.results[4]?.values[0]).toBeCloseTo(4, 12);
      expect(res.results[4]?.values[1]).toBeCloseTo(2, 12);
      expect(res.results[4]?.statuses).toEqual(["PRESENT", "PRESENT"]);
    });

    test("push to online then to the offline history; historical retrieval sees the offline rows", async () => {
      const df = { driver_id: [1, 2], speed: [70.5, 80], event_timestamp: [iso(T0 + 11 * H), "2024-05-01 11:00:00"] };
      expect(await store.push("live_push", df, "online")).toEqual({ rows: 2 });
      now = T0 + 11.5 * H;
      let res = await store.getOnlineFeatures({ features: ["driver_live:speed"], entities: { driver_id: [1, 2] } });
      expect(res.results[1]?.values).toEqual([70.5, 80]);
      // An older push does not replace the newer value.
      await store.push("live_push", { driver_id: [1], speed: [1], event_timestamp: [iso(T0 + 5 * H)] }, "online");
      res = await store.getOnlineFeatures({ features: ["driver_live:speed"], entities: { driver_id: [1] } });
      expect(res.results[1]?.values).toEqual([70.5]);

      const pushed = await store.push("live_push", df, "offline");
      expect(pushed.file).toMatch(/\.parquet$/);
      const entities = join(dir.path, "entities.parquet");
      await db.run(
        `COPY (SELECT * FROM (VALUES (1::BIGINT, TIMESTAMPTZ '${iso(T0 + 12 * H)}', 1.0::DOUBLE), (2, TIMESTAMPTZ '${iso(T0 + 1 * H)}', 2.0), (2, TIMESTAMPTZ '${iso(T0 + 10 * H)}', 3.0)) t(driver_id, event_timestamp, distance)) TO ${quoteLiteral(entities)} (FORMAT parquet)`,
      );
      const out = join(dir.path, "training.parquet");
      const result = await store.getHistoricalFeatures({
        entities: { path: entities, format: "parquet" },
        features: ["driver_live:speed", "driver_stats:conv_rate", "trip_estimates:expected_conv"],
        out,
      });
      expect(result.columns).toEqual(["driver_id", "event_timestamp", "distance", "speed", "conv_rate", "expected_conv"]);
      const rows = await db.query(`SELECT driver_id, speed, conv_rate, expected_conv FROM read_parquet(${quoteLiteral(out)})`);
      // driver 1 at 12h: pushed speed 70.5 (11h); conv_rate 0.2 is older than the 2h ttl -> null.
      // driver 2 at 1h: speed has no row yet; conv_rate none yet.
      // driver 2 at 10h: the created-timestamp tie-break gives conv_rate 0.4; the on-demand view 0.4 x 3.
      expect(rows.slice(0, 2)).toEqual([
        { driver_id: 1n, speed: 70.5, conv_rate: null, expected_conv: null },
        { driver_id: 2n, speed: null, conv_rate: null, expected_conv: null },
      ]);
      expect(rows[2]).toMatchObject({ driver_id: 2n, speed: null, conv_rate: 0.4 });
      expect(rows[2]?.expected_conv as number).toBeCloseTo(1.2, 12);
    });

    test("bad input names the field and lists the valid names; nothing is written", async () => {
      await expect(store.getOnlineFeatures({ features: ["nope:x"], entities: { driver_id: [1] } })).rejects.toThrow(/valid views: 'driver_live', 'driver_stats', 'trip_estimates'/);
      await expect(store.getOnlineFeatures({ features: ["driver_stats:nope"], entities: { driver_id: [1] } })).rejects.toThrow(/valid features: 'driver_stats:conv_rate'/);
      await expect(store.getOnlineFeatures({ features: ["driver_stats:trips"], entities: { driver_id: ["1"] } })).rejects.toThrow(/Entity key 'entities.driver_id' must be an integer/);
      await expect(store.getOnlineFeatures({ features: ["driver_stats:trips"], entities: { rider: [1] } })).rejects.toThrow(/needs join key 'driver_id'/);
      await expect(store.push("live_push", { driver_id: [3, 4], speed: [1, "fast"], event_timestamp: [iso(T0), iso(T0)] }, "online")).rejects.toThrow(/'df.speed' must hold Float64/);
      const res = await store.getOnlineFeatures({ features: ["driver_live:speed"], entities: { driver_id: [3] } });
      expect(res.results[1]?.statuses).toEqual(["NOT_FOUND"]);
      await expect(store.push("nope", {}, "online")).rejects.toThrow(/valid push sources: 'live_push'/);
    });

    test("a source missing its timestamp column, or with a mistyped column, is refused naming the file and the column; nothing is written", async () => {
      const bad = join(dir.path, "bad_stats.parquet");
      await db.run(`COPY (SELECT 5::BIGINT AS driver_id, 'fast' AS conv, 1::BIGINT AS trips, 'x' AS city, TIMESTAMPTZ '${iso(T0)}' AS created) TO ${quoteLiteral(bad)} (FORMAT parquet)`);
      const repo = await loadRepo([join(dir.path, "repo.ts")]);
      const broken = {
        ...repo,
        sources: repo.sources.map((x) => (x.name === "driver_stats_src" && x.kind === "file_source" ? { ...x, path: bad } : x)),
      };
      await expect(store.apply(broken, "carol")).rejects.toThrow(`Source file '${bad}' (source 'driver_stats_src'): column 'event_timestamp' is missing`);
      const mistyped = join(dir.path, "mistyped_stats.parquet");
      await db.run(
        `COPY (SELECT 5::BIGINT AS driver_id, 'fast' AS conv, 1::BIGINT AS trips, 'x' AS city, TIMESTAMPTZ '${iso(T0)}' AS event_timestamp, TIMESTAMPTZ '${iso(T0)}' AS created) TO ${quoteLiteral(mistyped)} (FORMAT parquet)`,
      );
      const wrongType = { ...repo, sources: repo.sources.map((x) => (x.name === "driver_stats_src" && x.kind === "file_source" ? { ...x, path: mistyped } : x)) };
      await expect(store.apply(wrongType, "carol")).rejects.toThrow(`Source file '${mistyped}' (source 'driver_stats_src'): column 'conv' (mapped to 'conv_rate') has type VARCHAR, but the feature 'driver_stats:conv_rate' (Float64) needs Float64`);
      // The applied version did not change, and a materialization against a file that turned bad fails before writing.
      expect((await store.current()).version).toBe(3);
      const good = join(dir.path, "driver_stats.parquet");
      const saved = join(dir.path, "driver_stats.saved.parquet");
      await db.run(`COPY (SELECT * FROM read_parquet(${quoteLiteral(good)})) TO ${quoteLiteral(saved)} (FORMAT parquet)`);
      await db.run(`COPY (SELECT * FROM read_parquet(${quoteLiteral(mistyped)})) TO ${quoteLiteral(good)} (FORMAT parquet)`);
      try {
        await expect(store.materialize(T0, T0 + 20 * H, { views: ["driver_stats"] })).rejects.toThrow(/column 'conv' \(mapped to 'conv_rate'\) has type VARCHAR/);
        const res = await store.getOnlineFeatures({ features: ["driver_stats:conv_rate"], entities: { driver_id: [5] } });
        expect(res.results[1]?.statuses).toEqual(["NOT_FOUND"]);
      } finally {
        await db.run(`COPY (SELECT * FROM read_parquet(${quoteLiteral(saved)})) TO ${quoteLiteral(good)} (FORMAT parquet)`);
      }
    });
  });
}
