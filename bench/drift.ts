/**
 * bench:drift — the full drift table (KS, normed Wasserstein and PSI on every column) for 100
 * float columns of 1,000,000 reference and 1,000,000 current rows, half the columns shifted,
 * against the floor measured in the same run: SciPy's `ks_2samp` and `wasserstein_distance`
 * (normed by the reference std, as Evidently does) plus NumPy PSI on Evidently's Sturges bins,
 * by python3 over the same data (written once as raw float64 files). Both sides are timed from
 * the arrays in memory to the values (file reading excluded), one thread each, in alternating
 * batches of columns; wall-clock and CPU seconds are both printed (CPU time is the fairer
 * measure when other work shares the machine).
 *
 * Environment: BENCH_ROWS (per side, default 1,000,000), BENCH_COLUMNS (default 100),
 * BENCH_BATCH (columns per engine call, default 10), BENCH_KEEP=1 keeps the data directory.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { compareDatasets } from "../src/monitoring/compare.js";
import { dataset, numericColumn, type RawColumn } from "../src/monitoring/dataset.js";
import type { ColumnDrift } from "../src/monitoring/drift.js";

const ROWS = Number(process.env.BENCH_ROWS ?? 1_000_000);
const COLUMNS = Number(process.env.BENCH_COLUMNS ?? 100);
const BATCH = Number(process.env.BENCH_BATCH ?? 10);
const SHIFT = 0.2; // in reference standard deviations, on every other column
const TARGET = 0.25;

// The floor, kept running: each stdin line "start end" computes those columns and answers one
// JSON line with the wall and CPU seconds of each part and the values.
const FLOOR = String.raw`
import json, sys, time
import numpy as np
from scipy import stats

def fill(p):
    nz = p[p != 0]
    v = nz.min() / 10**6 if nz.min() <= 0.0001 else 0.0001
    p = p.copy()
    p[p == 0] = v
    return p

d = sys.argv[1]
for line in sys.stdin:
    start, end = map(int, line.split())
    wall = {"ks": 0.0, "wasserstein": 0.0, "psi": 0.0}
    cpu = {"ks": 0.0, "wasserstein": 0.0, "psi": 0.0}
    values = []
    for c in range(start, end):
        a = np.fromfile(f"{d}/ref_{c}.f64")
        b = np.fromfile(f"{d}/cur_{c}.f64")
        w0, c0 = time.perf_counter(), time.process_time()
        r = stats.ks_2samp(a, b)
        w1, c1 = time.perf_counter(), time.process_time()
        w = stats.wasserstein_distance(a, b) / max(float(np.std(a)), 0.001)
        w2, c2 = time.perf_counter(), time.process_time()
        edges = np.histogram_bin_edges(np.concatenate([a, b]), bins="sturges")
        rp = fill(np.histogram(a, edges)[0] / a.size)
        cp = fill(np.histogram(b, edges)[0] / b.size)
        psi = float(np.sum((rp - cp) * np.log(rp / cp)))
        w3, c3 = time.perf_counter(), time.process_time()
        wall["ks"] += w1 - w0; wall["wasserstein"] += w2 - w1; wall["psi"] += w3 - w2
        cpu["ks"] += c1 - c0; cpu["wasserstein"] += c2 - c1; cpu["psi"] += c3 - c2
        values.append([float(r.statistic), float(r.pvalue), float(w), psi])
    print(json.dumps({"wall": wall, "cpu": cpu, "values": values}), flush=True)
`;

/** A seeded normal generator (xoshiro128** seeded by splitmix32, Box–Muller), the same data each run. */
function normalGenerator(seed: number): (mean: number, sd: number) => number {
  let z = seed >>> 0;
  const splitmix = () => {
    z = (z + 0x9e3779b9) >>> 0;
    let t = z ^ (z >>> 16);
    t = Math.imul(t, 0x21f0aaad);
    t ^= t >>> 15;
    t = Math.imul(t, 0x735a2d97);
    return (t ^ (t >>> 15)) >>> 0;
  };
  let a = splitmix();
  let b = splitmix();
  let c = splitmix();
  let d = splitmix();
  const uniform = () => {
    const t = b << 9;
    let r = Math.imul(b, 5);
    r = Math.imul((r << 7) | (r >>> 25), 9);
    c ^= a;
    d ^= b;
    b ^= c;
    a ^= d;
    c ^= t;
    d = (d << 11) | (d >>> 21);
    return ((r >>> 0) + 0.5) / 4294967296;
  };
  let spare = Number.NaN;
  return (mean, sd) => {
    if (!Number.isNaN(spare)) {
      const v = spare;
      spare = Number.NaN;
      return mean + sd * v;
    }
    const r = Math.sqrt(-2 * Math.log(uniform()));
    const t = 2 * Math.PI * uniform();
    spare = r * Math.sin(t);
    return mean + sd * r * Math.cos(t);
  };
}

function column(rows: number, seed: number, mean: number, sd: number): Float64Array {
  const next = normalGenerator(seed);
  const a = new Float64Array(rows);
  for (let i = 0; i < rows; i++) a[i] = next(mean, sd);
  return a;
}

function load(path: string): Float64Array {
  const buf = readFileSync(path);
  const out = new Float64Array(buf.byteLength / 8);
  new Uint8Array(out.buffer).set(buf);
  return out;
}

function relDiff(a: number, b: number): number {
  if (a === b) return 0;
  return Math.abs(a - b) / Math.max(Math.abs(a), Math.abs(b));
}

interface FloorAnswer {
  wall: { ks: number; wasserstein: number; psi: number };
  cpu: { ks: number; wasserstein: number; psi: number };
  values: [number, number, number, number][];
}

/** The python3 floor as a long-running process answering one JSON line per batch. */
function startFloor(dir: string): { batch(start: number, end: number): Promise<FloorAnswer>; stop(): void } {
  const child = spawn("python3", ["-c", FLOOR, dir], { stdio: ["pipe", "pipe", "inherit"] });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  return {
    async batch(start, end) {
      child.stdin.write(`${start} ${end}\n`);
      const next = await lines.next();
      if (next.done === true) throw new Error("the python3 floor exited early");
      return JSON.parse(next.value as string) as FloorAnswer;
    },
    stop: () => child.stdin.end(),
  };
}

function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "flywheel-bench-drift-"));
  const floor = startFloor(dir);
  try {
    console.log(`bench:drift — ${COLUMNS} float columns, ${ROWS.toLocaleString("en-US")} reference and ${ROWS.toLocaleString("en-US")} current rows, every other column shifted by ${SHIFT} sd`);
    const g0 = performance.now();
    for (let c = 0; c < COLUMNS; c++) {
      const mean = (c % 7) - 3;
      const sd = 1 + (c % 5) * 0.5;
      const ref = column(ROWS, 2 * c + 1, mean, sd);
      const cur = column(ROWS, 2 * c + 2, mean + (c % 2 === 1 ? SHIFT * sd : 0), sd);
      writeFileSync(join(dir, `ref_${c}.f64`), ref);
      writeFileSync(join(dir, `cur_${c}.f64`), cur);
    }
    console.log(`data written in ${((performance.now() - g0) / 1000).toFixed(1)}s to ${dir}`);

    // Batches alternate between Flywheel's engine and the floor, so changing load on the machine
    // falls on both alike. Loading the files is excluded from both times.
    const columns: ColumnDrift[] = [];
    const values: [number, number, number, number][] = [];
    const ours = { wall: 0, cpu: 0 };
    const theirs = { wall: { ks: 0, wasserstein: 0, psi: 0 }, cpu: { ks: 0, wasserstein: 0, psi: 0 } };
    for (let start = 0; start < COLUMNS; start += BATCH) {
      const end = Math.min(COLUMNS, start + BATCH);
      const ref: Record<string, RawColumn> = {};
      const cur: Record<string, RawColumn> = {};
      for (let c = start; c < end; c++) {
        ref[`c${c}`] = numericColumn(load(join(dir, `ref_${c}.f64`)));
        cur[`c${c}`] = numericColumn(load(join(dir, `cur_${c}.f64`)));
      }
      const w0 = performance.now();
      const c0 = cpuSeconds();
      const report = compareDatasets(dataset(ref), dataset(cur), { drift: { test: "ks", extraTests: ["wasserstein", "psi"] } });
      ours.cpu += cpuSeconds() - c0;
      ours.wall += (performance.now() - w0) / 1000;
      columns.push(...report.columns);
      const f = await floor.batch(start, end);
      for (const k of ["ks", "wasserstein", "psi"] as const) {
        theirs.wall[k] += f.wall[k];
        theirs.cpu[k] += f.cpu[k];
      }
      values.push(...f.values);
    }
    const floorWall = theirs.wall.ks + theirs.wall.wasserstein + theirs.wall.psi;
    const floorCpu = theirs.cpu.ks + theirs.cpu.wasserstein + theirs.cpu.psi;

    const worst = { ksStatistic: 0, ksPvalue: 0, wasserstein: 0, psi: 0 };
    let agree = 0;
    columns.forEach((c, i) => {
      const [ks, p, w, psi] = values[i] as [number, number, number, number];
      const wt = c.extra.find((t) => t.test === "wasserstein");
      const pt = c.extra.find((t) => t.test === "psi");
      worst.ksStatistic = Math.max(worst.ksStatistic, relDiff(c.result!.statistic!, ks));
      worst.ksPvalue = Math.max(worst.ksPvalue, relDiff(c.result!.pvalue!, p));
      worst.wasserstein = Math.max(worst.wasserstein, relDiff(wt!.distance!, w));
      worst.psi = Math.max(worst.psi, relDiff(pt!.distance!, psi));
      if (c.drifted === p <= 0.05) agree++;
    });
    const shifted = columns.filter((c, i) => i % 2 === 1 && c.drifted).length;
    const falseAlarms = columns.filter((c, i) => i % 2 === 0 && c.drifted).length;
    const ratioWall = ours.wall / floorWall;
    const ratioCpu = ours.cpu / floorCpu;

    console.log("");
    console.log(`flywheel drift table (sort + KS + Wasserstein + PSI + histograms): ${ours.wall.toFixed(2)}s wall, ${ours.cpu.toFixed(2)}s CPU`);
    console.log(
      `floor, SciPy/NumPy: ${floorWall.toFixed(2)}s wall (ks_2samp ${theirs.wall.ks.toFixed(2)}s + wasserstein_distance ${theirs.wall.wasserstein.toFixed(2)}s + PSI ${theirs.wall.psi.toFixed(2)}s), ${floorCpu.toFixed(2)}s CPU`,
    );
    console.log(`ratio flywheel/floor: ${ratioWall.toFixed(3)} wall, ${ratioCpu.toFixed(3)} CPU (target ≤ ${TARGET}: ${ratioWall <= TARGET ? "met" : "NOT met"})`);
    console.log(
      `max relative difference: KS statistic ${worst.ksStatistic.toExponential(2)}, KS p-value ${worst.ksPvalue.toExponential(2)}, normed Wasserstein ${worst.wasserstein.toExponential(2)}, PSI ${worst.psi.toExponential(2)}`,
    );
    console.log(
      `verdicts (KS, p ≤ 0.05): ${shifted}/${Math.floor(COLUMNS / 2)} shifted columns flagged, ${falseAlarms} unshifted flagged; ${agree}/${COLUMNS} agree with SciPy's p-values`,
    );
    console.log(`cpus: ${cpus().length}, load average ${loadavg().map((l) => l.toFixed(1)).join(" ")}`);
  } finally {
    floor.stop();
    if (process.env.BENCH_KEEP !== "1") rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
