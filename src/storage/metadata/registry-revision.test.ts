/** The registry's per-model revision token changes with everything a models:/ reference depends on. */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { metadataBackends, titleOf } from "../../../test/helpers/backends.js";
import type { MetadataStore } from "./metadata-store.js";
import { openMetadataStore } from "./open.js";

for (const backend of metadataBackends) {
  describe.skipIf(backend.skip !== undefined)(`model revision on ${titleOf(backend)}`, () => {
    let store: MetadataStore;
    let db: { uri: string; drop(): Promise<void> };
    beforeAll(async () => {
      db = await backend.create();
      store = await openMetadataStore(db.uri);
    });
    afterAll(async () => {
      await store?.close();
      await db?.drop();
    });

    test("bumps on version, stage, alias, rename and re-creation; not on tags or descriptions", async () => {
      const r = store.registry;
      const now = 1;
      await r.createModel({ name: "m", description: "", userId: "", tags: [], now });
      const seen = new Set<string>();
      const expectNew = async (name = "m") => {
        const token = await r.modelRevision(name);
        expect(token).toBeDefined();
        expect(seen.has(token as string), `token ${token} repeated`).toBe(false);
        seen.add(token as string);
        return token;
      };
      const version = () =>
        r.createVersion({ name: "m", source: "mlflow-artifacts:/x", runId: null, runLink: "", description: "", userId: "", tags: [], status: "READY", statusMessage: "", now });
      await expectNew();
      await version();
      await expectNew();
      await version();
      await expectNew();
      await r.transitionStage("m", "1", "Production", false, now);
      await expectNew();
      await r.setAlias("m", "champion", "2", now);
      const beforeTags = await expectNew();
      await r.setVersionTag("m", "2", { key: "k", value: "v" }, now);
      await r.updateVersion("m", "2", "described", now);
      expect(await r.modelRevision("m")).toBe(beforeTags);
      await r.deleteAlias("m", "champion");
      await expectNew();
      await r.deleteVersion("m", "1");
      await expectNew();
      await r.renameModel("m", "m2", now);
      expect(await r.modelRevision("m")).toBeUndefined();
      await expectNew("m2");
      await r.deleteModel("m2");
      await r.createModel({ name: "m2", description: "", userId: "", tags: [], now });
      await expectNew("m2");
    });

    test("this process's write count moves when a write starts and again when it ends, failed or not; reads leave it alone", async () => {
      const r = store.registry;
      const count = () => r.writeCount?.() as number;
      expect(typeof count()).toBe("number");
      const start = count();
      await r.createModel({ name: "w", description: "", userId: "", tags: [], now: 1 });
      expect(count()).toBe(start + 2);
      const pending = r.setModelTag("w", { key: "k", value: "v" }, 1);
      const during = count();
      await pending;
      expect(during).toBe(start + 3);
      expect(count()).toBe(start + 4);
      await expect(r.setAlias("w", "champion", "9", 1)).rejects.toThrow();
      expect(count()).toBe(start + 6);
      await r.modelRevision("w");
      await r.getModel("w");
      expect(count()).toBe(start + 6);
    });
  });
}
