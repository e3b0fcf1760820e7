import { createServer } from "node:net";
import type { AddressInfo } from "node:net";
import { Readable } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { FlywheelApiError, FlywheelConnectionError } from "./errors.js";
import { FlywheelClient, encodeArtifactPath, normalizeBaseUrl, toWireJson } from "./http-client.js";
import { startFakeMlflowServer } from "../../test/helpers/fake-mlflow-server.js";
import type { FakeMlflowServer } from "../../test/helpers/fake-mlflow-server.js";

let server: FakeMlflowServer;
let client: FlywheelClient;

beforeEach(async () => {
  server = await startFakeMlflowServer();
  client = new FlywheelClient({ baseUrl: `${server.baseUrl}/`, headers: { "X-Test": "yes" } });
});

afterEach(async () => {
  await server.close();
});

async function expectApiError(p: Promise<unknown>): Promise<FlywheelApiError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(FlywheelApiError);
  return e as FlywheelApiError;
}

/** A localhost port with nothing listening on it. */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe("FlywheelClient: experiments", () => {
  it("creates, reads, searches, renames, tags, deletes and restores", async () => {
    const { experiment_id: id } = await client.experiments.create({
      name: "churn",
      tags: [{ key: "team", value: "ml" }],
    });
    const create = server.requestsTo("experiments/create")[0];
    expect(create?.method).toBe("POST");
    expect(create?.path).toBe("/api/2.0/mlflow/experiments/create");
    expect(create?.headers["content-type"]).toBe("application/json");
    expect(create?.headers["x-test"]).toBe("yes");
    expect(create?.body).toEqual({ name: "churn", tags: [{ key: "team", value: "ml" }] });

    const { experiment } = await client.experiments.get(id);
    expect(experiment).toMatchObject({
      experiment_id: id,
      name: "churn",
      artifact_location: `mlflow-artifacts:/${id}`,
      lifecycle_stage: "active",
      tags: [{ key: "team", value: "ml" }],
    });
    expect(typeof experiment.creation_time).toBe("number");
    expect(server.requestsTo("experiments/get")[0]).toMatchObject({ method: "GET", query: { experiment_id: id } });

    expect((await client.experiments.getByName("churn")).experiment.experiment_id).toBe(id);
    expect(server.requestsTo("experiments/get-by-name")[0]?.query).toEqual({ experiment_name: "churn" });

    await client.experiments.update({ experiment_id: id, new_name: "churn-v2" });
    expect(server.requestsTo("experiments/update")[0]?.body).toEqual({ experiment_id: id, new_name: "churn-v2" });

    await client.experiments.setExperimentTag({ experiment_id: id, key: "owner", value: "ana" });
    await client.experiments.deleteExperimentTag({ experiment_id: id, key: "team" });
    expect(server.requestsTo("experiments/set-experiment-tag")[0]?.body).toEqual({
      experiment_id: id,
      key: "owner",
      value: "ana",
    });
    expect(server.requestsTo("experiments/delete-experiment-tag")[0]?.body).toEqual({ experiment_id: id, key: "team" });
    expect((await client.experiments.get(id)).experiment.tags).toEqual([{ key: "owner", value: "ana" }]);

    await client.experiments.delete(id);
    expect(server.requestsTo("experiments/delete")[0]?.body).toEqual({ experiment_id: id });
    const active = await client.experiments.search({ view_type: "ACTIVE_ONLY" });
    expect(active.experiments.map((e) => e.name)).toEqual(["Default"]);
    const deleted = await client.experiments.search({ view_type: "DELETED_ONLY", max_results: 10, order_by: ["name"] });
    expect(deleted.experiments.map((e) => e.name)).toEqual(["churn-v2"]);
    expect(server.requestsTo("experiments/search")[1]?.body).toEqual({
      view_type: "DELETED_ONLY",
      max_results: 10,
      order_by: ["name"],
    });

    await client.experiments.restore(id);
    expect(server.requestsTo("experiments/restore")[0]?.body).toEqual({ experiment_id: id });
    expect((await client.experiments.get(id)).experiment.lifecycle_stage).toBe("active");
  });

  it("returns an empty list when the server omits an empty one", async () => {
    const res = await client.experiments.search({ view_type: "DELETED_ONLY" });
    expect(res).toEqual({ experiments: [] });
  });

  it("follows pages with searchAll", async () => {
    for (let i = 0; i < 7; i++) await client.experiments.create({ name: `e${i}` });
    const names: string[] = [];
    for await (const e of client.experiments.searchAll({ max_results: 3 })) names.push(e.name);
    expect(names).toHaveLength(8);
    expect(new Set(names).size).toBe(8);
    const bodies = server.requestsTo("experiments/search").map((r) => r.body as Record<string, unknown>);
    expect(bodies).toHaveLength(3);
    expect(bodies[0]?.page_token).toBeUndefined();
    expect(typeof bodies[1]?.page_token).toBe("string");
  });
});

describe("FlywheelClient: runs", () => {
  async function newRun() {
    const { experiment_id } = await client.experiments.create({ name: "exp" });
    const { run } = await client.runs.create({
      experiment_id,
      run_name: "r1",
      start_time: 1_700_000_000_000,
      user_id: "ana",
      tags: [{ key: "k", value: "v" }],
    });
    return { experimentId: experiment_id, run };
  }

  it("creates a run and reads it back in MLflow's shape", async () => {
    const { experimentId, run } = await newRun();
    expect(server.requestsTo("runs/create")[0]?.body).toEqual({
      experiment_id: experimentId,
      run_name: "r1",
      start_time: 1_700_000_000_000,
      user_id: "ana",
      tags: [{ key: "k", value: "v" }],
    });
    expect(run.info).toMatchObject({
      run_name: "r1",
      experiment_id: experimentId,
      status: "RUNNING",
      start_time: 1_700_000_000_000,
      artifact_uri: `mlflow-artifacts:/${experimentId}/${run.info.run_id}/artifacts`,
      lifecycle_stage: "active",
    });
    expect(run.info.run_uuid).toBe(run.info.run_id);
    expect(run.data.metrics).toBeUndefined();
    expect(run.data.tags).toContainEqual({ key: "k", value: "v" });
  });

  it("logs metrics, params and tags with the documented request shapes", async () => {
    const { run } = await newRun();
    const runId = run.info.run_id;
    await client.runs.logMetric({ run_id: runId, key: "auc", value: 0.9, timestamp: 1000, step: 2 });
    await client.runs.logMetric({ run_id: runId, key: "loss", value: Number.NaN, timestamp: 1000 });
    await client.runs.logParam({ run_id: runId, key: "lr", value: "0.1" });
    await client.runs.setTag({ run_id: runId, key: "stage", value: "dev" });
    await client.runs.deleteTag({ run_id: runId, key: "k" });
    await client.runs.logBatch({
      run_id: runId,
      metrics: [
        { key: "up", value: Number.POSITIVE_INFINITY, timestamp: 2000, step: 0 },
        { key: "down", value: Number.NEGATIVE_INFINITY, timestamp: 2000, step: 0 },
      ],
      params: [{ key: "depth", value: "3" }],
    });

    expect(server.requestsTo("runs/log-metric").map((r) => r.raw.toString())).toEqual([
      JSON.stringify({ step: 2, run_id: runId, key: "auc", value: 0.9, timestamp: 1000 }),
      JSON.stringify({ step: 0, run_id: runId, key: "loss", value: "NaN", timestamp: 1000 }),
    ]);
    expect(server.requestsTo("runs/log-parameter")[0]?.body).toEqual({ run_id: runId, key: "lr", value: "0.1" });
    expect(server.requestsTo("runs/set-tag")[0]?.body).toEqual({ run_id: runId, key: "stage", value: "dev" });
    expect(server.requestsTo("runs/delete-tag")[0]?.body).toEqual({ run_id: runId, key: "k" });
    expect(server.requestsTo("runs/log-batch")[0]?.body).toEqual({
      run_id: runId,
      metrics: [
        { key: "up", value: "Infinity", timestamp: 2000, step: 0 },
        { key: "down", value: "-Infinity", timestamp: 2000, step: 0 },
      ],
      params: [{ key: "depth", value: "3" }],
      tags: [],
    });

    // The fake answers non-finite values as strings, like MLflow; the client gives numbers.
    const { run: got } = await client.runs.get(runId);
    const metrics = Object.fromEntries((got.data.metrics ?? []).map((m) => [m.key, m.value]));
    expect(metrics).toEqual({ auc: 0.9, loss: Number.NaN, up: Number.POSITIVE_INFINITY, down: Number.NEGATIVE_INFINITY });
    expect(got.data.params).toEqual(expect.arrayContaining([{ key: "lr", value: "0.1" }, { key: "depth", value: "3" }]));
    expect(got.data.tags?.find((t) => t.key === "k")).toBeUndefined();
    expect(server.requestsTo("runs/get")[0]?.query).toEqual({ run_id: runId });
  });

  it("updates, deletes and restores a run", async () => {
    const { run } = await newRun();
    const runId = run.info.run_id;
    const { run_info } = await client.runs.update({ run_id: runId, status: "FINISHED", end_time: 1_700_000_001_000 });
    expect(run_info).toMatchObject({ run_id: runId, status: "FINISHED", end_time: 1_700_000_001_000 });
    await client.runs.delete(runId);
    expect(server.requestsTo("runs/delete")[0]?.body).toEqual({ run_id: runId });
    expect((await client.runs.get(runId)).run.info.lifecycle_stage).toBe("deleted");
    await client.runs.restore(runId);
    expect(server.requestsTo("runs/restore")[0]?.body).toEqual({ run_id: runId });
    expect((await client.runs.get(runId)).run.info.lifecycle_stage).toBe("active");
  });

  it("searches runs and follows pages", async () => {
    const { experimentId } = await newRun();
    for (let i = 0; i < 24; i++) await client.runs.create({ experiment_id: experimentId, start_time: 1000 + i });
    const first = await client.runs.search({
      experiment_ids: [experimentId],
      filter: "metrics.auc > 0.9",
      run_view_type: "ALL",
      max_results: 10,
      order_by: ["start_time DESC"],
    });
    expect(first.runs).toHaveLength(10);
    expect(first.next_page_token).toBeDefined();
    expect(server.requestsTo("runs/search")[0]?.body).toEqual({
      experiment_ids: [experimentId],
      filter: "metrics.auc > 0.9",
      run_view_type: "ALL",
      max_results: 10,
      order_by: ["start_time DESC"],
    });
    const ids: string[] = [];
    for await (const r of client.runs.searchAll({ experiment_ids: [experimentId], max_results: 10 })) ids.push(r.info.run_id);
    expect(ids).toHaveLength(25);
    expect(new Set(ids).size).toBe(25);

    const none = await client.runs.search({ experiment_ids: ["0"] });
    expect(none).toEqual({ runs: [] });
  });

  it("reads metric history page by page, converting special values", async () => {
    const { run } = await newRun();
    const runId = run.info.run_id;
    const metrics = [0.5, Number.NaN, 0.7, Number.POSITIVE_INFINITY, 0.9].map((value, step) => ({
      key: "auc",
      value,
      timestamp: 1000 + step,
      step,
    }));
    await client.runs.logBatch({ run_id: runId, metrics });
    const page = await client.getMetricHistory({ run_id: runId, metric_key: "auc", max_results: 2 });
    expect(page.metrics.map((m) => m.step)).toEqual([0, 1]);
    expect(page.metrics[1]?.value).toBeNaN();
    expect(page.next_page_token).toBeDefined();
    expect(server.requestsTo("metrics/get-history")[0]?.query).toEqual({
      run_id: runId,
      metric_key: "auc",
      max_results: "2",
    });
    const all = [];
    for await (const m of client.metricHistory(runId, "auc", 2)) all.push(m);
    expect(all).toEqual(metrics);
    expect((await client.getMetricHistory({ run_id: runId, metric_key: "none" })).metrics).toEqual([]);
  });
});

describe("FlywheelClient: errors", () => {
  it("maps an MLflow error body to FlywheelApiError", async () => {
    const e = await expectApiError(client.runs.get("0123456789abcdef0123456789abcdef"));
    expect(e.status).toBe(404);
    expect(e.errorCode).toBe("RESOURCE_DOES_NOT_EXIST");
    expect(e.message).toBe("Run with id=0123456789abcdef0123456789abcdef not found");
    expect(e.method).toBe("GET");
    expect(e.url).toContain("/api/2.0/mlflow/runs/get?run_id=");

    const dup = await client.experiments.create({ name: "x" }).then(() => expectApiError(client.experiments.create({ name: "x" })));
    expect(dup.status).toBe(400);
    expect(dup.errorCode).toBe("RESOURCE_ALREADY_EXISTS");
  });

  it("maps a non-JSON error page by its status", async () => {
    server.override("GET", "experiments/get", () => ({ status: 502, text: "<html>Bad Gateway</html>", contentType: "text/html" }));
    const e = await expectApiError(client.experiments.get("1"));
    expect(e.status).toBe(502);
    expect(e.errorCode).toBe("INTERNAL_ERROR");
    expect(e.message).toBe("<html>Bad Gateway</html>");

    const missing = await expectApiError(client.call("GET", "no/such-endpoint"));
    expect(missing.status).toBe(404);
    expect(missing.errorCode).toBe("ENDPOINT_NOT_FOUND");
  });

  it("rejects a 2xx answer that is not JSON", async () => {
    server.override("GET", "runs/get", () => ({ status: 200, text: "hello", contentType: "text/plain" }));
    const e = await expectApiError(client.runs.get("x"));
    expect(e.errorCode).toBe("INVALID_RESPONSE");
  });

  it("names the URL and suggests starting the server when nothing listens", async () => {
    const port = await closedPort();
    const offline = new FlywheelClient({ baseUrl: `http://127.0.0.1:${port}` });
    const e = await offline.experiments.get("1").catch((err: unknown) => err);
    expect(e).toBeInstanceOf(FlywheelConnectionError);
    const message = (e as Error).message;
    expect(message).toContain(`http://127.0.0.1:${port}/api/2.0/mlflow/experiments/get?experiment_id=1`);
    expect(message).toContain("is the server running? (flywheel server)");
    expect(message).toContain("ECONNREFUSED");
  });

  it("times out a slow answer", async () => {
    server.delay("experiments/get", 500);
    const slow = new FlywheelClient({ baseUrl: server.baseUrl, timeoutMs: 50 });
    const e = await slow.experiments.get("0").catch((err: unknown) => err);
    expect(e).toBeInstanceOf(FlywheelConnectionError);
    expect((e as FlywheelConnectionError).timedOut).toBe(true);
    expect((e as Error).message).toContain("timed out after 50 ms");
  });

  it("validates the base URL", () => {
    expect(normalizeBaseUrl("http://h:5000///")).toBe("http://h:5000");
    expect(normalizeBaseUrl("https://h/mlflow/")).toBe("https://h/mlflow");
    expect(() => new FlywheelClient({ baseUrl: "file:///tmp/mlruns" })).toThrow(/expected an http/);
    expect(() => new FlywheelClient({ baseUrl: "localhost:5000x" })).toThrow(/Invalid tracking URI/);
    expect(() => new FlywheelClient({ baseUrl: "not a url" })).toThrow(/Invalid tracking URI/);
  });
});

describe("FlywheelClient: artifacts", () => {
  it("percent-encodes each path segment but not the slashes", async () => {
    expect(encodeArtifactPath("1/abc/artifacts/my dir/a#b?.txt")).toBe("1/abc/artifacts/my%20dir/a%23b%3F.txt");
    expect(encodeArtifactPath("/a//b/")).toBe("a/b");
    expect(() => encodeArtifactPath("a/../b")).toThrow(/'\.\.'/);

    await client.uploadArtifact("1/abc/artifacts/my dir/a#b?.txt", "hello");
    const put = server.requestsTo("mlflow-artifacts")[0];
    expect(put?.method).toBe("PUT");
    expect(put?.path).toBe("/api/2.0/mlflow-artifacts/artifacts/1/abc/artifacts/my%20dir/a%23b%3F.txt");
    expect(server.state.artifacts.get("1/abc/artifacts/my dir/a#b?.txt")?.toString()).toBe("hello");
  });

  it("uploads buffers and streams, downloads, lists and deletes", async () => {
    const bytes = Buffer.from([0, 1, 2, 255, 254, 10, 13]);
    await client.uploadArtifact("1/r/artifacts/bin/data.bin", bytes);
    const big = Buffer.alloc(3 * 1024 * 1024, 7);
    await client.uploadArtifact("1/r/artifacts/bin/big.bin", Readable.from([big.subarray(0, 1000), big.subarray(1000)]));
    await client.uploadArtifact("1/r/artifacts/readme.txt", Readable.from(["text ", "chunks"]));

    expect(await client.downloadArtifact("1/r/artifacts/bin/data.bin")).toEqual(bytes);
    expect((await client.downloadArtifact("1/r/artifacts/bin/big.bin")).equals(big)).toBe(true);
    expect((await client.downloadArtifact("1/r/artifacts/readme.txt")).toString()).toBe("text chunks");
    const stream = await client.downloadArtifactStream("1/r/artifacts/readme.txt");
    const chunks: Buffer[] = [];
    for await (const c of stream) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe("text chunks");

    expect(await client.listArtifactDir("1/r/artifacts")).toEqual({
      files: [
        { path: "bin", is_dir: true },
        { path: "readme.txt", is_dir: false, file_size: 11 },
      ],
    });
    expect(server.requestsTo("mlflow-artifacts").at(-1)).toMatchObject({
      path: "/api/2.0/mlflow-artifacts/artifacts",
      query: { path: "1/r/artifacts" },
    });
    expect((await client.listArtifactDir()).files).toEqual([{ path: "1", is_dir: true }]);

    await client.deleteArtifact("1/r/artifacts/bin");
    expect(server.requestsTo("mlflow-artifacts").at(-1)?.method).toBe("DELETE");
    expect((await client.listArtifactDir("1/r/artifacts/bin")).files).toEqual([]);
    const e = await expectApiError(client.downloadArtifact("1/r/artifacts/bin/data.bin"));
    expect(e.status).toBe(404);
    expect(e.errorCode).toBe("RESOURCE_DOES_NOT_EXIST");
  });

  it("reports a failing local stream as itself, not as a network failure", async () => {
    const failing = new Readable({
      read() {
        this.destroy(new Error("disk on fire"));
      },
    });
    await expect(client.uploadArtifact("1/r/artifacts/x", failing)).rejects.toThrow("disk on fire");
  });

  it("lists a run's artifacts with artifacts/list", async () => {
    const { experiment_id } = await client.experiments.create({ name: "a" });
    const { run } = await client.runs.create({ experiment_id });
    const prefix = `${experiment_id}/${run.info.run_id}/artifacts`;
    await client.uploadArtifact(`${prefix}/model/model.json`, "{}");
    await client.uploadArtifact(`${prefix}/notes.txt`, "n");
    const root = await client.listArtifacts({ run_id: run.info.run_id });
    expect(root).toEqual({
      root_uri: run.info.artifact_uri,
      files: [
        { path: "model", is_dir: true },
        { path: "notes.txt", is_dir: false, file_size: 1 },
      ],
    });
    const sub = await client.listArtifacts({ run_id: run.info.run_id, path: "model" });
    expect(sub.files).toEqual([{ path: "model/model.json", is_dir: false, file_size: 2 }]);
    expect(server.requestsTo("artifacts/list").at(-1)?.query).toEqual({ run_id: run.info.run_id, path: "model" });
  });
});

describe("toWireJson", () => {
  it("spells non-finite numbers as MLflow reads them", () => {
    expect(toWireJson({ a: Number.NaN, b: [Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY], c: 1.5 })).toBe(
      '{"a":"NaN","b":["Infinity","-Infinity"],"c":1.5}',
    );
  });
});
