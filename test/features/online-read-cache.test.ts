/**
 * What online reads cache. The registry check: trusted for `registryCheckMs`, so an apply through
 * the same store takes effect at once, an apply through another store (another process) within the
 * delay, and with 0 on the very next read; several FeatureStore objects over one metadata database
 * stand in for several processes. The read plan of a selection: kept per applied version, never
 * shared between selections that differ, and never kept for a selection that fails.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { FeatureStore } from "../../src/features/feature-store.js";
import type { FeatureRepo } from "../../src/features/definitions.js";
import { openMetadataStore } from "../../src/storage/metadata/open.js";
import type { MetadataStore } from "../../src/storage/metadata/metadata-store.js";
import { openOnlineStore } from "../../src/storage/online/open.js";
import type { OnlineStore } from "../../src/storage/online/online-store.js";
import { tempDir } from "../helpers/backends.js";

const DELAY_MS = 300;
const T = Date.parse("2024-05-01T00:00:00Z");

function repoWith(dir: string, features: string[]): FeatureRepo {
  return FeatureStore.checkRepo({
    entities: [{ kind: "entity", name: "item", joinKeys: ["item_id"], valueType: "Int64" }],
    sources: [{ kind: "file_source", name: "items_src", path: join(dir, "items.parquet"), timestampField: "ts" }],
    featureViews: [{ kind: "feature_view", name: "items", entities: ["item"], source: "items_src", schema: features.map((name) => ({ name, dtype: "Int64" })) }],
  });
}

const readB = (store: FeatureStore) => store.getOnlineFeatures({ features: ["items:b"], entities: { item_id: [1] } });

describe("online read caches", () => {
  let dir: ReturnType<typeof tempDir>;
  let metadata: MetadataStore;
  let online: OnlineStore;
  const stores: Record<"writer" | "reader" | "eager", FeatureStore> = {} as never;

  beforeAll(async () => {
    dir = tempDir("flywheel-regcheck-");
    metadata = await openMetadataStore(`sqlite:///${join(dir.path, "meta.db")}`);
    online = await openOnlineStore(`sqlite:///${join(dir.path, "online.db")}`, { project: "p" });
    const make = (registryCheckMs?: number) =>
      new FeatureStore({ registry: metadata.features, online, project: "p", offlineDir: join(dir.path, "offline"), now: () => T, ...(registryCheckMs === undefined ? {} : { registryCheckMs }) });
    stores.writer = make(DELAY_MS);
    stores.reader = make(DELAY_MS);
    stores.eager = make(0);
    await stores.writer.apply(repoWith(dir.path, ["a"]), "alice");
    await stores.writer.writeToOnlineStore("items", { item_id: [1], a: [10], ts: [T] });
  });

  afterAll(async () => {
    await online?.close();
    await metadata?.close();
    dir?.remove();
  });

  test("an apply through the same store takes effect at once; through another one within the delay", async () => {
    for (const s of Object.values(stores)) {
      const res = await s.getOnlineFeatures({ features: ["items:a"], entities: { item_id: [1] } });
      expect(res.results[1]?.values).toEqual([10]);
    }
    // Every store has just checked the registry: version 1, without feature 'b'.
    await stores.writer.apply(repoWith(dir.path, ["a", "b"]), "alice");
    expect((await readB(stores.writer)).results[1]?.statuses).toEqual(["NOT_FOUND"]);
    expect((await readB(stores.eager)).results[1]?.statuses).toEqual(["NOT_FOUND"]);
    // The other store still trusts its check of version 1, which has no feature 'b'...
    await expect(readB(stores.reader)).rejects.toThrow("Unknown feature 'b' in view 'items'");
    // ...until the delay has passed.
    await new Promise((r) => setTimeout(r, DELAY_MS + 50));
    expect((await readB(stores.reader)).metadata.feature_names).toEqual(["item_id", "b"]);
  });

  test("a kept read plan answers only the very same selection; a failing selection fails every time", async () => {
    const store = stores.eager;
    const read = (sel: { features?: string[]; featureService?: string; fullFeatureNames?: boolean }) => store.getOnlineFeatures({ ...sel, entities: { item_id: [1] } });
    for (let i = 0; i < 2; i++) {
      expect((await read({ features: ["items:a"] })).metadata.feature_names).toEqual(["item_id", "a"]);
      expect((await read({ features: ["items:a"], fullFeatureNames: true })).metadata.feature_names).toEqual(["item_id", "items__a"]);
      expect((await read({ features: ["items:b", "items:a"] })).metadata.feature_names).toEqual(["item_id", "b", "a"]);
      await expect(read({ features: ["items:a", "items:a"] })).rejects.toThrow("Feature 'items:a' is requested twice");
      await expect(read({ features: ["items:a:x"] })).rejects.toThrow("Unknown feature 'a:x'");
      await expect(read({ features: ["items:a"], featureService: "svc" })).rejects.toThrow("not both");
    }
  });

  test("concurrent reads past the delay share one registry check", async () => {
    await new Promise((r) => setTimeout(r, DELAY_MS + 50));
    let checks = 0;
    const registry = metadata.features;
    const counted = new Proxy(registry, {
      get(target, key) {
        if (key === "latestVersion") return (project: string) => (checks++, target.latestVersion(project));
        const value: unknown = Reflect.get(target, key);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const store = new FeatureStore({ registry: counted, online, project: "p", offlineDir: join(dir.path, "offline"), now: () => T, registryCheckMs: DELAY_MS });
    const answers = await Promise.all(Array.from({ length: 20 }, () => store.getOnlineFeatures({ features: ["items:a"], entities: { item_id: [1] } })));
    expect(answers.every((a) => a.results[1]?.values[0] === 10)).toBe(true);
    expect(checks).toBe(1);
    await store.getOnlineFeatures({ features: ["items:a"], entities: { item_id: [1] } });
    expect(checks).toBe(1);
  });
});
