/** The client, tracking SDK and CLI against the real Flywheel server (SQLite, temporary stores). */
import { Command } from "commander";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sqliteBackend } from "../../test/helpers/backends.js";
import { startTestServer } from "../../test/helpers/server.js";
import type { TestServer } from "../../test/helpers/server.js";
import { registerExperimentsCommand } from "../cli/experiments.js";
import { io } from "../cli/output.js";
import { registerRunsCommand } from "../cli/runs.js";
import { FlywheelApiError, FlywheelClient, createTracking } from "./index.js";

let server: TestServer;
let client: FlywheelClient;
let tmp: string;

beforeAll(async () => {
  server = await startTestServer(sqliteBackend);
  client = new FlywheelClient({ baseUrl: server.url });
  tmp = mkdtempSync(join(tmpdir(), "flywheel-client-real-"));
});

afterAll(async () => {
  await server.stop();
  rmSync(tmp, { recursive: true, force: true });
});

describe("against the real server", () => {
  it("links datasets with their context (logInput), reads them back on the run and finds the run by datasets.* filters", async () => {
    const tracking = createTracking({ trackingUri: server.url, flushIntervalMs: 0, endRunsOnExit: false });
    const run = await tracking.startRun({ experiment: "inputs", runName: "fed" });
    const train = { name: "iris-train", digest: "a1b2", source_type: "local", source: JSON.stringify({ uri: "/data/train.parquet" }) };
    await run.logInput(train, { context: "training", tags: { split: "80%" } });
    await run.logInput({ ...train, name: "iris-eval", digest: "c3d4", schema: '{"mlflow_colspec": []}' }, { context: "eval" });
    await run.end();
    const { run: got } = await client.runs.get(run.runId);
    expect(got.inputs.dataset_inputs).toEqual([
      { dataset: train, tags: [{ key: "mlflow.data.context", value: "training" }, { key: "split", value: "80%" }] },
      { dataset: { ...train, name: "iris-eval", digest: "c3d4", schema: '{"mlflow_colspec": []}' }, tags: [{ key: "mlflow.data.context", value: "eval" }] },
    ]);
    const search = (filter: string) => client.runs.search({ experiment_ids: [run.experimentId], filter });
    expect((await search("datasets.context = 'eval' and datasets.digest = 'c3d4'")).runs.map((r) => r.info.run_id)).toEqual([run.runId]);
    expect((await search("datasets.name = 'iris-test'")).runs).toEqual([]);
    const plain = await tracking.startRun({ experiment: "inputs", runName: "plain" });
    await plain.end();
    expect((await client.runs.get(plain.runId)).run.inputs).toEqual({});
    // `flywheel runs show` lists them.
    const original = { ...io };
    let stdout = "";
    io.out = (text) => {
      stdout += text;
    };
    try {
      const program = new Command().exitOverride();
      registerRunsCommand(program);
      await program.parseAsync(["node", "flywheel", "runs", "show", run.runId, "--tracking-uri", server.url]);
    } finally {
      Object.assign(io, original);
    }
    const section = stdout.slice(stdout.indexOf("Datasets:")).split("\n");
    expect(section[1]).toMatch(/^\s+NAME\s+DIGEST\s+CONTEXT\s+SOURCE$/);
    expect(section[2]).toMatch(/^\s+iris-train\s+a1b2\s+training\s+\{"uri":"\/data\/train.parquet"\}$/);
    expect(section[3]).toMatch(/^\s+iris-eval\s+c3d4\s+eval\s/);
  });

  it("logs a run with the tracking SDK and reads it back with the client", async () => {
    const tracking = createTracking({ trackingUri: server.url, flushIntervalMs: 0, endRunsOnExit: false });
    const run = await tracking.startRun({ experiment: "churn", runName: "baseline", tags: { team: "ml" } });
    expect(run.artifactUri).toBe(`mlflow-artifacts:/${run.experimentId}/${run.runId}/artifacts`);
    run.logParams({ lr: 0.1, depth: 6 });
    for (let step = 0; step < 2500; step++) run.logMetric("loss", 1 / (step + 1), { step });
    run.logMetric("nan", Number.NaN);
    run.logMetric("inf", Number.NEGATIVE_INFINITY);
    for (let i = 0; i < 150; i++) run.setTag(`t${i}`, String(i));
    const file = join(tmp, "weights v1.bin");
    writeFileSync(file, Buffer.from([0, 1, 2, 250]));
    await run.logArtifact(file, "model dir");
    await run.logDict({ a: [1, 2] }, "config/params.json");
    await run.end();

    const { run: got } = await client.runs.get(run.runId);
    expect(got.info.status).toBe("FINISHED");
    expect(got.info.end_time).toBeGreaterThanOrEqual(got.info.start_time);
    const latest = Object.fromEntries((got.data.metrics ?? []).map((m) => [m.key, m]));
    expect(latest.loss).toMatchObject({ step: 2499, value: 1 / 2500 });
    expect(latest.nan?.value).toBeNaN();
    expect(latest.inf?.value).toBe(Number.NEGATIVE_INFINITY);
    expect(got.data.params).toEqual(expect.arrayContaining([{ key: "lr", value: "0.1" }, { key: "depth", value: "6" }]));
    const tags = Object.fromEntries((got.data.tags ?? []).map((t) => [t.key, t.value]));
    expect(tags.team).toBe("ml");
    expect(tags.t149).toBe("149");
    expect(tags["mlflow.user"]).toBe(got.info.user_id);

    const history = [];
    for await (const m of client.metricHistory(run.runId, "loss", 1000)) history.push(m.step);
    expect(history).toEqual([...Array(2500).keys()]);

    const root = await client.listArtifacts({ run_id: run.runId });
    expect(root.root_uri).toBe(run.artifactUri);
    expect(root.files.map((f) => f.path).sort()).toEqual(["config", "model dir"]);
    const sub = await client.listArtifacts({ run_id: run.runId, path: "model dir" });
    expect(sub.files).toEqual([{ path: "model dir/weights v1.bin", is_dir: false, file_size: 4 }]);
    const prefix = `${run.experimentId}/${run.runId}/artifacts`;
    expect(await client.downloadArtifact(`${prefix}/model dir/weights v1.bin`)).toEqual(Buffer.from([0, 1, 2, 250]));
    expect(JSON.parse((await client.downloadArtifact(`${prefix}/config/params.json`)).toString())).toEqual({ a: [1, 2] });
    await client.deleteArtifact(`${prefix}/config`);
    expect((await client.listArtifactDir(prefix)).files.map((f) => f.path)).toEqual(["model dir"]);
  });

  it("maps the server's errors", async () => {
    const notFound = await client.runs.get("0123456789abcdef0123456789abcdef").catch((e: unknown) => e);
    expect(notFound).toBeInstanceOf(FlywheelApiError);
    expect(notFound).toMatchObject({ status: 404, errorCode: "RESOURCE_DOES_NOT_EXIST" });
    await client.experiments.create({ name: "dup" });
    await expect(client.experiments.create({ name: "dup" })).rejects.toMatchObject({
      status: 400,
      errorCode: "RESOURCE_ALREADY_EXISTS",
    });
    await expect(client.call("GET", "no/such/endpoint")).rejects.toMatchObject({ status: 404, errorCode: "ENDPOINT_NOT_FOUND" });
  });

  it("gets one experiment when several processes start runs in a new experiment at once", async () => {
    const trackers = Array.from({ length: 4 }, () =>
      createTracking({ trackingUri: server.url, flushIntervalMs: 0, endRunsOnExit: false }),
    );
    const runs = await Promise.all(trackers.map((t) => t.startRun({ experiment: "raced" })));
    expect(new Set(runs.map((r) => r.experimentId)).size).toBe(1);
    await Promise.all(runs.map((r) => r.end()));
  });

  it("drives the CLI", async () => {
    const tracking = createTracking({ trackingUri: server.url, flushIntervalMs: 0, endRunsOnExit: false });
    for (let i = 0; i < 3; i++) {
      await tracking.withRun({ experiment: "cli", runName: `r${i}` }, (run) => {
        run.logParam("lr", String(i));
        run.logMetric("auc", 0.8 + i / 10);
      });
    }
    const original = { ...io };
    let stdout = "";
    let stderr = "";
    io.out = (s) => {
      stdout += s;
    };
    io.err = (s) => {
      stderr += s;
    };
    try {
      const program = new Command().exitOverride();
      registerExperimentsCommand(program);
      registerRunsCommand(program);
      const cli = (...args: string[]) => program.parseAsync(["node", "flywheel", ...args, "--tracking-uri", server.url]);
      await cli("runs", "search", "-e", "cli", "--filter", "metrics.auc > 0.85", "--order-by", "metrics.auc DESC");
      const lines = stdout.trimEnd().split("\n");
      expect(lines[0]).toMatch(/^RUN ID\s+NAME\s+STATUS\s+START TIME\s+auc$/);
      expect(lines.slice(1).map((l) => l.split(/\s+/)[1])).toEqual(["r2", "r1"]);
      stdout = "";
      await cli("experiments", "show", "cli");
      expect(stdout).toMatch(/Name:\s+cli/);
      await cli("runs", "search", "-e", "cli", "--filter", "metrics.auc >>> 1");
      expect(stderr).toMatch(/^error: .*metrics\.auc/);
      expect(process.exitCode).toBe(1);
    } finally {
      process.exitCode = undefined;
      Object.assign(io, original);
    }
  });
});
