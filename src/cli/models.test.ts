/** `flywheel models log` in-process against the real server. */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sqliteBackend } from "../../test/helpers/backends.js";
import { cliHarness } from "../../test/helpers/cli.js";
import { startTestServer } from "../../test/helpers/server.js";
import type { TestServer } from "../../test/helpers/server.js";
import { FlywheelClient } from "../client/http-client.js";
import { parseMlmodel } from "../models/mlmodel.js";
import { parseFeatureList, registerModelsCommand } from "./models.js";

const MODELS = new URL("../../../shared/fixtures/models/", import.meta.url);
const IRIS_PATH = new URL("iris_logreg.onnx", MODELS).pathname;

let server: TestServer;
let client: FlywheelClient;
let tmp: string;

beforeAll(async () => {
  server = await startTestServer(sqliteBackend);
  client = new FlywheelClient({ baseUrl: server.url });
  tmp = mkdtempSync(join(tmpdir(), "flywheel-cli-models-"));
});

afterAll(async () => {
  await server.stop();
  rmSync(tmp, { recursive: true, force: true });
});

const flywheel = cliHarness({ register: [registerModelsCommand], trackingUri: () => server.url });

async function newRun(): Promise<{ runId: string; artifactUri: string }> {
  const { experiment_id } = await client.experiments.create({ name: `cli-models-${Math.random().toString(36).slice(2)}` });
  const { run } = await client.runs.create({ experiment_id });
  return { runId: run.info.run_id, artifactUri: run.info.artifact_uri };
}

describe("flywheel models log", () => {
  it("logs a model with an auto signature and features, and prints where it went", async () => {
    const { runId, artifactUri } = await newRun();
    const res = await flywheel("models", "log", "--run-id", runId, "--onnx", IRIS_PATH, "--features", "sl, sw,pl,pw", "--feature-service", "iris_v1");
    expect(res.stderr).toBe("");
    expect(res.exitCode).toBe(0);
    expect(res.stdout).toContain(`Logged model to run ${runId}`);
    expect(res.stdout).toMatch(new RegExp(`Model URI: +runs:/${runId}/model`));
    expect(res.stdout).toMatch(/Inputs: +float_input float32 \[-1, 4\]/);
    expect(res.stdout).toMatch(/Outputs: +label int64 \[-1\]; probabilities float32 \[-1, 3\]/);
    expect(res.stdout).toMatch(/Features: +sl, sw, pl, pw/);
    const prefix = artifactUri.replace(/^mlflow-artifacts:\//, "");
    const pkg = parseMlmodel((await client.downloadArtifact(`${prefix}/model/MLmodel`)).toString("utf8"));
    expect(pkg.flywheel).toEqual({ featureService: "iris_v1", features: ["sl", "sw", "pl", "pw"] });
  });

  it("--json prints the model URI, source and MLmodel; --signature reads MLflow's signature JSON", async () => {
    const { runId, artifactUri } = await newRun();
    const sigFile = join(tmp, "signature.json");
    writeFileSync(
      sigFile,
      JSON.stringify({
        inputs: '[{"name": "float_input", "type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 4]}}]',
        outputs: '[{"name": "probabilities", "type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 3]}}]',
        params: null,
      }),
    );
    const res = await flywheel("models", "log", "--run-id", runId, "--onnx", IRIS_PATH, "--artifact-path", "iris", "--signature", sigFile, "--json");
    expect(res.exitCode).toBe(0);
    const out = JSON.parse(res.stdout) as Record<string, any>;
    expect(out).toMatchObject({ run_id: runId, artifact_path: "iris", model_uri: `runs:/${runId}/iris`, source: `${artifactUri}/iris` });
    expect(out.mlmodel.signature.outputs).toBe('[{"name": "probabilities", "type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 3]}}]');
  });

  it("fails with the reason: a mismatching signature, a bad ONNX file, a bad signature file, a deleted run", async () => {
    const { runId } = await newRun();
    const sigFile = join(tmp, "wrong.json");
    writeFileSync(sigFile, JSON.stringify({ inputs: [{ type: "tensor", name: "float_input", dtype: "float64", shape: [-1, 4] }] }));
    const wrong = await flywheel("models", "log", "--run-id", runId, "--onnx", IRIS_PATH, "--signature", sigFile);
    expect(wrong).toMatchObject({
      exitCode: 1,
      stderr: "error: Cannot log the model: signature input 'float_input' has dtype float64 but the ONNX graph expects float32\n",
    });

    const junk = join(tmp, "junk.onnx");
    writeFileSync(junk, "junk");
    const bad = await flywheel("models", "log", "--run-id", runId, "--onnx", junk);
    expect(bad.exitCode).toBe(1);
    expect(bad.stderr).toMatch(/^error: Cannot log the model: the ONNX file 'junk.onnx' does not load in ONNX Runtime: /);

    const notJson = join(tmp, "not.json");
    writeFileSync(notJson, "{");
    const badSig = await flywheel("models", "log", "--run-id", runId, "--onnx", IRIS_PATH, "--signature", notJson);
    expect(badSig.exitCode).toBe(2);
    expect(badSig.stderr).toContain(`error: --signature ${notJson}: 'signature' is not valid JSON`);

    const features = await flywheel("models", "log", "--run-id", runId, "--onnx", IRIS_PATH, "--features", "a,,b");
    expect(features.exitCode).toBe(2);

    await client.runs.delete(runId);
    const deleted = await flywheel("models", "log", "--run-id", runId, "--onnx", IRIS_PATH);
    expect(deleted).toMatchObject({ exitCode: 2, stderr: `error: Run ${runId} is deleted: restore it first (flywheel runs restore ${runId})\n` });

    const missing = await flywheel("models", "log", "--onnx", IRIS_PATH);
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toContain("--run-id");
  });

  it("splits --features", () => {
    expect(parseFeatureList(" a, b ,c")).toEqual(["a", "b", "c"]);
    expect(() => parseFeatureList("a,")).toThrow("expected comma-separated feature names");
  });
});
