/** The MLflow-compatible tracking API over HTTP, against every metadata backend. */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { metadataBackends, titleOf } from "../helpers/backends.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

const API = "/api/2.0/mlflow";

for (const backend of metadataBackends) {
  describe.skipIf(backend.skip !== undefined)(`tracking API on ${titleOf(backend)}`, () => {
    let s: TestServer;
    beforeAll(async () => {
      s = await startTestServer(backend);
    });
    afterAll(async () => {
      await s?.stop();
    });

    const post = (path: string, body: unknown) => s.call("POST", `${API}/${path}`, body);
    const get = (path: string, query: Record<string, string | number> = {}) =>
      s.call("GET", `${API}/${path}?${new URLSearchParams(Object.entries(query).map(([k, v]): [string, string] => [k, String(v)]))}`);
    async function newExperiment(name: string): Promise<string> {
      const r = await post("experiments/create", { name });
      expect(r.status).toBe(200);
      return r.json.experiment_id as string;
    }
    async function newRun(experimentId: string, extra: Record<string, unknown> = {}): Promise<string> {
      const r = await post("runs/create", { experiment_id: experimentId, start_time: Date.now(), ...extra });
      expect(r.status).toBe(200);
      return r.json.run.info.run_id as string;
    }

    test("health, readiness and the OpenAPI document", async () => {
      expect(await s.call("GET", "/health")).toMatchObject({ status: 200, json: { status: "ok" } });
      expect(await s.call("GET", "/ready")).toMatchObject({ status: 200, json: { status: "ready" } });
      const doc = await s.call("GET", "/api/openapi.json");
      expect(doc.status).toBe(200);
      expect(doc.json.openapi).toBe("3.1.0");
      expect(Object.keys(doc.json.paths)).toEqual(expect.arrayContaining([`${API}/runs/log-batch`, `${API}/experiments/search`]));
      expect(doc.json.paths[`${API}/runs/log-batch`].post.requestBody.content["application/json"].schema.properties).toHaveProperty("metrics");
    });

    test("the Default experiment exists from the start", async () => {
      const r = await get("experiments/get", { experiment_id: 0 });
      expect(r.json.experiment).toMatchObject({ experiment_id: "0", name: "Default", lifecycle_stage: "active" });
      expect(typeof r.json.experiment.creation_time).toBe("number");
      expect((await get("experiments/get-by-name", { experiment_name: "Default" })).json.experiment.experiment_id).toBe("0");
    });

    test("experiment lifecycle and MLflow's error codes", async () => {
      const id = await newExperiment("life");
      expect(await post("experiments/create", { name: "life" })).toMatchObject({ status: 400, json: { error_code: "RESOURCE_ALREADY_EXISTS" } });
      expect(await get("experiments/get", { experiment_id: 999999 })).toMatchObject({ status: 404, json: { error_code: "RESOURCE_DOES_NOT_EXIST" } });
      expect(await get("experiments/get-by-name", { experiment_name: "nope" })).toMatchObject({ status: 404 });
      expect((await post("experiments/update", { experiment_id: id, new_name: "life-2" })).status).toBe(200);
      expect((await get("experiments/get-by-name", { experiment_name: "life-2" })).json.experiment.experiment_id).toBe(id);
      expect((await post("experiments/set-experiment-tag", { experiment_id: id, key: "owner", value: "ada" })).status).toBe(200);
      expect((await post("experiments/set-experiment-tag", { experiment_id: id, key: "owner", value: "bob" })).status).toBe(200);
      expect((await get("experiments/get", { experiment_id: id })).json.experiment.tags).toEqual([{ key: "owner", value: "bob" }]);
      expect((await post("experiments/delete-experiment-tag", { experiment_id: id, key: "owner" })).status).toBe(200);
      expect(await post("experiments/delete-experiment-tag", { experiment_id: id, key: "owner" })).toMatchObject({ status: 404 });
      const runId = await newRun(id);
      expect((await post("experiments/delete", { experiment_id: id })).status).toBe(200);
      expect((await get("experiments/get", { experiment_id: id })).json.experiment.lifecycle_stage).toBe("deleted");
      expect((await get("runs/get", { run_id: runId })).json.run.info.lifecycle_stage).toBe("deleted");
      expect(await post("runs/create", { experiment_id: id })).toMatchObject({ status: 400, json: { error_code: "INVALID_PARAMETER_VALUE" } });
      expect(await post("experiments/create", { name: "life-2" })).toMatchObject({ status: 400, json: { error_code: "RESOURCE_ALREADY_EXISTS" } });
      expect((await post("experiments/restore", { experiment_id: id })).status).toBe(200);
      expect((await get("runs/get", { run_id: runId })).json.run.info.lifecycle_stage).toBe("active");
      expect(await post("experiments/delete", { experiment_id: "0" })).toMatchObject({ status: 400 });
    });

    test("experiments/search by name and tags, ordered and paged, by POST and GET; experiments/list", async () => {
      for (const [name, team] of [["search-b", "red"], ["search-a", "blue"], ["search-c", "red"], ["other", "red"]] as const) {
        const id = await newExperiment(name);
        await post("experiments/set-experiment-tag", { experiment_id: id, key: "team", value: team });
      }
      const byPost = await post("experiments/search", { filter: "name LIKE 'search-%' AND tags.team = 'red'", order_by: ["name DESC"] });
      expect(byPost.json.experiments.map((e: any) => e.name)).toEqual(["search-c", "search-b"]);
      const byGet = await s.call("GET", `${API}/experiments/search?filter=${encodeURIComponent("name ILIKE 'SEARCH-%'")}&order_by=name&max_results=2`);
      expect(byGet.json.experiments.map((e: any) => e.name)).toEqual(["search-a", "search-b"]);
      const next = await s.call(
        "GET",
        `${API}/experiments/search?filter=${encodeURIComponent("name ILIKE 'SEARCH-%'")}&order_by=name&max_results=2&page_token=${byGet.json.next_page_token}`,
      );
      expect(next.json.experiments.map((e: any) => e.name)).toEqual(["search-c"]);
      expect(next.json.next_page_token).toBeUndefined();
      const list = await get("experiments/list");
      expect(list.json.experiments.map((e: any) => e.name)).toEqual(expect.arrayContaining(["Default", "search-a", "other"]));
      expect(await post("experiments/search", { filter: "name = " })).toMatchObject({ status: 400, json: { error_code: "INVALID_PARAMETER_VALUE" } });
      expect(await post("experiments/search", { page_token: "garbage" })).toMatchObject({ status: 400, json: { error_code: "INVALID_PARAMETER_VALUE" } });
    });

    test("runs: create with name and tags, get latest metrics, update, delete, restore", async () => {
      const exp = await newExperiment("runs-basic");
      const created = await post("runs/create", {
        experiment_id: exp,
        run_name: "first",
        start_time: 1700000000000,
        tags: [{ key: "mlflow.user", value: "ada" }, { key: "k", value: "v" }],
      });
      const info = created.json.run.info;
      expect(info).toMatchObject({ run_name: "first", experiment_id: exp, user_id: "ada", status: "RUNNING", start_time: 1700000000000 });
      expect(info.artifact_uri).toBe(`mlflow-artifacts:/${exp}/${info.run_id}/artifacts`);
      expect(created.json.run.data.tags).toEqual(expect.arrayContaining([{ key: "mlflow.runName", value: "first" }, { key: "k", value: "v" }]));
      const id = info.run_id as string;
      for (const [step, value] of [[0, 1.5], [2, 0.5], [1, 0.1]] as const) {
        expect((await post("runs/log-metric", { run_id: id, key: "loss", value, timestamp: 1700000000000 + step, step })).status).toBe(200);
      }
      expect((await get("runs/get", { run_id: id })).json.run.data.metrics).toEqual([{ key: "loss", value: 0.5, timestamp: 1700000000002, step: 2 }]);
      const upd = await post("runs/update", { run_id: id, status: "FINISHED", end_time: 1700000000100, run_name: "renamed" });
      expect(upd.json.run_info).toMatchObject({ status: "FINISHED", end_time: 1700000000100, run_name: "renamed" });
      const tags = (await get("runs/get", { run_id: id })).json.run.data.tags;
      expect(tags).toContainEqual({ key: "mlflow.runName", value: "renamed" });
      expect(await post("runs/update", { run_id: id, status: "DONE" })).toMatchObject({ status: 400, json: { error_code: "INVALID_PARAMETER_VALUE" } });
      expect((await post("runs/delete", { run_id: id })).status).toBe(200);
      expect(await post("runs/log-metric", { run_id: id, key: "x", value: 1, timestamp: 1 })).toMatchObject({ status: 400 });
      expect((await post("runs/restore", { run_id: id })).status).toBe(200);
      expect(await get("runs/get", { run_id: "f".repeat(32) })).toMatchObject({ status: 404, json: { error_code: "RESOURCE_DOES_NOT_EXIST" } });
      const unnamed = await post("runs/create", { experiment_id: exp });
      expect(unnamed.json.run.info.run_name).toMatch(/^[a-z]+-[a-z]+-\d+$/);
    });

    test("log-batch follows MLflow's rules", async () => {
      const exp = await newExperiment("batch-rules");
      const id = await newRun(exp);
      const metrics = Array.from({ length: 990 }, (_, i) => ({ key: `m${i % 10}`, value: i, timestamp: 1000 + i, step: i }));
      const batch = { run_id: id, metrics, params: [{ key: "lr", value: "0.1" }], tags: [{ key: "t", value: "1" }] };
      expect((await post("runs/log-batch", batch)).status).toBe(200);
      // A retried identical batch is accepted without duplicates.
      expect((await post("runs/log-batch", batch)).status).toBe(200);
      const hist = await get("metrics/get-history", { run_id: id, metric_key: "m3" });
      expect(hist.json.metrics).toHaveLength(99);
      // Same param value again is fine; a different one is refused and nothing of that batch is stored.
      expect((await post("runs/log-batch", { run_id: id, params: [{ key: "lr", value: "0.1" }] })).status).toBe(200);
      const changed = await post("runs/log-batch", {
        run_id: id,
        metrics: [{ key: "late", value: 1, timestamp: 1, step: 0 }],
        params: [{ key: "lr", value: "0.2" }],
      });
      expect(changed).toMatchObject({ status: 400, json: { error_code: "INVALID_PARAMETER_VALUE" } });
      expect(changed.json.message).toContain("lr");
      expect((await get("metrics/get-history", { run_id: id, metric_key: "late" })).json.metrics).toEqual([]);
      // Tags overwrite.
      await post("runs/log-batch", { run_id: id, tags: [{ key: "t", value: "2" }] });
      expect((await get("runs/get", { run_id: id })).json.run.data.tags).toContainEqual({ key: "t", value: "2" });
      // Limits.
      const tooMany = Array.from({ length: 1001 }, (_, i) => ({ key: "m", value: i, timestamp: i, step: i }));
      expect(await post("runs/log-batch", { run_id: id, metrics: tooMany })).toMatchObject({ status: 400, json: { error_code: "INVALID_PARAMETER_VALUE" } });
      const manyParams = Array.from({ length: 101 }, (_, i) => ({ key: `p${i}`, value: "1" }));
      expect((await post("runs/log-batch", { run_id: id, params: manyParams })).json.message).toContain("100 params");
      const mixed = { run_id: id, metrics: metrics.slice(0, 950), tags: Array.from({ length: 51 }, (_, i) => ({ key: `t${i}`, value: "x" })) };
      expect((await post("runs/log-batch", mixed)).json.message).toContain("1000");
      // Key names.
      for (const key of ["../escape", "/abs", "a//b", "bad$char", "a/../b", ""]) {
        const r = await post("runs/log-batch", { run_id: id, metrics: [{ key, value: 1, timestamp: 1, step: 0 }] });
        expect(r.status, key).toBe(400);
        expect(r.json.error_code).toBe("INVALID_PARAMETER_VALUE");
      }
      expect((await post("runs/log-batch", { run_id: id, metrics: [{ key: "ok/key with space-1.2", value: 1, timestamp: 1, step: 0 }] })).status).toBe(200);
    });

    test("special float values and int64 given as strings", async () => {
      const exp = await newExperiment("floats");
      const id = await newRun(exp);
      const r = await post("runs/log-batch", {
        run_id: id,
        metrics: [
          { key: "nan", value: "NaN", timestamp: "1700000000000", step: "0" },
          { key: "inf", value: "Infinity", timestamp: 1, step: 0 },
          { key: "ninf", value: "-Infinity", timestamp: 1, step: 0 },
        ],
      });
      expect(r.status).toBe(200);
      const metrics = (await get("runs/get", { run_id: id })).json.run.data.metrics;
      expect(metrics).toEqual([
        { key: "inf", value: "Infinity", timestamp: 1, step: 0 },
        { key: "nan", value: "NaN", timestamp: 1700000000000, step: 0 },
        { key: "ninf", value: "-Infinity", timestamp: 1, step: 0 },
      ]);
    });

    test("runs/search: filter grammar in SQL, order_by with missing values last, paging", async () => {
      const exp = await newExperiment("search-runs");
      const ids: string[] = [];
      for (let i = 0; i < 7; i++) {
        const id = await newRun(exp, { run_name: `run-${i}`, start_time: 1000 + i });
        ids.push(id);
        const metrics = i === 6 ? [] : [{ key: "auc", value: i / 10, timestamp: 1, step: 0 }];
        await post("runs/log-batch", {
          run_id: id,
          metrics,
          params: [{ key: "model", value: i % 2 === 0 ? "Tree" : "linear" }],
          tags: [{ key: "my tag", value: `v${i}` }],
        });
      }
      const search = (body: Record<string, unknown>) => post("runs/search", { experiment_ids: [exp], ...body });
      const names = (r: { json: any }) => (r.json.runs ?? []).map((x: any) => x.info.run_name);
      expect(names(await search({ filter: "metrics.auc >= 0.3 and params.model = 'linear'", order_by: ["metrics.auc DESC"] }))).toEqual(["run-5", "run-3"]);
      expect(names(await search({ filter: "params.model ILIKE 'tree'", order_by: ["attributes.start_time ASC"] }))).toEqual(["run-0", "run-2", "run-4", "run-6"]);
      expect(names(await search({ filter: "params.model LIKE 'tree'" }))).toEqual([]);
      expect(names(await search({ filter: "tags.`my tag` = 'v2'" }))).toEqual(["run-2"]);
      expect(names(await search({ filter: `attributes.run_id IN ('${ids[1]}', '${ids[4]}')`, order_by: ["run_name"] }))).toEqual(["run-1", "run-4"]);
      expect(names(await search({ filter: "attributes.run_name = 'run-3' and attributes.status = 'RUNNING'" }))).toEqual(["run-3"]);
      expect(names(await search({ filter: "attributes.start_time > 1004" , order_by: ["start_time"] }))).toEqual(["run-5", "run-6"]);
      // Missing values last in both directions.
      expect(names(await search({ order_by: ["metrics.auc ASC"] })).at(-1)).toBe("run-6");
      expect(names(await search({ order_by: ["metrics.auc DESC"] }))).toEqual(["run-5", "run-4", "run-3", "run-2", "run-1", "run-0", "run-6"]);
      // Default order: start_time DESC. Paging with opaque tokens, no gaps or overlaps.
      const seen: string[] = [];
      let token: string | undefined;
      do {
        const page = await search({ max_results: 3, ...(token !== undefined ? { page_token: token } : {}) });
        seen.push(...names(page));
        token = page.json.next_page_token;
      } while (token !== undefined);
      expect(seen).toEqual(["run-6", "run-5", "run-4", "run-3", "run-2", "run-1", "run-0"]);
      const bad = await search({ filter: "metrics.auc > 0.3 or params.model = 'x'" });
      expect(bad).toMatchObject({ status: 400, json: { error_code: "INVALID_PARAMETER_VALUE" } });
      expect(bad.json.message).toContain("'or'");
      expect((await search({ filter: "metrics.auc > 'high'" })).json.message).toContain("'high'");
      expect((await search({ order_by: ["metrics.auc SIDEWAYS"] })).json.message).toContain("SIDEWAYS");
    });

    test("metrics/get-history pages through points in step order", async () => {
      const exp = await newExperiment("history");
      const id = await newRun(exp);
      await post("runs/log-batch", { run_id: id, metrics: Array.from({ length: 25 }, (_, i) => ({ key: "loss", value: 1 / (i + 1), timestamp: i, step: 24 - i })) });
      const steps: number[] = [];
      let token: string | undefined;
      do {
        const r = await get("metrics/get-history", { run_id: id, metric_key: "loss", max_results: 10, ...(token !== undefined ? { page_token: token } : {}) });
        steps.push(...r.json.metrics.map((m: any) => m.step));
        token = r.json.next_page_token;
      } while (token !== undefined);
      expect(steps).toEqual(Array.from({ length: 25 }, (_, i) => i));
      expect(await get("metrics/get-history", { run_id: "0".repeat(32), metric_key: "loss" })).toMatchObject({ status: 404 });
    });

    test("runs/log-model appends the MLmodel document to mlflow.log-model.history", async () => {
      const exp = await newExperiment("log-model");
      const id = await newRun(exp);
      const model = { artifact_path: "model", flavors: { onnx: { data: "model.onnx" } }, run_id: id, utc_time_created: "2026-01-01 00:00:00" };
      expect((await post("runs/log-model", { run_id: id, model_json: JSON.stringify(model) })).status).toBe(200);
      expect((await post("runs/log-model", { run_id: id, model_json: JSON.stringify({ ...model, artifact_path: "model2" }) })).status).toBe(200);
      const tag = (await get("runs/get", { run_id: id })).json.run.data.tags.find((t: any) => t.key === "mlflow.log-model.history");
      expect(JSON.parse(tag.value).map((m: any) => m.artifact_path)).toEqual(["model", "model2"]);
      expect(await post("runs/log-model", { run_id: id, model_json: "not json" })).toMatchObject({ status: 400, json: { error_code: "INVALID_PARAMETER_VALUE" } });
    });

    test("the same API answers under /ajax-api/2.0/mlflow", async () => {
      const r = await s.call("POST", "/ajax-api/2.0/mlflow/experiments/create", { name: "ajax" });
      expect(r.status).toBe(200);
      const g = await s.call("GET", `/ajax-api/2.0/mlflow/experiments/get?experiment_id=${r.json.experiment_id}`);
      expect(g.json.experiment.name).toBe("ajax");
      expect(await s.call("GET", "/ajax-api/2.0/mlflow/experiments/nope")).toMatchObject({ status: 404, json: { error_code: "ENDPOINT_NOT_FOUND" } });
    });
  });
}
