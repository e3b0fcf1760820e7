/**
 * A push source fed from a stream (in-process and NATS JetStream): rows reach the online store
 * and the offline history; a restart resumes without losing or re-applying a message; a batch
 * redelivered after a failure part-way is not applied twice; a bad message is skipped, not
 * retried forever.
 */
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { FeatureStore } from "../../src/features/feature-store.js";
import { PushConsumer } from "../../src/features/push-consumer.js";
import { repoFromObjects } from "../../src/features/load.js";
import type { MetadataStore } from "../../src/storage/metadata/metadata-store.js";
import { openMetadataStore } from "../../src/storage/metadata/open.js";
import { OfflineDb, quoteLiteral } from "../../src/storage/offline/duckdb.js";
import { openOnlineStore } from "../../src/storage/online/open.js";
import type { OnlineStore } from "../../src/storage/online/online-store.js";
import { openStreamBus } from "../../src/storage/stream/open.js";
import type { StreamBus } from "../../src/storage/stream/stream-bus.js";
import { silentLogger } from "../../src/core/logger.js";
import { randomToken } from "../../src/core/ids.js";
import { pushStreamNames } from "../../src/features/push-consumer.js";
import { sqliteBackend, tempDir } from "../helpers/backends.js";
import { startTestServer } from "../helpers/server.js";
import { streamBackends, streamTitleOf } from "../helpers/stream-backends.js";

async function until(cond: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 20));
  }
}

for (const backend of streamBackends) {
  describe.skipIf(backend.skip !== undefined)(`push consumer on ${streamTitleOf(backend)}`, () => {
    let dir: ReturnType<typeof tempDir>;
    let metadata: MetadataStore;
    let online: OnlineStore;
    let store: FeatureStore;
    let bus: StreamBus;
    let drop: () => Promise<void>;
    let prefix: string;
    let db: OfflineDb;
    const rejected: string[] = [];

    const consumer = () =>
      new PushConsumer({
        bus,
        store,
        offsets: metadata.features,
        stream: `${prefix}_PUSH`,
        subjectPrefix: `${prefix}.push`,
        durable: "writer",
        batch: 10,
        retryDelayMs: 50,
        onRejected: (_m, reason) => rejected.push(reason),
      });
    const publish = (i: number, to = "online_and_offline") =>
      bus.publish(`${prefix}.push.speed_push`, { df: { rider_id: [i % 3], speed: [i * 1.5], ts: [new Date(Date.UTC(2024, 0, 1, 0, i)).toISOString()] }, to });
    const offlineFiles = () => {
      try {
        return readdirSync(join(dir.path, "offline", "p", "speed_push")).filter((f) => f.endsWith(".parquet"));
      } catch {
        return [];
      }
    };
    const speeds = async () => (await store.getOnlineFeatures({ features: ["speeds:speed"], entities: { rider_id: [0, 1, 2] } })).results[1]?.values;

    beforeAll(async () => {
      dir = tempDir("flywheel-pushc-");
      db = await OfflineDb.open();
      const loc = await backend.create();
      prefix = loc.prefix;
      drop = loc.drop;
      bus = await openStreamBus(loc.uri, { logger: silentLogger });
      metadata = await openMetadataStore(`sqlite:///${join(dir.path, "meta.db")}`);
      online = await openOnlineStore(`sqlite:///${join(dir.path, "online.db")}`, { project: "p" });
      store = new FeatureStore({ registry: metadata.features, online, project: "p", offlineDir: join(dir.path, "offline"), now: () => Date.UTC(2024, 0, 2) });
      const repo = repoFromObjects([
        { value: { kind: "entity", name: "rider", joinKeys: ["rider_id"], valueType: "Int64" }, where: "t" },
        { value: { kind: "file_source", name: "speeds_src", path: join(dir.path, "speeds.parquet"), timestampField: "ts" }, where: "t" },
        { value: { kind: "push_source", name: "speed_push", batchSource: "speeds_src" }, where: "t" },
        { value: { kind: "feature_view", name: "speeds", entities: ["rider"], source: "speed_push", schema: [{ name: "speed", dtype: "Float64" }] }, where: "t" },
      ]);
      await store.apply(repo, "test");
    });

    afterAll(async () => {
      await bus?.close();
      await online?.close();
      await metadata?.close();
      db?.close();
      await drop?.();
      dir?.remove();
    });

    test("messages reach the online store and the offline history", async () => {
      const c = consumer();
      await c.start();
      for (let i = 0; i < 3; i++) await publish(i);
      await until(() => c.stats.applied === 3);
      await c.stop();
      expect(await speeds()).toEqual([0, 1.5, 3]);
      expect(offlineFiles()).toHaveLength(3);
    });

    test("a restarted consumer resumes after the last applied message", async () => {
      for (let i = 3; i < 6; i++) await publish(i);
      const c = consumer();
      await c.start();
      await until(() => c.stats.applied === 3);
      await c.stop();
      expect(c.stats.skipped).toBe(0);
      expect(await speeds()).toEqual([4.5, 6, 7.5]);
      expect(offlineFiles()).toHaveLength(6);
    });

    test("a batch redelivered after a failure part-way applies nothing twice", async () => {
      let failures = 0;
      const c = consumer();
      const original = c.handle.bind(c);
      // The first attempt applies every message, then dies before the batch is acknowledged.
      c.handle = async (messages) => {
        await original(messages);
        if (failures++ === 0) throw new Error("crash after applying, before the ack");
      };
      for (let i = 6; i < 9; i++) await publish(i);
      await c.start();
      await until(() => failures >= 2);
      await c.stop();
      expect(c.stats.applied).toBe(3);
      expect(c.stats.skipped).toBe(3);
      expect(offlineFiles()).toHaveLength(9);
      const rows = await db.query(`SELECT count(*) AS n FROM read_parquet(${quoteLiteral(join(dir.path, "offline", "p", "speed_push", "*.parquet"))})`);
      expect(Number(rows[0]?.n)).toBe(9);
    });

    test("a message that can never be applied is skipped and reported", async () => {
      await bus.publish(`${prefix}.push.speed_push`, { df: { rider_id: ["not-a-number"], speed: [1], ts: ["2024-01-01T00:00:00Z"] } });
      await bus.publish(`${prefix}.push.nope`, { df: {} });
      await publish(9, "online");
      const c = consumer();
      await c.start();
      await until(() => c.stats.applied === 1 && c.stats.rejected === 2);
      await c.stop();
      expect(rejected.join("\n")).toContain("rider_id");
      expect(rejected.join("\n")).toContain("Unknown push source 'nope'");
      expect((await speeds())?.[0]).toBe(13.5);
    });
  });
}

describe("flywheel server with a stream URI", () => {
  test("feeds push sources from flywheel.<project>.push.<source>", async () => {
    const uri = `memory://server_${randomToken(4)}`;
    const server = await startTestServer(sqliteBackend, { streamUri: uri });
    const bus = await openStreamBus(uri, { logger: silentLogger });
    try {
      const definitions = {
        entities: [{ kind: "entity", name: "rider", joinKeys: ["rider_id"], valueType: "Int64" }],
        sources: [
          { kind: "file_source", name: "speeds_src", path: join(server.dataDir, "speeds.parquet"), timestampField: "ts" },
          { kind: "push_source", name: "speed_push", batchSource: "speeds_src" },
        ],
        featureViews: [{ kind: "feature_view", name: "speeds", entities: ["rider"], source: "speed_push", schema: [{ name: "speed", dtype: "Float64" }] }],
      };
      expect((await server.call("POST", "/api/v1/features/apply", { definitions })).status).toBe(200);
      await bus.publish(`${pushStreamNames("default").subjectPrefix}.speed_push`, { df: { rider_id: [7], speed: [42.5], ts: [new Date().toISOString()] } });
      await until(async () => {
        const res = await server.call("POST", "/get-online-features", { features: ["speeds:speed"], entities: { rider_id: [7] } });
        return res.json.results[1].values[0] === 42.5;
      });
    } finally {
      await bus.close();
      await server.stop();
    }
  });
});
