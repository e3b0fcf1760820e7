/**
 * No acknowledged write is lost: clients stream log-batch requests to a real `flywheel server`
 * process, which is killed with SIGKILL mid-stream and restarted on the same data directory.
 * Every batch that got a 200 must be there, and every batch must be all-or-nothing.
 * Runs the built CLI (`npm test` builds first).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { afterAll, describe, expect, test } from "vitest";
import { metadataBackends, tempDir, titleOf } from "../helpers/backends.js";

const CLI = new URL("../../dist/src/cli/main.js", import.meta.url).pathname;
const CLIENTS = 4;
const PER_BATCH = 100;

function startServer(dataDir: string, metadataUri: string): Promise<{ child: ChildProcess; url: string }> {
  const args = [CLI, "server", "--port", "0", "--data-dir", dataDir, "--metadata-uri", metadataUri, "--log-level", "warn"];
  const child = spawn(process.execPath, args, {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, FLYWHEEL_CONFIG: `${dataDir}/none.yaml` },
  });
  return new Promise((resolve, reject) => {
    let out = "";
    let err = "";
    const timer = setTimeout(() => reject(new Error(`server did not start: ${out}${err}`)), 20_000);
    child.stderr?.on("data", (d: Buffer) => (err += d.toString()));
    child.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m?.[1] !== undefined) {
        clearTimeout(timer);
        resolve({ child, url: m[1] });
      }
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}: ${err}`));
    });
  });
}

async function post(url: string, path: string, body: unknown): Promise<any> {
  const res = await fetch(`${url}/api/2.0/mlflow/${path}`, { method: "POST", body: JSON.stringify(body), headers: { "content-type": "application/json" } });
  if (res.status !== 200) throw new Error(`${path}: ${res.status} ${await res.text()}`);
  return res.json();
}

for (const backend of metadataBackends) describe.skipIf(backend.skip !== undefined)(`durability under SIGKILL on ${titleOf(backend)}`, () => {
  const dir = tempDir("flywheel-sigkill-");
  let child: ChildProcess | undefined;
  let db: { uri: string; drop(): Promise<void> } | undefined;
  afterAll(async () => {
    child?.kill("SIGKILL");
    await db?.drop();
    dir.remove();
  });

  test("every acknowledged log-batch survives a SIGKILL, and no batch is half-written", async () => {
    expect(existsSync(CLI), `${CLI} is missing: run \`npm run build\` (npm test does)`).toBe(true);
    db = await backend.create();
    const first = await startServer(dir.path, db.uri);
    child = first.child;
    const exp = await post(first.url, "experiments/create", { name: "durability" });
    const run = await post(first.url, "runs/create", { experiment_id: exp.experiment_id });
    const runId: string = run.run.info.run_id;

    const acked: Set<number>[] = Array.from({ length: CLIENTS }, () => new Set());
    const sent: Set<number>[] = Array.from({ length: CLIENTS }, () => new Set());
    let stop = false;
    const clients = Array.from({ length: CLIENTS }, async (_, c) => {
      for (let j = 0; !stop && j < 100_000; j++) {
        const metrics = Array.from({ length: PER_BATCH }, (_, i) => ({ key: `c${c}`, value: j, timestamp: j, step: j * PER_BATCH + i }));
        sent[c]?.add(j);
        try {
          await post(first.url, "runs/log-batch", { run_id: runId, metrics });
          acked[c]?.add(j);
        } catch {
          return;
        }
      }
    });
    // Let the writes stream for a while, then kill the server without warning.
    while (acked.reduce((n, s) => n + s.size, 0) < 200) await new Promise((r) => setTimeout(r, 10));
    first.child.kill("SIGKILL");
    await new Promise((r) => first.child.once("exit", r));
    stop = true;
    await Promise.all(clients);
    const totalAcked = acked.reduce((n, s) => n + s.size, 0);
    expect(totalAcked).toBeGreaterThanOrEqual(200);

    const second = await startServer(dir.path, db.uri);
    child = second.child;
    for (let c = 0; c < CLIENTS; c++) {
      const res = await fetch(`${second.url}/api/2.0/mlflow/metrics/get-history?run_id=${runId}&metric_key=c${c}`);
      const body = (await res.json()) as { metrics: { step: number; value: number }[] };
      const perBatch = new Map<number, number>();
      for (const m of body.metrics) perBatch.set(m.value, (perBatch.get(m.value) ?? 0) + 1);
      for (const j of acked[c] ?? []) expect(perBatch.get(j), `client ${c} batch ${j}`).toBe(PER_BATCH);
      for (const [j, n] of perBatch) {
        expect(sent[c]?.has(j), `client ${c} batch ${j} was never sent`).toBe(true);
        expect(n, `client ${c} batch ${j} half-written`).toBe(PER_BATCH);
      }
    }
    second.child.kill("SIGTERM");
    await new Promise((r) => second.child.once("exit", r));
    child = undefined;
  });
});
