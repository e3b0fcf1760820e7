/**
 * The third-party `mlflow` npm client (2.0.7) against a real Flywheel server: every request it
 * sends for experiments, runs, metrics, params, tags, log-batch, search, history and artifact
 * listing gets a 200 with the shape it expects.
 */
import { afterAll, beforeAll, describe, expect, test, vi } from "vitest";
import { createRequire } from "node:module";
import { metadataBackends, titleOf } from "../helpers/backends.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

interface Client {
  Experiments: any;
  Runs: any;
  Metrics: any;
  Artifacts: any;
}

// The package is CommonJS whose `module.exports` is the class itself.
const MLflow = createRequire(import.meta.url)("mlflow") as new (opts: { endpoint: string }) => Client;

for (const backend of metadataBackends) {
  describe.skipIf(backend.skip !== undefined)(`mlflow npm client 2.0.7 on ${titleOf(backend)}`, () => {
    let server: TestServer;
    let client: Client;

    beforeAll(async () => {
      server = await startTestServer(backend);
      client = new MLflow({ endpoint: server.url });
      // The client prints every request body it sends.
      vi.spyOn(console, "log").mockImplementation(() => undefined);
    });
    afterAll(async () => {
      vi.restoreAllMocks();
      await server?.stop();
    });

    test("experiments: create, list, get, update, set tag, delete, restore", async () => {
      const { experiment_id } = await client.Experiments.create({ name: "npm-client" });
      expect(experiment_id).toMatch(/^\d+$/);
      const { experiments } = await client.Experiments.list();
      expect(experiments.map((e: any) => e.name)).toEqual(expect.arrayContaining(["Default", "npm-client"]));
      const { experiment } = await client.Experiments.get({ experiment_id });
      expect(experiment).toMatchObject({ experiment_id, name: "npm-client", lifecycle_stage: "active" });
      await client.Experiments.update({ experiment_id, new_name: "npm-client-2" });
      await client.Experiments.setExperimentTag({ experiment_id, key: "team", value: "ml" });
      const after = (await client.Experiments.get({ experiment_id })).experiment;
      expect(after.name).toBe("npm-client-2");
      expect(after.tags).toEqual([{ key: "team", value: "ml" }]);
      await client.Experiments.delete({ experiment_id });
      expect((await client.Experiments.list({ view_type: "DELETED_ONLY" })).experiments.map((e: any) => e.experiment_id)).toContain(experiment_id);
      await client.Experiments.restore({ experiment_id });
      expect((await client.Experiments.get({ experiment_id })).experiment.lifecycle_stage).toBe("active");
    });

    test("runs: create, log metric/param/tag/batch, get, history, search, update, delete, restore, artifacts", async () => {
      const { experiment_id } = await client.Experiments.create({ name: "npm-runs" });
      const t0 = Date.now();
      const { run } = await client.Runs.create({ experiment_id, start_time: t0, tags: [{ key: "mlflow.user", value: "ada" }] });
      const runId: string = run.info.run_id;
      expect(run.info).toMatchObject({ run_uuid: runId, experiment_id, status: "RUNNING", lifecycle_stage: "active", start_time: t0 });

      await client.Runs.logMetric({ run_id: runId, key: "loss", value: 0.9, timestamp: t0, step: 0 });
      await client.Runs.logMetric({ run_id: runId, key: "loss", value: 0.5, timestamp: t0 + 1, step: 1 });
      await client.Runs.logParameter({ run_id: runId, key: "lr", value: "0.01" });
      await client.Runs.setTag({ run_id: runId, key: "stage", value: "dev" });
      await client.Runs.setTag({ run_id: runId, key: "tmp", value: "x" });
      await client.Runs.deleteTag({ run_id: runId, key: "tmp" });
      await client.Runs.logBatch({
        run_id: runId,
        metrics: [
          { key: "auc", value: 0.91, timestamp: t0 + 2, step: 1 },
          { key: "loss", value: 0.3, timestamp: t0 + 2, step: 2 },
        ],
        params: [{ key: "depth", value: "6" }],
        tags: [{ key: "stage", value: "prod" }],
      });

      const got = (await client.Runs.get({ run_id: runId })).run;
      const metrics = Object.fromEntries(got.data.metrics.map((m: any) => [m.key, m.value]));
      expect(metrics).toEqual({ auc: 0.91, loss: 0.3 });
      expect(got.data.params).toEqual([
        { key: "depth", value: "6" },
        { key: "lr", value: "0.01" },
      ]);
      const tags = Object.fromEntries(got.data.tags.map((t: any) => [t.key, t.value]));
      expect(tags).toMatchObject({ stage: "prod", "mlflow.user": "ada" });
      expect(tags.tmp).toBeUndefined();

      const history = await client.Metrics.getHistory({ run_id: runId, metric_key: "loss" });
      expect(history.metrics.map((m: any) => [m.step, m.value])).toEqual([
        [0, 0.9],
        [1, 0.5],
        [2, 0.3],
      ]);

      const found = await client.Runs.search({
        experiment_ids: [experiment_id],
        filter: "metrics.auc > 0.9 and params.depth = '6' and tags.stage = 'prod'",
        run_view_type: "ACTIVE_ONLY",
        max_results: 10,
        order_by: ["metrics.loss ASC"],
      });
      expect(found.runs.map((r: any) => r.info.run_id)).toEqual([runId]);

      const upload = await fetch(`${server.url}/api/2.0/mlflow-artifacts/artifacts/${experiment_id}/${runId}/artifacts/model/weights.json`, {
        method: "PUT",
        body: '{"w":[1,2]}',
      });
      expect(upload.status).toBe(200);
      const root = await client.Artifacts.list({ run_id: runId });
      expect(root).toMatchObject({ root_uri: run.info.artifact_uri, files: [{ path: "model", is_dir: true }] });
      const inner = await client.Artifacts.list({ run_id: runId, path: "model" });
      expect(inner.files).toEqual([{ path: "model/weights.json", is_dir: false, file_size: 11 }]);

      const { run_info } = await client.Runs.update({ run_id: runId, status: "FINISHED", end_time: t0 + 10 });
      expect(run_info).toMatchObject({ run_id: runId, status: "FINISHED", end_time: t0 + 10 });
      await client.Runs.delete({ run_id: runId });
      expect((await client.Runs.search({ experiment_ids: [experiment_id], run_view_type: "DELETED_ONLY" })).runs).toHaveLength(1);
      await client.Runs.restore({ run_id: runId });
      expect((await client.Runs.get({ run_id: runId })).run.info.lifecycle_stage).toBe("active");
    });

    test("errors reach the client as MLflow error bodies", async () => {
      const err = await client.Runs.get({ run_id: "0".repeat(32) }).catch((e: Error) => e);
      expect(err).toBeInstanceOf(Error);
      expect(String(err.message)).toContain("RESOURCE_DOES_NOT_EXIST");
    });
  });
}
