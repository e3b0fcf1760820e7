import { execFileSync } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { FlywheelApiError } from "./errors.js";
import { FlywheelClient } from "./http-client.js";
import { createTracking, artifactProxyPrefix, gitCommit, resolveTrackingUri } from "./index.js";
import type { ActiveRun, Tracking } from "./index.js";
import { startFakeMlflowServer } from "../../test/helpers/fake-mlflow-server.js";
import type { FakeMlflowServer, RecordedRequest } from "../../test/helpers/fake-mlflow-server.js";

let server: FakeMlflowServer;
let tracking: Tracking;
let tmp: string;

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), "flywheel-tracking-test-"));
});

afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

beforeEach(async () => {
  server = await startFakeMlflowServer();
  tracking = createTracking({ trackingUri: server.baseUrl, flushIntervalMs: 0, endRunsOnExit: false });
});

afterEach(async () => {
  vi.restoreAllMocks();
  await tracking.endAll().catch(() => undefined);
  await server.close();
});

type BatchBody = {
  run_id: string;
  metrics: { key: string; value: unknown; step: number; timestamp: number }[];
  params: { key: string; value: string }[];
  tags: { key: string; value: string }[];
};

function batches(): BatchBody[] {
  return server.requestsTo("runs/log-batch").map((r: RecordedRequest) => r.body as BatchBody);
}

async function waitFor(cond: () => boolean, ms = 2000): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > ms) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe("startRun", () => {
  it("creates the experiment when missing and reuses it afterwards", async () => {
    const run = await tracking.startRun({ experiment: "churn", runName: "first", tags: { team: "ml" } });
    expect(server.requestsTo("experiments/create")).toHaveLength(1);
    const exp = [...server.state.experiments.values()].find((e) => e.name === "churn");
    expect(run.experimentId).toBe(exp?.experiment_id);
    expect(run.info.run_name).toBe("first");
    expect(run.artifactUri).toBe(`mlflow-artifacts:/${run.experimentId}/${run.runId}/artifacts`);

    const body = server.requestsTo("runs/create")[0]?.body as { tags: { key: string; value: string }[]; user_id: string };
    const tags = Object.fromEntries(body.tags.map((t) => [t.key, t.value]));
    expect(tags["mlflow.user"]).toBe(body.user_id);
    expect(tags["mlflow.user"]).not.toBe("");
    expect(tags["mlflow.source.name"]).toBe(process.argv[1]);
    expect(tags.team).toBe("ml");

    const second = await tracking.startRun({ experiment: "churn" });
    expect(second.experimentId).toBe(run.experimentId);
    expect(server.requestsTo("experiments/create")).toHaveLength(1);
    await Promise.all([run.end(), second.end()]);

    // A fresh Tracking (no cache) finds the existing experiment by name.
    const other = createTracking({ trackingUri: server.baseUrl, flushIntervalMs: 0, endRunsOnExit: false });
    const third = await other.startRun({ experiment: "churn" });
    expect(third.experimentId).toBe(run.experimentId);
    expect(server.requestsTo("experiments/create")).toHaveLength(1);
    await third.end();
  });

  it("re-reads the experiment when a concurrent create wins the race", async () => {
    await new FlywheelClient({ baseUrl: server.baseUrl }).experiments.create({ name: "raced" });
    let calls = 0;
    server.override("GET", "experiments/get-by-name", () => {
      calls++;
      return calls === 1
        ? { status: 404, body: { error_code: "RESOURCE_DOES_NOT_EXIST", message: "not yet" } }
        : undefined;
    });
    const run = await tracking.startRun({ experiment: "raced" });
    expect(calls).toBe(2);
    expect(server.requestsTo("experiments/create")).toHaveLength(2);
    expect(run.experimentId).toBe("1");
  });

  it("does not create an experiment when the lookup fails otherwise", async () => {
    server.override("GET", "experiments/get-by-name", () => ({
      status: 503,
      body: { error_code: "TEMPORARILY_UNAVAILABLE", message: "database down" },
    }));
    await expect(tracking.startRun({ experiment: "x" })).rejects.toThrow("database down");
    expect(server.requestsTo("experiments/create")).toHaveLength(0);
  });

  it("refuses a deleted experiment", async () => {
    const client = new FlywheelClient({ baseUrl: server.baseUrl });
    const { experiment_id } = await client.experiments.create({ name: "gone" });
    await client.experiments.delete(experiment_id);
    await expect(tracking.startRun({ experiment: "gone" })).rejects.toThrow(/is deleted.*experiments restore/);
  });

  it("tags the git commit when the working directory is a checkout", async () => {
    const repo = join(tmp, "repo");
    mkdirSync(repo);
    const git = (...args: string[]) =>
      execFileSync("git", ["-c", "user.name=t", "-c", "user.email=t@example.com", ...args], { cwd: repo }).toString();
    git("init", "-q");
    writeFileSync(join(repo, "f.txt"), "x");
    git("add", "f.txt");
    git("commit", "-q", "-m", "init");
    const sha = git("rev-parse", "HEAD").trim();
    expect(await gitCommit(repo)).toBe(sha);
    expect(await gitCommit(tmp)).toBeUndefined();

    vi.spyOn(process, "cwd").mockReturnValue(repo);
    await tracking.startRun({ experiment: "git" });
    vi.spyOn(process, "cwd").mockReturnValue(tmp);
    await tracking.startRun({ experiment: "git" });
    const tagsOf = (i: number) =>
      (server.requestsTo("runs/create")[i]?.body as { tags: { key: string; value: string }[] }).tags;
    expect(tagsOf(0)).toContainEqual({ key: "mlflow.source.git.commit", value: sha });
    expect(tagsOf(1).find((t) => t.key === "mlflow.source.git.commit")).toBeUndefined();
  });
});

describe("buffered logging", () => {
  let run: ActiveRun;

  beforeEach(async () => {
    run = await tracking.startRun({ experiment: "buf" });
  });

  it("buffers until flush and sends one log-batch", async () => {
    run.logMetric("auc", 0.91, { step: 1, timestamp: 1000 });
    run.logMetric("auc", Number.NaN, { step: 2, timestamp: 1001 });
    run.logParam("lr", 0.1);
    run.logParams({ depth: 3, balanced: true });
    run.setTag("stage", "dev");
    run.setTag("stage", "prod");
    run.setTags({ owner: "ana" });
    expect(run.bufferedCount).toBe(7);
    expect(batches()).toHaveLength(0);

    await run.flush();
    expect(run.bufferedCount).toBe(0);
    expect(batches()).toEqual([
      {
        run_id: run.runId,
        metrics: [
          { key: "auc", value: 0.91, timestamp: 1000, step: 1 },
          { key: "auc", value: "NaN", timestamp: 1001, step: 2 },
        ],
        params: [
          { key: "lr", value: "0.1" },
          { key: "depth", value: "3" },
          { key: "balanced", value: "true" },
        ],
        tags: [
          { key: "stage", value: "prod" },
          { key: "owner", value: "ana" },
        ],
      },
    ]);
    await run.flush();
    expect(batches()).toHaveLength(1);
  });

  it("splits into requests within MLflow's limits and keeps the order", async () => {
    for (let i = 0; i < 150; i++) run.logParam(`p${i}`, i);
    for (let i = 0; i < 120; i++) run.setTag(`t${i}`, String(i));
    // Param and tag buffers reach their per-request limit: background sends start.
    for (let i = 0; i < 2500; i++) run.logMetric("loss", 1 / (i + 1), { step: i, timestamp: 5000 });
    await run.flush();

    const sent = batches();
    for (const b of sent) {
      expect(b.metrics.length).toBeLessThanOrEqual(1000);
      expect(b.params.length).toBeLessThanOrEqual(100);
      expect(b.tags.length).toBeLessThanOrEqual(100);
      expect(b.metrics.length + b.params.length + b.tags.length).toBeLessThanOrEqual(1000);
    }
    expect(sent.flatMap((b) => b.metrics.map((m) => m.step))).toEqual([...Array(2500).keys()]);
    expect(sent.flatMap((b) => b.params.map((p) => p.key))).toEqual([...Array(150).keys()].map((i) => `p${i}`));
    expect(sent.flatMap((b) => b.tags.map((t) => t.key))).toEqual([...Array(120).keys()].map((i) => `t${i}`));
    const stored = server.state.runs.get(run.runId);
    expect(stored?.metrics).toHaveLength(2500);
    expect(stored?.params.size).toBe(150);
  });

  it("sends in the background once 1000 metrics are buffered, one request at a time", async () => {
    server.delay("runs/log-batch", 20);
    for (let i = 0; i < 999; i++) run.logMetric("m", i, { step: i });
    await new Promise((r) => setTimeout(r, 30));
    expect(batches()).toHaveLength(0);
    run.logMetric("m", 999, { step: 999 });
    await waitFor(() => batches().length === 1);
    expect(batches()[0]?.metrics).toHaveLength(1000);

    for (let i = 1000; i < 5500; i++) run.logMetric("m", i, { step: i });
    await run.flush();
    expect(server.maxInFlight("runs/log-batch")).toBe(1);
    expect(batches().flatMap((b) => b.metrics.map((m) => m.step))).toEqual([...Array(5500).keys()]);
  });

  it("flushes on a timer", async () => {
    const timed = createTracking({ trackingUri: server.baseUrl, flushIntervalMs: 20, endRunsOnExit: false });
    const r = await timed.startRun({ experiment: "timer" });
    r.logMetric("x", 1);
    await waitFor(() => batches().length === 1);
    expect(r.bufferedCount).toBe(0);
    await r.end();
  });

  it("reports a background failure at the next flush, then carries on", async () => {
    let fail = true;
    server.override("POST", "runs/log-batch", () =>
      fail ? { status: 400, body: { error_code: "INVALID_PARAMETER_VALUE", message: "metric key is bad" } } : undefined,
    );
    for (let i = 0; i < 1000; i++) run.logMetric("m", i);
    await waitFor(() => batches().length === 1);
    fail = false;
    run.logMetric("after", 1);
    const error = await run.flush().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FlywheelApiError);
    expect((error as FlywheelApiError).message).toBe("metric key is bad");
    expect(batches()).toHaveLength(2);
    expect(batches()[1]?.metrics).toEqual([expect.objectContaining({ key: "after" })]);
    await expect(run.flush()).resolves.toBeUndefined();
  });

  it("lets a param be re-logged after its batch failed", async () => {
    server.override("POST", "runs/log-batch", () => ({
      status: 503,
      body: { error_code: "TEMPORARILY_UNAVAILABLE", message: "busy" },
    }));
    run.logParam("lr", 0.1);
    await expect(run.flush()).rejects.toThrow("busy");
    server.override("POST", "runs/log-batch", () => undefined);
    run.logParam("lr", 0.1);
    await run.flush();
    expect(server.state.runs.get(run.runId)?.params.get("lr")).toBe("0.1");
  });

  it("checks arguments synchronously", () => {
    run.logParam("lr", 0.1);
    run.logParam("lr", "0.1");
    expect(() => run.logParam("lr", 0.2)).toThrow(/already logged with value '0.1'/);
    expect(() => run.logMetric("", 1)).toThrow(/non-empty/);
    expect(() => run.logMetric("m", "1" as unknown as number)).toThrow(/must be a number/);
    expect(() => run.logMetric("m", 1, { step: 1.5 })).toThrow(/step must be an integer/);
    expect(run.bufferedCount).toBe(1);
  });

  it("deletes a tag after sending the buffer", async () => {
    run.setTag("temp", "1");
    await run.deleteTag("temp");
    expect(server.state.runs.get(run.runId)?.tags.has("temp")).toBe(false);
    const order = server.requests.map((r) => r.endpoint).filter((e) => e.startsWith("runs/"));
    expect(order.slice(-2)).toEqual(["runs/log-batch", "runs/delete-tag"]);
  });
});

describe("end", () => {
  it("flushes, then marks the run FINISHED with an end time", async () => {
    const run = await tracking.startRun({ experiment: "end" });
    run.logMetric("auc", 0.9);
    const before = Date.now();
    await run.end();
    const endpoints = server.requests.map((r) => r.endpoint);
    expect(endpoints.slice(-2)).toEqual(["runs/log-batch", "runs/update"]);
    const update = server.requestsTo("runs/update")[0]?.body as { run_id: string; status: string; end_time: number };
    expect(update.run_id).toBe(run.runId);
    expect(update.status).toBe("FINISHED");
    expect(update.end_time).toBeGreaterThanOrEqual(before);
    expect(run.info.status).toBe("FINISHED");
    expect(run.ended).toBe(true);
    expect(tracking.activeRuns).toEqual([]);

    await run.end();
    expect(server.requestsTo("runs/update")).toHaveLength(1);
    expect(() => run.logMetric("x", 1)).toThrow(/has ended/);
    await expect(run.logText("x", "a.txt")).rejects.toThrow(/has ended/);
  });

  it("accepts another terminal status", async () => {
    const run = await tracking.startRun({ experiment: "end" });
    await run.end("FAILED");
    expect(server.state.runs.get(run.runId)?.status).toBe("FAILED");
  });

  it("still ends the run when the final flush fails, and reports the failure", async () => {
    server.override("POST", "runs/log-batch", () => ({
      status: 400,
      body: { error_code: "INVALID_PARAMETER_VALUE", message: "bad batch" },
    }));
    const run = await tracking.startRun({ experiment: "end" });
    run.logMetric("m", 1);
    await expect(run.end()).rejects.toThrow("bad batch");
    expect(server.state.runs.get(run.runId)?.status).toBe("FINISHED");
  });

  it("withRun ends FINISHED on success and FAILED on error", async () => {
    const value = await tracking.withRun({ experiment: "with" }, (run) => {
      run.logMetric("m", 1);
      return 42;
    });
    expect(value).toBe(42);
    await expect(
      tracking.withRun({ experiment: "with" }, () => {
        throw new Error("training diverged");
      }),
    ).rejects.toThrow("training diverged");
    const statuses = [...server.state.runs.values()].map((r) => r.status);
    expect(statuses.sort()).toEqual(["FAILED", "FINISHED"]);
  });

  it("ends open runs when the process is about to exit", async () => {
    const t = createTracking({ trackingUri: server.baseUrl, flushIntervalMs: 0 });
    const run = await t.startRun({ experiment: "exit" });
    run.logMetric("m", 1);
    expect(process.listeners("beforeExit").length).toBeGreaterThan(0);
    process.emit("beforeExit", 0);
    await waitFor(() => server.state.runs.get(run.runId)?.status === "FINISHED");
    expect(server.state.runs.get(run.runId)?.metrics).toHaveLength(1);
    await waitFor(() => t.activeRuns.length === 0);
  });
});

describe("artifacts", () => {
  it("uploads files, directories, text and dicts under the run's proxy path", async () => {
    const run = await tracking.startRun({ experiment: "art" });
    const prefix = `${run.experimentId}/${run.runId}/artifacts`;
    const file = join(tmp, "model weights.bin");
    writeFileSync(file, Buffer.from([1, 2, 3]));
    const dir = join(tmp, "plots");
    mkdirSync(join(dir, "sub"), { recursive: true });
    writeFileSync(join(dir, "a.txt"), "A");
    writeFileSync(join(dir, "sub", "b.txt"), "B");

    await run.logArtifact(file);
    await run.logArtifact(file, "models/v1");
    await run.logArtifact(dir, "figs");
    await run.logArtifacts(dir);
    await run.logText("hello\n", "notes/readme.md");
    await run.logDict({ a: 1, nested: { b: [1, 2] } }, "config/params.json");
    await run.logDict({ a: 1 }, "config/params.yaml");

    const files = server.state.artifacts;
    expect([...files.keys()].sort()).toEqual(
      [
        "model weights.bin",
        "models/v1/model weights.bin",
        "figs/plots/a.txt",
        "figs/plots/sub/b.txt",
        "a.txt",
        "sub/b.txt",
        "notes/readme.md",
        "config/params.json",
        "config/params.yaml",
      ]
        .map((p) => `${prefix}/${p}`)
        .sort(),
    );
    expect(files.get(`${prefix}/models/v1/model weights.bin`)).toEqual(Buffer.from([1, 2, 3]));
    expect(files.get(`${prefix}/figs/plots/sub/b.txt`)?.toString()).toBe("B");
    expect(files.get(`${prefix}/notes/readme.md`)?.toString()).toBe("hello\n");
    expect(JSON.parse(files.get(`${prefix}/config/params.json`)?.toString() ?? "")).toEqual({ a: 1, nested: { b: [1, 2] } });
    expect(parseYaml(files.get(`${prefix}/config/params.yaml`)?.toString() ?? "")).toEqual({ a: 1 });

    const put = server.requestsTo("mlflow-artifacts").find((r) => r.path.endsWith("model%20weights.bin"));
    expect(put?.path).toBe(`/api/2.0/mlflow-artifacts/artifacts/${prefix}/model%20weights.bin`);
    expect(put?.headers["content-type"]).toBe("application/octet-stream");

    await expect(run.logArtifact(join(tmp, "missing.bin"))).rejects.toThrow(/ENOENT/);
    await expect(run.logText("x", "../escape.txt")).rejects.toThrow(/'\.\.'/);
    await run.end();
  });

  it("refuses artifact locations that are not served by the proxy", async () => {
    const client = new FlywheelClient({ baseUrl: server.baseUrl });
    await client.experiments.create({ name: "s3", artifact_location: "s3://bucket/path" });
    const run = await tracking.startRun({ experiment: "s3" });
    await expect(run.logText("x", "a.txt")).rejects.toThrow(/not served by the artifact proxy/);
    run.logMetric("still", 1);
    await run.end();
  });

  it("derives the proxy prefix from an mlflow-artifacts URI", () => {
    expect(artifactProxyPrefix("mlflow-artifacts:/1/abc/artifacts")).toBe("1/abc/artifacts");
    expect(artifactProxyPrefix("mlflow-artifacts://host:5000/1/abc/artifacts/")).toBe("1/abc/artifacts");
    expect(artifactProxyPrefix("mlflow-artifacts:///7/r/artifacts")).toBe("7/r/artifacts");
    expect(() => artifactProxyPrefix("file:///tmp/x")).toThrow(/not served by the artifact proxy/);
  });
});

describe("resolveTrackingUri", () => {
  it("prefers the explicit URI, then FLYWHEEL_TRACKING_URI, then MLFLOW_TRACKING_URI", () => {
    expect(resolveTrackingUri("http://a", { FLYWHEEL_TRACKING_URI: "http://b" })).toBe("http://a");
    expect(resolveTrackingUri(undefined, { FLYWHEEL_TRACKING_URI: "http://b", MLFLOW_TRACKING_URI: "http://c" })).toBe("http://b");
    expect(resolveTrackingUri(undefined, { MLFLOW_TRACKING_URI: "http://c" })).toBe("http://c");
    expect(resolveTrackingUri(undefined, {})).toBe("http://127.0.0.1:5000");
  });
});
