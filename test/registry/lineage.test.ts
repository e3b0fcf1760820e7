/**
 * The lineage graph over HTTP, on every metadata backend: a tracked run's model package names its
 * training dataset and feature service; once the version's lineage is recorded, the version's
 * graph shows run, experiment, code version, dataset and features, and the dataset leads back to
 * the versions trained on it.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { systemClock } from "../../src/core/clock.js";
import { LineageService } from "../../src/registry/lineage-service.js";
import { checkStoredPackage } from "../../src/registry/package-check.js";
import { RegistryService } from "../../src/registry/registry-service.js";
import type { ArtifactStore } from "../../src/storage/artifacts/artifact-store.js";
import { openArtifactStore } from "../../src/storage/artifacts/open.js";
import type { MetadataStore } from "../../src/storage/metadata/metadata-store.js";
import { openMetadataStore } from "../../src/storage/metadata/open.js";
import { metadataBackends, titleOf } from "../helpers/backends.js";
import { IRIS_ONNX, irisMlmodel } from "../helpers/model-package.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { applyFeatureService } from "../helpers/features.js";

const API = "/api/2.0/mlflow";
const V1 = "/api/v1";
const DATASET = "file:///data/train.parquet";

const MLMODEL = irisMlmodel();

const withMetadata = (datasetVersion: string) => `${MLMODEL}metadata:
  flywheel:
    feature_service: churn_v1
    features: [a, b, c, d]
    training_dataset: {uri: "${DATASET}", version: "${datasetVersion}"}
`;

const q = (o: Record<string, string>) => new URLSearchParams(o).toString();
const key = (n: { type: string; id: string }) => `${n.type}:${n.id}`;

for (const backend of metadataBackends) {
  describe.skipIf(backend.skip !== undefined)(`lineage on ${titleOf(backend)}`, () => {
    let s: TestServer;
    let store: MetadataStore;
    let artifacts: ArtifactStore;
    let registry: RegistryService;
    let lineage: LineageService;
    let runId: string;
    let experimentId: string;
    let artifactUri: string;

    beforeAll(async () => {
      s = await startTestServer(backend);
      await applyFeatureService(s.url, "churn_v1", ["a", "b", "c", "d"]);
      // The server's stores, opened a second time: the test records lineage through the service.
      store = await openMetadataStore(s.metadataUri);
      artifacts = await openArtifactStore(join(s.dataDir, "artifacts"));
      registry = new RegistryService(store, artifacts, systemClock, checkStoredPackage);
      lineage = new LineageService(store, artifacts, registry);

      experimentId = (await s.call("POST", `${API}/experiments/create`, { name: "churn-experiments" })).json.experiment_id;
      const run = await s.call("POST", `${API}/runs/create`, {
        experiment_id: experimentId,
        run_name: "train-churn",
        tags: [
          { key: "mlflow.source.git.commit", value: "9f2c1e7" },
          { key: "mlflow.source.name", value: "train_churn.py" },
        ],
      });
      runId = run.json.run.info.run_id;
      artifactUri = run.json.run.info.artifact_uri;
      const logged = await s.call("POST", `${API}/runs/log-batch`, {
        run_id: runId,
        params: [
          { key: "C", value: "0.5" },
          { key: "penalty", value: "l2" },
        ],
        metrics: [
          { key: "auc", value: 0.81, timestamp: 1, step: 0 },
          { key: "auc", value: 0.93, timestamp: 2, step: 1 },
          { key: "log_loss", value: "NaN", timestamp: 2, step: 1 },
        ],
      });
      expect(logged.status).toBe(200);
      const onnx = IRIS_ONNX;
      await upload("model/MLmodel", withMetadata("sha256:abc"));
      await upload("model/model.onnx", onnx);
      await upload("model-v2/MLmodel", withMetadata("sha256:def"));
      await upload("model-v2/model.onnx", onnx);
      await upload("plain/MLmodel", MLMODEL);
      await upload("plain/model.onnx", onnx);
      await upload("bad-yaml/MLmodel", `${MLMODEL}metadata: {flywheel: [unclosed\n`);
      await upload("bad-yaml/model.onnx", onnx);
    });
    afterAll(async () => {
      await artifacts?.close();
      await store?.close();
      await s?.stop();
    });

    async function upload(path: string, body: string | Buffer): Promise<void> {
      const res = await fetch(`${s.url}/api/2.0/mlflow-artifacts/artifacts/${artifactUri.replace(/^mlflow-artifacts:\//, "")}/${path}`, { method: "PUT", body });
      expect(res.status).toBe(200);
    }

    /** Registers a version over the MLflow API, then records its lineage as version creation will. */
    async function register(name: string, dir: string, meta?: Parameters<LineageService["recordVersion"]>[1]): Promise<string> {
      if ((await s.call("GET", `${API}/registered-models/get?${q({ name })}`)).status === 404) {
        expect((await s.call("POST", `${API}/registered-models/create`, { name })).status).toBe(200);
      }
      const created = await s.call("POST", `${API}/model-versions/create`, { name, source: `${artifactUri}/${dir}`, run_id: runId });
      expect(created.status).toBe(200);
      const version = created.json.model_version.version as string;
      await lineage.recordVersion(await registry.getVersion(name, version), meta);
      return version;
    }

    test("a version's graph: run with params, metrics and code version, experiment, dataset, feature service", async () => {
      expect(await register("churn", "model")).toBe("1");
      expect((await s.call("POST", `${API}/registered-models/alias`, { name: "churn", alias: "candidate", version: "1" })).status).toBe(200);
      const res = await s.call("GET", `${V1}/models/churn/versions/1/lineage`);
      expect(res.status).toBe(200);
      const g = res.json;
      expect(g.root).toEqual({ type: "model_version", id: "churn/1" });
      expect(g.truncated).toBe(false);
      expect(g.nodes.map(key).sort()).toEqual([`dataset:${DATASET}`, `experiment:${experimentId}`, "feature_service:churn_v1", "model_version:churn/1", `run:${runId}`]);
      expect(g.nodes[0]).toMatchObject({ type: "model_version", id: "churn/1" });
      const node = (type: string) => g.nodes.find((n: any) => n.type === type);
      expect(node("model_version")).toMatchObject({
        found: true,
        details: { name: "churn", version: "1", status: "READY", stage: "None", aliases: ["candidate"], source: `${artifactUri}/model`, run_id: runId },
      });
      const run = node("run");
      expect(run.found).toBe(true);
      expect(run.details).toMatchObject({ run_id: runId, run_name: "train-churn", experiment_id: experimentId, status: "RUNNING", code_version: "9f2c1e7", source_name: "train_churn.py" });
      expect(run.details.params).toEqual([
        { key: "C", value: "0.5" },
        { key: "penalty", value: "l2" },
      ]);
      const metrics = Object.fromEntries(run.details.metrics.map((m: any) => [m.key, m.value]));
      expect(metrics).toEqual({ auc: 0.93, log_loss: "NaN" });
      expect(node("experiment")).toMatchObject({ found: true, details: { experiment_id: experimentId, name: "churn-experiments" } });
      expect(node("dataset")).toMatchObject({ found: true, details: { uri: DATASET, version: "sha256:abc", versions: ["sha256:abc"] } });
      expect(node("feature_service")).toMatchObject({ found: true, details: { name: "churn_v1", features: ["a", "b", "c", "d"] } });
      const edges = g.edges.map((e: any) => `${key(e.src)} -${e.relation}-> ${key(e.dst)}`).sort();
      expect(edges).toEqual(
        [
          `run:${runId} -produced-> model_version:churn/1`,
          `experiment:${experimentId} -contains-> run:${runId}`,
          `dataset:${DATASET} -trained-> model_version:churn/1`,
          "feature_service:churn_v1 -features-> model_version:churn/1",
        ].sort(),
      );
      const trained = g.edges.find((e: any) => e.relation === "trained");
      expect(trained.attributes).toEqual({ version: "sha256:abc" });
      expect(typeof trained.created_time).toBe("number");
      expect(g.edges.find((e: any) => e.relation === "features").attributes).toEqual({ features: ["a", "b", "c", "d"] });

      // Recording again adds nothing.
      await lineage.recordVersion(await registry.getVersion("churn", "1"));
      expect((await s.call("GET", `${V1}/models/churn/versions/1/lineage`)).json.edges).toHaveLength(4);
    });

    test("which versions were trained on a dataset, and back from a version to its dataset", async () => {
      expect(await register("churn", "model-v2")).toBe("2");
      await register("other-model", "model");
      const down = await s.call("GET", `${V1}/lineage?${q({ type: "dataset", id: DATASET, direction: "downstream", depth: "1" })}`);
      expect(down.status).toBe(200);
      expect(down.json.root).toEqual({ type: "dataset", id: DATASET });
      const versions = down.json.nodes.filter((n: any) => n.type === "model_version").map((n: any) => n.id).sort();
      expect(versions).toEqual(["churn/1", "churn/2", "other-model/1"]);
      expect(down.json.nodes.every((n: any) => n.found)).toBe(true);
      const ds = down.json.nodes.find((n: any) => n.type === "dataset");
      expect(ds.details.versions.sort()).toEqual(["sha256:abc", "sha256:def"]);
      expect(ds.details.version).toBeNull();
      // The default direction is downstream.
      const byDefault = await s.call("GET", `${V1}/lineage?${q({ type: "dataset", id: DATASET })}`);
      expect(byDefault.json.nodes.filter((n: any) => n.type === "model_version").map((n: any) => n.id).sort()).toEqual(versions);

      const up = await s.call("GET", `${V1}/lineage?${q({ type: "model_version", id: "churn/2", direction: "upstream" })}`);
      expect(up.status).toBe(200);
      expect(up.json.nodes.map(key).sort()).toEqual([`dataset:${DATASET}`, `experiment:${experimentId}`, "feature_service:churn_v1", "model_version:churn/2", `run:${runId}`]);
      expect(up.json.nodes.find((n: any) => n.type === "dataset").details).toEqual({ uri: DATASET, version: "sha256:def", versions: ["sha256:def"] });

      // Depth bounds the walk: experiment -> run is one hop, run -> versions a second.
      const one = await s.call("GET", `${V1}/lineage?${q({ type: "experiment", id: experimentId, depth: "1" })}`);
      expect(one.json.nodes.map(key).sort()).toEqual([`experiment:${experimentId}`, `run:${runId}`]);
      const two = await s.call("GET", `${V1}/lineage?${q({ type: "experiment", id: experimentId, depth: "2" })}`);
      expect(two.json.nodes.filter((n: any) => n.type === "model_version").map((n: any) => n.id).sort()).toEqual(["churn/1", "churn/2", "other-model/1"]);

      // The service answers the same question directly.
      const direct = await lineage.downstream({ type: "dataset", id: DATASET }, 3);
      expect(direct.nodes.filter((n) => n.type === "model_version").map((n) => n.id).sort()).toEqual(["churn/1", "churn/2", "other-model/1"]);
      // A node nobody linked answers with itself alone.
      const lonely = await s.call("GET", `${V1}/lineage?${q({ type: "dataset", id: "s3://nobody/x.csv" })}`);
      expect(lonely.json).toMatchObject({ nodes: [{ type: "dataset", id: "s3://nobody/x.csv", found: true }], edges: [] });
    });

    test("packages without Flywheel metadata, with unreadable metadata or missing give run edges only; explicit metadata wins", async () => {
      const plain = await register("plain", "plain");
      const bad = await register("plain", "bad-yaml");
      const missing = await register("plain", "nothing-here");
      for (const v of [plain, bad, missing]) {
        const g = (await s.call("GET", `${V1}/models/plain/versions/${v}/lineage`)).json;
        expect(g.nodes.map((n: any) => n.type).sort(), `version ${v}`).toEqual(["experiment", "model_version", "run"]);
      }
      const failed = (await s.call("GET", `${V1}/models/plain/versions/${missing}/lineage`)).json.nodes[0];
      expect(failed.details.status).toBe("FAILED_REGISTRATION");

      const given = await register("plain", "plain", { featureService: "churn_v2", features: ["x", "y", "z"], trainingDataset: { uri: "s3://lake/churn.csv" } });
      const g = (await s.call("GET", `${V1}/models/plain/versions/${given}/lineage`)).json;
      expect(g.nodes.find((n: any) => n.type === "dataset").details).toEqual({ uri: "s3://lake/churn.csv", version: null, versions: [] });
      expect(g.nodes.find((n: any) => n.type === "feature_service").details).toEqual({ name: "churn_v2", features: ["x", "y", "z"] });
    });

    test("renaming a model carries its lineage; a deleted run shows as not found", async () => {
      const v = await register("to-rename", "model");
      expect((await s.call("POST", `${API}/registered-models/rename`, { name: "to-rename", new_name: "renamed" })).status).toBe(200);
      const g = await s.call("GET", `${V1}/models/renamed/versions/${v}/lineage`);
      expect(g.status).toBe(200);
      expect(g.json.nodes.map(key)).toContain(`dataset:${DATASET}`);
      const fromDataset = await s.call("GET", `${V1}/lineage?${q({ type: "dataset", id: DATASET, depth: "1" })}`);
      const ids = fromDataset.json.nodes.map((n: any) => n.id);
      expect(ids).toContain(`renamed/${v}`);
      expect(ids).not.toContain(`to-rename/${v}`);
      expect(await s.call("GET", `${V1}/models/to-rename/versions/${v}/lineage`)).toMatchObject({ status: 404, json: { error_code: "FW_REGISTRY_MODEL_NOT_FOUND" } });

      // Edges outlive what they name: a node whose record is gone is reported, marked not found.
      await store.lineage.addEdges([{ src: { type: "run", id: "gone-run" }, relation: "produced", dst: { type: "model_version", id: `renamed/${v}` }, attributes: {}, createdTime: 1 }]);
      const after = (await s.call("GET", `${V1}/models/renamed/versions/${v}/lineage`)).json;
      expect(after.nodes.find((n: any) => n.id === "gone-run")).toEqual({ type: "run", id: "gone-run", found: false, details: { run_id: "gone-run" } });
    });

    test("errors: unknown model or version 404, bad query fields 400 naming the field", async () => {
      expect(await s.call("GET", `${V1}/models/nope/versions/1/lineage`)).toMatchObject({ status: 404, json: { error_code: "FW_REGISTRY_MODEL_NOT_FOUND" } });
      expect(await s.call("GET", `${V1}/models/churn/versions/99/lineage`)).toMatchObject({ status: 404, json: { error_code: "FW_REGISTRY_VERSION_NOT_FOUND" } });
      expect(await s.call("GET", `${V1}/models/churn/versions/abc/lineage`)).toMatchObject({ status: 404, json: { error_code: "FW_REGISTRY_VERSION_NOT_FOUND" } });
      const cases: [Record<string, string>, string][] = [
        [{ type: "spaceship", id: "x" }, "type"],
        [{ type: "dataset", id: "x", direction: "sideways" }, "direction"],
        [{ type: "dataset", id: "x", depth: "0" }, "depth"],
        [{ type: "dataset", id: "x", depth: "21" }, "depth"],
        [{ type: "dataset", id: "x", depth: "two" }, "depth"],
        [{ type: "dataset" }, "id"],
        [{ type: "dataset", id: "" }, "id"],
        [{ id: "x" }, "type"],
      ];
      for (const [query, field] of cases) {
        const res = await s.call("GET", `${V1}/lineage?${q(query)}`);
        expect(res.status, JSON.stringify(query)).toBe(400);
        expect(res.json.error_code).toBe("FW_REQUEST_INVALID_FIELD");
        expect(res.json.message).toContain(`'${field}'`);
      }
    });

    test("the lineage routes are in the OpenAPI document", async () => {
      const doc = (await s.call("GET", "/api/openapi.json")).json;
      expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(["/api/v1/lineage", "/api/v1/models/{name}/versions/{version}/lineage"]));
      const params = doc.paths["/api/v1/lineage"].get.parameters.map((p: any) => p.name);
      expect(params).toEqual(expect.arrayContaining(["type", "id", "direction", "depth"]));
    });
  });
}
