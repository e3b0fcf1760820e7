import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { it, expect } from "vitest";
import { loadConfig } from "../core/config.js";
import { startServer } from "../server/start.js";
import { createTracking, FlywheelClient } from "../client/index.js";

it("smoke against real server", async () => {
  const dir = mkdtempSync(join(tmpdir(), "fw-smoke-"));
  const cfg = loadConfig({ flags: { port: 0, dataDir: dir, logLevel: "silent" }, env: {}, cwd: dir });
  const server = await startServer(cfg);
  try {
    const tracking = createTracking({ trackingUri: server.url, endRunsOnExit: false });
    const run = await tracking.startRun({ experiment: "churn", runName: "r1", tags: { team: "ml" } });
    console.log("run info", run.info);
    run.logParam("lr", 0.1);
    for (let i = 0; i < 2500; i++) run.logMetric("loss", 1 / (i + 1), { step: i });
    run.logMetric("nan", Number.NaN);
    run.logMetric("inf", Number.POSITIVE_INFINITY);
    for (let i = 0; i < 150; i++) run.setTag(`t${i}`, "v");
    await run.flush();
    writeFileSync(join(dir, "my file.txt"), "hello");
    await run.logArtifact(join(dir, "my file.txt"), "sub dir");
    await run.logDict({ a: 1 }, "cfg/x.yaml");
    await run.end();
    const c = new FlywheelClient({ baseUrl: server.url });
    const got = await c.runs.get(run.runId);
    console.log("status", got.run.info, got.run.data.metrics, got.run.data.params);
    const hist = [];
    for await (const m of c.metricHistory(run.runId, "loss", 1000)) hist.push(m);
    console.log("history", hist.length);
    console.log("list", await c.listArtifacts({ run_id: run.runId }));
    console.log("list sub", await c.listArtifacts({ run_id: run.runId, path: "sub dir" }));
    const prefix = run.artifactUri.replace("mlflow-artifacts:/", "");
    console.log("dl", (await c.downloadArtifact(`${prefix}/sub dir/my file.txt`)).toString());
    console.log("dir", await c.listArtifactDir(prefix));
    const s = await c.runs.search({ experiment_ids: [run.experimentId], filter: "metrics.loss < 1", order_by: ["metrics.loss DESC"], max_results: 1 });
    console.log("search", s.runs.length, s.next_page_token);
    const es = await c.experiments.search({ max_results: 1 });
    console.log("exp search", es);
    try { await c.runs.get("nope"); } catch (e) { console.log("err", (e as any).status, (e as any).errorCode, (e as Error).message); }
    try { await c.experiments.create({ name: "churn" }); } catch (e) { console.log("err", (e as any).status, (e as any).errorCode, (e as Error).message); }
    try { await c.experiments.getByName("zzz"); } catch (e) { console.log("err", (e as any).status, (e as any).errorCode, (e as Error).message); }
    try { await c.call("GET", "nothing/here"); } catch (e) { console.log("err", (e as any).status, (e as any).errorCode, (e as Error).message); }
    await c.deleteArtifact(`${prefix}/cfg`);
    console.log("dir after delete", await c.listArtifactDir(prefix));
    expect(got.run.info.status).toBe("FINISHED");
  } finally {
    await server.close();
  }
}, 60000);

import { Command } from "commander";
import { registerExperimentsCommand } from "../cli/experiments.js";
import { registerRunsCommand } from "../cli/runs.js";
it("cli against real server", async () => {
  const dir = mkdtempSync(join(tmpdir(), "fw-smoke-"));
  const cfg = loadConfig({ flags: { port: 0, dataDir: dir, logLevel: "silent" }, env: {}, cwd: dir });
  const server = await startServer(cfg);
  try {
    const tracking = createTracking({ trackingUri: server.url, endRunsOnExit: false });
    for (let r = 0; r < 4; r++) {
      const run = await tracking.startRun({ experiment: "churn", runName: `r${r}` });
      run.logParams({ lr: 0.1 * (r + 1), depth: r });
      for (let i = 0; i < 8; i++) run.logMetric(`m${i}`, Math.random(), { step: 1 });
      run.logMetric("auc", 0.8 + r / 100);
      await run.end(r === 3 ? "FAILED" : "FINISHED");
    }
    const cli = async (...args: string[]) => {
      const p = new Command().name("flywheel");
      registerExperimentsCommand(p); registerRunsCommand(p);
      console.log(`$ flywheel ${args.join(" ")}`);
      await p.parseAsync(["node", "flywheel", ...args, "--tracking-uri", server.url]);
      console.log("exit", process.exitCode); process.exitCode = undefined;
    };
    await cli("experiments", "list");
    await cli("experiments", "show", "churn");
    await cli("runs", "list", "-e", "churn");
    await cli("runs", "search", "-e", "churn", "--filter", "metrics.auc > 0.81 and params.lr = '0.30000000000000004'", "--order-by", "metrics.auc DESC");
    await cli("runs", "search", "-e", "churn", "--filter", "metrics.auc >>> 0.81");
    await cli("experiments", "list", "--max-results", "1");
  } finally {
    await server.close();
  }
}, 60000);
