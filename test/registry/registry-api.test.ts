/** The MLflow-compatible model registry API over HTTP, against every metadata backend. */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { metadataBackends, titleOf } from "../helpers/backends.js";
import { IRIS_ONNX, irisMlmodel, uploadToRun } from "../helpers/model-package.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

const API = "/api/2.0/mlflow";
const IRIS_MLMODEL = irisMlmodel();

for (const backend of metadataBackends) {
  describe.skipIf(backend.skip !== undefined)(`model registry API on ${titleOf(backend)}`, () => {
    let s: TestServer;
    let runId: string;
    let artifactUri: string;
    beforeAll(async () => {
      s = await startTestServer(backend);
      const exp = await s.call("POST", `${API}/experiments/create`, { name: "registry" });
      const run = await s.call("POST", `${API}/runs/create`, { experiment_id: exp.json.experiment_id });
      runId = run.json.run.info.run_id;
      artifactUri = run.json.run.info.artifact_uri;
      await upload("model/MLmodel", IRIS_MLMODEL);
      await upload("model/model.onnx", IRIS_ONNX);
      await upload("broken/MLmodel", IRIS_MLMODEL);
      await upload("broken/model.onnx", IRIS_ONNX.subarray(0, 200));
      await upload("wrongsig/MLmodel", IRIS_MLMODEL.replace('"dtype": "float32", "shape": [-1, 4]', '"dtype": "float64", "shape": [-1, 4]'));
      await upload("wrongsig/model.onnx", IRIS_ONNX);
    });
    afterAll(async () => {
      await s?.stop();
    });

    const upload = (path: string, body: string | Uint8Array) => uploadToRun(s.url, artifactUri, { [path]: body });
    const call = (method: string, path: string, body?: unknown) => s.call(method, `${API}/${path}`, body);
    const q = (o: Record<string, string>) => new URLSearchParams(o).toString();

    test("registered models: create, get, update, rename, tags, search, delete", async () => {
      const created = await call("POST", "registered-models/create", { name: "iris", description: "flowers", tags: [{ key: "team", value: "ml" }] });
      expect(created.status).toBe(200);
      expect(created.json.registered_model).toMatchObject({ name: "iris", description: "flowers", tags: [{ key: "team", value: "ml" }] });
      expect(typeof created.json.registered_model.creation_timestamp).toBe("number");
      expect(await call("POST", "registered-models/create", { name: "iris" })).toMatchObject({ status: 400, json: { error_code: "RESOURCE_ALREADY_EXISTS" } });
      expect(await call("GET", `registered-models/get?${q({ name: "nope" })}`)).toMatchObject({ status: 404, json: { error_code: "RESOURCE_DOES_NOT_EXIST" } });
      expect((await call("PATCH", "registered-models/update", { name: "iris", description: "irises" })).json.registered_model.description).toBe("irises");
      await call("POST", "registered-models/create", { name: "tmp-model" });
      expect((await call("POST", "registered-models/rename", { name: "tmp-model", new_name: "tmp-2" })).json.registered_model.name).toBe("tmp-2");
      expect((await call("POST", "registered-models/set-tag", { name: "tmp-2", key: "k", value: "v" })).status).toBe(200);
      expect((await call("DELETE", "registered-models/delete-tag", { name: "tmp-2", key: "k" })).status).toBe(200);
      const found = await call("GET", `registered-models/search?${q({ filter: "name LIKE 'tmp%'" })}`);
      expect(found.json.registered_models.map((m: any) => m.name)).toEqual(["tmp-2"]);
      const byTag = await call("GET", `registered-models/search?${q({ filter: "tags.team = 'ml'" })}`);
      expect(byTag.json.registered_models.map((m: any) => m.name)).toEqual(["iris"]);
      const ordered = await call("GET", `registered-models/search?${q({ order_by: "name DESC", max_results: "1" })}`);
      expect(ordered.json.registered_models.map((m: any) => m.name)).toEqual(["tmp-2"]);
      const next = await call("GET", `registered-models/search?${q({ order_by: "name DESC", max_results: "1", page_token: ordered.json.next_page_token })}`);
      expect(next.json.registered_models.map((m: any) => m.name)).toEqual(["iris"]);
      expect((await call("DELETE", "registered-models/delete", { name: "tmp-2" })).status).toBe(200);
      expect((await call("GET", `registered-models/get?${q({ name: "tmp-2" })}`)).status).toBe(404);
      expect(await call("POST", "registered-models/create", { name: "a/b" })).toMatchObject({ status: 400, json: { error_code: "INVALID_PARAMETER_VALUE" } });
      expect(await call("POST", "registered-models/create", { name: "" })).toMatchObject({ status: 400 });
    });

    test("versions count from 1, packages are checked: READY or FAILED_REGISTRATION with the reason", async () => {
      await call("POST", "registered-models/create", { name: "checked" });
      const ok = await call("POST", "model-versions/create", { name: "checked", source: `${artifactUri}/model`, run_id: runId });
      expect(ok.status).toBe(200);
      expect(ok.json.model_version).toMatchObject({ name: "checked", version: "1", status: "READY", current_stage: "None", run_id: runId, source: `${artifactUri}/model` });
      const broken = await call("POST", "model-versions/create", { name: "checked", source: `${artifactUri}/broken`, run_id: runId });
      expect(broken.json.model_version).toMatchObject({ version: "2", status: "FAILED_REGISTRATION" });
      expect(broken.json.model_version.status_message).toMatch(/onnx|ONNX/);
      const wrong = await call("POST", "model-versions/create", { name: "checked", source: `runs:/${runId}/wrongsig` });
      expect(wrong.json.model_version).toMatchObject({ version: "3", status: "FAILED_REGISTRATION", run_id: runId });
      expect(wrong.json.model_version.status_message).toContain("float64");
      const empty = await call("POST", "model-versions/create", { name: "checked", source: `${artifactUri}/nothing-here`, run_id: runId });
      expect(empty.json.model_version).toMatchObject({ version: "4", status: "FAILED_REGISTRATION" });
      expect((await call("GET", `model-versions/get-download-uri?${q({ name: "checked", version: "1" })}`)).json.artifact_uri).toBe(`${artifactUri}/model`);
      expect(await call("GET", `model-versions/get?${q({ name: "checked", version: "9" })}`)).toMatchObject({ status: 404, json: { error_code: "RESOURCE_DOES_NOT_EXIST" } });
      expect(await call("POST", "model-versions/create", { name: "missing-model", source: `${artifactUri}/model` })).toMatchObject({ status: 404 });
    });

    test("stages, archive_existing_versions, latest versions, tags, update, delete, search", async () => {
      await call("POST", "registered-models/create", { name: "staged" });
      for (let i = 0; i < 3; i++) await call("POST", "model-versions/create", { name: "staged", source: `${artifactUri}/model`, run_id: runId, tags: [{ key: "n", value: String(i + 1) }] });
      expect((await call("POST", "model-versions/transition-stage", { name: "staged", version: "1", stage: "production" })).json.model_version.current_stage).toBe("Production");
      await call("POST", "model-versions/transition-stage", { name: "staged", version: "2", stage: "Staging", archive_existing_versions: false });
      const moved = await call("POST", "model-versions/transition-stage", { name: "staged", version: "3", stage: "Production", archive_existing_versions: true });
      expect(moved.json.model_version.current_stage).toBe("Production");
      expect((await call("GET", `model-versions/get?${q({ name: "staged", version: "1" })}`)).json.model_version.current_stage).toBe("Archived");
      expect(await call("POST", "model-versions/transition-stage", { name: "staged", version: "3", stage: "Live" })).toMatchObject({ status: 400 });
      const latest = await call("POST", "registered-models/get-latest-versions", { name: "staged", stages: ["Production", "Staging"] });
      expect(latest.json.model_versions.map((v: any) => [v.version, v.current_stage]).sort()).toEqual([["2", "Staging"], ["3", "Production"]]);
      const model = await call("GET", `registered-models/get?${q({ name: "staged" })}`);
      expect(model.json.registered_model.latest_versions.map((v: any) => v.version).sort()).toEqual(["1", "2", "3"]);
      expect((await call("PATCH", "model-versions/update", { name: "staged", version: "2", description: "candidate" })).json.model_version.description).toBe("candidate");
      await call("POST", "model-versions/set-tag", { name: "staged", version: "2", key: "validated", value: "yes" });
      const byTag = await call("GET", `model-versions/search?${q({ filter: "name = 'staged' and tags.validated = 'yes'" })}`);
      expect(byTag.json.model_versions.map((v: any) => v.version)).toEqual(["2"]);
      const byRun = await call("GET", `model-versions/search?${q({ filter: `run_id = '${runId}' and name = 'staged'` })}`);
      expect(byRun.json.model_versions.map((v: any) => v.version)).toEqual(["3", "2", "1"]);
      const bySource = await call("GET", `model-versions/search?${q({ filter: "source_path LIKE '%/model' and name = 'staged'", order_by: "version_number ASC" })}`);
      expect(bySource.json.model_versions.map((v: any) => v.version)).toEqual(["1", "2", "3"]);
      expect((await call("DELETE", "model-versions/delete-tag", { name: "staged", version: "2", key: "validated" })).status).toBe(200);
      expect((await call("DELETE", "model-versions/delete", { name: "staged", version: "1" })).status).toBe(200);
      const after = await call("POST", "model-versions/create", { name: "staged", source: `${artifactUri}/model`, run_id: runId });
      expect(after.json.model_version.version).toBe("4");
    });

    test("aliases follow MLflow's rules and move", async () => {
      await call("POST", "registered-models/create", { name: "aliased" });
      for (let i = 0; i < 2; i++) await call("POST", "model-versions/create", { name: "aliased", source: `${artifactUri}/model`, run_id: runId });
      expect((await call("POST", "registered-models/alias", { name: "aliased", alias: "champion", version: "1" })).status).toBe(200);
      expect((await call("GET", `registered-models/alias?${q({ name: "aliased", alias: "champion" })}`)).json.model_version).toMatchObject({ version: "1", aliases: ["champion"] });
      await call("POST", "registered-models/alias", { name: "aliased", alias: "champion", version: "2" });
      expect((await call("GET", `registered-models/alias?${q({ name: "aliased", alias: "champion" })}`)).json.model_version.version).toBe("2");
      expect((await call("GET", `registered-models/get?${q({ name: "aliased" })}`)).json.registered_model.aliases).toEqual([{ alias: "champion", version: "2" }]);
      const resolve = (uri: string) => s.call("GET", `/api/v1/models/resolve?${q({ uri })}`);
      expect((await resolve("models:/aliased@champion")).json).toMatchObject({ model_version: { version: "2" }, artifact_uri: `${artifactUri}/model` });
      expect((await resolve("models:/aliased/1")).json.model_version.version).toBe("1");
      expect((await resolve("models:/aliased/latest")).json.model_version.version).toBe("2");
      expect(await resolve("models:/aliased/Production")).toMatchObject({ status: 404, json: { error_code: "FW_REGISTRY_VERSION_NOT_FOUND" } });
      expect(await resolve("models:/aliased@nobody")).toMatchObject({ status: 404, json: { error_code: "FW_REGISTRY_ALIAS_NOT_FOUND" } });
      expect(await resolve("models:/aliased")).toMatchObject({ status: 400, json: { error_code: "FW_REGISTRY_INVALID_MODEL_URI" } });
      for (const alias of ["latest", "LATEST", "v1", "V12", "has space", "a/b", "x".repeat(256), ""]) {
        const r = await call("POST", "registered-models/alias", { name: "aliased", alias, version: "1" });
        expect(r.status, alias).toBe(400);
        expect(r.json.error_code).toBe("INVALID_PARAMETER_VALUE");
      }
      expect(await call("POST", "registered-models/alias", { name: "aliased", alias: "x", version: "7" })).toMatchObject({ status: 404 });
      expect((await call("DELETE", "registered-models/alias", { name: "aliased", alias: "champion" })).status).toBe(200);
      expect(await call("GET", `registered-models/alias?${q({ name: "aliased", alias: "champion" })}`)).toMatchObject({ status: 404 });
    });

    test("a version's source must stay inside the artifact store and inside its run", async () => {
      await call("POST", "registered-models/create", { name: "guarded" });
      const other = await call("POST", `${""}runs/create`, { experiment_id: "0" });
      const otherRun = other.json.run.info.run_id;
      const bad = [
        [`${artifactUri}/../../etc`, runId],
        [`${artifactUri}/%2e%2e/%2e%2e/x`, runId],
        [`${artifactUri}/%252e%252e/x`, runId],
        [`${artifactUri}/model#frag`, runId],
        [`${artifactUri}/model;x`, runId],
        [`${artifactUri}\\..\\x`, runId],
        ["file:///etc/passwd", runId],
        ["file:///etc", undefined],
        ["/etc", undefined],
        ["s3://bucket/model", undefined],
        ["http://example.com/model", undefined],
        ["model", runId],
        [`runs:/${otherRun}/model`, runId],
        [`${artifactUri.replace(runId, otherRun)}/model`, runId],
        ["mlflow-artifacts:/", undefined],
      ] as const;
      for (const [source, run] of bad) {
        const r = await call("POST", "model-versions/create", { name: "guarded", source, ...(run !== undefined ? { run_id: run } : {}) });
        expect(r.status, source).toBe(400);
        expect(r.json.error_code, source).toBe("INVALID_PARAMETER_VALUE");
      }
      const local = `file://${join(s.dataDir, "artifacts", artifactUri.replace(/^mlflow-artifacts:\//, ""), "model")}`;
      expect((await call("POST", "model-versions/create", { name: "guarded", source: local, run_id: runId })).json.model_version).toMatchObject({ status: "READY" });
      expect((await call("GET", `registered-models/get?${q({ name: "guarded" })}`)).json.registered_model.latest_versions).toHaveLength(1);
    });

    test("a deleted model's lineage does not attach to a new model of the same name", async () => {
      await call("POST", "registered-models/create", { name: "reborn" });
      await call("POST", "model-versions/create", { name: "reborn", source: `${artifactUri}/model`, run_id: runId });
      const before = await s.call("GET", "/api/v1/models/reborn/versions/1/lineage");
      expect(before.json.edges.map((e: any) => e.src.id)).toContain(runId);
      await call("DELETE", "registered-models/delete", { name: "reborn" });
      await call("POST", "registered-models/create", { name: "reborn" });
      const exp = await call("POST", "experiments/create", { name: "reborn-exp" });
      const other = (await call("POST", "runs/create", { experiment_id: exp.json.experiment_id })).json.run.info;
      await uploadToRun(s.url, other.artifact_uri, { "m/MLmodel": IRIS_MLMODEL, "m/model.onnx": IRIS_ONNX });
      expect((await call("POST", "model-versions/create", { name: "reborn", source: `${other.artifact_uri}/m`, run_id: other.run_id })).json.model_version.version).toBe("1");
      const after = await s.call("GET", "/api/v1/models/reborn/versions/1/lineage");
      const runs = after.json.edges.filter((e: any) => e.src.type === "run").map((e: any) => e.src.id);
      expect(runs).toEqual([other.run_id]);
    });

    test("concurrent version creation never yields duplicate version numbers", async () => {
      await call("POST", "registered-models/create", { name: "racy" });
      const results = await Promise.all(
        Array.from({ length: 16 }, () => call("POST", "model-versions/create", { name: "racy", source: `${artifactUri}/model`, run_id: runId })),
      );
      expect(results.map((r) => r.status)).toEqual(Array(16).fill(200));
      const versions = results.map((r) => Number(r.json.model_version.version)).sort((a, b) => a - b);
      expect(versions).toEqual(Array.from({ length: 16 }, (_, i) => i + 1));
    });
  });
}
