/**
 * bench:tracking — metric points per second through `runs/log-batch` over HTTP (1000-metric
 * batches, several concurrent clients) against the floor of prepared-statement inserts into the
 * same SQLite database in the same run; and the p50 of a `runs/search` with a metric filter and
 * an order_by over 10,000 runs with 20 metrics each.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import BetterSqlite3 from "better-sqlite3";
import { openMetadataStore } from "../src/storage/metadata/open.js";

const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 4);
const BATCHES = Number(process.env.BENCH_BATCHES ?? 400);
const BATCH_SIZE = 1000;
const SEARCH_RUNS = 10_000;
const SEARCH_METRICS = 20;
const SEARCH_REPEATS = 50;

const cli = fileURLToPath(new URL("../src/cli/main.js", import.meta.url));

function fmt(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}

function startServer(dataDir: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [cli, "server", "--port", "0", "--data-dir", dataDir, "--log-level", "warn"], {
    stdio: ["ignore", "pipe", "inherit"],
    env: { ...process.env, FLYWHEEL_CONFIG: join(dataDir, "none.yaml") },
  });
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m?.[1] !== undefined) resolve({ child, url: m[1] });
    });
    child.on("exit", (code) => reject(new Error(`server exited with ${code}`)));
  });
}

async function post(url: string, body: string): Promise<void> {
  const res = await fetch(url, { method: "POST", body, headers: { "content-type": "application/json" } });
  if (res.status !== 200) throw new Error(`${res.status} ${await res.text()}`);
  await res.arrayBuffer();
}

/** The floor: 1000-row transactions of one prepared INSERT into the metrics table. */
function floorInserts(dbPath: string, runId: string, rows: number): number {
  const db = new BetterSqlite3(dbPath);
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = NORMAL");
  const stmt = db.prepare(
    "insert into metrics (run_uuid, key, value, timestamp, step, is_nan) values (?, ?, ?, ?, ?, 0) on conflict do nothing",
  );
  const insertBatch = db.transaction((b: number) => {
    for (let i = 0; i < BATCH_SIZE; i++) stmt.run(runId, `floor${i % 10}`, Math.random(), b, b * BATCH_SIZE + i);
  });
  const t0 = process.hrtime.bigint();
  for (let b = 0; b < rows / BATCH_SIZE; b++) insertBatch(b);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  db.close();
  return rows / seconds;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "flywheel-bench-"));
  const dbPath = join(dir, "flywheel.db");
  let server: ChildProcess | undefined;
  try {
    // Schema, one experiment and the runs both measurements write to.
    const store = await openMetadataStore(`sqlite:///${dbPath}`);
    const exp = await store.createExperiment({ name: "bench", artifactLocation: (id) => `mlflow-artifacts:/${id}`, tags: [], now: Date.now() });
    const mkRun = (runId: string, name: string) =>
      store.createRun({ runId, experimentId: exp.experimentId, runName: name, userId: "bench", startTime: Date.now(), artifactUri: "mlflow-artifacts:/x", tags: [] });
    await mkRun("f".repeat(32), "floor");
    await mkRun("a".repeat(32), "http");

    // Search data: 10,000 runs x 20 metrics, written through the store.
    const t0 = Date.now();
    for (let r = 0; r < SEARCH_RUNS; r++) {
      const runId = r.toString(16).padStart(32, "0");
      await mkRun(runId, `run-${r}`);
      await store.logBatch(runId, {
        metrics: Array.from({ length: SEARCH_METRICS }, (_, m) => ({ key: `m${m}`, value: Math.random(), timestamp: r, step: 0 })),
        params: [{ key: "seed", value: String(r) }],
        tags: [],
      });
    }
    const populateSeconds = (Date.now() - t0) / 1000;
    await store.close();

    const floor = floorInserts(dbPath, "f".repeat(32), BATCHES * BATCH_SIZE);

    const started = await startServer(dir);
    server = started.child;
    const url = `${started.url}/api/2.0/mlflow/runs/log-batch`;
    const bodies = Array.from({ length: BATCHES }, (_, b) =>
      JSON.stringify({
        run_id: "a".repeat(32),
        metrics: Array.from({ length: BATCH_SIZE }, (_, i) => ({ key: `m${i % 10}`, value: Math.random(), timestamp: 1700000000000 + b, step: b * BATCH_SIZE + i })),
      }),
    );
    // Warm up the connection pool and the server's JIT on a throwaway run.
    const warm = await fetch(`${started.url}/api/2.0/mlflow/runs/create`, { method: "POST", body: JSON.stringify({ experiment_id: exp.experimentId }) });
    const warmRun = ((await warm.json()) as { run: { info: { run_id: string } } }).run.info.run_id;
    for (let i = 0; i < 20; i++) await post(url, bodies[i]!.replace("a".repeat(32), warmRun));

    let next = 0;
    const h0 = process.hrtime.bigint();
    await Promise.all(
      Array.from({ length: CLIENTS }, async () => {
        for (let b = next++; b < BATCHES; b = next++) await post(url, bodies[b]!);
      }),
    );
    const httpSeconds = Number(process.hrtime.bigint() - h0) / 1e9;
    const http = (BATCHES * BATCH_SIZE) / httpSeconds;

    const filter = { experiment_ids: [exp.experimentId], filter: "metrics.m1 > 0.5 and params.seed != '7'", order_by: ["metrics.m2 DESC"], max_results: 100 };
    const searchUrl = `${started.url}/api/2.0/mlflow/runs/search`;
    const times: number[] = [];
    for (let i = 0; i < SEARCH_REPEATS + 5; i++) {
      const s0 = process.hrtime.bigint();
      const res = await fetch(searchUrl, { method: "POST", body: JSON.stringify(filter) });
      const body = (await res.json()) as { runs?: unknown[] };
      if (res.status !== 200 || body.runs?.length !== 100) throw new Error(`search failed: ${res.status}`);
      if (i >= 5) times.push(Number(process.hrtime.bigint() - s0) / 1e6);
    }
    times.sort((a, b) => a - b);
    const p50 = times[Math.floor(times.length * 0.5)]!;
    const p95 = times[Math.floor(times.length * 0.95)]!;

    console.log(`bench:tracking on ${cpus().length} cores (${cpus()[0]?.model ?? "unknown cpu"}), Node ${process.version}`);
    console.log(`log-batch over HTTP: ${fmt(http)} metric points/s (${BATCHES} batches x ${BATCH_SIZE}, ${CLIENTS} clients, ${httpSeconds.toFixed(2)} s)`);
    console.log(`floor (prepared INSERTs, 1000-row transactions, same SQLite file): ${fmt(floor)} rows/s`);
    console.log(`ratio HTTP / floor: ${(http / floor).toFixed(2)} (target >= 0.50)`);
    console.log(`runs/search over ${fmt(SEARCH_RUNS)} runs x ${SEARCH_METRICS} metrics (filter on a metric and a param, order_by a metric, 100 results): p50 ${p50.toFixed(1)} ms, p95 ${p95.toFixed(1)} ms (populated in ${populateSeconds.toFixed(1)} s)`);
  } finally {
    server?.kill("SIGTERM");
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
