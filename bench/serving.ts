/**
 * bench:serving — requests per second and p50/p99 latency of V2 inference
 * (`POST /v2/models/<name>/infer`, one row per request) on `flywheel server`, against the floor
 * of a bare `node:http` server running the same ONNX Runtime session on the same request, both in
 * their own process and measured in the same run, at 1 and 32 concurrent keep-alive connections.
 * The "+batch" rows turn on adaptive batching with no queue delay (`max_batch_time_ms` 0: a batch
 * runs at the end of the event-loop turn its first request was read in), and are held to the same
 * target as the others, at 1 connection too.
 *
 * Besides req/s and latency, each side's server CPU time (user + system, from /proc, summed over
 * the server's process tree) per request is printed: other load on the machine disturbs it far
 * less than throughput.
 *
 * The load generator (bench/serving-client.ts) runs in this process on raw keep-alive sockets,
 * one request in flight per connection; BENCH_CLIENT=node-http uses `node:http`'s agent instead,
 * which takes a larger share of the cores the servers run on.
 *
 * Environment: BENCH_SECONDS (per case, default 5), BENCH_WARMUP_SECONDS (default 1),
 * BENCH_SERVER_WARMUP_SECONDS (load per model on every freshly started server before its first
 * measured row, default 8: on a loaded machine V8 takes seconds to optimize the serving path),
 * BENCH_ONLY=<regex> to run only the rows whose "<model><variant> <connections>" matches (for
 * example "iris_logreg 32" or "workers"), BENCH_LOG_SAMPLE_RATE (the models' inference-log sample
 * rate, default every request; 0 measures without the log), BENCH_PREDICT=0 to skip the batch-scoring
 * part (bench/predict.ts on Parquet, run at the end unless BENCH_ONLY is set), BENCH_CPU_PROF=<dir> to run both servers under
 * `node --cpu-prof` (flywheel.<pid>.cpuprofile and floor.<pid>.cpuprofile land in <dir>, written
 * when the servers exit).
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { Agent, request } from "node:http";
import { cpus, loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { renderMlmodel } from "../src/models/mlmodel.js";
import { signatureFromGraph } from "../src/models/signature.js";
import { inspectOnnx } from "../src/onnx/inspect.js";
import { AnswerChecker, Connection, requestBytes } from "./serving-client.js";

const CASE_SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP_SECONDS ?? 1);
/** Load on each model before a freshly started server (Flywheel, the floor, a `--workers 2` pool) is first measured. */
const SERVER_WARMUP_SECONDS = Number(process.env.BENCH_SERVER_WARMUP_SECONDS ?? 8);
/** Timed slices per side and case (Flywheel and the floor alternate). */
const ROUNDS = 5;
const CPU_PROF_DIR = process.env.BENCH_CPU_PROF;
/** BENCH_LOG_SAMPLE_RATE: the models' inference-log sample rate (default: every request logged), e.g. 0 to measure without the log. */
const LOG_SAMPLE_RATE = process.env.BENCH_LOG_SAMPLE_RATE === "" ? undefined : process.env.BENCH_LOG_SAMPLE_RATE;
const ONLY = process.env.BENCH_ONLY === undefined || process.env.BENCH_ONLY === "" ? undefined : new RegExp(process.env.BENCH_ONLY);
const CONCURRENCY = [1, 32] as const;
const MODELS = ["iris_logreg", "breast_cancer_rf"] as const;
/** The fixture row every request carries. */
const ROW = 0;
const TARGET = 0.8;
/** The widest row label: "breast_cancer_rf +batch +2 workers". */
const NAME_WIDTH = 34;

const cli = fileURLToPath(new URL("../src/cli/main.js", import.meta.url));
const floorScript = fileURLToPath(new URL("./serving-floor.js", import.meta.url));
const predictScript = fileURLToPath(new URL("./predict.js", import.meta.url));
const FIXTURES = new URL("../../../shared/fixtures/models/", import.meta.url);
const API = "/api/2.0/mlflow";

interface Fixture {
  input: string;
  outputs: string[];
  inputs: number[][];
  expected: Record<string, unknown[]>;
}

interface Model {
  name: string;
  onnxPath: string;
  onnx: Buffer;
  outputs: string[];
  /** The V2 request body for the fixture row, and the label the reference gives it. */
  body: Buffer;
  label: number;
}

interface Stats {
  requests: number;
  errors: number;
  firstError?: string;
  seconds: number;
  rps: number;
  p50: number;
  p99: number;
  /** Server CPU time (user + system, the whole process tree) per request, microseconds; NaN where /proc is not available. */
  cpuUs: number;
  /** Of which the server's main thread (the process's first thread; for a worker pool, the primary's, which serves nothing). */
  mainCpuUs: number;
  /** The load generator's CPU time (this process) per request, microseconds. */
  clientCpuUs: number;
}

const children = new Set<ChildProcess>();
/** The temporary directory of this run, removed on every way out. */
let workDir: string | undefined;

function cleanupNow(): void {
  for (const child of children) child.kill("SIGKILL");
  if (workDir !== undefined) rmSync(workDir, { recursive: true, force: true });
}

function loadModel(name: string): Model {
  const onnxUrl = new URL(`${name}.onnx`, FIXTURES);
  const fx = JSON.parse(readFileSync(new URL(`${name}.expected.json`, FIXTURES), "utf8")) as Fixture;
  const row = fx.inputs[ROW];
  const label = fx.expected.label?.[ROW];
  if (row === undefined || typeof label !== "number") throw new Error(`${name}.expected.json has no row ${ROW} with a label`);
  const body = Buffer.from(JSON.stringify({ inputs: [{ name: fx.input, shape: [1, row.length], datatype: "FP32", data: row }] }));
  return { name, onnxPath: fileURLToPath(onnxUrl), onnx: readFileSync(onnxUrl), outputs: fx.outputs, body, label };
}

/** Spawns `args` under this Node and resolves with the URL it prints ("listening on http://..."). */
interface Server {
  child: ChildProcess;
  url: string;
}

function spawnServer(what: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<Server> {
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"], env });
  children.add(child);
  child.on("exit", () => children.delete(child));
  return new Promise((resolveUrl, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`${what} did not start within 30 s`)), 30_000);
    child.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m?.[1] !== undefined) {
        clearTimeout(timer);
        resolveUrl({ child, url: m[1] });
      }
    });
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited with ${code ?? signal}`));
    });
  });
}

/** SIGTERM (so a --cpu-prof profile is written), then SIGKILL after 10 s. */
async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(timer);
}

async function call(base: string, method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
  const init: RequestInit = { method };
  if (body !== undefined) {
    init.body = body instanceof Uint8Array || typeof body === "string" ? body : JSON.stringify(body);
    if (!(body instanceof Uint8Array)) init.headers = { "content-type": "application/json" };
  }
  const res = await fetch(`${base}${path}`, init);
  const text = await res.text();
  if (res.status !== 200) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return text === "" ? {} : (JSON.parse(text) as Record<string, unknown>);
}

/** Registers the fixture models through the MLflow API: a run, the package uploaded through the artifact proxy, a version. */
async function registerModels(base: string, models: readonly Model[]): Promise<void> {
  const exp = await call(base, "POST", `${API}/experiments/create`, { name: "bench-serving" });
  const run = (await call(base, "POST", `${API}/runs/create`, { experiment_id: exp.experiment_id })) as { run: { info: { run_id: string; artifact_uri: string } } };
  const { run_id: runId, artifact_uri: artifactUri } = run.run.info;
  const prefix = artifactUri.replace(/^mlflow-artifacts:\//, "");
  for (const m of models) {
    const mlmodel = renderMlmodel({
      artifactPath: m.name,
      flavors: { onnx: { data: "model.onnx", code: null, onnx_version: "1.17.0" } },
      signature: signatureFromGraph(await inspectOnnx(m.onnx)),
    });
    await call(base, "PUT", `/api/2.0/mlflow-artifacts/artifacts/${prefix}/${m.name}/MLmodel`, mlmodel);
    await call(base, "PUT", `/api/2.0/mlflow-artifacts/artifacts/${prefix}/${m.name}/model.onnx`, new Uint8Array(m.onnx));
    await call(base, "POST", `${API}/registered-models/create`, { name: m.name });
    const created = (await call(base, "POST", `${API}/model-versions/create`, { name: m.name, source: `${artifactUri}/${m.name}`, run_id: runId })) as {
      model_version: { version: string; status: string };
    };
    if (created.model_version.status !== "READY") throw new Error(`${m.name} version ${created.model_version.version} is ${created.model_version.status}, not READY`);
  }
}

/** Why a V2 answer is not the expected one, or undefined when it is. */
function checkAnswer(model: Model, status: number, bytes: Buffer): string | undefined {
  const text = bytes.toString("utf8");
  if (status !== 200) return `status ${status}: ${text.slice(0, 200)}`;
  let body: { outputs?: { name?: unknown; data?: unknown }[] };
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    return `not JSON: ${text.slice(0, 200)}`;
  }
  const outputs = body.outputs ?? [];
  for (const name of model.outputs) {
    const o = outputs.find((x) => x.name === name);
    if (o === undefined || !Array.isArray(o.data) || o.data.length === 0) return `output '${name}' missing or empty: ${text.slice(0, 200)}`;
  }
  const label = outputs.find((x) => x.name === "label")?.data;
  if (!Array.isArray(label) || label[0] !== model.label) return `label ${JSON.stringify(label)}, expected [${model.label}]`;
  return undefined;
}

/** One POST on a keep-alive agent: status and body. */
function post(agent: Agent, url: URL, body: Buffer): Promise<{ status: number; body: Buffer }> {
  return new Promise((done, fail) => {
    const req = request(
      url,
      { method: "POST", agent, headers: { "content-type": "application/json", "content-length": body.length } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => done({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
        res.on("error", fail);
      },
    );
    req.on("error", fail);
    req.end(body);
  });
}

/** USER_HZ: 100 on every Linux platform Node supports. */
const CLOCK_TICKS = 100;

/** CPU seconds (user + system) of a /proc `stat` file (a process's or a thread's). */
function statCpuSeconds(path: string): number {
  const stat = readFileSync(path, "utf8");
  // Fields after the command name (which may hold spaces): utime is field 14, stime 15.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

/** CPU seconds (user + system) of a process's main thread, from /proc; NaN when unreadable. */
function mainThreadCpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  try {
    return statCpuSeconds(`/proc/${pid}/task/${pid}/stat`);
  } catch {
    return Number.NaN;
  }
}

/** CPU seconds (user + system) used by a process and its live descendants (cluster workers), from /proc; NaN when unreadable. */
function treeCpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  try {
    let seconds = statCpuSeconds(`/proc/${pid}/stat`);
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      for (const child of readFileSync(`/proc/${pid}/task/${task}/children`, "utf8").trim().split(" ")) {
        if (child !== "") seconds += treeCpuSeconds(Number(child));
      }
    }
    return seconds;
  } catch {
    return Number.NaN;
  }
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] as number;
}

/** Latencies and failures gathered over one or more timed slices. */
class Tally {
  readonly latencies: number[] = [];
  errors = 0;
  firstError: string | undefined;
  seconds = 0;
  cpuSeconds = 0;
  mainCpuSeconds = 0;
  clientCpuSeconds = 0;

  stats(): Stats {
    const sorted = Float64Array.from(this.latencies).sort();
    return {
      requests: this.latencies.length,
      errors: this.errors,
      ...(this.firstError === undefined ? {} : { firstError: this.firstError }),
      seconds: this.seconds,
      rps: this.latencies.length / this.seconds,
      p50: percentile(sorted, 0.5),
      p99: percentile(sorted, 0.99),
      cpuUs: (this.cpuSeconds * 1e6) / this.latencies.length,
      mainCpuUs: (this.mainCpuSeconds * 1e6) / this.latencies.length,
      clientCpuUs: (this.clientCpuSeconds * 1e6) / this.latencies.length,
    };
  }
}

/** A load generator's connections to one server: `send(i)` posts the model's request on connection `i`. */
interface Client {
  send(i: number): Promise<{ status: number; body: Buffer }>;
  close(): void;
}

/** BENCH_CLIENT=node-http: the `node:http` keep-alive agent instead of raw sockets (costs the shared cores more per request). */
const CLIENT = process.env.BENCH_CLIENT === "node-http" ? "node-http" : "raw";

async function openClient(base: string, model: Model, concurrency: number): Promise<Client> {
  const url = new URL(`/v2/models/${encodeURIComponent(model.name)}/infer`, base);
  if (CLIENT === "node-http") {
    const agent = new Agent({ keepAlive: true, maxSockets: concurrency, maxFreeSockets: concurrency });
    return { send: () => post(agent, url, model.body), close: () => agent.destroy() };
  }
  const bytes = requestBytes(url, model.body);
  const conns = await Promise.all(Array.from({ length: concurrency }, () => Connection.open(url)));
  return {
    send: (i) => (conns[i] as Connection).send(bytes),
    close: () => {
      for (const c of conns) c.close();
    },
  };
}

/** `concurrency` connections, each sending its next request when the last one is answered, for `seconds`. */
async function drive(target: Target, model: Model, seconds: number, tally: Tally): Promise<void> {
  const client = await openClient(target.base, model, target.concurrency);
  const checker = new AnswerChecker((status, body) => checkAnswer(model, status, body));
  const start = performance.now();
  const end = start + seconds * 1000;
  const cpu0 = treeCpuSeconds(target.pid);
  const main0 = mainThreadCpuSeconds(target.pid);
  const client0 = process.cpuUsage();
  try {
    await Promise.all(
      Array.from({ length: target.concurrency }, async (_, i) => {
        while (performance.now() < end) {
          const t0 = performance.now();
          let why: string | undefined;
          try {
            const { status, body } = await client.send(i);
            why = checker.why(status, body);
          } catch (e) {
            why = e instanceof Error ? e.message : String(e);
          }
          tally.latencies.push(performance.now() - t0);
          if (why !== undefined) {
            tally.errors++;
            tally.firstError ??= why;
          }
        }
      }),
    );
  } finally {
    tally.seconds += (performance.now() - start) / 1000;
    tally.cpuSeconds += treeCpuSeconds(target.pid) - cpu0;
    tally.mainCpuSeconds += mainThreadCpuSeconds(target.pid) - main0;
    const used = process.cpuUsage(client0);
    tally.clientCpuSeconds += (used.user + used.system) / 1e6;
    client.close();
  }
}

interface Target {
  base: string;
  /** The server's process (its CPU time is read from /proc). */
  pid: number | undefined;
  concurrency: number;
}

/**
 * Flywheel and the floor in alternating slices (a warm-up of each, discarded, then ROUNDS rounds
 * of CASE_SECONDS / ROUNDS on each), so load from other processes falls on both alike.
 */
async function measurePair(flywheel: Server, floor: Server, model: Model, concurrency: number): Promise<{ flywheel: Stats; floor: Stats }> {
  const fw: Target = { base: flywheel.url, pid: flywheel.child.pid, concurrency };
  const fl: Target = { base: floor.url, pid: floor.child.pid, concurrency };
    await drive(fw, model, WARMUP_SECONDS, new Tally());
    await drive(fl, model, WARMUP_SECONDS, new Tally());
    const fwTally = new Tally();
    const flTally = new Tally();
    for (let r = 0; r < ROUNDS; r++) {
      // Alternate which side goes first, so neither always follows the other.
      const order: [Target, Tally][] = r % 2 === 0 ? [[fw, fwTally], [fl, flTally]] : [[fl, flTally], [fw, fwTally]];
      for (const [target, tally] of order) await drive(target, model, CASE_SECONDS / ROUNDS, tally);
    }
  return { flywheel: fwTally.stats(), floor: flTally.stats() };
}

const fmtInt = (n: number) => Math.round(n).toLocaleString("en-US");
const fmtMs = (n: number) => `${n.toFixed(2)} ms`;

const BATCH_SIZE = 32;
/** No queue delay: a batch holds what arrived in one event-loop turn, so a lone client waits for nothing. */
const BATCH_TIME_MS = 0;

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "flywheel-bench-serving-"));
  workDir = dir;
  let failed = false;
  try {
    const models = MODELS.map(loadModel);

    /** Untimed load on each model, so a fresh server is measured with its serving path optimized. */
    const warm = async (server: Server) => {
      for (const m of models) await drive({ base: server.url, pid: server.child.pid, concurrency: 32 }, m, SERVER_WARMUP_SECONDS, new Tally());
    };
    const profArgs = (name: string) => (CPU_PROF_DIR === undefined ? [] : ["--cpu-prof", "--cpu-prof-dir", resolve(CPU_PROF_DIR), "--cpu-prof-name", `${name}.${process.pid}.cpuprofile`]);
    const flywheel = await spawnServer("flywheel server", [...profArgs("flywheel"), cli, "server", "--port", "0", "--data-dir", join(dir, "data"), "--log-level", "warn"], {
      ...process.env,
      FLYWHEEL_CONFIG: join(dir, "none.yaml"),
    });
    await registerModels(flywheel.url, models);
    if (LOG_SAMPLE_RATE !== undefined) {
      for (const m of models) await call(flywheel.url, "POST", `${API}/registered-models/set-tag`, { name: m.name, key: "flywheel.log.sample_rate", value: LOG_SAMPLE_RATE });
    }
    const floor = await spawnServer("floor server", [...profArgs("floor"), floorScript, ...models.map((m) => `${m.name}=${m.onnxPath}`)]);

    // Both servers answer the fixture row with the reference label before anything is timed.
    const once = new Agent({ keepAlive: false });
    for (const m of models) {
      for (const [who, base] of [["flywheel", flywheel.url], ["floor", floor.url]] as const) {
        const { status, body } = await post(once, new URL(`/v2/models/${m.name}/infer`, base), m.body);
        const why = checkAnswer(m, status, body);
        if (why !== undefined) throw new Error(`${who} answers ${m.name} wrongly: ${why}`);
      }
    }
    once.destroy();
    await warm(flywheel);
    await warm(floor);

    console.log(`bench:serving on ${cpus().length} cores (${cpus()[0]?.model ?? "unknown cpu"}), Node ${process.version}`);
    console.log(
      `V2 POST /v2/models/<name>/infer, 1 row per request (fixture row ${ROW}); ${CLIENT === "raw" ? "raw-socket HTTP/1.1 keep-alive client" : "node:http keep-alive client"} in the bench process, one request in flight per connection, every answer checked ` +
        `(sharing the cores with the server); every server warmed with ${SERVER_WARMUP_SECONDS} s of load per model when it starts; per case and side ${WARMUP_SECONDS} s warm-up + ${CASE_SECONDS} s measured in ${ROUNDS} slices, ` +
        `Flywheel and floor alternating; ONNX Runtime intraOpNumThreads 1 on both sides`,
    );
    console.log(
      `load average at start: ${loadavg()[0]?.toFixed(2) ?? "?"} (1 min); other processes on this machine compete for the same cores and widen the spread between runs`,
    );
    if (CPU_PROF_DIR !== undefined) console.log(`both servers run under --cpu-prof (profiles in ${resolve(CPU_PROF_DIR)}); the figures are lower than without`);
    const header = ["model".padEnd(NAME_WIDTH), "conn".padStart(4), "flywheel req/s".padStart(15), "p50".padStart(9), "p99".padStart(9), "cpu/req".padStart(8), "main/req".padStart(8), "floor req/s".padStart(12), "p50".padStart(9), "p99".padStart(9), "cpu/req".padStart(8), "main/req".padStart(8), "ratio".padStart(6), "x cpu".padStart(6), "errors".padStart(7), "client cpu/req".padStart(15)];
    console.log(header.join("  "));
    /** The req/s ratio of every row. */
    const rows: { label: string; ratio: number }[] = [];
    const measure = async (m: Model, c: number, label: string, server: Server = flywheel) => {
      const name = `${m.name}${label}`;
      if (ONLY !== undefined && !ONLY.test(`${name} ${c}`)) return;
      const { flywheel: fw, floor: fl } = await measurePair(server, floor, m, c);
      const ratio = fw.rps / fl.rps;
      const cpu = (us: number) => (Number.isNaN(us) ? "n/a" : `${Math.round(us)} us`);
      console.log(
        [
          name.padEnd(NAME_WIDTH),
          String(c).padStart(4),
          fmtInt(fw.rps).padStart(15),
          fmtMs(fw.p50).padStart(9),
          fmtMs(fw.p99).padStart(9),
          cpu(fw.cpuUs).padStart(8),
          cpu(fw.mainCpuUs).padStart(8),
          fmtInt(fl.rps).padStart(12),
          fmtMs(fl.p50).padStart(9),
          fmtMs(fl.p99).padStart(9),
          cpu(fl.cpuUs).padStart(8),
          cpu(fl.mainCpuUs).padStart(8),
          ratio.toFixed(2).padStart(6),
          (fw.cpuUs / fl.cpuUs).toFixed(2).padStart(6),
          `${fw.errors}/${fl.errors}`.padStart(7),
          `${Math.round(fw.clientCpuUs)}/${Math.round(fl.clientCpuUs)} us`.padStart(15),
        ].join("  "),
      );
      for (const [who, st] of [["flywheel", fw], ["floor", fl]] as const) {
        if (st.errors > 0) {
          failed = true;
          console.log(`  ${who}: ${st.errors} of ${fmtInt(st.requests)} requests failed; first: ${st.firstError ?? ""}`);
        }
      }
      rows.push({ label: `${name} ${c}`, ratio });
    };
    for (const m of models) {
      for (const c of CONCURRENCY) await measure(m, c, "");
    }
    // Both cores: `flywheel serve --workers 2` over the same stores, batching off, then on.
    // A fresh pool is warmed up first, like the servers above (each worker loads its sessions and
    // optimizes the path on half the requests).
    const servePool = async () => {
      const pool = await spawnServer("flywheel serve --workers 2", [cli, "serve", "--workers", "2", "--port", "0", "--data-dir", join(dir, "data"), "--log-level", "warn"], {
        ...process.env,
        FLYWHEEL_CONFIG: join(dir, "none.yaml"),
      });
      await warm(pool);
      return pool;
    };
    const wanted = (label: string) => ONLY === undefined || models.some((m) => ONLY.test(`${m.name}${label} 32`));
    if (wanted(" +2 workers")) {
      const pool = await servePool();
      for (const m of models) await measure(m, 32, " +2 workers", pool);
      await stop(pool.child);
    }
    // Adaptive batching on (registered-model tags; the server picks them up within a second).
    for (const m of models) {
      await call(flywheel.url, "POST", "/api/2.0/mlflow/registered-models/set-tag", { name: m.name, key: "flywheel.serving.max_batch_size", value: String(BATCH_SIZE) });
      await call(flywheel.url, "POST", "/api/2.0/mlflow/registered-models/set-tag", { name: m.name, key: "flywheel.serving.max_batch_time_ms", value: String(BATCH_TIME_MS) });
    }
    await new Promise((r) => setTimeout(r, 1500));
    for (const m of models) {
      for (const c of CONCURRENCY) await measure(m, c, " +batch");
    }
    if (wanted(" +batch +2 workers")) {
      const pool = await servePool();
      for (const m of models) await measure(m, 32, " +batch +2 workers", pool);
    }
    const one = rows.filter((r) => !r.label.includes("workers"));
    const both = rows.filter((r) => r.label.includes("workers"));
    const verdict = (list: typeof rows, target: number) => {
      if (list.length === 0) return "not measured";
      const worst = list.reduce((a, b) => (b.ratio < a.ratio ? b : a));
      return `lowest ${worst.ratio.toFixed(2)} (${worst.label.trim()}), target >= ${target.toFixed(2)}${worst.ratio >= target ? ", met" : ", NOT met"}`;
    };
    console.log(`ratio Flywheel / floor (req/s), one process: ${verdict(one, TARGET)}`);
    console.log(`ratio Flywheel / floor (req/s), flywheel serve --workers 2: ${verdict(both, 1)}`);
    console.log(
      `"+batch" rows: adaptive batching on with no queue delay (max_batch_size ${BATCH_SIZE}, max_batch_time_ms ${BATCH_TIME_MS}: a request that finds nothing waiting ` +
        `and no run in flight runs at once, the others join the batch that runs at the end of the event-loop turn); the floor runs one request per session call`,
    );
    console.log(`"+2 workers" rows: flywheel serve --workers 2 against the one-process floor (the load generator shares the same 2 cores)`);
    console.log(
      `cpu/req: the server's CPU time (user + system, over its process tree) per request; main/req: of which the server's main thread (for --workers 2, the primary, which serves nothing); "x cpu" is Flywheel's over the floor's; ` +
        `client cpu/req: the load generator's (this process's) CPU time per request, against Flywheel/the floor`,
    );
    if (failed) console.log("errors: some requests failed (see above); the figures are not valid");
    else console.log("errors: 0 (every answer was 200 with all outputs and the reference label)");
  } finally {
    await Promise.all([...children].map(stop));
    rmSync(dir, { recursive: true, force: true });
  }
  if (failed) process.exitCode = 1;
  // Batch scoring in the same run: `flywheel predict`'s path on 1,000,000 rows against a bare ONNX Runtime loop (bench/predict.ts).
  if (ONLY === undefined && process.env.BENCH_PREDICT !== "0") {
    console.log("\nflywheel predict (bench:predict, in this run; BENCH_PREDICT=0 skips it):");
    const predict = spawnSync(process.execPath, [predictScript], { stdio: "inherit", env: { ...process.env, BENCH_CASES: process.env.BENCH_CASES ?? "parquet>parquet" } });
    if (predict.status !== 0) process.exitCode = 1;
  }
}

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    cleanupNow();
    process.exit(130);
  });
}
process.on("exit", cleanupNow);

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
