/** `flywheel predict` in-process against a real server: the model is resolved and downloaded over HTTP and run locally. */
import { existsSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sqliteBackend, tempDir } from "../../test/helpers/backends.js";
import { cliHarness } from "../../test/helpers/cli.js";
import { startTestServer, type TestServer } from "../../test/helpers/server.js";
import { expectClose, fixture } from "../../test/serving/serving-server.js";
import { FlywheelClient } from "../client/http-client.js";
import { createTracking } from "../client/tracking.js";
import { OfflineDb, quoteLiteral } from "../storage/offline/duckdb.js";
import { registerPredictCommand } from "./predict.js";

const IRIS_PATH = new URL("../../../shared/fixtures/models/iris_logreg.onnx", import.meta.url).pathname;
const FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"];
const CLASSES = ["setosa", "versicolor", "virginica"];
const iris = fixture("iris_logreg").expected;

let server: TestServer;
let client: FlywheelClient;
let dir: { path: string; remove(): void };
let db: OfflineDb;
let csv: string;

const flywheel = cliHarness({ register: [registerPredictCommand], trackingUri: () => server.url });

/** Logs the iris model with its features and class names, registers it as the next version of `iris`. */
async function registerIris(): Promise<string> {
  const tracking = createTracking({ client, flushIntervalMs: 0, endRunsOnExit: false });
  const run = await tracking.startRun({ experiment: "predict-cli" });
  const logged = await run.logModel({ onnx: IRIS_PATH, metadata: { features: FEATURES, classNames: CLASSES } });
  await run.end();
  const { model_version: mv } = await client.registry.createModelVersion({ name: "iris", source: logged.source, run_id: run.runId });
  return mv.version;
}

beforeAll(async () => {
  server = await startTestServer(sqliteBackend);
  client = new FlywheelClient({ baseUrl: server.url, user: "setup" });
  dir = tempDir("flywheel-predict-cli-");
  db = await OfflineDb.open({ threads: 1 });
  await client.registry.createRegisteredModel({ name: "iris" });
  await registerIris();
  await registerIris();
  await client.registry.setRegisteredModelAlias({ name: "iris", alias: "champion", version: "1" });
  // The file has an id first, then the features in another order than the model's.
  csv = join(dir.path, "iris.csv");
  const order = ["petal_width", "sepal_length", "petal_length", "sepal_width"];
  const lines = iris.inputs.map((r, i) => [i, ...order.map((f) => r[FEATURES.indexOf(f)])].join(","));
  writeFileSync(csv, [["id", ...order].join(","), ...lines].join("\n") + "\n");
});

afterAll(async () => {
  db.close();
  dir.remove();
  await server.stop();
});

function expectIris(rows: Record<string, unknown>[], version: string): void {
  expect(rows).toHaveLength(iris.inputs.length);
  rows.forEach((r, i) => {
    expect(Number(r.id)).toBe(i);
    expect(r.label).toBe(CLASSES[iris.expected.label?.[i] as number]);
    expectClose(CLASSES.map((c) => r[`probabilities_${c}`]), iris.expected.probabilities?.[i], `row ${i}`);
    // CSV read back guesses types: the version "1" comes back as a number.
    expect([r.model_name, String(r.model_version)]).toEqual(["iris", version]);
  });
}

describe("flywheel predict", () => {
  it("scores a CSV file with iris@champion into Parquet, recording the version it resolved to", async () => {
    const out = join(dir.path, "scored.parquet");
    const res = await flywheel("predict", "--model", "iris@champion", "--input", csv, "--output", out, "--json");
    expect(res.stderr).toBe("");
    expect(res.exitCode).toBe(0);
    expect(JSON.parse(res.stdout)).toMatchObject({
      rows: 150,
      output: out,
      input_format: "csv",
      output_format: "parquet",
      input_rule: "package-features",
      input_columns: { float_input: FEATURES },
      added_columns: ["label", ...CLASSES.map((c) => `probabilities_${c}`), "model_name", "model_version"],
      model_name: "iris",
      model_version: "1",
      model_uri: "models:/iris@champion",
    });
    expectIris(await db.query(`SELECT * FROM read_parquet(${quoteLiteral(out)})`), "1");
    const kv = await db.query(`SELECT decode(key) AS k, decode(value) AS v FROM parquet_kv_metadata(${quoteLiteral(out)})`);
    expect(Object.fromEntries(kv.map((r) => [r.k, r.v]))).toMatchObject({ "flywheel.model_version": "1", "flywheel.model_uri": "models:/iris@champion" });
  });

  it("follows the alias when it moves; takes NAME/VERSION and models:/ URIs; writes NDJSON and CSV", async () => {
    await client.registry.setRegisteredModelAlias({ name: "iris", alias: "champion", version: "2" });
    const ndjson = join(dir.path, "scored.ndjson");
    const moved = await flywheel("predict", "--model", "iris@champion", "--input", csv, "--output", ndjson, "--batch-size", "7");
    expect(moved.exitCode).toBe(0);
    expect(moved.stdout).toMatch(new RegExp(`^Scored 150 rows with iris version 2 in \\d+\\.\\ds, [\\d,]+ rows/s: ${ndjson}\\n$`));
    expectIris(await db.query(`SELECT * FROM read_json(${quoteLiteral(ndjson)}, format = 'newline_delimited')`), "2");

    const out = join(dir.path, "scored.txt");
    const pinned = await flywheel("predict", "--model", "models:/iris/1", "--input", csv, "--output", out, "--format", "csv");
    expect(pinned.exitCode).toBe(0);
    expectIris(await db.query(`SELECT * FROM read_csv(${quoteLiteral(out)}, header = true)`), "1");
  });

  it("draws the progress line on stderr when asked", async () => {
    const out = join(dir.path, "progress.parquet");
    const res = await flywheel("predict", "--model", "iris/1", "--input", csv, "--output", out, "--batch-size", "50", "--progress");
    expect(res.exitCode).toBe(0);
    // CSV input: the total is unknown, so the line counts rows and their rate; then the write.
    expect(res.stderr).toMatch(/^\rscoring 50 rows {2}[\d,]+ rows\/s/);
    expect(res.stderr).toMatch(/\rscoring 150 rows {2}[\d,]+ rows\/s\s*\n/);
    expect(res.stderr).toMatch(/\rwriting \[#{24}\] 100%\n$/);
  });

  it("exits 2 naming the problem, and leaves no output, for a missing column, file or format", async () => {
    const out = join(dir.path, "never.parquet");
    const bad = join(dir.path, "partial.csv");
    writeFileSync(bad, "sepal_length,sepal_width\n1,2\n");
    const missing = await flywheel("predict", "--model", "iris@champion", "--input", bad, "--output", out);
    expect(missing).toMatchObject({ stdout: "", exitCode: 2 });
    expect(missing.stderr).toBe(
      "error: the input has no column 'petal_length', 'petal_width' (the model's features, from the model package); its columns are 'sepal_length', 'sepal_width'\n",
    );
    const nofile = await flywheel("predict", "--model", "iris@champion", "--input", join(dir.path, "nope.csv"), "--output", out);
    expect(nofile).toMatchObject({ exitCode: 2, stderr: `error: the input file '${join(dir.path, "nope.csv")}' does not exist\n` });
    const format = await flywheel("predict", "--model", "iris@champion", "--input", csv, "--output", out, "--format", "xlsx");
    expect(format.exitCode).toBe(2);
    expect(format.stderr).toContain("expected parquet, csv, ndjson");
    const ref = await flywheel("predict", "--model", "iris@", "--input", csv, "--output", out);
    expect(ref.exitCode).toBe(2);
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(dir.path).filter((f) => f.startsWith(".flywheel-predict-"))).toEqual([]);
  });

  it("exits 1 with the server's answer for a model that does not exist", async () => {
    const res = await flywheel("predict", "--model", "nobody@champion", "--input", csv, "--output", join(dir.path, "x.parquet"));
    expect(res.exitCode).toBe(1);
    expect(res.stderr).toMatch(/^error: .*nobody/);
  });
});
