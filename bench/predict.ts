/**
 * bench:predict — rows per second of `flywheel predict`'s scoring path (scoreFile: DuckDB in,
 * ONNX Runtime, DuckDB out) on BENCH_ROWS iris-shaped rows (default 1,000,000), against the floor
 * of a bare ONNX Runtime loop over the same rows already in memory, in batches of the same size.
 * Each case is also set beside DuckDB copying the same input to the same output format with no
 * model at all (the I/O the scoring path cannot avoid). Each case runs in its own process, which
 * also reports its peak resident memory (maxRSS).
 *
 * Environment: BENCH_ROWS (default 1000000), BENCH_BATCH (default 8192), BENCH_CASES (comma list
 * of parquet>parquet, parquet>csv, csv>ndjson, ...; default parquet>parquet,csv>csv,ndjson>ndjson).
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseMlmodel, renderMlmodel } from "../src/models/mlmodel.js";
import { signatureFromGraph } from "../src/models/signature.js";
import { inspectOnnx } from "../src/onnx/inspect.js";
import { copyOptionsSql, parseTableFormat, readTableSql, type TableFormat } from "../src/serving/batch-formats.js";
import { openScoringModel, scoreFile } from "../src/serving/batch-scoring.js";
import { OfflineDb, quoteLiteral } from "../src/storage/offline/duckdb.js";

const ROWS = Number(process.env.BENCH_ROWS ?? 1_000_000);
const BATCH = Number(process.env.BENCH_BATCH ?? 8192);
const CASES = (process.env.BENCH_CASES ?? "parquet>parquet,csv>csv,ndjson>ndjson").split(",");
const FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"];
const ONNX = readFileSync(new URL("../../../shared/fixtures/models/iris_logreg.onnx", import.meta.url));
const EXT: Record<TableFormat, string> = { parquet: "parquet", csv: "csv", ndjson: "ndjson" };

interface Measured {
  rows: number;
  seconds: number;
  maxRssMb: number;
}

async function model() {
  const pkg = parseMlmodel(
    renderMlmodel({
      artifactPath: "model",
      flavors: { onnx: { data: "model.onnx", code: null } },
      signature: signatureFromGraph(await inspectOnnx(ONNX)),
      flywheel: { features: FEATURES },
    }),
  );
  return openScoringModel({ name: "iris", version: "1", package: pkg, onnx: ONNX });
}

const maxRssMb = () => process.resourceUsage().maxRSS / 1024;

/** The floor: the same session over the same rows, already in one Float32Array, batch by batch. */
async function floor(input: string): Promise<Measured> {
  const db = await OfflineDb.open();
  const rows = await db.query(`SELECT ${FEATURES.join(", ")} FROM read_parquet(${quoteLiteral(input)})`);
  db.close();
  const data = new Float32Array(rows.length * 4);
  rows.forEach((r, i) => FEATURES.forEach((f, j) => (data[i * 4 + j] = Number(r[f]))));
  rows.length = 0;
  const m = await model();
  const started = performance.now();
  for (let at = 0; at < ROWS; at += BATCH) {
    const n = Math.min(BATCH, ROWS - at);
    await m.run({ float_input: { type: "float32", data: data.subarray(at * 4, (at + n) * 4), dims: [n, 4] } }, ["label", "probabilities"]);
  }
  const seconds = (performance.now() - started) / 1000;
  await m.release();
  return { rows: ROWS, seconds, maxRssMb: maxRssMb() };
}

/** The I/O floor: DuckDB copying the input to the output format, every column, no model. */
async function copy(input: string, output: string): Promise<Measured> {
  const from = parseTableFormat(input.slice(input.lastIndexOf(".") + 1)) as TableFormat;
  const to = parseTableFormat(output.slice(output.lastIndexOf(".") + 1)) as TableFormat;
  const db = await OfflineDb.open();
  const started = performance.now();
  const rows = await db.run(`COPY (SELECT * FROM ${readTableSql(input, from)}) TO ${quoteLiteral(output)} ${copyOptionsSql(to, {})}`);
  const seconds = (performance.now() - started) / 1000;
  db.close();
  return { rows, seconds, maxRssMb: maxRssMb() };
}

async function score(input: string, output: string): Promise<Measured> {
  const m = await model();
  const started = performance.now();
  const result = await scoreFile(m, { input, output, batchSize: BATCH });
  const seconds = (performance.now() - started) / 1000;
  await m.release();
  return { rows: result.rows, seconds, maxRssMb: maxRssMb() };
}

function child(args: string[]): Measured {
  const res = spawnSync(process.execPath, [fileURLToPath(import.meta.url), ...args], { encoding: "utf8", maxBuffer: 1 << 20 });
  if (res.status !== 0) throw new Error(`bench child ${args.join(" ")} failed: ${res.stderr}`);
  return JSON.parse(res.stdout.trim().split("\n").pop() as string) as Measured;
}

async function main(): Promise<void> {
  const [mode, ...rest] = process.argv.slice(2);
  if (mode === "floor" || mode === "score" || mode === "copy") {
    const measured = mode === "floor" ? await floor(rest[0] as string) : mode === "copy" ? await copy(rest[0] as string, rest[1] as string) : await score(rest[0] as string, rest[1] as string);
    process.stdout.write(`${JSON.stringify(measured)}\n`);
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), "flywheel-bench-predict-"));
  try {
    const db = await OfflineDb.open();
    const inputs: Partial<Record<TableFormat, string>> = {};
    const select =
      `SELECT range AS id, 'customer-' || range AS customer, ` +
      FEATURES.map((f, j) => `round(${[4, 2, 1, 0.1][j]} + random() * ${[4, 2.5, 6, 2.4][j]}, 2) AS ${f}`).join(", ") +
      ` FROM range(${ROWS})`;
    await db.run(`CREATE TABLE data AS ${select}`);
    for (const f of ["parquet", "csv", "ndjson"] as const) {
      const path = join(dir, `input.${EXT[f]}`);
      const options = f === "parquet" ? "(FORMAT parquet)" : f === "csv" ? "(FORMAT csv, HEADER true)" : "(FORMAT json)";
      await db.run(`COPY data TO ${quoteLiteral(path)} ${options}`);
      inputs[f] = path;
    }
    db.close();
    const mb = (p: string) => (statSync(p).size / 1e6).toFixed(0);
    console.log(`bench:predict on ${cpus().length} cores (${cpus()[0]?.model ?? "unknown cpu"}), Node ${process.version}`);
    console.log(`flywheel predict: ${ROWS.toLocaleString("en-US")} rows (iris_logreg, 4 features + id + customer), batch ${BATCH}`);
    console.log(`inputs: parquet ${mb(inputs.parquet as string)} MB, csv ${mb(inputs.csv as string)} MB, ndjson ${mb(inputs.ndjson as string)} MB`);
    const base = child(["floor", inputs.parquet as string]);
    const rate = (m: Measured) => m.rows / m.seconds;
    console.log(`floor (bare ONNX Runtime loop, rows in memory): ${Math.round(rate(base)).toLocaleString("en-US")} rows/s, ${base.seconds.toFixed(2)} s, maxRSS ${base.maxRssMb.toFixed(0)} MB`);
    for (const c of CASES) {
      const [from, to] = c.split(">").map((s) => parseTableFormat(s));
      if (from === undefined || to === undefined) throw new Error(`BENCH_CASES: '${c}' is not <format>><format>`);
      const output = join(dir, `scored.${EXT[to]}`);
      const copied = child(["copy", inputs[from] as string, output]);
      if (copied.rows !== ROWS) throw new Error(`${c}: DuckDB copied ${copied.rows} rows, expected ${ROWS}`);
      rmSync(output, { force: true });
      const m = child(["score", inputs[from] as string, output]);
      if (m.rows !== ROWS) throw new Error(`${c}: scored ${m.rows} rows, expected ${ROWS}`);
      console.log(
        `flywheel ${from} -> ${to}: ${Math.round(rate(m)).toLocaleString("en-US")} rows/s, ${m.seconds.toFixed(2)} s, ` +
          `ratio to the ONNX floor ${(rate(m) / rate(base)).toFixed(2)}, maxRSS ${m.maxRssMb.toFixed(0)} MB, output ${mb(output)} MB; ` +
          `DuckDB copying ${from} -> ${to} without a model: ${Math.round(rate(copied)).toLocaleString("en-US")} rows/s (${copied.seconds.toFixed(2)} s), ratio to it ${(rate(m) / rate(copied)).toFixed(2)}`,
      );
      rmSync(output, { force: true });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
