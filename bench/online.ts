/**
 * bench:online — p50/p99/p99.9 latency and requests per second of Feast's
 * `POST /get-online-features` on `flywheel server`, for 1 entity x 50 features and 100 entities x
 * 10 features (random entity ids per request), on the SQLite and on the Redis online store, against
 * the floor of a bare `node:http` server reading the same store through the same port
 * (bench/online-floor.ts), both in their own process and measured in the same run, at 1
 * keep-alive connection (latency) and 16 (throughput). Every answer is checked against the values
 * written.
 *
 * Environment: BENCH_SECONDS (per case and side, default 5), BENCH_WARMUP_SECONDS (default 1),
 * BENCH_REDIS_URL (default redis://127.0.0.1:6379; the Redis run is skipped with the reason when it
 * does not answer), BENCH_CPU_PROF=<dir> to run both servers under `node --cpu-prof`.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { Agent } from "node:http";
import { connect } from "node:net";
import { cpus, loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import { measurePair, post, type Connection, type Stats } from "./online-load.js";

const CASE_SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP_SECONDS ?? 1);
const REDIS_URL = process.env.BENCH_REDIS_URL ?? "redis://127.0.0.1:6379";
const CPU_PROF_DIR = process.env.BENCH_CPU_PROF;
/** Timed slices per side and case (Flywheel and the floor alternate). */
const ROUNDS = 5;
const CONCURRENCY = [1, 16] as const;
const ENTITIES = 10_000;
const WRITE_CHUNK = 1000;
const JOIN_KEY = "item_id";
/** Feast's published p99 for 1 row x 50 features (its blog benchmarks, Redis online store). */
const FEAST_P99_MS = { python: 8.4, go: 1.8 };

const cli = fileURLToPath(new URL("../src/cli/main.js", import.meta.url));
const floorScript = fileURLToPath(new URL("./online-floor.js", import.meta.url));

interface View {
  name: string;
  features: string[];
  /** Sign of the stored values, so an answer from the wrong view cannot pass the check. */
  sign: number;
}

interface Case {
  label: string;
  view: View;
  rows: number;
}

const featureNames = (n: number) => Array.from({ length: n }, (_, i) => `f${String(i).padStart(2, "0")}`);
const VIEWS: View[] = [
  { name: "item_50", features: featureNames(50), sign: 1 },
  { name: "item_10", features: featureNames(10), sign: -1 },
];
const CASES: Case[] = [
  { label: "1 entity x 50 features", view: VIEWS[0] as View, rows: 1 },
  { label: "100 entities x 10 features", view: VIEWS[1] as View, rows: 100 },
];

/** The value written for (entity, feature index): exact in binary, distinct per view and feature. */
const valueOf = (view: View, entity: number, f: number) => view.sign * (entity + (f + 1) / 128);

const children = new Set<ChildProcess>();
let workDir: string | undefined;
/** The Redis project whose keys must be deleted on the way out, if any. */
let redisProject: string | undefined;

function cleanupNow(): void {
  for (const child of children) child.kill("SIGKILL");
  if (workDir !== undefined) rmSync(workDir, { recursive: true, force: true });
}

/** Deletes every key of the project's entity hashes (`fw:{<project>:...}`); returns how many. */
async function deleteRedisKeys(project: string): Promise<number> {
  const client = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  client.on("error", () => undefined);
  try {
    await client.connect();
    let deleted = 0;
    let cursor = "0";
    do {
      const [next, keys] = await client.scan(cursor, "MATCH", `fw:{${project}:*`, "COUNT", 1000);
      cursor = next;
      if (keys.length > 0) deleted += await client.unlink(...keys);
    } while (cursor !== "0");
    return deleted;
  } finally {
    client.disconnect();
  }
}

/** Whether host:port accepts a TCP connection within a second; the reason when not. */
function reachable(url: string): Promise<string | undefined> {
  const u = new URL(url);
  return new Promise((done) => {
    const socket = connect({ host: u.hostname, port: Number(u.port || 6379) });
    const finish = (why: string | undefined) => {
      socket.destroy();
      done(why);
    };
    socket.setTimeout(1000, () => finish("no answer within 1 s"));
    socket.once("connect", () => finish(undefined));
    socket.once("error", (e) => finish(e.message));
  });
}

interface Server {
  child: ChildProcess;
  url: string;
}

/** Spawns `args` under this Node and resolves with the URL it prints ("listening on http://..."). */
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

async function call(base: string, path: string, body: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${base}${path}`, { method: "POST", body: JSON.stringify(body), headers: { "content-type": "application/json" } });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`POST ${path}: ${res.status} ${text.slice(0, 500)}`);
  return JSON.parse(text) as Record<string, unknown>;
}

/** Applies the entity and both views, then writes every entity of each view in chunks. */
async function setUp(base: string, dir: string, eventTs: number): Promise<void> {
  await call(base, "/api/v1/features/apply", {
    definitions: {
      entities: [{ kind: "entity", name: "item", joinKeys: [JOIN_KEY], valueType: "Int64" }],
      // Never read: rows reach the online store through write-to-online-store.
      sources: [{ kind: "file_source", name: "items_src", path: join(dir, "items.parquet"), timestampField: "ts" }],
      featureViews: VIEWS.map((v) => ({
        kind: "feature_view",
        name: v.name,
        entities: ["item"],
        source: "items_src",
        ttl: "30d",
        schema: v.features.map((f) => ({ name: f, dtype: "Float64" })),
      })),
    },
  });
  for (const view of VIEWS) {
    for (let start = 0; start < ENTITIES; start += WRITE_CHUNK) {
      const ids = Array.from({ length: Math.min(WRITE_CHUNK, ENTITIES - start) }, (_, i) => start + i);
      const df: Record<string, unknown[]> = { [JOIN_KEY]: ids, ts: ids.map(() => eventTs) };
      view.features.forEach((f, j) => (df[f] = ids.map((e) => valueOf(view, e, j))));
      const out = await call(base, "/write-to-online-store", { feature_view_name: view.name, df });
      if (out.rows !== ids.length) throw new Error(`write-to-online-store wrote ${String(out.rows)} rows of ${ids.length}`);
    }
  }
}

/** A small fast PRNG (mulberry32), seeded per connection so runs are comparable. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Builds request bodies for a case with random entity ids; `ids` holds the last body's ids. */
function bodyMaker(c: Case, seed: number): { next(): Buffer; ids: number[] } {
  const head = `{"features":${JSON.stringify(c.view.features.map((f) => `${c.view.name}:${f}`))},"entities":{"${JOIN_KEY}":[`;
  const random = rng(seed);
  const state = {
    ids: [] as number[],
    next(): Buffer {
      state.ids = Array.from({ length: c.rows }, () => Math.floor(random() * ENTITIES));
      return Buffer.from(`${head}${state.ids.join(",")}]}}`);
    },
  };
  return state;
}

interface Answer {
  metadata?: { feature_names?: unknown };
  results?: { values?: unknown[]; statuses?: unknown[]; event_timestamps?: unknown[] }[];
}

/** Why an answer is not the written data, or undefined when it is. */
function checkAnswer(c: Case, ids: readonly number[], tsIso: string, status: number, text: string): string | undefined {
  if (status !== 200) return `status ${status}: ${text.slice(0, 200)}`;
  let body: Answer;
  try {
    body = JSON.parse(text) as Answer;
  } catch {
    return `not JSON: ${text.slice(0, 200)}`;
  }
  const names = body.metadata?.feature_names;
  if (!Array.isArray(names) || names.length !== c.view.features.length + 1 || names[0] !== JOIN_KEY) return `feature_names ${JSON.stringify(names)}`;
  const results = body.results ?? [];
  const keyCol = results[0]?.values;
  if (keyCol === undefined || keyCol.length !== ids.length || keyCol.some((v, i) => v !== ids[i])) return `entity column ${JSON.stringify(keyCol)}, expected ${JSON.stringify(ids)}`;
  for (let j = 0; j < c.view.features.length; j++) {
    if (names[j + 1] !== c.view.features[j]) return `feature_names[${j + 1}] is ${JSON.stringify(names[j + 1])}`;
    const col = results[j + 1];
    for (let i = 0; i < ids.length; i++) {
      const want = valueOf(c.view, ids[i] as number, j);
      if (col?.values?.[i] !== want || col.statuses?.[i] !== "PRESENT" || col.event_timestamps?.[i] !== tsIso) {
        return `entity ${ids[i]} ${c.view.features[j]}: ${JSON.stringify(col?.values?.[i])} ${JSON.stringify(col?.statuses?.[i])} ${JSON.stringify(col?.event_timestamps?.[i])}, expected ${want} PRESENT ${tsIso}`;
      }
    }
  }
  return undefined;
}

/** The simulated clients of one side: the same seeds on both sides, so both are asked for the same entities in the same order. */
function connections(c: Case, concurrency: number, tsIso: string): Connection[] {
  return Array.from({ length: concurrency }, (_, i) => {
    const maker = bodyMaker(c, 1000 + i);
    return { next: () => maker.next(), check: (status, text) => checkAnswer(c, maker.ids, tsIso, status, text) };
  });
}

const fmtInt = (n: number) => Math.round(n).toLocaleString("en-US");
const fmtMs = (n: number) => `${n.toFixed(2)} ms`;
/** Table columns: title and width (negative: left-aligned). */
const COLUMNS: [string, number][] = [["case", -27], ["conn", 4], ["server", -8], ["req/s", 7], ["p50", 9], ["p99", 9], ["p99.9", 9], ["cpu/req", 9], ["errors", 6], ["x p50", 6], ["x p99", 6], ["x req/s", 7], ["x cpu", 6]];
const line = (cells: string[]) => console.log(cells.map((cell, i) => ((COLUMNS[i]?.[1] ?? 0) < 0 ? cell.padEnd(-(COLUMNS[i]?.[1] ?? 0)) : cell.padStart(COLUMNS[i]?.[1] ?? 0))).join("  ").trimEnd());
const cells = (st: Stats) => [fmtInt(st.rps), fmtMs(st.p50), fmtMs(st.p99), fmtMs(st.p999), Number.isNaN(st.cpuUs) ? "n/a" : `${Math.round(st.cpuUs)} us`, String(st.errors)];
const ratio = (a: number, b: number) => (Number.isFinite(a / b) ? (a / b).toFixed(2) : "n/a");
const profArgs = (name: string) => (CPU_PROF_DIR === undefined ? [] : ["--cpu-prof", "--cpu-prof-dir", resolve(CPU_PROF_DIR), "--cpu-prof-name", `${name}.${process.pid}.cpuprofile`]);

/** One backend: its own Flywheel server and floor over the same store; every case and concurrency. */
async function runBackend(backend: string, onlineUri: string, project: string, dataDir: string, eventTs: number, latencyP99: Map<string, number>): Promise<boolean> {
  mkdirSync(dataDir, { recursive: true });
  const flywheel = await spawnServer(`flywheel server (${backend})`, [...profArgs(`flywheel-${backend}`), cli, "server", "--port", "0", "--data-dir", dataDir, "--log-level", "warn"], {
    ...process.env,
    FLYWHEEL_CONFIG: join(dataDir, "none.yaml"),
    FLYWHEEL_ONLINE_STORE_URI: onlineUri,
    FLYWHEEL_FEATURE_PROJECT: project,
  });
  const t0 = performance.now();
  await setUp(flywheel.url, dataDir, eventTs);
  const setupSeconds = (performance.now() - t0) / 1000;
  const floor = await spawnServer(`floor (${backend})`, [...profArgs(`floor-${backend}`), floorScript, onlineUri, project]);
  const tsIso = new Date(eventTs).toISOString().replace(/\.000Z$/, "Z");
  let failed = false;
  try {
    // Both servers give the written values before anything is timed.
    const once = new Agent({ keepAlive: false });
    for (const c of CASES) {
      const maker = bodyMaker(c, 7);
      const body = maker.next();
      for (const [who, base] of [["flywheel", flywheel.url], ["floor", floor.url]] as const) {
        const { status, text } = await post(once, new URL("/get-online-features", base), body);
        const why = checkAnswer(c, maker.ids, tsIso, status, text);
        if (why !== undefined) throw new Error(`${who} (${backend}) answers ${c.label} wrongly: ${why}`);
      }
    }
    once.destroy();
    console.log(`\n${backend} online store (${onlineUri.startsWith("redis") ? onlineUri : "sqlite file in the temp dir"}): ${fmtInt(ENTITIES)} entities x ${VIEWS.length} views written in ${setupSeconds.toFixed(1)} s`);
    line(COLUMNS.map(([h]) => h));
    for (const c of CASES) {
      for (const conc of CONCURRENCY) {
        const side = (server: Server) => ({ url: new URL("/get-online-features", server.url), pid: server.child.pid, connections: connections(c, conc, tsIso) });
        const [fw, fl] = await measurePair(side(flywheel), side(floor), { warmupSeconds: WARMUP_SECONDS, seconds: CASE_SECONDS, rounds: ROUNDS });
        line([c.label, String(conc), "flywheel", ...cells(fw), ratio(fw.p50, fl.p50), ratio(fw.p99, fl.p99), ratio(fw.rps, fl.rps), ratio(fw.cpuUs, fl.cpuUs)]);
        line(["", "", "floor", ...cells(fl)]);
        for (const [who, st] of [["flywheel", fw], ["floor", fl]] as const) {
          if (st.errors > 0) {
            failed = true;
            console.log(`  ${who}: ${st.errors} of ${fmtInt(st.requests)} requests failed; first: ${st.firstError ?? ""}`);
          }
        }
        if (c === CASES[0] && conc === 1) latencyP99.set(backend, fw.p99);
      }
    }
  } finally {
    await Promise.all([stop(flywheel.child), stop(floor.child)]);
  }
  return failed;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "flywheel-bench-online-"));
  workDir = dir;
  let failed = false;
  const project = `bench_online_${process.pid}_${randomBytes(4).toString("hex")}`;
  // Within the views' 30-day ttl, so every value reads as PRESENT.
  const eventTs = Math.floor(Date.now() / 1000) * 1000 - 3_600_000;
  /** Flywheel's p99 for 1 entity x 50 features at 1 connection, per backend: the figure Feast publishes. */
  const p99s = new Map<string, number>();
  try {
    console.log(`bench:online on ${cpus().length} cores (${cpus()[0]?.model ?? "unknown cpu"}), Node ${process.version}`);
    console.log(
      `POST /get-online-features (Feast JSON, features as 'view:feature', Int64 join key, random ids of ${fmtInt(ENTITIES)} per request, every answer checked); ` +
        `node:http keep-alive client in the bench process (sharing the cores with the servers); per case and side ${WARMUP_SECONDS} s warm-up + ${CASE_SECONDS} s measured in ${ROUNDS} slices, Flywheel and floor alternating`,
    );
    console.log(
      `floor: bare node:http server reading the same store through OnlineStore.read (bench/online-floor.ts); "x" columns are Flywheel / floor; ` +
        `cpu/req is the server process's CPU time (user + system, from /proc) per request, which other load on the machine disturbs less than latency`,
    );
    console.log(`load average at start: ${loadavg()[0]?.toFixed(2) ?? "?"} (1 min); other processes on this machine compete for the same cores and widen the spread between runs`);
    if (CPU_PROF_DIR !== undefined) console.log(`servers run under --cpu-prof (profiles in ${resolve(CPU_PROF_DIR)}); the figures are lower than without`);

    const sqliteDir = join(dir, "sqlite");
    failed = (await runBackend("sqlite", `sqlite:///${join(sqliteDir, "online.db")}`, project, sqliteDir, eventTs, p99s)) || failed;

    const why = await reachable(REDIS_URL);
    if (why !== undefined) console.log(`\nredis online store: skipped, ${REDIS_URL} is unreachable (${why})`);
    else {
      redisProject = project;
      try {
        failed = (await runBackend("redis", REDIS_URL, project, join(dir, "redis"), eventTs, p99s)) || failed;
      } finally {
        const deleted = await deleteRedisKeys(project);
        redisProject = undefined;
        console.log(`redis: deleted the project's ${fmtInt(deleted)} keys (fw:{${project}:*)`);
      }
    }
    console.log(
      `\nFeast's published p99 for 1 row x 50 features (its benchmarks, Redis online store, other hardware): Python feature server ${FEAST_P99_MS.python} ms, ` +
        `Go feature server ${FEAST_P99_MS.go} ms; Flywheel here at 1 connection: ${[...p99s].map(([b, v]) => `${fmtMs(v)} (${b})`).join(", ")}`,
    );
    if (failed) console.log("errors: some requests failed (see above); the figures are not valid");
    else console.log("errors: 0 (every answer was 200 with the written values, PRESENT and the written event time)");
  } finally {
    await Promise.all([...children].map(stop));
    rmSync(dir, { recursive: true, force: true });
  }
  if (failed) process.exitCode = 1;
}

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    cleanupNow();
    const project = redisProject;
    if (project === undefined) process.exit(130);
    const timeout = new Promise((r) => setTimeout(r, 3000));
    void Promise.race([deleteRedisKeys(project).catch(() => 0), timeout]).finally(() => process.exit(130));
  });
}
process.on("exit", cleanupNow);

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
