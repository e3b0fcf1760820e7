/**
 * MLflow 3's logged models over HTTP, against every metadata backend. The first test replays, call
 * for call, what an MLflow 3 client does for `mlflow.onnx.log_model(..., registered_model_name=...)`
 * inside a run (create, runs/outputs, metrics copied with model_id, upload through the artifact
 * proxy, finalize, register as models:/<model_id>), then serves the registered version over V2
 * and checks the fixture's expected outputs. The others cover search, tags, params, deletion and
 * bad input.
 */
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { metadataBackends, titleOf } from "../helpers/backends.js";
import { IRIS_ONNX, irisMlmodel, uploadToRun } from "../helpers/model-package.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

const API = "/api/2.0/mlflow";
const MODEL_ID = /^m-[0-9a-f]{32}$/;
const expected = JSON.parse(readFileSync(new URL("../../../shared/fixtures/models/iris_logreg.expected.json", import.meta.url), "utf8")) as {
  inputs: number[][];
  expected: { label: number[]; probabilities: number[][] };
};

for (const backend of metadataBackends) {
  describe.skipIf(backend.skip !== undefined)(`logged models (MLflow 3) on ${titleOf(backend)}`, () => {
    let s: TestServer;
    let seq = 0;
    beforeAll(async () => {
      s = await startTestServer(backend);
    });
    afterAll(async () => {
      await s?.stop();
    });

    const post = (path: string, body: unknown) => s.call("POST", `${API}/${path}`, body);
    const get = (path: string) => s.call("GET", `${API}/${path}`);
    async function newExperiment(): Promise<{ id: string; location: string }> {
      const r = await post("experiments/create", { name: `logged-${++seq}` });
      expect(r.status).toBe(200);
      const e = await get(`experiments/get?experiment_id=${r.json.experiment_id}`);
      return { id: r.json.experiment_id as string, location: e.json.experiment.artifact_location as string };
    }
    async function newRun(experimentId: string): Promise<string> {
      const r = await post("runs/create", { experiment_id: experimentId, start_time: Date.now() });
      expect(r.status).toBe(200);
      return r.json.run.info.run_id as string;
    }
    async function newModel(experimentId: string, body: Record<string, unknown> = {}): Promise<string> {
      const r = await post("logged-models", { experiment_id: experimentId, ...body });
      expect(r.status, JSON.stringify(r.json)).toBe(200);
      return r.json.model.info.model_id as string;
    }

    test("log_model as an MLflow 3 client does it, register models:/<model_id>, and serve it", async () => {
      const exp = await newExperiment();
      const runId = await newRun(exp.id);
      await post("runs/log-batch", { run_id: runId, metrics: [{ key: "accuracy", value: 0.97, timestamp: 1000, step: 0 }], params: [{ key: "C", value: "1.0" }] });

      // 1. Create: PENDING, an id like MLflow's, its own artifact location in the experiment's.
      const created = await post("logged-models", {
        experiment_id: exp.id,
        name: "iris",
        model_type: "onnx",
        source_run_id: runId,
        params: [{ key: "C", value: "1.0" }],
        tags: [
          { key: "mlflow.user", value: "ada" },
          { key: "mlflow.model.isExternal", value: "true" },
        ],
      });
      expect(created.status).toBe(200);
      const info = created.json.model.info;
      expect(info.model_id).toMatch(MODEL_ID);
      const modelId = info.model_id as string;
      expect(info).toMatchObject({
        experiment_id: exp.id,
        name: "iris",
        model_type: "onnx",
        source_run_id: runId,
        status: "LOGGED_MODEL_PENDING",
        artifact_uri: `${exp.location}/models/${modelId}/artifacts`,
        tags: [
          { key: "mlflow.model.isExternal", value: "true" },
          { key: "mlflow.user", value: "ada" },
        ],
      });
      expect(info.creation_timestamp_ms).toBeGreaterThan(0);
      expect(created.json.model.data).toEqual({ params: [{ key: "C", value: "1.0" }] });

      // 2. The run records the model as its output; the run's metrics are copied with model_id.
      expect((await post("runs/outputs", { run_id: runId, models: [{ model_id: modelId, step: 0 }] })).status).toBe(200);
      const batch = await post("runs/log-batch", {
        run_id: runId,
        metrics: [{ key: "accuracy", value: 0.97, timestamp: 1000, step: 0, model_id: modelId, dataset_name: "iris_eval", dataset_digest: "d1" }],
      });
      expect(batch.status).toBe(200);
      const run = (await get(`runs/get?run_id=${runId}`)).json.run;
      expect(run.outputs).toEqual({ model_outputs: [{ model_id: modelId, step: 0 }] });
      expect(run.data.metrics).toEqual([{ key: "accuracy", value: 0.97, timestamp: 1000, step: 0 }]);

      // 3. Files go through the artifact proxy to the model's artifact_uri.
      await uploadToRun(s.url, info.artifact_uri as string, { MLmodel: `${irisMlmodel()}model_id: ${modelId}\n`, "model.onnx": IRIS_ONNX, "requirements.txt": "onnxruntime\n" });
      const listed = await get(`logged-models/${modelId}/artifacts/directories`);
      expect(listed.status).toBe(200);
      expect(listed.json.root_uri).toBe(info.artifact_uri);
      expect(listed.json.files.map((f: { path: string }) => f.path).sort()).toEqual(["MLmodel", "model.onnx", "requirements.txt"]);
      const file = await fetch(`${s.url}${API}/logged-models/${modelId}/artifacts/files?artifact_file_path=requirements.txt`);
      expect(file.status).toBe(200);
      expect(await file.text()).toBe("onnxruntime\n");

      // 4. The client drops the "external" tag, then finalizes.
      expect((await s.call("DELETE", `${API}/logged-models/${modelId}/tags/mlflow.model.isExternal`)).status).toBe(200);
      const done = await s.call("PATCH", `${API}/logged-models/${modelId}`, { model_id: modelId, status: "LOGGED_MODEL_READY" });
      expect(done.status).toBe(200);
      expect(done.json.model.info.status).toBe("LOGGED_MODEL_READY");
      expect(done.json.model.info.tags).toEqual([{ key: "mlflow.user", value: "ada" }]);
      expect(done.json.model.data.metrics).toEqual([
        { key: "accuracy", value: 0.97, timestamp: 1000, step: 0, dataset_name: "iris_eval", dataset_digest: "d1", model_id: modelId, run_id: runId },
      ]);

      // mlflow.register_model("runs:/<run_id>/iris") finds the model this way.
      const byRun = await post("logged-models/search", { experiment_ids: [exp.id], filter: `source_run_id='${runId}' AND name='iris'` });
      expect(byRun.json.models.map((m: { info: { model_id: string } }) => m.info.model_id)).toEqual([modelId]);

      // 5. registered_model_name: the version is made from models:/<model_id>, with model_id.
      expect((await post("registered-models/create", { name: `iris-${seq}` })).status).toBe(200);
      const mv = await post("model-versions/create", { name: `iris-${seq}`, source: `models:/${modelId}`, model_id: modelId });
      expect(mv.status, JSON.stringify(mv.json)).toBe(200);
      expect(mv.json.model_version).toMatchObject({ version: "1", source: `models:/${modelId}`, run_id: runId, model_id: modelId, status: "READY" });
      const tagged = await get(`logged-models/${modelId}`);
      expect(tagged.json.model.info.tags).toContainEqual({ key: "mlflow.modelVersions", value: JSON.stringify([{ name: `iris-${seq}`, version: "1" }]) });
      const uri = await get(`model-versions/get-download-uri?name=iris-${seq}&version=1`);
      expect(uri.json.artifact_uri).toBe(info.artifact_uri);

      // 6. Served over V2 from the logged model's files: the fixture's expected outputs.
      const infer = await s.call("POST", `/v2/models/iris-${seq}/versions/1/infer`, {
        inputs: [{ name: "float_input", datatype: "FP32", shape: [expected.inputs.length, 4], data: expected.inputs.flat() }],
      });
      expect(infer.status, JSON.stringify(infer.json)).toBe(200);
      const outputs = Object.fromEntries(infer.json.outputs.map((o: { name: string; data: number[] }) => [o.name, o.data]));
      expect(outputs.label).toEqual(expected.expected.label);
      (outputs.probabilities as number[]).forEach((p, i) => {
        const want = expected.expected.probabilities[Math.floor(i / 3)]?.[i % 3] as number;
        expect(Math.abs(p - want)).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(want)));
      });

      // Deleting the logged model keeps the registered version servable.
      expect((await s.call("DELETE", `${API}/logged-models/${modelId}`, { model_id: modelId })).status).toBe(200);
      expect((await get(`model-versions/get-download-uri?name=iris-${seq}&version=1`)).json.artifact_uri).toBe(info.artifact_uri);
    });

    test("the OpenAPI document declares the path parameters as path parameters", async () => {
      const doc = (await s.call("GET", "/api/openapi.json")).json;
      const one = doc.paths[`${API}/logged-models/{model_id}`];
      expect(one.get.parameters).toEqual([
        { name: "model_id", in: "path", required: true, schema: { type: "string" } },
        expect.objectContaining({ name: "allow_deleted", in: "query", required: false }),
      ]);
      expect(one.patch.parameters).toEqual([{ name: "model_id", in: "path", required: true, schema: { type: "string" } }]);
      expect(one.patch.requestBody.content["application/json"].schema.properties).not.toHaveProperty("model_id");
      expect(one.patch.requestBody.content["application/json"].schema.required).toEqual(["status"]);
      const tag = doc.paths[`${API}/logged-models/{model_id}/tags/{path}`];
      expect(tag.delete.parameters.map((p: { name: string; in: string }) => `${p.in}:${p.name}`)).toEqual(["path:model_id", "path:path"]);
      // Flywheel's own routes with path parameters too.
      expect(doc.paths["/api/v1/models/{name}/policy"].get.parameters).toEqual([{ name: "name", in: "path", required: true, schema: { type: "string" } }]);
    });

    test("runs/log-inputs takes models; runs/get lists them as model_inputs", async () => {
      const exp = await newExperiment();
      const producer = await newModel(exp.id, { name: "base" });
      const runId = await newRun(exp.id);
      const r = await post("runs/log-inputs", {
        run_id: runId,
        datasets: [{ dataset: { name: "train", digest: "abc", source_type: "local", source: "{}" } }],
        models: [{ model_id: producer }],
      });
      expect(r.status).toBe(200);
      // Logging the same link again changes nothing.
      expect((await post("runs/log-inputs", { run_id: runId, models: [{ model_id: producer }] })).status).toBe(200);
      const run = (await get(`runs/get?run_id=${runId}`)).json.run;
      expect(run.inputs.model_inputs).toEqual([{ model_id: producer }]);
      expect(run.inputs.dataset_inputs).toHaveLength(1);
      expect(run.outputs).toBeUndefined();
      // An unknown model: 404, and nothing of the request is written.
      const bad = await post("runs/log-inputs", {
        run_id: runId,
        datasets: [{ dataset: { name: "other", digest: "x", source_type: "local", source: "{}" } }],
        models: [{ model_id: "m-00000000000000000000000000000000" }],
      });
      expect(bad.status).toBe(404);
      expect(bad.json.error_code).toBe("RESOURCE_DOES_NOT_EXIST");
      expect((await get(`runs/get?run_id=${runId}`)).json.run.inputs.dataset_inputs).toHaveLength(1);
    });

    test("search: filters on metrics, params, tags and attributes, datasets, order_by and pages", async () => {
      const exp = await newExperiment();
      const other = await newExperiment();
      const runId = await newRun(exp.id);
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) {
        const id = await newModel(exp.id, { name: `model_${i}`, params: [{ key: "alpha", value: String(i % 2) }], tags: [{ key: "team", value: i < 3 ? "red" : "blue" }] });
        ids.push(id);
        await post("runs/log-metric", { run_id: runId, key: "auc", value: 0.5 + i / 10, timestamp: 100 + i, step: 0, model_id: id, dataset_name: "eval", dataset_digest: "e1" });
        await post("runs/log-metric", { run_id: runId, key: "auc", value: 0.9 - i / 10, timestamp: 100 + i, step: 0, model_id: id, dataset_name: "test", dataset_digest: "t1" });
      }
      await newModel(other.id, { name: "elsewhere" });
      await s.call("PATCH", `${API}/logged-models/${ids[4]}`, { model_id: ids[4], status: "LOGGED_MODEL_READY" });
      const search = async (body: Record<string, unknown>) => {
        const r = await post("logged-models/search", { experiment_ids: [exp.id], ...body });
        expect(r.status, JSON.stringify(r.json)).toBe(200);
        return r.json as { models: { info: { model_id: string; name: string } }[]; next_page_token?: string };
      };
      const names = (r: { models: { info: { name: string } }[] }) => r.models.map((m) => m.info.name);

      // Newest first by default; only the experiments asked for.
      expect(names(await search({}))).toEqual(["model_4", "model_3", "model_2", "model_1", "model_0"]);
      expect(names(await search({ filter: "params.alpha = '1' AND tags.team = 'red'" }))).toEqual(["model_1"]);
      expect(names(await search({ filter: "name LIKE 'model_%' AND status = 'LOGGED_MODEL_READY'" }))).toEqual(["model_4"]);
      // Attribute comparisons run in the database: the model's own columns, numbers as numbers.
      expect(names(await search({ filter: `model_id = '${ids[2]}'` }))).toEqual(["model_2"]);
      expect(names(await search({ filter: "creation_timestamp > 0 AND last_updated_time >= 1" }))).toHaveLength(5);
      expect(names(await search({ filter: "last_updated_timestamp < 0" }))).toEqual([]);
      expect(names(await search({ filter: "name ILIKE 'MODEL_1'" }))).toEqual(["model_1"]);
      expect(names(await search({ filter: "name LIKE 'MODEL_1'" }))).toEqual([]);
      // A metric compares its latest point among the datasets asked for.
      expect(names(await search({ filter: "metrics.auc >= 0.8", datasets: [{ dataset_name: "eval" }] }))).toEqual(["model_4", "model_3"]);
      expect(names(await search({ filter: "metrics.auc >= 0.8", datasets: [{ dataset_name: "test", dataset_digest: "t1" }] }))).toEqual(["model_1", "model_0"]);
      expect(names(await search({ filter: "metrics.auc > 0", datasets: [{ dataset_name: "nothing" }] }))).toEqual([]);
      expect(names(await search({ datasets: [{ dataset_name: "nothing" }] }))).toHaveLength(5);
      expect(
        names(await search({ order_by: [{ field_name: "metrics.auc", ascending: false, dataset_name: "test" }], max_results: 3 })),
      ).toEqual(["model_0", "model_1", "model_2"]);
      expect(names(await search({ order_by: [{ field_name: "name", ascending: true }], filter: "name != 'elsewhere'" }))).toEqual([
        "model_0",
        "model_1",
        "model_2",
        "model_3",
        "model_4",
      ]);
      // Pages of two, each with a token until the last.
      const seen: string[] = [];
      let token: string | undefined;
      do {
        const page = await search({ max_results: 2, order_by: [{ field_name: "creation_timestamp", ascending: true }], ...(token === undefined ? {} : { page_token: token }) });
        seen.push(...page.models.map((m) => m.info.model_id));
        token = page.next_page_token;
      } while (token !== undefined);
      expect(seen.sort()).toEqual([...ids].sort());
      // Deleted models are not found.
      await s.call("DELETE", `${API}/logged-models/${ids[0]}`);
      expect(names(await search({}))).not.toContain("model_0");
      expect((await get(`logged-models/${ids[0]}`)).status).toBe(404);
      expect((await get(`logged-models/${ids[0]}?allow_deleted=true`)).json.model.info.name).toBe("model_0");

      for (const [body, message] of [
        [{ filter: "metrics.auc > 'x'" }, /expected a number/],
        [{ filter: "colour = 'red'" }, /logged models can be searched by name, model_id/],
        [{ filter: "datasets.name = 'eval'" }, /pass datasets in the request's 'datasets' field/],
        [{ filter: "name = 'a' OR name = 'b'" }, /OR is not supported/],
        [{ order_by: [{ field_name: "colour" }] }, /Invalid order_by field 'colour'/],
        [{ max_results: 0 }, /max_results/],
        [{ page_token: "not-a-token" }, /page token/i],
      ] as const) {
        const r = await post("logged-models/search", { experiment_ids: [exp.id], ...body });
        expect(r.status, JSON.stringify(body)).toBe(400);
        expect(r.json.message).toMatch(message);
      }
      const missing = await post("logged-models/search", {});
      expect(missing.status).toBe(400);
      expect(missing.json.message).toMatch(/experiment_ids/);
    });

    test("malformed bodies on every logged-model endpoint: a 4xx, never a 5xx", async () => {
      const exp = await newExperiment();
      const id = await newModel(exp.id);
      const runId = await newRun(exp.id);
      const junk: unknown[] = [null, 7, "x", [], [1, 2], { a: 1 }, "x".repeat(100_000), -1, 1e300, true, "a\u0000b"];
      const routes: [string, string, (v: unknown) => unknown][] = [
        ["POST", "logged-models", (v) => ({ experiment_id: v, name: v, params: v, tags: v, source_run_id: v, model_type: v })],
        ["POST", "logged-models", (v) => ({ experiment_id: exp.id, params: [{ key: v, value: v }] })],
        ["POST", "logged-models", (v) => ({ experiment_id: exp.id, name: v })],
        ["POST", "logged-models", (v) => ({ experiment_id: exp.id, model_type: v })],
        ["POST", "logged-models", (v) => ({ experiment_id: exp.id, source_run_id: v })],
        ["POST", "logged-models", (v) => ({ experiment_id: exp.id, tags: [{ key: "k", value: v }], params: [{ key: "p", value: v }] })],
        ["POST", "logged-models/search", (v) => ({ experiment_ids: v, filter: v, datasets: v, order_by: v, max_results: v, page_token: v })],
        ["POST", "logged-models/search", (v) => ({ experiment_ids: [exp.id, v], order_by: [{ field_name: v, ascending: v, dataset_name: v }] })],
        ["PATCH", `logged-models/${id}`, (v) => ({ status: v })],
        ["PATCH", `logged-models/${id}/tags`, (v) => ({ tags: [{ key: v, value: v }] })],
        ["POST", `logged-models/${id}/params`, (v) => ({ params: v })],
        ["POST", "runs/outputs", (v) => ({ run_id: runId, models: [{ model_id: v, step: v }] })],
        ["POST", "runs/log-inputs", (v) => ({ run_id: runId, models: v })],
        ["POST", "runs/log-metric", (v) => ({ run_id: runId, key: "k", value: 1, timestamp: 1, model_id: v, dataset_name: v, dataset_digest: v })],
      ];
      for (const [method, path, body] of routes) {
        for (const v of junk) {
          const r = await s.call(method, `${API}/${path}`, body(v));
          expect(r.status, `${method} ${path} with ${JSON.stringify(v).slice(0, 40)}: ${JSON.stringify(r.json).slice(0, 200)}`).toBeLessThan(500);
        }
      }
      for (const path of [`logged-models/${"m".repeat(5000)}`, "logged-models/%00", `logged-models/${id}/artifacts/files?artifact_file_path=%00`, `logged-models/${id}/artifacts/directories?artifact_directory_path=/etc`]) {
        const r = await get(path);
        expect(r.status, path).toBeGreaterThanOrEqual(400);
        expect(r.status, path).toBeLessThan(500);
      }
    });

    test("tags and params: set, overwrite, delete; params are immutable; keys with '/'", async () => {
      const exp = await newExperiment();
      const id = await newModel(exp.id, { params: [{ key: "lr", value: "0.1" }] });
      expect((await s.call("PATCH", `${API}/logged-models/${id}/tags`, { tags: [{ key: "a/b", value: "1" }, { key: "c", value: "2" }] })).status).toBe(200);
      expect((await s.call("PATCH", `${API}/logged-models/${id}/tags`, { tags: [{ key: "c", value: "3" }] })).status).toBe(200);
      expect((await s.call("DELETE", `${API}/logged-models/${id}/tags/a/b`)).status).toBe(200);
      const gone = await s.call("DELETE", `${API}/logged-models/${id}/tags/a/b`);
      expect(gone.status).toBe(404);
      expect(gone.json.error_code).toBe("RESOURCE_DOES_NOT_EXIST");
      expect((await post(`logged-models/${id}/params`, { model_id: id, params: [{ key: "lr", value: "0.1" }, { key: "depth", value: "3" }] })).status).toBe(200);
      const changed = await post(`logged-models/${id}/params`, { model_id: id, params: [{ key: "depth", value: "4" }, { key: "new", value: "x" }] });
      expect(changed.status).toBe(400);
      expect(changed.json.message).toMatch(/Changing param values is not allowed. Param with key='depth'/);
      const m = (await get(`logged-models/${id}`)).json.model;
      expect(m.info.tags).toEqual([{ key: "c", value: "3" }]);
      expect(m.data.params).toEqual([
        { key: "depth", value: "3" },
        { key: "lr", value: "0.1" },
      ]);
      // Metric points: a retried identical point is stored once, another value at the same step is kept.
      const runId = await newRun(exp.id);
      for (const value of [0.5, 0.5, 0.7]) await post("runs/log-metric", { run_id: runId, key: "loss", value, timestamp: 5, step: 1, model_id: id });
      const points = (await get(`logged-models/${id}`)).json.model.data.metrics.map((x: { value: number }) => x.value);
      expect(points.sort()).toEqual([0.5, 0.7]);
      // A generated name when none is given.
      expect(m.info.name).toMatch(/^[a-z]+-[a-z]+-\d+$/);
    });

    test("bad input: 4xx naming the field, nothing written", async () => {
      const exp = await newExperiment();
      const runId = await newRun(exp.id);
      const id = await newModel(exp.id);
      const cases: [string, string, unknown, number, RegExp][] = [
        ["POST", "logged-models", {}, 400, /'experiment_id'.*missing value/],
        ["POST", "logged-models", { experiment_id: "999999" }, 404, /No Experiment with id=999999/],
        ["POST", "logged-models", { experiment_id: "abc" }, 404, /No Experiment with id=abc/],
        ["POST", "logged-models/search", { experiment_ids: ["abc"] }, 200, /./],
        ["POST", "logged-models", { experiment_id: exp.id, name: "a/b" }, 400, /'name': must not contain/],
        ["POST", "logged-models", { experiment_id: exp.id, source_run_id: "0123456789abcdef0123456789abcdef" }, 404, /source_run_id/],
        ["POST", "logged-models", { experiment_id: exp.id, params: [{ key: "bad key!", value: "1" }] }, 400, /params\[0\]\.key/],
        ["PATCH", `logged-models/${id}`, { model_id: id }, 400, /'status'/],
        ["PATCH", `logged-models/${id}`, { model_id: id, status: "DONE" }, 400, /'status'/],
        ["GET", "logged-models/m-ffffffffffffffffffffffffffffffff", undefined, 404, /Logged model with ID 'm-f+' not found/],
        ["POST", "runs/outputs", { run_id: runId }, 400, /'models'/],
        ["POST", "runs/outputs", { run_id: runId, models: [{ model_id: "m-1" }] }, 404, /Logged model with ID 'm-1' not found/],
        ["GET", `logged-models/${id}/artifacts/files?artifact_file_path=../../../etc/passwd`, undefined, 400, /artifact|path/i],
        ["GET", `logged-models/${id}/artifacts/directories?artifact_directory_path=../x`, undefined, 400, /path/i],
      ];
      for (const [method, path, body, status, message] of cases) {
        const r = await s.call(method, `${API}/${path}`, body);
        expect(r.status, `${method} ${path}`).toBe(status);
        if (status !== 200) expect(r.json.message, `${method} ${path}`).toMatch(message);
      }
      const digest = await post("runs/log-metric", { run_id: runId, key: "m", value: 1, timestamp: 1, model_id: id, dataset_name: "d", dataset_digest: "x".repeat(37) });
      expect(digest.status).toBe(400);
      expect(digest.json.message).toMatch(/'metrics\[0\]\.dataset_digest': must be at most 36 characters/);
      // A metric for an unknown model: 404, and the run's metric is not written either.
      const metric = await post("runs/log-metric", { run_id: runId, key: "m", value: 1, timestamp: 1, model_id: "m-00000000000000000000000000000000" });
      expect(metric.status).toBe(404);
      expect((await get(`runs/get?run_id=${runId}`)).json.run.data.metrics).toEqual([]);
      // Registration: an unknown logged model, a model_id that is not the source's.
      expect((await post("registered-models/create", { name: `bad-${seq}` })).status).toBe(200);
      const other = await newModel(exp.id);
      for (const [body, status, message] of [
        [{ source: "models:/m-00000000000000000000000000000000" }, 400, /logged model 'm-0+' does not exist/],
        [{ source: "models:/iris/1" }, 400, /expected models:\/<model_id>/],
        [{ source: `models:/${id}`, model_id: other }, 400, /model_id is m-/],
      ] as const) {
        const r = await post("model-versions/create", { name: `bad-${seq}`, ...body });
        expect(r.status, JSON.stringify(body)).toBe(status);
        expect(r.json.message).toMatch(message);
      }
    });
  });
}
