/**
 * Batch scoring against the fixture models (real ONNX Runtime, real DuckDB files): predictions in
 * Parquet, CSV and NDJSON match the fixtures' expected values; batch, chunk and part boundaries
 * do not move a row; bad input fails before any output file appears.
 */
import { existsSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "../../test/helpers/backends.js";
import { FIXTURE_MODELS, expectClose, fixture, mlmodelFor } from "../../test/serving/serving-server.js";
import { FlywheelError } from "../core/errors.js";
import { parseMlmodel, type FlywheelModelMetadata, type ModelPackage } from "../models/mlmodel.js";
import { buildOnnxModel } from "../onnx/builder.js";
import { tensorInfo } from "../onnx/model-spec.js";
import { OfflineDb, quoteLiteral } from "../storage/offline/duckdb.js";
import { readTableSql, type TableFormat } from "./batch-formats.js";
import { ScoringAbortedError, openScoringModel, scoreFile, type ScoringModel, type ScoringProgress } from "./batch-scoring.js";

const IRIS_FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"];
const EXT: Record<TableFormat, string> = { parquet: "parquet", csv: "csv", ndjson: "ndjson" };

let dir: { path: string; remove(): void };
let db: OfflineDb;
const models: ScoringModel[] = [];

beforeAll(async () => {
  dir = tempDir("flywheel-batch-");
  db = await OfflineDb.open({ threads: 1 });
});

afterAll(async () => {
  db.close();
  await Promise.all(models.map((m) => m.release()));
  dir.remove();
});

afterEach(() => {
  // No temporary directory outlives a run, whether it succeeded or failed.
  expect(readdirSync(dir.path).filter((f) => f.startsWith(".flywheel-predict-"))).toEqual([]);
});

let files = 0;
const path = (format: TableFormat, stem = "t") => join(dir.path, `${stem}-${++files}.${EXT[format]}`);

/** Writes `rows` (column name -> DuckDB type) in `format` through DuckDB. */
async function writeTable(format: TableFormat, columns: Record<string, string>, rows: unknown[][], target = path(format)): Promise<string> {
  const names = Object.keys(columns);
  const staging = join(dir.path, `staging-${++files}.ndjson`);
  writeFileSync(staging, rows.map((r) => JSON.stringify(Object.fromEntries(names.map((n, i) => [n, r[i]])))).join("\n") + "\n");
  const spec = names.map((n) => `${quoteLiteral(n)}: ${quoteLiteral(columns[n] as string)}`).join(", ");
  const options = format === "parquet" ? "(FORMAT parquet)" : format === "csv" ? "(FORMAT csv, HEADER true)" : "(FORMAT json)";
  await db.run(`COPY (SELECT * FROM read_json(${quoteLiteral(staging)}, format = 'newline_delimited', columns = {${spec}})) TO ${quoteLiteral(target)} ${options}`);
  return target;
}

async function readTable(file: string, format: TableFormat): Promise<Record<string, unknown>[]> {
  return db.query(`SELECT * FROM ${readTableSql(file, format)}`);
}

async function modelOf(name: string, metadata?: FlywheelModelMetadata, onnx: Uint8Array = fixture(name).onnx): Promise<ScoringModel> {
  const pkg: ModelPackage = { ...parseMlmodel(await mlmodelFor(onnx)), ...(metadata === undefined ? {} : { flywheel: metadata }) };
  const model = await openScoringModel({ name, version: "7", package: pkg, onnx });
  models.push(model);
  return model;
}

const featureColumns = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, j) => [`f${j}`, "DOUBLE"]));

/** Compares scored rows with the fixture's expected outputs, row `i` against expected row `i % period`. */
function expectFixture(name: string, rows: Record<string, unknown>[], prefix = "", outputs?: string[]): void {
  const { expected: fx } = fixture(name);
  const period = fx.inputs.length;
  for (const output of outputs ?? fx.outputs) {
    const want = fx.expected[output] as unknown[];
    rows.forEach((row, i) => {
      const e = want[i % period];
      if (!Array.isArray(e)) {
        // Labels are exact.
        expect(Number(row[prefix + output]), `${name} row ${i} ${output}`).toBe(e);
        return;
      }
      const got = e.length === 1 ? [row[prefix + output]] : e.map((_, j) => row[`${prefix}${output}_${j}`]);
      expectClose(got, e, `${name} row ${i} ${output}`);
    });
  }
}

async function rejects(run: Promise<unknown>, pattern: RegExp): Promise<FlywheelError> {
  const e = await run.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(FlywheelError);
  expect((e as FlywheelError).status).toBe(400);
  expect((e as FlywheelError).message).toMatch(pattern);
  return e as FlywheelError;
}

describe("scoreFile: fixture models", () => {
  for (const name of FIXTURE_MODELS) {
    for (const format of ["parquet", "csv", "ndjson"] as const) {
      it(`${name}: ${format} in, ${format} out, matches the expected predictions`, async () => {
        const { expected: fx } = fixture(name);
        const width = (fx.inputs[0] as number[]).length;
        const input = await writeTable(format, featureColumns(width), fx.inputs);
        const output = path(format, "scored");
        const model = await modelOf(name);
        const result = await scoreFile(model, { input, output });
        expect(result).toMatchObject({ rows: fx.inputs.length, inputFormat: format, outputFormat: format, rule: "numeric-columns" });
        expect(result.inputColumns).toEqual({ [fx.input]: Object.keys(featureColumns(width)) });
        const rows = await readTable(output, format);
        expect(rows).toHaveLength(fx.inputs.length);
        // The input's columns come through first and unchanged, then the predictions, then the model.
        expect(Object.keys(rows[0] as object)).toEqual([...Object.keys(featureColumns(width)), ...result.addedColumns]);
        expect(result.addedColumns.slice(-2)).toEqual(["model_name", "model_version"]);
        rows.forEach((r, i) => expectClose(Array.from({ length: width }, (_, j) => r[`f${j}`]), fx.inputs[i], `${name} row ${i} input`));
        expect(new Set(rows.map((r) => `${String(r.model_name)}/${String(r.model_version)}`))).toEqual(new Set([`${name}/7`]));
        expectFixture(name, rows);
      });
    }
  }
});

describe("scoreFile: boundaries", () => {
  it("scores 100 rows in batches of 7 exactly as in one batch", async () => {
    const fx = fixture("iris_logreg").expected;
    const input = await writeTable("parquet", featureColumns(4), fx.inputs.slice(0, 100));
    const model = await modelOf("iris_logreg");
    const seen: ScoringProgress[] = [];
    const output = path("parquet", "scored");
    const result = await scoreFile(model, { input, output, batchSize: 7, onProgress: (p) => seen.push(p) });
    expect(result.rows).toBe(100);
    expectFixture("iris_logreg", await readTable(output, "parquet"));
    const scoring = seen.filter((p) => p.phase === "score");
    // 14 full batches of 7 and one of 2; the total is known from the Parquet footer.
    expect(scoring.map((p) => (p.phase === "score" ? p.rows : 0))).toEqual([...Array.from({ length: 14 }, (_, i) => 7 * (i + 1)), 100]);
    expect(scoring.every((p) => p.phase === "score" && p.totalRows === 100)).toBe(true);
  });

  it("keeps every row in place across DuckDB chunks (2048 rows), batches and part files", async () => {
    const fx = fixture("iris_logreg").expected;
    const n = 5000;
    const rows = Array.from({ length: n }, (_, i) => [i, `row-${i}`, ...(fx.inputs[i % fx.inputs.length] as number[])]);
    for (const format of ["csv", "parquet"] as const) {
      const input = await writeTable(format, { id: "BIGINT", tag: "VARCHAR", ...Object.fromEntries(IRIS_FEATURES.map((f) => [f, "DOUBLE"])) }, rows);
      const model = await modelOf("iris_logreg", { features: IRIS_FEATURES });
      const output = path("ndjson", "scored");
      const result = await scoreFile(model, { input, output, batchSize: 1000, rowsPerPart: 1500 });
      expect(result).toMatchObject({ rows: n, rule: "package-features", outputFormat: "ndjson" });
      const out = await readTable(output, "ndjson");
      expect(out.map((r) => Number(r.id))).toEqual(rows.map((r) => r[0]));
      expect(out.map((r) => r.tag)).toEqual(rows.map((r) => r[1]));
      expectFixture("iris_logreg", out);
    }
  });

  it("writes an empty input as an empty output that still has the prediction columns", async () => {
    const input = await writeTable("parquet", featureColumns(4), []);
    const output = path("csv", "scored");
    const result = await scoreFile(await modelOf("iris_logreg"), { input, output });
    expect(result.rows).toBe(0);
    const columns = await db.describe(readTableSql(output, "csv"));
    expect(columns.map((c) => c.name)).toEqual(["f0", "f1", "f2", "f3", ...result.addedColumns]);
    expect(result.addedColumns).toEqual(["label", "probabilities_0", "probabilities_1", "probabilities_2", "model_name", "model_version"]);
  });
});

describe("scoreFile: columns", () => {
  it("feeds the package's features in their order, whatever the file's column order, and names classes", async () => {
    const fx = fixture("iris_logreg").expected;
    const reversed = [...IRIS_FEATURES].reverse();
    const input = await writeTable(
      "csv",
      { customer: "VARCHAR", ...Object.fromEntries(reversed.map((f) => [f, "DOUBLE"])), when: "TIMESTAMP" },
      fx.inputs.map((r, i) => [`c${i}`, ...[...r].reverse(), "2026-01-02 03:04:05"]),
    );
    const model = await modelOf("iris_logreg", { features: IRIS_FEATURES, classNames: ["setosa", "versicolor", "virginica"] });
    const output = path("parquet", "scored");
    const result = await scoreFile(model, { input, output, modelUri: "models:/iris_logreg@champion" });
    expect(result.inputColumns).toEqual({ float_input: IRIS_FEATURES });
    expect(result.addedColumns).toEqual(["label", "probabilities_setosa", "probabilities_versicolor", "probabilities_virginica", "model_name", "model_version"]);
    const rows = await readTable(output, "parquet");
    const names = ["setosa", "versicolor", "virginica"];
    rows.forEach((r, i) => {
      expect(r.customer).toBe(`c${i}`);
      expect(r.when).toEqual(new Date("2026-01-02T03:04:05Z"));
      expect(r.label).toBe(names[fx.expected.label?.[i] as number]);
      expectClose(names.map((c) => r[`probabilities_${c}`]), fx.expected.probabilities?.[i], `row ${i}`);
    });
    // The input's types survive: the timestamp is still a timestamp.
    const types = Object.fromEntries((await db.describe(readTableSql(output, "parquet"))).map((c) => [c.name, c.type]));
    expect(types).toMatchObject({ when: "TIMESTAMP", label: "VARCHAR", probabilities_setosa: "FLOAT", model_version: "VARCHAR" });
    const kv = await db.query(`SELECT decode(key) AS k, decode(value) AS v FROM parquet_kv_metadata(${quoteLiteral(output)})`);
    expect(Object.fromEntries(kv.map((r) => [r.k, r.v]))).toMatchObject({
      "flywheel.model_name": "iris_logreg",
      "flywheel.model_version": "7",
      "flywheel.model_uri": "models:/iris_logreg@champion",
    });
  });

  it("--columns overrides the package; --outputs and --prefix choose and rename what is added", async () => {
    const fx = fixture("iris_logreg").expected;
    const input = await writeTable("parquet", { label: "BIGINT", a: "DOUBLE", b: "DOUBLE", c: "DOUBLE", d: "DOUBLE" }, fx.inputs.map((r) => [9, ...r]));
    const model = await modelOf("iris_logreg", { features: IRIS_FEATURES });
    // The file's own `label` column would clash with the model's.
    await rejects(scoreFile(model, { input, output: path("parquet"), columns: ["a", "b", "c", "d"] }), /output column 'label' would clash with the input column 'label'; pass --prefix/);
    const output = path("parquet", "scored");
    const result = await scoreFile(model, { input, output, columns: ["a", "b", "c", "d"], outputs: ["probabilities"], prefix: "pred_" });
    expect(result).toMatchObject({ rule: "columns-option", addedColumns: ["pred_probabilities_0", "pred_probabilities_1", "pred_probabilities_2", "pred_model_name", "pred_model_version"] });
    const rows = await readTable(output, "parquet");
    expect(rows.every((r) => r.label === 9n)).toBe(true);
    expectFixture("iris_logreg", rows, "pred_", ["probabilities"]);
  });

  it("feeds inputs that take one value per row from the columns with their names (NULL floats as NaN)", async () => {
    // y = a + Cast(b), with a FP32 [N] and b INT64 [N, 1].
    const onnx = buildOnnxModel({
      graph: {
        name: "add",
        nodes: [
          { opType: "Reshape", inputs: ["b", "flat"], outputs: ["b1"] },
          { opType: "Cast", inputs: ["b1"], outputs: ["bf"], attributes: { to: { type: "int", value: 1 } } },
          { opType: "Add", inputs: ["a", "bf"], outputs: ["y"] },
        ],
        initializers: [{ name: "flat", dtype: "int64", dims: [1], values: [-1] }],
        inputs: [tensorInfo("a", "float32", ["N"]), tensorInfo("b", "int64", ["N", 1])],
        outputs: [tensorInfo("y", "float32", ["N"])],
      },
    });
    const model = await modelOf("add", undefined, onnx);
    const input = await writeTable("ndjson", { b: "INTEGER", a: "DECIMAL(6,2)", note: "VARCHAR" }, [
      [1, 0.5, "x"],
      [2, null, "y"],
      [-3, 10.25, null],
    ]);
    const output = path("csv", "scored");
    const result = await scoreFile(model, { input, output });
    expect(result).toMatchObject({ rule: "input-names", inputColumns: { a: ["a"], b: ["b"] } });
    const rows = await readTable(output, "csv");
    expect(rows.map((r) => r.y)).toEqual([1.5, Number.NaN, 7.25]);
    expect(rows.map((r) => r.note)).toEqual(["x", "y", null]);

    const withNull = await writeTable("parquet", { a: "FLOAT", b: "BIGINT" }, Array.from({ length: 100 }, (_, i) => [i, i === 50 ? null : i]));
    const target = path("parquet", "never");
    await rejects(scoreFile(model, { input: withNull, output: target, batchSize: 7 }), /^row 51: column 'b' is empty \(NULL\), and the model's input 'b' \(int64\) cannot take a missing value$/);
    expect(existsSync(target)).toBe(false);
  });

  it("refuses a NULL or NaN float for a model whose package sets allow_nan: false, naming the row and column", async () => {
    const strict = await modelOf("iris_logreg", { allowNan: false });
    const clean = await writeTable("parquet", featureColumns(4), fixture("iris_logreg").expected.inputs);
    const scored = path("parquet", "scored");
    await scoreFile(strict, { input: clean, output: scored, columns: ["f0", "f1", "f2", "f3"], batchSize: 6 });
    expectFixture("iris_logreg", await readTable(scored, "parquet"));

    const withNull = await writeTable("parquet", featureColumns(4), Array.from({ length: 30 }, (_, i) => [1, 2, i === 17 ? null : 3, 4]));
    const target = path("parquet", "never");
    await rejects(
      scoreFile(strict, { input: withNull, output: target, columns: ["f0", "f1", "f2", "f3"], batchSize: 7 }),
      /^row 18: column 'f2' is empty \(NULL\), and model 'iris_logreg' version 7 does not take NaN in its input 'float_input' \(its package sets allow_nan: false\)$/,
    );
    expect(existsSync(target)).toBe(false);
    const withNaN = join(dir.path, `nan-${++files}.csv`);
    writeFileSync(withNaN, "f0,f1,f2,f3\n1,2,3,4\n5,nan,6,7\n");
    await rejects(scoreFile(strict, { input: withNaN, output: path("csv"), columns: ["f0", "f1", "f2", "f3"] }), /^row 2: column 'f1' holds NaN, and model 'iris_logreg'/);
    // A model that says nothing scores the same NULL as NaN.
    const lenient = await modelOf("iris_logreg");
    const out = path("parquet", "scored");
    await scoreFile(lenient, { input: withNull, output: out, columns: ["f0", "f1", "f2", "f3"] });
    expect(await readTable(out, "parquet")).toHaveLength(30);
  });
});

describe("scoreFile: bad input", () => {
  it("refuses a missing file, an unknown extension and a missing output directory", async () => {
    const model = await modelOf("iris_logreg");
    const input = await writeTable("parquet", featureColumns(4), [[1, 2, 3, 4]]);
    await rejects(scoreFile(model, { input: join(dir.path, "nope.parquet"), output: path("csv") }), /^the input file '.*nope\.parquet' does not exist$/);
    await rejects(scoreFile(model, { input: join(dir.path, "data.xlsx"), output: path("csv") }), /the input file '.*data\.xlsx' has no known extension .*; pass --input-format parquet\|csv\|ndjson/);
    await rejects(scoreFile(model, { input, output: join(dir.path, "out.txt") }), /the output file '.*out\.txt' has no known extension .*; pass --format/);
    await rejects(scoreFile(model, { input, output: join(dir.path, "no", "such", "out.csv") }), /the output directory '.*no\/such' does not exist/);
    await rejects(scoreFile(model, { input, output: path("csv"), batchSize: 0 }), /batch size must be an integer from 1/);
    await rejects(scoreFile(model, { input, output: path("csv"), outputs: ["proba"] }), /the model has no output 'proba'; its outputs are 'label', 'probabilities'/);
  });

  it("names missing columns, columns of the wrong type and unreadable files; never leaves a partial output", async () => {
    const model = await modelOf("iris_logreg", { features: IRIS_FEATURES });
    const output = path("parquet", "kept");
    writeFileSync(output, "an older result");
    const partial = await writeTable("csv", { sepal_length: "DOUBLE", sepal_width: "DOUBLE", x: "DOUBLE" }, [[1, 2, 3]]);
    await rejects(
      scoreFile(model, { input: partial, output }),
      /^the input has no column 'petal_length', 'petal_width' \(the model's features, from the model package\); its columns are 'sepal_length', 'sepal_width', 'x'$/,
    );
    const typed = await writeTable("parquet", { sepal_length: "DOUBLE", sepal_width: "VARCHAR", petal_length: "DOUBLE", petal_width: "DOUBLE" }, [[1, "wide", 3, 4]]);
    await rejects(scoreFile(model, { input: typed, output }), /^column 'sepal_width' is VARCHAR, but the model's input 'float_input' takes FLOAT values \(float32\), which needs a numeric column$/);
    const garbage = join(dir.path, "garbage.parquet");
    writeFileSync(garbage, "not parquet at all");
    await rejects(scoreFile(model, { input: garbage, output }), /^cannot read the input '.*garbage\.parquet' as parquet: /);
    const numeric = await writeTable("csv", featureColumns(5), [[1, 2, 3, 4, 5]]);
    await rejects(scoreFile(await modelOf("iris_logreg"), { input: numeric, output }), /input 'float_input' takes 4 values per row, and the file has 5 numeric column\(s\) \('f0', 'f1', 'f2', 'f3', 'f4'\); list the columns with --columns/);
    // Every failure above left the earlier file as it was.
    expect(await import("node:fs/promises").then((fs) => fs.readFile(output, "utf8"))).toBe("an older result");
  });
});

describe("scoreFile: interruption", () => {
  it("stops between batches or before the write when its signal fires, and writes nothing", async () => {
    const fx = fixture("iris_logreg").expected;
    const input = await writeTable("parquet", featureColumns(4), fx.inputs);
    const model = await modelOf("iris_logreg");
    for (const phase of ["score", "write"] as const) {
      const stop = new AbortController();
      const output = path("parquet", "stopped");
      const seen: string[] = [];
      const run = scoreFile(model, {
        input,
        output,
        batchSize: 7,
        signal: stop.signal,
        onProgress: (p) => {
          seen.push(p.phase);
          if (p.phase === phase) stop.abort();
        },
      });
      await expect(run).rejects.toThrow(new ScoringAbortedError());
      expect(existsSync(output)).toBe(false);
      // Aborted in the scoring phase: one batch, then nothing more.
      expect(seen).toEqual(phase === "score" ? ["score"] : [...Array.from({ length: 22 }, () => "score"), "write"]);
    }
  });
});
