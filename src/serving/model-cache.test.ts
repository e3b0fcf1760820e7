import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { FlywheelError } from "../core/errors.js";
import type { ModelRef } from "../registry/model-uri.js";
import type { ArtifactStore } from "../storage/artifacts/artifact-store.js";
import { openArtifactStore } from "../storage/artifacts/open.js";
import type { ModelVersion } from "../storage/metadata/registry-store.js";
import { ServingError } from "./errors.js";
import { ModelCache, type ModelResolver } from "./model-cache.js";

const IRIS = readFileSync(new URL("../../../shared/fixtures/models/iris_logreg.onnx", import.meta.url));
const MLMODEL = (signature: string) => `artifact_path: model
flavors:
  onnx:
    code: null
    data: model.onnx
${signature}`;
const TENSOR_SIGNATURE = `signature:
  inputs: '[{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 4]}, "name": "float_input"}]'
`;
const COLUMN_SIGNATURE = `signature:
  inputs: '[{"type": "double", "name": "a"}, {"type": "double", "name": "b"}, {"type": "double", "name": "c"}, {"type": "double", "name": "d"}]'
`;

/** An in-memory registry: versions by number, aliases that tests move. */
class FakeRegistry implements ModelResolver {
  versions = new Map<string, ModelVersion>();
  aliases = new Map<string, string>();
  resolves = 0;
  /** A fixed revision token; when unset every call gets a new one, so nothing is cached. */
  revision: string | undefined = undefined;
  private fresh = 0;
  async modelRevision(): Promise<string | undefined> {
    return this.revision ?? `fresh-${this.fresh++}`;
  }
  add(version: string, key: string, extra: Partial<ModelVersion> = {}): void {
    this.versions.set(version, {
      name: "iris", version, creationTime: 1, lastUpdatedTime: 1, description: "", userId: "", currentStage: "None",
      source: `mlflow-artifacts:/${key}`, runId: null, runLink: "", status: "READY", statusMessage: "", tags: [], aliases: [], ...extra,
    });
  }
  async resolve(ref: ModelRef): Promise<ModelVersion> {
    this.resolves++;
    const number = ref.kind === "version" ? ref.version : ref.kind === "alias" ? this.aliases.get(ref.alias) : [...this.versions.keys()].at(-1);
    const v = number === undefined ? undefined : this.versions.get(number);
    if (v === undefined) throw new FlywheelError("FW_REGISTRY_VERSION_NOT_FOUND", "no such version");
    return v;
  }
  async downloadUri(_name: string, version: string): Promise<string> {
    return (this.versions.get(version) as ModelVersion).source;
  }
}

describe("ModelCache", () => {
  let dir: string;
  let store: ArtifactStore;
  const put = (key: string, body: string | Uint8Array) => store.put(key, Readable.from([Buffer.from(body)]));
  const v = (version: string): ModelRef => ({ name: "iris", kind: "version", version });
  const ROW = { x: { type: "float32" as const, data: new Float32Array([5.1, 3.5, 1.4, 0.2]), dims: [1, 4] } };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "flywheel-cache-"));
    store = await openArtifactStore(join(dir, "artifacts"));
    for (const [pkg, mlmodel] of [["declared", MLMODEL(TENSOR_SIGNATURE)], ["graph", MLMODEL("")], ["columns", MLMODEL(COLUMN_SIGNATURE)]] as const) {
      await put(`${pkg}/MLmodel`, mlmodel);
      await put(`${pkg}/model.onnx`, IRIS);
    }
    await put("missing/MLmodel", MLMODEL(""));
  });
  afterAll(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("a resolution is reused while the model's revision token is unchanged, and redone when it changes", async () => {
    const reg = new FakeRegistry();
    reg.add("1", "declared");
    reg.add("2", "graph");
    reg.aliases.set("champion", "1");
    reg.revision = "r1";
    const cache = new ModelCache(reg, store);
    const champion: ModelRef = { name: "iris", kind: "alias", alias: "champion" };
    for (let i = 0; i < 5; i++) expect((await cache.resolveReady(champion)).version).toBe("1");
    expect(reg.resolves).toBe(1);
    reg.aliases.set("champion", "2");
    expect((await cache.resolveReady(champion)).version).toBe("1");
    reg.revision = "r2";
    expect((await cache.resolveReady(champion)).version).toBe("2");
    expect(reg.resolves).toBe(2);
    await cache.close();
  });

  test("the revision token is reused until this process writes or revisionTtlMs passes; without a write count it is read every time", async () => {
    class CountingRegistry extends FakeRegistry {
      reads = 0;
      writes: number | undefined = 0;
      override async modelRevision(): Promise<string | undefined> {
        this.reads++;
        return super.modelRevision();
      }
      localWriteCount(): number | undefined {
        return this.writes;
      }
    }
    const reg = new CountingRegistry();
    reg.add("1", "declared");
    reg.add("2", "graph");
    reg.aliases.set("champion", "1");
    reg.revision = "r1";
    const champion: ModelRef = { name: "iris", kind: "alias", alias: "champion" };
    const cache = new ModelCache(reg, store, { revisionTtlMs: 150 });
    for (let i = 0; i < 5; i++) expect((await cache.resolveReady(champion)).version).toBe("1");
    expect(reg.reads).toBe(1);
    // A write by this process (the count moves when it starts): the next request reads the token.
    reg.aliases.set("champion", "2");
    reg.revision = "r2";
    reg.writes = 1;
    expect((await cache.resolveReady(champion)).version).toBe("2");
    expect(reg.reads).toBe(2);
    // A write by another process leaves the count alone: it is seen once the token is revisionTtlMs old.
    reg.aliases.set("champion", "1");
    reg.revision = "r3";
    expect((await cache.resolveReady(champion)).version).toBe("2");
    await new Promise((r) => setTimeout(r, 160));
    expect((await cache.resolveReady(champion)).version).toBe("1");
    expect(reg.reads).toBe(3);
    // A store that keeps no count, or revisionTtlMs 0: one read per request.
    reg.writes = undefined;
    for (let i = 0; i < 3; i++) await cache.resolveReady(champion);
    expect(reg.reads).toBe(6);
    reg.writes = 7;
    const eager = new ModelCache(reg, store, { revisionTtlMs: 0 });
    for (let i = 0; i < 3; i++) await eager.resolveReady(champion);
    expect(reg.reads).toBe(9);
    expect(() => new ModelCache(reg, store, { revisionTtlMs: -1 })).toThrow(/revisionTtlMs/);
    await cache.close();
    await eager.close();
  });

  test("one session per version, shared by concurrent and later requests", async () => {
    const reg = new FakeRegistry();
    reg.add("1", "declared");
    reg.add("2", "graph");
    const cache = new ModelCache(reg, store, { intraOpNumThreads: 2 });
    const seen = await Promise.all(Array.from({ length: 8 }, () => cache.use(v("1"), async (m) => m)));
    expect(new Set(seen).size).toBe(1);
    expect(cache.loads).toBe(1);
    await cache.use(v("1"), async () => undefined);
    expect(cache.loads).toBe(1);
    await cache.use(v("2"), async () => undefined);
    expect(cache.loads).toBe(2);
    expect(cache.size).toBe(2);
    const out = await cache.use(v("1"), (m) => m.run({ float_input: ROW.x }, ["label"]));
    expect(out.label?.type).toBe("int64");
    expect(Array.from(out.label?.data as BigInt64Array)).toEqual([0n]);
    await cache.close();
    expect(cache.size).toBe(0);
    await expect(cache.use(v("1"), async () => undefined)).rejects.toMatchObject({ status: 500 });
  });

  test("the signature comes from the MLmodel, else from the graph", async () => {
    const reg = new FakeRegistry();
    reg.add("1", "declared");
    reg.add("2", "graph");
    reg.add("3", "columns");
    const cache = new ModelCache(reg, store);
    const graph = {
      inputs: [{ name: "float_input", datatype: "FP32", shape: [-1, 4] }],
      outputs: [
        { name: "label", datatype: "INT64", shape: [-1] },
        { name: "probabilities", datatype: "FP32", shape: [-1, 3] },
      ],
    };
    for (const version of ["1", "2", "3"]) expect(await cache.use(v(version), async (m) => m.signature), version).toEqual(graph);
    await cache.close();
  });

  test("aliases are resolved on every call; sessions stay cached per version", async () => {
    const reg = new FakeRegistry();
    reg.add("1", "declared");
    reg.add("2", "graph");
    reg.aliases.set("blue", "1");
    const cache = new ModelCache(reg, store);
    const blue: ModelRef = { name: "iris", kind: "alias", alias: "blue" };
    expect(await cache.use(blue, async (m) => m.version)).toBe("1");
    reg.aliases.set("blue", "2");
    expect(await cache.use(blue, async (m) => m.version)).toBe("2");
    reg.aliases.set("blue", "1");
    expect(await cache.use(blue, async (m) => m.version)).toBe("1");
    expect(cache.loads).toBe(2);
    expect(reg.resolves).toBe(3);
    await cache.close();
  });

  test("a version that is not READY is refused with a 400 that says why; unknown ones keep their 404", async () => {
    const reg = new FakeRegistry();
    reg.add("1", "declared", { status: "FAILED_REGISTRATION", statusMessage: "the ONNX file does not load" });
    const cache = new ModelCache(reg, store);
    const err = await cache.use(v("1"), async () => undefined).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ServingError);
    expect(err).toMatchObject({ status: 400, message: "model 'iris' version 1 cannot be served: its status is FAILED_REGISTRATION (the ONNX file does not load)" });
    await expect(cache.use(v("7"), async () => undefined)).rejects.toMatchObject({ status: 404 });
    expect(cache.loads).toBe(0);
    await cache.close();
  });

  test("a package that cannot be loaded is a 500 and is not cached; a reused version number reloads", async () => {
    const reg = new FakeRegistry();
    reg.add("1", "missing");
    const cache = new ModelCache(reg, store);
    await expect(cache.use(v("1"), async () => undefined)).rejects.toMatchObject({ status: 500, message: expect.stringMatching(/^model 'iris' version 1 could not be loaded/) });
    expect(cache.size).toBe(0);
    // The model was deleted and registered again: version 1 is now another package.
    reg.add("1", "declared", { creationTime: 2 });
    expect(await cache.use(v("1"), async (m) => m.version)).toBe("1");
    reg.add("1", "graph", { creationTime: 3 });
    await cache.use(v("1"), async () => undefined);
    expect(cache.loads).toBe(2);
    expect(cache.size).toBe(1);
    await cache.close();
  });

  test("a runtime failure is a 400 naming the model", async () => {
    const reg = new FakeRegistry();
    reg.add("1", "declared");
    const cache = new ModelCache(reg, store);
    const bad = { float_input: { type: "float32" as const, data: new Float32Array(5), dims: [1, 5] } };
    await expect(cache.use(v("1"), (m) => m.run(bad, ["label"]))).rejects.toMatchObject({ status: 400, message: expect.stringMatching(/^model 'iris' version 1 could not run on this input: /) });
    await cache.close();
  });

  test("intraOpNumThreads must be a non-negative integer", () => {
    expect(() => new ModelCache(new FakeRegistry(), store, { intraOpNumThreads: -1 })).toThrow(/intraOpNumThreads/);
  });
});
