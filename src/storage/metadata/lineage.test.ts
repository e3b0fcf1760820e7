/** The LineageStore contract on every metadata backend (SQLite always, PostgreSQL when configured). */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { metadataBackends, titleOf } from "../../../test/helpers/backends.js";
import type { LineageEdge, LineageNode } from "./lineage-store.js";
import type { MetadataStore } from "./metadata-store.js";
import { openMetadataStore } from "./open.js";

const NOW = 1_700_000_000_000;

const mv = (name: string, version: number | string): LineageNode => ({ type: "model_version", id: `${name}/${version}` });
const run = (id: string): LineageNode => ({ type: "run", id });
const dataset = (uri: string): LineageNode => ({ type: "dataset", id: uri });

function edge(src: LineageNode, relation: string, dst: LineageNode, attributes: Record<string, unknown> = {}, createdTime = NOW): LineageEdge {
  return { src, relation, dst, attributes, createdTime };
}

const ids = (edges: LineageEdge[], end: "src" | "dst") => edges.map((e) => `${e[end].type}:${e[end].id}`).sort();

for (const backend of metadataBackends) {
  describe.skipIf(backend.skip !== undefined)(`LineageStore on ${titleOf(backend)}`, () => {
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

    test("edges read back from both ends with their attributes and time", async () => {
      const features = { features: ["tenure", "plan", "monthly_charges"], nested: { k: [1, 2.5, null, true] } };
      await store.lineage.addEdges([
        edge(run("r1"), "produced", mv("churn", 1)),
        edge({ type: "experiment", id: "7" }, "contains", run("r1")),
        edge({ type: "feature_service", id: "churn_v1" }, "features", mv("churn", 1), features, NOW + 5),
        edge(dataset("file:///data/train.parquet"), "trained", mv("churn", 1), { version: "sha256:abc" }),
      ]);
      const into = await store.lineage.edgesTo(mv("churn", 1));
      expect(ids(into, "src")).toEqual(["dataset:file:///data/train.parquet", "feature_service:churn_v1", "run:r1"]);
      const fs = into.find((e) => e.src.type === "feature_service");
      expect(fs).toEqual(edge({ type: "feature_service", id: "churn_v1" }, "features", mv("churn", 1), features, NOW + 5));
      expect(typeof fs?.createdTime).toBe("number");
      expect(await store.lineage.edgesFrom(run("r1"))).toEqual([edge(run("r1"), "produced", mv("churn", 1))]);
      expect(await store.lineage.edgesTo(run("r1"))).toEqual([edge({ type: "experiment", id: "7" }, "contains", run("r1"))]);
      expect(await store.lineage.edgesFrom(dataset("file:///data/train.parquet"))).toEqual([
        edge(dataset("file:///data/train.parquet"), "trained", mv("churn", 1), { version: "sha256:abc" }),
      ]);
      // Types are part of a node's identity: the same id under another type is another node.
      expect(await store.lineage.edgesFrom({ type: "dataset", id: "r1" })).toEqual([]);
      expect(await store.lineage.edgesTo(mv("churn", 2))).toEqual([]);
    });

    test("adding an existing edge again changes nothing; duplicates in one batch are fine", async () => {
      const first = edge(run("r2"), "produced", mv("dup", 1), { n: 1 }, NOW);
      await store.lineage.addEdges([first]);
      await store.lineage.addEdges([edge(run("r2"), "produced", mv("dup", 1), { n: 2 }, NOW + 1000), first, first]);
      await store.lineage.addEdges([]);
      expect(await store.lineage.edgesFrom(run("r2"))).toEqual([first]);
      // Another relation between the same nodes is another edge.
      await store.lineage.addEdges([edge(run("r2"), "evaluated", mv("dup", 1))]);
      expect((await store.lineage.edgesFrom(run("r2"))).map((e) => e.relation).sort()).toEqual(["evaluated", "produced"]);
    });

    test("a large batch is written whole", async () => {
      const many = Array.from({ length: 1234 }, (_, i) => edge(dataset("s3://bucket/big.parquet"), "trained", mv("big", i + 1), { i }));
      await store.lineage.addEdges(many);
      const out = await store.lineage.edgesFrom(dataset("s3://bucket/big.parquet"));
      expect(out).toHaveLength(1234);
      expect(new Set(out.map((e) => e.dst.id)).size).toBe(1234);
    });

    test("renameModel moves model_version ids at both ends and nothing else", async () => {
      await store.lineage.addEdges([
        edge(run("r3"), "produced", mv("old", 1)),
        edge(run("r3"), "produced", mv("old", 12)),
        edge(mv("old", 1), "deployed", { type: "deployment", id: "prod-eu" }),
        edge(mv("old", 12), "derived", mv("other", 1)),
        // Look-alikes that must stay: another model with the same prefix, other case, other node types.
        edge(run("r3"), "produced", mv("old-2", 1)),
        edge(run("r3"), "produced", mv("Old", 1)),
        edge(run("r3"), "produced", mv("oldx", 1)),
        edge(dataset("old/1"), "trained", mv("zzz", 1)),
      ]);
      await store.lineage.renameModel("old", "new");
      expect(ids(await store.lineage.edgesFrom(run("r3")), "dst")).toEqual([
        "model_version:Old/1",
        "model_version:new/1",
        "model_version:new/12",
        "model_version:old-2/1",
        "model_version:oldx/1",
      ]);
      expect(await store.lineage.edgesFrom(mv("old", 1))).toEqual([]);
      expect(ids(await store.lineage.edgesFrom(mv("new", 1)), "dst")).toEqual(["deployment:prod-eu"]);
      expect(ids(await store.lineage.edgesTo(mv("other", 1)), "src")).toEqual(["model_version:new/12"]);
      expect(ids(await store.lineage.edgesFrom(dataset("old/1")), "dst")).toEqual(["model_version:zzz/1"]);
      // Renaming a model with no edges is a no-op.
      await store.lineage.renameModel("never-had-edges", "still-none");
    });

    test("renameModel handles LIKE wildcards, non-ASCII names and edges already under the new name", async () => {
      await store.lineage.addEdges([
        edge(run("r4"), "produced", mv("a%_b", 1)),
        edge(run("r4"), "produced", mv("aXYb", 1)),
        edge(run("r5"), "produced", mv("модель🚀", 3), { created: "first" }),
        // Left behind by a deleted model that had the target name.
        edge(run("r5"), "produced", mv("reused", 3), { created: "stale" }, NOW - 1),
      ]);
      await store.lineage.renameModel("a%_b", "c");
      expect(ids(await store.lineage.edgesFrom(run("r4")), "dst")).toEqual(["model_version:aXYb/1", "model_version:c/1"]);
      await store.lineage.renameModel("модель🚀", "ünïcødé");
      expect(ids(await store.lineage.edgesFrom(run("r5")), "dst")).toEqual(["model_version:reused/3", "model_version:ünïcødé/3"]);
      await store.lineage.renameModel("ünïcødé", "reused");
      const after = await store.lineage.edgesFrom(run("r5"));
      expect(after).toEqual([edge(run("r5"), "produced", mv("reused", 3), { created: "stale" }, NOW - 1)]);
    });
  });
}
