/**
 * `GET /metrics` over HTTP: after good and bad V2 and V1 requests the exposition parses, and the
 * request counter, both latency histograms and the loaded-models gauge hold the expected counts per
 * label set; unknown models and user paths never become label values; apps keep separate registries.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { buildApp } from "../../src/server/app.js";
import { openArtifactStore } from "../../src/storage/artifacts/open.js";
import { openMetadataStore } from "../../src/storage/metadata/open.js";
import { tempDir } from "../helpers/backends.js";
import { IRIS_ONNX } from "../helpers/model-package.js";
import { fixture, startServingServer, type ServingServer } from "./serving-server.js";

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

// Values as Prometheus reads them (Go's ParseFloat: NaN and Inf in any case; prom-client writes "Nan").
const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*",?)*)\})? (-?[0-9.eE+-]+|[Nn][Aa][Nn]|[+-][Ii][Nn][Ff])$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\.)*)"/g;
const COMMENT = /^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .+$/;

/** Every line of a text exposition, parsed; a line that is neither a sample nor HELP/TYPE fails the test. */
function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line === "") continue;
    if (line.startsWith("#")) {
      expect(line, "comment line").toMatch(COMMENT);
      continue;
    }
    const m = SAMPLE.exec(line);
    if (m === null) expect.fail(`not an exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(LABEL)) labels[l[1] as string] = (l[2] as string).replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));
    samples.push({ name: m[1] as string, labels, value: Number(m[3]) });
  }
  return samples;
}

/** The value of the one sample named `name` whose labels include `labels` exactly (undefined: none). */
function valueOf(samples: Sample[], name: string, labels: Record<string, string>): number | undefined {
  const hits = samples.filter((s) => s.name === name && Object.keys(labels).length === Object.keys(s.labels).filter((k) => k !== "le").length && Object.entries(labels).every(([k, v]) => s.labels[k] === v) && s.labels.le === undefined);
  expect(hits.length, `${name} ${JSON.stringify(labels)} appears once at most`).toBeLessThanOrEqual(1);
  return hits[0]?.value;
}

describe("GET /metrics", () => {
  let server: ServingServer;
  const { expected: fx } = fixture("iris_logreg");
  const good = { inputs: [{ name: fx.input, shape: [2, 4], datatype: "FP32", data: fx.inputs.slice(0, 2) }] };

  beforeAll(async () => {
    server = await startServingServer();
  });
  afterAll(async () => {
    await server?.close();
  });

  test("counts V2 and V1 requests per model, version, protocol and status, and times them", async () => {
    const v = await server.register("iris", IRIS_ONNX);
    expect(v.version).toBe("1");
    await server.setAlias("iris", "champion", "1");
    const answers: [string, string, unknown, number][] = [
      // V2: three good requests (latest, version, alias), bad inputs, a missing version, unknown models.
      ["POST", "/v2/models/iris/infer", good, 200],
      ["POST", "/v2/models/iris/versions/1/infer", good, 200],
      ["POST", "/v2/models/iris@champion/infer", good, 200],
      ["POST", "/v2/models/iris/infer", { inputs: [{ name: fx.input, shape: [1, 3], datatype: "FP32", data: [1, 2, 3] }] }, 400],
      ["POST", "/v2/models/iris/infer", {}, 400],
      ["POST", "/v2/models/iris/versions/9/infer", good, 404],
      ["POST", "/v2/models/no-such-model/infer", good, 404],
      ["POST", `/v2/models/${encodeURIComponent("../../etc/passwd")}/infer`, good, 404],
      // V1: two good requests (latest, version), a bad body, an unknown model.
      ["POST", "/v1/models/iris:predict", { instances: fx.inputs.slice(0, 3) }, 200],
      ["POST", "/v1/models/iris/versions/1:predict", { instances: fx.inputs.slice(0, 1) }, 200],
      ["POST", "/v1/models/iris:predict", { rows: [] }, 400],
      ["POST", "/v1/models/secret-path-x:predict", { instances: [[1, 2, 3, 4]] }, 404],
      // Not inference requests: not counted.
      ["GET", "/v2/models/iris", undefined, 200],
      ["GET", "/v1/models/iris", undefined, 200],
      ["GET", "/v2/health/ready", undefined, 200],
    ];
    for (const [method, path, body, status] of answers) {
      const res = await server.call(method, path, body);
      expect(res.status, `${method} ${path}: ${JSON.stringify(res.json)}`).toBe(status);
    }

    const res = await fetch(`${server.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    const samples = parseExposition(text);
    const total = (model: string, version: string, protocol: string, status: string) => valueOf(samples, "flywheel_inference_requests_total", { model, version, protocol, status });

    expect(total("iris", "1", "v2", "200")).toBe(3);
    expect(total("iris", "", "v2", "400")).toBe(2);
    expect(total("iris", "", "v2", "404")).toBe(1);
    expect(total("unknown", "", "v2", "404")).toBe(2);
    // V1 answers do not name the version, but the metrics do: the version that answered.
    expect(total("iris", "", "v1", "200")).toBeUndefined();
    expect(total("iris", "1", "v1", "200")).toBe(2);
    expect(total("iris", "", "v1", "400")).toBe(1);
    expect(total("unknown", "", "v1", "404")).toBe(1);
    const counted = samples.filter((s) => s.name === "flywheel_inference_requests_total").reduce((n, s) => n + s.value, 0);
    expect(counted, "every inference request counted once, nothing else").toBe(12);
    // Only registered names (or "unknown") are label values.
    const models = new Set(samples.filter((s) => s.labels.model !== undefined).map((s) => s.labels.model));
    expect([...models].sort()).toEqual(["iris", "unknown"]);
    expect(text).not.toMatch(/passwd|secret-path-x|no-such-model|champion/);

    // End-to-end latency: one observation per counted request, by model and protocol.
    const duration = "flywheel_inference_request_duration_seconds";
    expect(valueOf(samples, `${duration}_count`, { model: "iris", protocol: "v2" })).toBe(6);
    expect(valueOf(samples, `${duration}_count`, { model: "unknown", protocol: "v2" })).toBe(2);
    expect(valueOf(samples, `${duration}_count`, { model: "iris", protocol: "v1" })).toBe(3);
    expect(valueOf(samples, `${duration}_count`, { model: "unknown", protocol: "v1" })).toBe(1);
    expect(valueOf(samples, `${duration}_sum`, { model: "iris", protocol: "v2" })).toBeGreaterThan(0);
    const buckets = samples.filter((s) => s.name === `${duration}_bucket` && s.labels.model === "iris" && s.labels.protocol === "v2");
    expect(buckets.map((b) => b.labels.le)).toEqual(["0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf"]);
    buckets.forEach((b, i) => expect(b.value).toBeGreaterThanOrEqual(buckets[i - 1]?.value ?? 0));
    expect(buckets.at(-1)?.value).toBe(6);

    // ONNX Runtime: one run per good request (bad inputs are refused before the runtime).
    expect(valueOf(samples, "flywheel_inference_runtime_duration_seconds_count", { model: "iris" })).toBe(5);
    expect(valueOf(samples, "flywheel_inference_runtime_duration_seconds_sum", { model: "iris" })).toBeGreaterThan(0);
    expect(valueOf(samples, "flywheel_models_loaded", {})).toBe(1);

    // Process metrics, prefixed.
    expect(valueOf(samples, "flywheel_process_cpu_user_seconds_total", {})).toBeGreaterThan(0);
    expect(samples.some((s) => s.name === "flywheel_nodejs_heap_size_used_bytes")).toBe(true);
    expect(samples.some((s) => s.name.startsWith("process_") || s.name.startsWith("nodejs_"))).toBe(false);
  });

  test("the serving role serves /metrics too, from its own registry", async () => {
    const dir = tempDir("flywheel-metrics-");
    const metadata = await openMetadataStore(`sqlite:///${join(dir.path, "meta.db")}`);
    const artifacts = await openArtifactStore(join(dir.path, "artifacts"));
    const app = await buildApp({ metadata, artifacts, role: "serving" });
    try {
      expect((await app.inject({ method: "POST", url: "/v2/models/iris/infer", payload: good })).statusCode).toBe(404);
      const res = await app.inject({ method: "GET", url: "/metrics" });
      expect(res.statusCode).toBe(200);
      const samples = parseExposition(res.body);
      // Only this app's request, not the other server's.
      expect(samples.filter((s) => s.name === "flywheel_inference_requests_total")).toEqual([
        { name: "flywheel_inference_requests_total", labels: { model: "unknown", version: "", protocol: "v2", status: "404" }, value: 1 },
      ]);
      expect(valueOf(samples, "flywheel_models_loaded", {})).toBe(0);
      expect(valueOf(samples, "flywheel_process_resident_memory_bytes", {}) ?? 1).toBeGreaterThan(0);
      const openapi = await app.inject({ method: "GET", url: "/api/openapi.json" });
      expect(Object.keys(openapi.json().paths)).toContain("/metrics");
    } finally {
      await app.close();
      await artifacts.close();
      await metadata.close();
      dir.remove();
    }
  });
});
