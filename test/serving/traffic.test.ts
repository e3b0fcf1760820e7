/**
 * Traffic policies: weighted canary routes, sticky A/B by header, shadows that get a copy of each
 * routed request without changing its answer, and requests naming a version or alias untouched.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { sqliteBackend } from "../helpers/backends.js";
import { IRIS_ONNX, irisMlmodel, uploadToRun } from "../helpers/model-package.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

const API = "/api/2.0/mlflow";
const ROW = [5.1, 3.5, 1.4, 0.2];
const body = { inputs: [{ name: "float_input", datatype: "FP32", shape: [1, 4], data: ROW }] };

describe("traffic policies", () => {
  let s: TestServer;

  async function infer(model: string, headers: Record<string, string> = {}) {
    const res = await fetch(`${s.url}/v2/models/${model}/infer`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });
    const json = (await res.json()) as { model_version: string };
    return { status: res.status, version: json.model_version, route: res.headers.get("x-flywheel-route") };
  }

  async function metric(pattern: RegExp): Promise<number> {
    const text = await (await fetch(`${s.url}/metrics`)).text();
    const m = pattern.exec(text);
    return m === null ? 0 : Number(m[1]);
  }

  /** Sets a policy and waits out the serving settings' one-second cache. */
  async function putTraffic(policy: unknown) {
    const res = await s.call("PUT", "/api/v1/models/iris/traffic", policy);
    await new Promise((r) => setTimeout(r, 1100));
    return res;
  }

  beforeAll(async () => {
    s = await startTestServer(sqliteBackend);
    const exp = await s.call("POST", `${API}/experiments/create`, { name: "traffic" });
    const run = await s.call("POST", `${API}/runs/create`, { experiment_id: exp.json.experiment_id });
    const uri: string = run.json.run.info.artifact_uri;
    await uploadToRun(s.url, uri, { "model/MLmodel": irisMlmodel(), "model/model.onnx": IRIS_ONNX, "bad/MLmodel": "not: [valid" });
    await s.call("POST", `${API}/registered-models/create`, { name: "iris" });
    for (let i = 0; i < 3; i++) await s.call("POST", `${API}/model-versions/create`, { name: "iris", source: `${uri}/model`, run_id: run.json.run.info.run_id });
    const bad = await s.call("POST", `${API}/model-versions/create`, { name: "iris", source: `${uri}/bad`, run_id: run.json.run.info.run_id });
    expect(bad.json.model_version.status).toBe("FAILED_REGISTRATION");
    await s.call("POST", `${API}/registered-models/alias`, { name: "iris", alias: "champion", version: "1" });
    await s.call("POST", `${API}/registered-models/alias`, { name: "iris", alias: "challenger", version: "2" });
  });

  afterAll(async () => {
    await s?.stop();
  });

  test("without a policy there is none; a policy with a target that is not READY, a bad weight or an unknown alias is refused", async () => {
    expect((await s.call("GET", "/api/v1/models/iris/traffic")).json).toEqual({ name: "iris", traffic: null });
    const bad = await s.call("PUT", "/api/v1/models/iris/traffic", { routes: [{ target: { version: "4" }, weight: 1 }] });
    expect(bad.status).toBe(400);
    expect(bad.json.message).toContain("status is FAILED_REGISTRATION");
    const weights = await s.call("PUT", "/api/v1/models/iris/traffic", { routes: [{ target: { alias: "champion" }, weight: -1 }] });
    expect(weights.status).toBe(400);
    expect(weights.json.message).toContain("routes[0].weight");
    const missing = await s.call("PUT", "/api/v1/models/iris/traffic", { routes: [{ target: { alias: "nobody" }, weight: 1 }] });
    expect(missing.status).toBe(404);
  });

  test("a canary split follows the weights; a version or alias in the path bypasses it", async () => {
    const put = await putTraffic({
      routes: [
        { target: { alias: "champion" }, weight: 80 },
        { target: { alias: "challenger" }, weight: 20 },
      ],
    });
    expect(put.status).toBe(200);
    expect(put.json.traffic.routes.map((r: { share: number }) => r.share)).toEqual([0.8, 0.2]);
    const counts: Record<string, number> = {};
    for (let i = 0; i < 300; i++) {
      const r = await infer("iris");
      expect(r.status).toBe(200);
      expect(r.route === "@champion" ? "1" : "2").toBe(r.version);
      counts[r.version] = (counts[r.version] ?? 0) + 1;
    }
    // 300 draws at p = 0.2: the challenger's count is within 25..95 with overwhelming probability.
    expect(counts["2"] ?? 0).toBeGreaterThan(25);
    expect(counts["2"] ?? 0).toBeLessThan(95);
    expect((await infer("iris@challenger")).version).toBe("2");
    expect((await infer("iris@challenger")).route).toBeNull();
    expect(await metric(/flywheel_traffic_routed_requests_total\{model="iris",route="@challenger"\} (\d+)/)).toBe(counts["2"]);
    // V1 follows the policy too.
    const v1 = await fetch(`${s.url}/v1/models/iris:predict`, { method: "POST", body: JSON.stringify({ instances: [ROW] }) });
    expect(v1.status).toBe(200);
    expect(["@champion", "@challenger"]).toContain(v1.headers.get("x-flywheel-route"));
    expect(Object.keys((await v1.json()) as object)).toEqual(["predictions"]);
  });

  test("A/B with a sticky header: one user always gets one route, users spread over both", async () => {
    await putTraffic({
      routes: [
        { target: { version: "1" }, weight: 1 },
        { target: { version: "2" }, weight: 1 },
      ],
      sticky_header: "X-User-Id",
    });
    const seen = new Set<string>();
    for (let u = 0; u < 40; u++) {
      const first = await infer("iris", { "x-user-id": `user-${u}` });
      for (let k = 0; k < 3; k++) expect((await infer("iris", { "x-user-id": `user-${u}` })).version).toBe(first.version);
      seen.add(first.version);
    }
    expect([...seen].sort()).toEqual(["1", "2"]);
  });

  test("shadows get a copy of every routed request; the answer comes from the route", async () => {
    await putTraffic({ routes: [{ target: { alias: "champion" }, weight: 1 }], shadows: [{ version: "3" }] });
    for (let i = 0; i < 5; i++) expect((await infer("iris")).version).toBe("1");
    const deadline = Date.now() + 5000;
    while ((await metric(/flywheel_shadow_requests_total\{model="iris",target="3",outcome="ok"\} (\d+)/)) < 5) {
      if (Date.now() > deadline) throw new Error("shadow runs were not counted");
      await new Promise((r) => setTimeout(r, 20));
    }
    expect((await s.call("DELETE", "/api/v1/models/iris/traffic")).json).toEqual({ name: "iris", traffic: null });
    await new Promise((r) => setTimeout(r, 1100));
    // Back to the plain rule: the name alone means the latest version, here the failed version 4.
    expect((await infer("iris")).status).toBe(400);
  });
});
