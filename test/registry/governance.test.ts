/** Governed promotion: protected aliases, gates on the version's run, approvals by another user, audit log. */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { metadataBackends, titleOf } from "../helpers/backends.js";
import { IRIS_ONNX, irisMlmodel, uploadToRun } from "../helpers/model-package.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

const API = "/api/2.0/mlflow";
const MLMODEL = irisMlmodel();

for (const backend of metadataBackends) {
  describe.skipIf(backend.skip !== undefined)(`governance on ${titleOf(backend)}`, () => {
    let s: TestServer;
    beforeAll(async () => {
      s = await startTestServer(backend);
    });
    afterAll(async () => {
      await s?.stop();
    });

    async function as(user: string, method: string, path: string, body?: unknown) {
      const res = await fetch(`${s.url}${path}`, {
        method,
        headers: { "content-type": "application/json", "x-flywheel-user": user },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      return { status: res.status, json: (await res.json()) as any };
    }

    /** A run with the given auc and a registered version of a valid (or broken) package from it. */
    async function version(model: string, auc: number, broken = false): Promise<string> {
      const exp = await s.call("GET", `${API}/experiments/get-by-name?experiment_name=gov`);
      const expId = exp.status === 200 ? exp.json.experiment.experiment_id : (await s.call("POST", `${API}/experiments/create`, { name: "gov" })).json.experiment_id;
      const run = (await s.call("POST", `${API}/runs/create`, { experiment_id: expId })).json.run.info;
      await s.call("POST", `${API}/runs/log-metric`, { run_id: run.run_id, key: "auc", value: auc, timestamp: 1, step: 0 });
      await uploadToRun(s.url, run.artifact_uri, { "model/MLmodel": MLMODEL, "model/model.onnx": broken ? IRIS_ONNX.subarray(0, 100) : IRIS_ONNX });
      if ((await s.call("GET", `${API}/registered-models/get?name=${model}`)).status === 404) await s.call("POST", `${API}/registered-models/create`, { name: model });
      const v = await s.call("POST", `${API}/model-versions/create`, { name: model, source: `${run.artifact_uri}/model`, run_id: run.run_id });
      expect(v.json.model_version.status).toBe(broken ? "FAILED_REGISTRATION" : "READY");
      return v.json.model_version.version as string;
    }

    test("the default policy protects champion and production: only a READY version gets them", async () => {
      const bad = await version("default-policy", 0.5, true);
      const good = await version("default-policy", 0.5);
      const refused = await as("alice", "POST", `${API}/registered-models/alias`, { name: "default-policy", alias: "champion", version: bad });
      expect(refused).toMatchObject({ status: 409, json: { error_code: "INVALID_STATE" } });
      expect(refused.json.message).toContain("status = READY");
      expect((await as("alice", "POST", `${API}/registered-models/alias`, { name: "default-policy", alias: "candidate", version: bad })).status).toBe(200);
      expect((await as("alice", "POST", `${API}/registered-models/alias`, { name: "default-policy", alias: "champion", version: good })).status).toBe(200);
      const policy = await as("alice", "GET", "/api/v1/models/default-policy/policy");
      expect(policy.json.policy).toMatchObject({ protected_aliases: ["champion", "production"], gates: [], require_approval: false });
    });

    test("gates are evaluated on the version's run, and a refusal names the failed gate", async () => {
      const weak = await version("gated", 0.87);
      const strong = await version("gated", 0.95);
      const set = await as("ops", "PUT", "/api/v1/models/gated/policy", { gates: ["metrics.auc >= 0.9"], reason: "quality bar" });
      expect(set.json.policy.gates).toEqual(["metrics.auc >= 0.9"]);
      const refused = await as("alice", "POST", `/api/v1/models/gated/versions/${weak}/promote`, { alias: "champion", reason: "try" });
      expect(refused).toMatchObject({ status: 409, json: { error_code: "FW_GOVERNANCE_GATE_FAILED" } });
      expect(refused.json.message).toContain("metrics.auc >= 0.9");
      expect(refused.json.message).toContain("0.87");
      const stage = await as("alice", "POST", `${API}/model-versions/transition-stage`, { name: "gated", version: weak, stage: "Production" });
      expect(stage.status).toBe(409);
      expect((await as("alice", "POST", `${API}/model-versions/transition-stage`, { name: "gated", version: weak, stage: "Staging" })).status).toBe(200);
      const check = await as("alice", "GET", `/api/v1/models/gated/versions/${strong}/promotion-check?alias=champion`);
      expect(check.json).toMatchObject({ protected: true, allowed_without_approval: true });
      const ok = await as("alice", "POST", `/api/v1/models/gated/versions/${strong}/promote`, { alias: "champion", reason: "auc 0.95" });
      expect(ok.status).toBe(200);
      expect(ok.json.model_version.aliases).toEqual(["champion"]);
      expect(await as("ops", "PUT", "/api/v1/models/gated/policy", { gates: ["metrics.auc >>= 1"] })).toMatchObject({ status: 400, json: { error_code: "FW_REQUEST_INVALID_FIELD" } });
    });

    test("an approval must come from a different user than the requester", async () => {
      const v = await version("approved", 0.99);
      await as("ops", "PUT", "/api/v1/models/approved/policy", { require_approval: true });
      const none = await as("alice", "POST", `/api/v1/models/approved/versions/${v}/promote`, { stage: "Production" });
      expect(none).toMatchObject({ status: 403, json: { error_code: "FW_GOVERNANCE_APPROVAL_REQUIRED" } });
      expect((await as("alice", "POST", `/api/v1/models/approved/versions/${v}/approve`, { stage: "Production", reason: "mine" })).status).toBe(200);
      expect((await as("alice", "POST", `/api/v1/models/approved/versions/${v}/promote`, { stage: "Production" })).status).toBe(403);
      expect(await as("", "POST", `/api/v1/models/approved/versions/${v}/approve`, { stage: "Production" })).toMatchObject({ status: 400 });
      expect((await as("bob", "POST", `/api/v1/models/approved/versions/${v}/approve`, { stage: "Production", reason: "reviewed" })).status).toBe(200);
      // Bob's approval is for the stage, not for an alias.
      expect((await as("alice", "POST", `/api/v1/models/approved/versions/${v}/promote`, { alias: "champion" })).status).toBe(403);
      const ok = await as("alice", "POST", `/api/v1/models/approved/versions/${v}/promote`, { stage: "Production", reason: "ship it" });
      expect(ok).toMatchObject({ status: 200, json: { model_version: { current_stage: "Production" } } });
      expect(await as("alice", "POST", `/api/v1/models/approved/versions/${v}/promote`, { stage: "Production", alias: "x" })).toMatchObject({ status: 400 });
    });

    test("every transition, alias move, approval and refusal is in the audit log", async () => {
      const log = await as("x", "GET", "/api/v1/models/approved/audit");
      const events = log.json.events.map((e: any) => [e.action, e.actor, e.to]);
      expect(events).toEqual(
        expect.arrayContaining([
          ["create_model", "", "approved"],
          ["set_policy", "ops", expect.stringContaining('"require_approval":true')],
          ["refused", "alice", "stage:Production"],
          ["approve", "alice", "stage:Production"],
          ["approve", "bob", "stage:Production"],
          ["refused", "alice", "alias:champion"],
          ["transition_stage", "alice", "Production"],
        ]),
      );
      const moved = log.json.events.find((e: any) => e.action === "transition_stage");
      expect(moved).toMatchObject({ from: "None", to: "Production", actor: "alice", reason: "ship it", model: "approved" });
      expect(typeof moved.time).toBe("number");
      const all = await as("x", "GET", "/api/v1/audit?limit=10000");
      expect(all.json.events.length).toBeGreaterThan(log.json.events.length);
      const gatedAlias = (await as("x", "GET", "/api/v1/models/gated/audit")).json.events.find((e: any) => e.action === "set_alias");
      expect(gatedAlias).toMatchObject({ actor: "alice", to: expect.stringMatching(/^champion=\d+$/), reason: "auc 0.95" });
      expect(await as("x", "GET", "/api/v1/models/nope/policy")).toMatchObject({ status: 404, json: { error_code: "FW_REGISTRY_MODEL_NOT_FOUND" } });
    });
  });
}
