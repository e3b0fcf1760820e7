/**
 * `npm run quickstart`: the lifecycle so far, end to end on embedded stores. Starts the server
 * on ./flywheel-data, trains real logistic-regression models on the breast-cancer data set with
 * the tracking SDK (params, per-epoch metrics, test metrics, artifacts), searches the runs like
 * an MLflow user would, prints a summary and exits 0.
 */
import { join } from "node:path";
import { createTracking } from "../client/index.js";
import { loadConfig } from "../core/config.js";
import { PACKAGE_ROOT } from "../core/version.js";
import { splitFeaturesTarget, standardize, take, takeRows, trainTestSplit } from "../data/csv.js";
import { startServer } from "../server/start.js";
import { binaryClassificationReport } from "../stats/classification.js";
import { exportLogisticRegression } from "../onnx/export-logistic-regression.js";
import { predictProba, trainLogisticRegression } from "../training/logistic-regression.js";
import { ENTITY_KEY, FEATURE_SERVICE, featureStage } from "./features-stage.js";
import { monitoringStage } from "./monitoring-stage.js";

const EXPERIMENT = "quickstart-breast-cancer";
const MODEL = "breast-cancer-classifier";
const GATES = ["metrics.test_roc_auc >= 0.97", "metrics.test_accuracy >= 0.95"];
const SEED = 42;
const CANDIDATES = [
  { learningRate: 0.05, epochs: 300, l2: 0.01 },
  { learningRate: 0.3, epochs: 300, l2: 0.001 },
  { learningRate: 0.5, epochs: 500, l2: 0.0001 },
];

async function main(): Promise<void> {
  const dataDir = process.env.FLYWHEEL_DATA_DIR ?? "./flywheel-data";
  const cfg = loadConfig({ flags: { port: 0, dataDir, logLevel: "warn" } });
  const server = await startServer(cfg);
  console.log(`Flywheel server on ${server.url} (data in ${cfg.dataDir})`);
  const api = apiOf(server.url, "quickstart");
  try {
    const dataset = join(PACKAGE_ROOT, "examples", "data", "breast_cancer.csv");
    // Features first: a measurement history in the feature store, the training set by point-in-time join.
    const features = await featureStage(api, dataset, cfg.dataDir);
    const { featureNames, X, y } = splitFeaturesTarget(features.table, "target");
    const split = trainTestSplit(y.length, 0.2, SEED);
    const scaled = standardize(takeRows(X, split.train), takeRows(X, split.test));
    const yTrain = take(y, split.train);
    const yTest = take(y, split.test);
    console.log("");
    console.log(`Data: ${y.length} rows x ${featureNames.length} features, ${split.train.length} train / ${split.test.length} test`);

    const tracking = createTracking({ trackingUri: server.url, flushIntervalMs: 0 });
    // Probabilities of each run's model on the test rows, to compare with what the server returns.
    const testProbabilities = new Map<string, Float64Array>();
    for (const hp of CANDIDATES) {
      const run = await tracking.startRun({
        experiment: EXPERIMENT,
        runName: `logreg-lr${hp.learningRate}-l2${hp.l2}`,
        tags: { model: "logistic-regression", dataset: "breast_cancer.csv" },
      });
      run.logParams({ learning_rate: hp.learningRate, epochs: hp.epochs, l2: hp.l2, seed: SEED, test_fraction: 0.2 });
      const started = performance.now();
      const model = trainLogisticRegression({
        X: scaled.train,
        y: yTrain,
        ...hp,
        onEpoch: (epoch, { loss }) => run.logMetric("train_loss", loss, { step: epoch }),
      });
      const trainMs = performance.now() - started;
      const probabilities = predictProba(model, scaled.test);
      testProbabilities.set(run.runId, probabilities);
      const report = binaryClassificationReport(yTest, probabilities);
      run.logMetrics({
        test_accuracy: report.accuracy,
        test_precision: report.precision,
        test_recall: report.recall,
        test_f1: report.f1,
        test_roc_auc: report.rocAuc,
        test_log_loss: report.logLoss,
        train_time_ms: trainMs,
      });
      // The model as ONNX (standardisation inside the graph, raw features in), in MLflow's layout.
      await run.logModel({
        onnx: exportLogisticRegression({ weights: model.weights, bias: model.bias, featureNames, standardizer: scaled.standardizer }),
        inputExample: [Array.from(featureNames, (_, j) => X[j]?.[split.test[0] ?? 0] ?? 0)],
        metadata: {
          featureService: FEATURE_SERVICE,
          features: featureNames,
          trainingDataset: { uri: features.trainingSet, version: `rows=${y.length}` },
          metrics: { test_roc_auc: report.rocAuc, test_accuracy: report.accuracy },
          classNames: ["malignant", "benign"],
        },
      });
      await run.logDict(report.confusion, "evaluation/confusion_matrix.json");
      await run.end();
      console.log(
        `  run ${run.runId}  lr=${hp.learningRate} l2=${hp.l2}: accuracy ${report.accuracy.toFixed(4)}, ROC AUC ${report.rocAuc.toFixed(4)}`,
      );
    }

    // Query the runs back the way an MLflow user would.
    const experiment = (await tracking.client.experiments.getByName(EXPERIMENT)).experiment;
    const found = await tracking.client.runs.search({
      experiment_ids: [experiment.experiment_id],
      filter: "metrics.test_accuracy > 0.9 and tags.model = 'logistic-regression'",
      order_by: ["metrics.test_roc_auc DESC", "metrics.test_log_loss ASC"],
      max_results: 1,
    });
    const best = found.runs[0];
    if (best === undefined) throw new Error("no run reached test accuracy 0.9");
    const metric = (k: string) => best.data.metrics?.find((m) => m.key === k)?.value;
    const history = await tracking.client.getMetricHistory({ run_id: best.info.run_id, metric_key: "train_loss" });
    const artifacts = await tracking.client.listArtifacts({ run_id: best.info.run_id, path: "model" });
    console.log("");
    console.log(`Best run: ${best.info.run_name} (${best.info.run_id})`);
    console.log(`  test ROC AUC ${Number(metric("test_roc_auc")).toFixed(4)}, accuracy ${Number(metric("test_accuracy")).toFixed(4)}, log loss ${Number(metric("test_log_loss")).toFixed(4)}`);
    console.log(`  train_loss history: ${history.metrics.length} points, first ${Number(history.metrics[0]?.value).toFixed(4)}, last ${Number(history.metrics.at(-1)?.value).toFixed(4)}`);
    console.log(`  artifacts: ${artifacts.files.map((f) => f.path).join(", ")} under ${best.info.artifact_uri}`);

    // Register the best run's model, gate the champion alias on its metrics, promote it.
    if ((await api("GET", `/api/2.0/mlflow/registered-models/get?name=${MODEL}`)).status === 404) {
      await api("POST", "/api/2.0/mlflow/registered-models/create", { name: MODEL, description: "Logistic regression on the breast-cancer data set" });
    }
    await api("PUT", `/api/v1/models/${MODEL}/policy`, { gates: GATES, reason: "quickstart quality bar" });
    const registered = await api("POST", "/api/2.0/mlflow/model-versions/create", {
      name: MODEL,
      source: `${best.info.artifact_uri}/model`,
      run_id: best.info.run_id,
    });
    const mv = registered.json.model_version as { version: string; status: string; status_message?: string };
    console.log("");
    console.log(`Registered ${MODEL} version ${mv.version}: ${mv.status}${mv.status_message !== undefined ? ` (${mv.status_message})` : ""}`);
    const promoted = await api("POST", `/api/v1/models/${MODEL}/versions/${mv.version}/promote`, { alias: "champion", reason: "best ROC AUC of the quickstart runs" });
    if (promoted.status !== 200) throw new Error(`promotion refused: ${JSON.stringify(promoted.json)}`);
    console.log(`  champion -> version ${mv.version}, through the gates: ${GATES.join(", ")}`);

    // Serve the champion: the raw test rows over the Open Inference Protocol, checked against training.
    const rawTest = takeRows(X, split.test);
    const rows = split.test.length;
    const data: number[] = [];
    for (let i = 0; i < rows; i++) for (const column of rawTest) data.push(column[i] ?? 0);
    const started = performance.now();
    const inferred = await api("POST", `/v2/models/${MODEL}@champion/infer`, {
      id: "quickstart-1",
      inputs: [{ name: "float_input", datatype: "FP32", shape: [rows, featureNames.length], data }],
    });
    const inferMs = performance.now() - started;
    if (inferred.status !== 200) throw new Error(`inference failed: ${JSON.stringify(inferred.json)}`);
    const outputs = inferred.json.outputs as { name: string; data: number[] }[];
    const served = outputs.find((o) => o.name === "probabilities")?.data ?? [];
    const expected = testProbabilities.get(best.info.run_id) ?? new Float64Array();
    let worst = 0;
    for (let i = 0; i < rows; i++) worst = Math.max(worst, Math.abs((served[i * 2 + 1] ?? Number.NaN) - (expected[i] ?? 0)));
    console.log(`  served ${rows} predictions from ${MODEL}@champion over V2 in ${inferMs.toFixed(1)} ms; largest difference from training-time probabilities: ${worst.toExponential(2)}`);
    // The same rows by patient id alone: features come from the online store, in the package's order.
    const ids = Array.from(split.test, (i) => features.patientIds[i] as number);
    const byKey = await api("POST", `/api/v1/predict/${MODEL}@champion`, { entities: { [ENTITY_KEY]: ids } });
    if (byKey.status !== 200) throw new Error(`prediction by entity key failed: ${JSON.stringify(byKey.json)}`);
    const predictions = byKey.json.predictions as { label: string; probabilities: Record<string, number> }[];
    let worstByKey = 0;
    predictions.forEach((p, i) => (worstByKey = Math.max(worstByKey, Math.abs((p.probabilities.benign ?? Number.NaN) - (expected[i] ?? 0)))));
    const benign = predictions.filter((p) => p.label === "benign").length;
    console.log(
      `  predicted ${predictions.length} patients by ${ENTITY_KEY} alone (features from the online store): ${benign} benign, ${predictions.length - benign} malignant; ` +
        `largest difference from training-time probabilities: ${worstByKey.toExponential(2)}`,
    );
    // Drifted traffic, late labels, a monitor run and its report.
    await monitoringStage(api, {
      model: MODEL,
      dataDir: cfg.dataDir,
      featureNames,
      rows: Array.from({ length: y.length }, (_, i) => X.map((column) => column[i] ?? 0)),
      labels: Array.from(y),
      classNames: ["malignant", "benign"],
    });
    const lineage = await api("GET", `/api/v1/models/${MODEL}/versions/${mv.version}/lineage`);
    if (lineage.status === 200) printLineage(lineage.json as unknown as LineageGraph);
    console.log("");
    console.log("Explore the data with the server (any MLflow client works against it):");
    console.log(`  npx flywheel server --port 5000 --data-dir ${dataDir}`);
    console.log(`  npx flywheel runs search --experiment ${EXPERIMENT} --order-by "metrics.test_roc_auc DESC"`);
    console.log(`  npx flywheel models show models:/${MODEL}@champion`);
  } finally {
    await server.close();
  }
}

interface LineageGraph {
  nodes: { type: string; id: string }[];
  edges: { src: { type: string; id: string }; relation: string; dst: { type: string; id: string } }[];
}

function printLineage(g: LineageGraph): void {
  console.log("  lineage:");
  for (const e of g.edges) console.log(`    ${e.src.type}:${e.src.id} --${e.relation}--> ${e.dst.type}:${e.dst.id}`);
}

/** JSON over HTTP as a named user (the registry records who promoted what). */
function apiOf(base: string, user: string) {
  return async (method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> => {
    const res = await fetch(`${base}${path}`, {
      method,
      // A JSON content type only with a body: an empty one declared as JSON is refused (400).
      headers: body === undefined ? { "x-flywheel-user": user } : { "content-type": "application/json", "x-flywheel-user": user },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    return { status: res.status, json: (await res.json()) as Record<string, unknown> };
  };
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(`quickstart failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    process.exit(1);
  },
);
