import { Command } from "commander";
import { createServer } from "node:net";
import type { AddressInfo } from "node:net";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { cliHarness, tableRows } from "../../test/helpers/cli.js";
import { FlywheelClient } from "../client/http-client.js";
import { startFakeMlflowServer } from "../../test/helpers/fake-mlflow-server.js";
import type { FakeMlflowServer } from "../../test/helpers/fake-mlflow-server.js";
import { registerExperimentsCommand } from "./experiments.js";
import { io } from "./output.js";
import { formatRunsTable, orderByMetric, pickMetricColumns, registerRunsCommand } from "./runs.js";

let server: FakeMlflowServer;
let client: FlywheelClient;
const original = { ...io };

/** Runs `flywheel <args>` in-process against the fake server (unless args name another URI). */
const flywheel = cliHarness({ register: [registerExperimentsCommand, registerRunsCommand], trackingUri: () => server.baseUrl });

beforeEach(async () => {
  server = await startFakeMlflowServer({ maxPageSize: 10 });
  client = new FlywheelClient({ baseUrl: server.baseUrl });
});

afterEach(async () => {
  await server.close();
});

describe("flywheel experiments", () => {
  it("creates, lists, shows, renames, tags, deletes and restores", async () => {
    const created = await flywheel("experiments", "create", "churn", "--tag", "team=ml", "--tag", "env=dev");
    expect(created).toEqual({ stdout: "Created experiment 'churn' with id 1\n", stderr: "", exitCode: 0 });
    expect(server.requestsTo("experiments/create")[0]?.body).toEqual({
      name: "churn",
      tags: [
        { key: "team", value: "ml" },
        { key: "env", value: "dev" },
      ],
    });

    const list = await flywheel("experiments", "list");
    expect(list.exitCode).toBe(0);
    const rows = tableRows(list.stdout);
    expect(rows[0]).toEqual(["ID", "NAME", "CREATED", "ARTIFACT LOCATION"]);
    expect(rows.slice(1).map((r) => r.slice(0, 2))).toEqual([
      ["1", "churn"],
      ["0", "Default"],
    ]);
    expect(rows[1]?.[2]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    // Columns line up: each header starts where its cells start.
    const lines = list.stdout.split("\n");
    const col = lines[0]?.indexOf("CREATED") ?? -1;
    expect(lines[1]?.slice(col)).toMatch(/^\d{4}-/);
    expect(lines[2]?.slice(col)).toMatch(/^\d{4}-/);

    const json = await flywheel("experiments", "list", "--json");
    const parsed = JSON.parse(json.stdout) as { experiments: { name: string }[] };
    expect(parsed.experiments.map((e) => e.name)).toEqual(["churn", "Default"]);

    const byName = await flywheel("experiments", "show", "churn");
    expect(byName.stdout).toContain("Experiment 1\n");
    expect(byName.stdout).toMatch(/Name:\s+churn/);
    expect(byName.stdout).toMatch(/Artifact location:\s+mlflow-artifacts:\/1/);
    expect(byName.stdout).toMatch(/team\s+ml/);
    const byId = await flywheel("experiments", "show", "1", "--json");
    expect(JSON.parse(byId.stdout)).toMatchObject({ experiment: { experiment_id: "1", name: "churn" } });

    expect((await flywheel("experiments", "rename", "1", "churn-v2")).stdout).toBe("Renamed experiment 1 to 'churn-v2'\n");
    expect((await flywheel("experiments", "tag", "1", "owner", "ana")).exitCode).toBe(0);
    expect(server.state.experiments.get("1")?.name).toBe("churn-v2");
    expect(server.state.experiments.get("1")?.tags.get("owner")).toBe("ana");

    expect((await flywheel("experiments", "delete", "1")).stdout).toContain("Deleted experiment 1");
    expect(tableRows((await flywheel("experiments", "list")).stdout).map((r) => r[1])).toEqual(["NAME", "Default"]);
    const deleted = await flywheel("experiments", "list", "--view", "deleted");
    expect(tableRows(deleted.stdout)[0]).toEqual(["ID", "NAME", "LIFECYCLE", "CREATED", "ARTIFACT LOCATION"]);
    expect(tableRows(deleted.stdout)[1]?.slice(0, 3)).toEqual(["1", "churn-v2", "deleted"]);
    expect(server.requestsTo("experiments/search").at(-1)?.body).toMatchObject({ view_type: "DELETED_ONLY" });

    expect((await flywheel("experiments", "restore", "1")).stdout).toBe("Restored experiment 1\n");
    expect(server.state.experiments.get("1")?.lifecycle_stage).toBe("active");
  });

  it("passes filter, order-by and max-results, following pages", async () => {
    for (let i = 0; i < 24; i++) await client.experiments.create({ name: `e${String(i).padStart(2, "0")}` });
    const r = await flywheel(
      "experiments",
      "list",
      "--filter",
      "name LIKE 'e%'",
      "--order-by",
      "name ASC",
      "--order-by",
      "creation_time DESC",
      "--max-results",
      "22",
    );
    expect(r.exitCode).toBe(0);
    expect(tableRows(r.stdout)).toHaveLength(23);
    expect(r.stderr).toContain("showing the first 22");
    const bodies = server.requestsTo("experiments/search").map((q) => q.body as Record<string, unknown>);
    expect(bodies).toHaveLength(3);
    expect(bodies[0]).toEqual({
      max_results: 22,
      view_type: "ACTIVE_ONLY",
      filter: "name LIKE 'e%'",
      order_by: ["name ASC", "creation_time DESC"],
    });
    expect(bodies[1]).toMatchObject({ max_results: 12, page_token: expect.any(String) });
  });

  it("reports API errors on stderr with exit code 1", async () => {
    const r = await flywheel("experiments", "show", "nope");
    expect(r).toEqual({ stdout: "", stderr: "error: No experiment has the id or name 'nope'\n", exitCode: 1 });
    const dup = await flywheel("experiments", "create", "Default");
    expect(dup.stderr).toBe("error: Experiment 'Default' already exists.\n");
    expect(dup.exitCode).toBe(1);
  });

  it("explains an unreachable server", async () => {
    const s = createServer();
    await new Promise<void>((res) => s.listen(0, "127.0.0.1", res));
    const { port } = s.address() as AddressInfo;
    await new Promise<void>((res) => s.close(() => res()));
    const r = await flywheel("experiments", "list", "--tracking-uri", `http://127.0.0.1:${port}`);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/^error: Cannot reach http:\/\/127\.0\.0\.1:\d+\/api\/2\.0\/mlflow\/experiments\/search/);
    expect(r.stderr).toContain("is the server running? (flywheel server)");
    expect(r.stderr.split("\n")).toHaveLength(2);
  });

  it("exits 2 for bad usage", async () => {
    expect((await flywheel("experiments", "create")).exitCode).toBe(2);
    expect((await flywheel("experiments", "list", "--max-results", "0")).exitCode).toBe(2);
    expect((await flywheel("experiments", "list", "--view", "archived")).exitCode).toBe(2);
    expect((await flywheel("experiments", "create", "x", "--tag", "novalue")).exitCode).toBe(2);
    const badUri = await flywheel("experiments", "list", "--tracking-uri", "ftp://x");
    expect(badUri.exitCode).toBe(2);
    expect(badUri.stderr).toMatch(/^error: Invalid tracking URI 'ftp:\/\/x'/);
  });

  it("uses FLYWHEEL_TRACKING_URI, then MLFLOW_TRACKING_URI", async () => {
    const saved = { f: process.env.FLYWHEEL_TRACKING_URI, m: process.env.MLFLOW_TRACKING_URI };
    try {
      process.env.FLYWHEEL_TRACKING_URI = server.baseUrl;
      process.env.MLFLOW_TRACKING_URI = "http://127.0.0.1:1";
      let stdout = "";
      io.out = (s) => {
        stdout += s;
      };
      const program = new Command().exitOverride();
      registerExperimentsCommand(program);
      await program.parseAsync(["node", "flywheel", "experiments", "show", "0"]);
      expect(stdout).toContain("Default");
      delete process.env.FLYWHEEL_TRACKING_URI;
      process.env.MLFLOW_TRACKING_URI = server.baseUrl;
      await program.parseAsync(["node", "flywheel", "experiments", "show", "Default", "--json"]);
      expect(stdout).toContain('"experiment_id": "0"');
    } finally {
      Object.assign(io, original);
      if (saved.f === undefined) delete process.env.FLYWHEEL_TRACKING_URI;
      else process.env.FLYWHEEL_TRACKING_URI = saved.f;
      if (saved.m === undefined) delete process.env.MLFLOW_TRACKING_URI;
      else process.env.MLFLOW_TRACKING_URI = saved.m;
    }
  });
});

describe("flywheel runs", () => {
  async function seed(): Promise<{ experimentId: string; runIds: string[] }> {
    const { experiment_id } = await client.experiments.create({ name: "churn" });
    const runIds: string[] = [];
    for (let i = 0; i < 3; i++) {
      const { run } = await client.runs.create({
        experiment_id,
        run_name: `run-${i}`,
        start_time: 1_700_000_000_000 + i * 1000,
      });
      runIds.push(run.info.run_id);
      await client.runs.logBatch({
        run_id: run.info.run_id,
        metrics: [
          { key: "auc", value: 0.8 + i / 100, timestamp: 1_700_000_000_500, step: 0 },
          ...(i === 2 ? [{ key: "loss", value: Number.NaN, timestamp: 1_700_000_000_500, step: 0 }] : []),
        ],
        params: [{ key: "lr", value: String(0.1 * (i + 1)) }],
      });
    }
    return { experimentId: experiment_id, runIds };
  }

  it("lists runs with their metrics as columns", async () => {
    const { runIds } = await seed();
    const r = await flywheel("runs", "list", "--experiment", "churn");
    expect(r.exitCode).toBe(0);
    const rows = tableRows(r.stdout);
    expect(rows[0]).toEqual(["RUN ID", "NAME", "STATUS", "START TIME", "auc", "loss"]);
    expect(rows[1]).toEqual([runIds[2], "run-2", "RUNNING", "2023-11-14T22:13:22.000Z", "0.82", "NaN"]);
    expect(rows[3]).toEqual([runIds[0], "run-0", "RUNNING", "2023-11-14T22:13:20.000Z", "0.8", "-"]);
    expect(server.requestsTo("runs/search")[0]?.body).toEqual({
      experiment_ids: ["1"],
      max_results: 100,
      run_view_type: "ACTIVE_ONLY",
    });
  });

  it("searches with filter and order-by across several experiments", async () => {
    await seed();
    const r = await flywheel(
      "runs",
      "search",
      "--experiment",
      "churn",
      "--experiment",
      "0",
      "--filter",
      "metrics.auc > 0.9 and params.lr = '0.1'",
      "--order-by",
      "metrics.auc DESC",
      "--view",
      "all",
    );
    expect(r.exitCode).toBe(0);
    expect(server.requestsTo("runs/search")[0]?.body).toEqual({
      experiment_ids: ["1", "0"],
      max_results: 100,
      run_view_type: "ALL",
      filter: "metrics.auc > 0.9 and params.lr = '0.1'",
      order_by: ["metrics.auc DESC"],
    });
    const rows = tableRows(r.stdout);
    expect(rows[0]).toEqual(["RUN ID", "EXPERIMENT", "NAME", "STATUS", "START TIME", "auc", "loss"]);
    expect(rows.slice(1).map((row) => row[5])).toEqual(["0.82", "0.81", "0.8"]);

    const json = JSON.parse((await flywheel("runs", "search", "-e", "churn", "--json")).stdout) as {
      runs: { data: { metrics?: { key: string; value: unknown }[] } }[];
    };
    expect(json.runs).toHaveLength(3);
    expect(json.runs[0]?.data.metrics).toContainEqual(expect.objectContaining({ key: "loss", value: "NaN" }));
  });

  it("follows pages up to --max-results", async () => {
    const { experiment_id } = await client.experiments.create({ name: "many" });
    for (let i = 0; i < 25; i++) await client.runs.create({ experiment_id, start_time: 1000 + i });
    const r = await flywheel("runs", "list", "-e", "many", "--max-results", "25");
    expect(tableRows(r.stdout)).toHaveLength(26);
    expect(r.stderr).toBe("");
    expect(server.requestsTo("runs/search")).toHaveLength(3);
    const some = await flywheel("runs", "list", "-e", "many", "--max-results", "5");
    expect(tableRows(some.stdout)).toHaveLength(6);
    expect(some.stderr).toContain("showing the first 5 runs");
  });

  it("requires --experiment and names unknown experiments", async () => {
    expect((await flywheel("runs", "list")).exitCode).toBe(2);
    const r = await flywheel("runs", "list", "-e", "missing");
    expect(r).toMatchObject({ exitCode: 1, stderr: "error: No experiment has the id or name 'missing'\n" });
    expect((await flywheel("runs", "list", "-e", "0")).stdout).toBe("No runs found.\n");
  });

  it("shows a run, its history, and deletes/restores it", async () => {
    const { runIds } = await seed();
    const runId = runIds[2] ?? "";
    await client.runs.logBatch({
      run_id: runId,
      metrics: [1, 2].map((step) => ({ key: "auc", value: 0.9 + step / 100, timestamp: 1_700_000_001_000 + step, step })),
      tags: [{ key: "stage", value: "dev" }],
    });
    await client.runs.update({ run_id: runId, status: "FINISHED", end_time: 1_700_000_065_000 });

    const show = await flywheel("runs", "show", runId);
    expect(show.exitCode).toBe(0);
    expect(show.stdout).toContain(`Run ${runId}\n`);
    expect(show.stdout).toMatch(/Status:\s+FINISHED/);
    expect(show.stdout).toMatch(/Start time:\s+2023-11-14T22:13:22\.000Z/);
    expect(show.stdout).toMatch(/Duration:\s+1m03s/);
    expect(show.stdout).toMatch(/Params:\n\s+KEY\s+VALUE\n\s+lr\s+0\.30000000000000004\n/);
    expect(show.stdout).toMatch(/auc\s+0\.92\s+2\s+2023-11-14T22:13:21\.002Z/);
    expect(show.stdout).toMatch(/loss\s+NaN\s+0/);
    expect(show.stdout).toMatch(/stage\s+dev/);
    expect(JSON.parse((await flywheel("runs", "show", runId, "--json")).stdout)).toMatchObject({
      run: { info: { run_id: runId, status: "FINISHED" } },
    });

    const history = await flywheel("runs", "history", runId, "auc");
    expect(tableRows(history.stdout)).toEqual([
      ["STEP", "TIMESTAMP", "VALUE"],
      // Full precision here (the runs table rounds to 6 significant digits).
      ["0", "2023-11-14T22:13:20.500Z", String(0.8 + 2 / 100)],
      ["1", "2023-11-14T22:13:21.001Z", "0.91"],
      ["2", "2023-11-14T22:13:21.002Z", "0.92"],
    ]);
    const historyJson = JSON.parse((await flywheel("runs", "history", runId, "auc", "--json")).stdout) as {
      metrics: unknown[];
    };
    expect(historyJson.metrics).toHaveLength(3);
    expect((await flywheel("runs", "history", runId, "none")).stdout).toBe(`Run ${runId} has no values for metric 'none'.\n`);

    expect((await flywheel("runs", "delete", runId)).stdout).toContain(`Deleted run ${runId}`);
    expect(server.state.runs.get(runId)?.lifecycle_stage).toBe("deleted");
    expect((await flywheel("runs", "restore", runId)).stdout).toBe(`Restored run ${runId}\n`);
    expect(server.state.runs.get(runId)?.lifecycle_stage).toBe("active");

    const missing = await flywheel("runs", "show", "0123456789abcdef0123456789abcdef");
    expect(missing).toMatchObject({ exitCode: 1, stdout: "" });
    expect(missing.stderr).toBe("error: Run with id=0123456789abcdef0123456789abcdef not found\n");
  });
});

describe("runs table helpers", () => {
  const run = (id: string, metrics: Record<string, number>) => ({
    info: {
      run_id: id,
      run_uuid: id,
      run_name: id,
      experiment_id: "1",
      user_id: "u",
      status: "FINISHED" as const,
      start_time: 1_700_000_000_000,
      artifact_uri: "",
      lifecycle_stage: "active" as const,
    },
    data: { metrics: Object.entries(metrics).map(([key, value]) => ({ key, value, timestamp: 0, step: 0 })) },
    inputs: {},
  });

  it("picks order-by metrics first, then the most common, at most six", () => {
    const runs = [
      run("a", { a: 1, b: 1, c: 1, d: 1, e: 1, f: 1, g: 1, z: 1 }),
      run("b", { b: 2, c: 2 }),
    ];
    expect(pickMetricColumns(runs, ["metrics.z DESC"])).toEqual({ shown: ["z", "b", "c", "a", "d", "e"], hidden: 2 });
    expect(pickMetricColumns(runs, ["metrics.`missing` ASC"]).shown).toEqual(["b", "c", "a", "d", "e", "f"]);
    expect(orderByMetric("metrics.`val loss` DESC")).toBe("val loss");
    expect(orderByMetric('metrics."f1" ASC')).toBe("f1");
    expect(orderByMetric("params.lr")).toBeUndefined();
  });

  it("right-aligns metric values under their header", () => {
    const out = formatRunsTable([run("r1", { auc: 0.9 }), run("r2", { auc: 0.912345678 })], ["auc"]);
    const lines = out.split("\n");
    expect(lines[0]?.endsWith("     auc")).toBe(true);
    expect(lines[1]?.endsWith("     0.9")).toBe(true);
    expect(lines[2]?.endsWith("0.912346")).toBe(true);
  });
});
