/** `client.registry` against a real server: MLflow's registry endpoints and Flywheel's governance, lineage and audit. */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { sqliteBackend } from "../../test/helpers/backends.js";
import { IRIS_ONNX, irisMlmodel } from "../../test/helpers/model-package.js";
import { startTestServer } from "../../test/helpers/server.js";
import { applyIrisFeatures } from "../../test/helpers/features.js";
import type { TestServer } from "../../test/helpers/server.js";
import { FlywheelApiError, isNotFound } from "./errors.js";
import { FlywheelClient, normalizeUser } from "./http-client.js";
import { artifactProxyPrefix } from "./tracking.js";
import type { WireModelVersion } from "./wire-types.js";

const DATASET = "file:///data/iris.parquet";

/** An MLflow model package's MLmodel for the iris model, with Flywheel's lineage metadata. */
const MLMODEL = irisMlmodel(`metadata:
  flywheel:
    feature_service: iris_features
    features: [sepal_length, sepal_width, petal_length, petal_width]
    training_dataset: {uri: "${DATASET}", version: "v7"}
`);

let server: TestServer;
/** Clients that identify as different users. */
let alice: FlywheelClient;
let bob: FlywheelClient;
let ops: FlywheelClient;
/** Runs with auc 0.87 and 0.95, each with a valid package at `model` and a broken one at `broken`. */
let runs: { weak: RunWithModel; strong: RunWithModel };

interface RunWithModel {
  runId: string;
  experimentId: string;
  source: string;
  brokenSource: string;
}

async function runWithModel(auc: number): Promise<RunWithModel> {
  const { experiment_id } = await alice.experiments.create({ name: `registry-client-${auc}` });
  const { run } = await alice.runs.create({ experiment_id, run_name: `auc-${auc}`, tags: [{ key: "mlflow.source.git.commit", value: "0123abc" }] });
  await alice.runs.logMetric({ run_id: run.info.run_id, key: "auc", value: auc, timestamp: 1 });
  await alice.runs.logParam({ run_id: run.info.run_id, key: "C", value: "1.0" });
  const prefix = artifactProxyPrefix(run.info.artifact_uri);
  await alice.uploadArtifact(`${prefix}/model/MLmodel`, MLMODEL);
  await alice.uploadArtifact(`${prefix}/model/model.onnx`, IRIS_ONNX);
  await alice.uploadArtifact(`${prefix}/broken/MLmodel`, MLMODEL);
  await alice.uploadArtifact(`${prefix}/broken/model.onnx`, IRIS_ONNX.subarray(0, 200));
  return { runId: run.info.run_id, experimentId: experiment_id, source: `${run.info.artifact_uri}/model`, brokenSource: `${run.info.artifact_uri}/broken` };
}

async function apiError(p: Promise<unknown>): Promise<FlywheelApiError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(FlywheelApiError);
  return e as FlywheelApiError;
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

beforeAll(async () => {
  server = await startTestServer(sqliteBackend);
  await applyIrisFeatures(server.url);
  alice = new FlywheelClient({ baseUrl: server.url, user: "alice" });
  bob = new FlywheelClient({ baseUrl: server.url, user: "bob" });
  ops = new FlywheelClient({ baseUrl: server.url, user: "ops" });
  runs = { weak: await runWithModel(0.87), strong: await runWithModel(0.95) };
});

afterAll(async () => {
  await server.stop();
});

describe("client.registry: registered models", () => {
  it("creates, reads, updates, renames, tags, searches across pages and deletes", async () => {
    const { registered_model: created } = await alice.registry.createRegisteredModel({
      name: "fraud model",
      description: "first try",
      tags: [{ key: "team", value: "risk" }],
    });
    expect(created).toMatchObject({ name: "fraud model", description: "first try", user_id: "alice", tags: [{ key: "team", value: "risk" }], latest_versions: [], aliases: [] });
    expect(created.creation_timestamp).toBeGreaterThan(0);

    const exists = await apiError(alice.registry.createRegisteredModel({ name: "fraud model" }));
    expect(exists).toMatchObject({ status: 400, errorCode: "RESOURCE_ALREADY_EXISTS" });
    expect(isNotFound(await apiError(alice.registry.getRegisteredModel("no such model")))).toBe(true);

    expect((await alice.registry.updateRegisteredModel({ name: "fraud model", description: "second try" })).registered_model.description).toBe("second try");
    await alice.registry.setRegisteredModelTag({ name: "fraud model", key: "tier", value: "1" });
    await alice.registry.deleteRegisteredModelTag("fraud model", "team");
    expect((await alice.registry.getRegisteredModel("fraud model")).registered_model.tags).toEqual([{ key: "tier", value: "1" }]);

    const renamed = await alice.registry.renameRegisteredModel({ name: "fraud model", new_name: "fraud model v2" });
    expect(renamed.registered_model.name).toBe("fraud model v2");

    for (const n of ["fraud a", "fraud b"]) await alice.registry.createRegisteredModel({ name: n });
    const page = await alice.registry.searchRegisteredModels({ filter: "name LIKE 'fraud%'", order_by: ["name ASC"], max_results: 2 });
    expect(page.registered_models.map((m) => m.name)).toEqual(["fraud a", "fraud b"]);
    expect(page.next_page_token).toEqual(expect.any(String));
    const all = await collect(alice.registry.searchRegisteredModelsAll({ filter: "name LIKE 'fraud%'", order_by: ["name DESC"], max_results: 1 }));
    expect(all.map((m) => m.name)).toEqual(["fraud model v2", "fraud b", "fraud a"]);
    const pages = await collect(alice.registry.searchRegisteredModelsPages({ filter: "name LIKE 'fraud%'", max_results: 2 }));
    expect(pages.map((p) => p.registered_models.length)).toEqual([2, 1]);
    expect((await alice.registry.searchRegisteredModels({ filter: "tags.tier = '1'" })).registered_models.map((m) => m.name)).toEqual(["fraud model v2"]);

    await alice.registry.deleteRegisteredModel("fraud model v2");
    expect(isNotFound(await apiError(alice.registry.getRegisteredModel("fraud model v2")))).toBe(true);
  });
});

describe("client.registry: model versions", () => {
  it("registers checked packages: READY, or FAILED_REGISTRATION with the reason", async () => {
    await alice.registry.createRegisteredModel({ name: "iris versions" });
    const { model_version: ok } = await alice.registry.createModelVersion({
      name: "iris versions",
      source: runs.weak.source,
      run_id: runs.weak.runId,
      description: "baseline",
      tags: [{ key: "data", value: "v7" }],
    });
    expect(ok).toMatchObject({
      name: "iris versions",
      version: "1",
      status: "READY",
      current_stage: "None",
      source: runs.weak.source,
      run_id: runs.weak.runId,
      user_id: "alice",
      description: "baseline",
      tags: [{ key: "data", value: "v7" }],
      aliases: [],
    });
    expect(ok.status_message).toBeUndefined();

    const { model_version: broken } = await alice.registry.createModelVersion({ name: "iris versions", source: runs.weak.brokenSource, run_id: runs.weak.runId });
    expect(broken).toMatchObject({ version: "2", status: "FAILED_REGISTRATION" });
    expect(broken.status_message).toMatch(/onnx/i);

    // runs:/ sources name the run themselves.
    const { model_version: third } = await alice.registry.createModelVersion({ name: "iris versions", source: `runs:/${runs.strong.runId}/model` });
    expect(third).toMatchObject({ version: "3", status: "READY", run_id: runs.strong.runId });

    expect((await alice.registry.getModelVersion("iris versions", "1")).model_version.description).toBe("baseline");
    expect((await alice.registry.updateModelVersion({ name: "iris versions", version: "1", description: "the baseline" })).model_version.description).toBe("the baseline");
    await alice.registry.setModelVersionTag({ name: "iris versions", version: "3", key: "validated", value: "yes" });
    await alice.registry.deleteModelVersionTag("iris versions", "1", "data");
    expect((await alice.registry.getModelVersion("iris versions", "1")).model_version.tags).toEqual([]);
    expect((await alice.registry.getModelVersionDownloadUri("iris versions", "1")).artifact_uri).toBe(runs.weak.source);

    const byTag = await alice.registry.searchModelVersions({ filter: "name = 'iris versions' and tags.validated = 'yes'" });
    expect(byTag.model_versions.map((v) => v.version)).toEqual(["3"]);
    const every = await collect(alice.registry.searchModelVersionsAll({ filter: "name = 'iris versions'", order_by: ["version_number ASC"], max_results: 1 }));
    expect(every.map((v) => v.version)).toEqual(["1", "2", "3"]);

    expect(isNotFound(await apiError(alice.registry.getModelVersion("iris versions", "9")))).toBe(true);
    await alice.registry.deleteModelVersion("iris versions", "2");
    expect(isNotFound(await apiError(alice.registry.getModelVersion("iris versions", "2")))).toBe(true);
  });

  it("moves stages, archives the previous holder and reports the latest version per stage", async () => {
    await alice.registry.createRegisteredModel({ name: "iris stages" });
    for (let i = 0; i < 3; i++) await alice.registry.createModelVersion({ name: "iris stages", source: runs.strong.source, run_id: runs.strong.runId });
    expect((await alice.registry.transitionModelVersionStage({ name: "iris stages", version: "1", stage: "staging" })).model_version.current_stage).toBe("Staging");
    await alice.registry.transitionModelVersionStage({ name: "iris stages", version: "2", stage: "Production" });
    const moved = await alice.registry.transitionModelVersionStage({ name: "iris stages", version: "3", stage: "Production", archive_existing_versions: true });
    expect(moved.model_version.current_stage).toBe("Production");
    expect((await alice.registry.getModelVersion("iris stages", "2")).model_version.current_stage).toBe("Archived");

    const latest = await alice.registry.getLatestVersions("iris stages", ["Production", "Staging"]);
    expect(latest.model_versions.map((v) => [v.current_stage, v.version]).sort()).toEqual([
      ["Production", "3"],
      ["Staging", "1"],
    ]);
    const everyStage = await alice.registry.getLatestVersions("iris stages");
    expect(everyStage.model_versions.map((v) => v.current_stage).sort()).toEqual(["Archived", "Production", "Staging"]);
    expect((await alice.registry.resolve("models:/iris stages/Production")).model_version.version).toBe("3");
  });

  it("sets, reads, resolves and deletes aliases", async () => {
    await alice.registry.createRegisteredModel({ name: "iris aliases" });
    for (let i = 0; i < 2; i++) await alice.registry.createModelVersion({ name: "iris aliases", source: runs.weak.source, run_id: runs.weak.runId });
    await alice.registry.setRegisteredModelAlias({ name: "iris aliases", alias: "candidate", version: "1" });
    await alice.registry.setRegisteredModelAlias({ name: "iris aliases", alias: "candidate", version: "2" });
    expect((await alice.registry.getModelVersionByAlias("iris aliases", "candidate")).model_version).toMatchObject({ version: "2", aliases: ["candidate"] });
    expect((await alice.registry.getRegisteredModel("iris aliases")).registered_model.aliases).toEqual([{ alias: "candidate", version: "2" }]);

    const resolved = await alice.registry.resolve("models:/iris aliases@candidate");
    expect(resolved.model_version.version).toBe("2");
    expect(resolved.artifact_uri).toBe(runs.weak.source);
    expect((await alice.registry.resolve("models:/iris aliases/latest")).model_version.version).toBe("2");
    expect(await apiError(alice.registry.resolve("models:/iris aliases"))).toMatchObject({ status: 400, errorCode: "FW_REGISTRY_INVALID_MODEL_URI" });

    expect(await apiError(alice.registry.setRegisteredModelAlias({ name: "iris aliases", alias: "latest", version: "1" }))).toMatchObject({ status: 400 });
    await alice.registry.deleteRegisteredModelAlias("iris aliases", "candidate");
    expect(isNotFound(await apiError(alice.registry.getModelVersionByAlias("iris aliases", "candidate")))).toBe(true);
  });
});

describe("client.registry: governance", () => {
  let weak: WireModelVersion;
  let strong: WireModelVersion;

  beforeAll(async () => {
    await alice.registry.createRegisteredModel({ name: "iris gated" });
    weak = (await alice.registry.createModelVersion({ name: "iris gated", source: runs.weak.source, run_id: runs.weak.runId })).model_version;
    strong = (await alice.registry.createModelVersion({ name: "iris gated", source: runs.strong.source, run_id: runs.strong.runId })).model_version;
  });

  it("reads the default policy and sets gates, protected aliases and approval", async () => {
    expect((await alice.registry.getPolicy("iris gated")).policy).toEqual({
      protected_aliases: ["champion", "production"],
      gates: [],
      require_approval: false,
      updated_time: 0,
      updated_by: "",
    });
    const { policy } = await ops.registry.setPolicy("iris gated", { gates: ["metrics.auc >= 0.9"], require_approval: true, reason: "quality bar" });
    expect(policy).toMatchObject({ protected_aliases: ["champion", "production"], gates: ["metrics.auc >= 0.9"], require_approval: true, updated_by: "ops" });
    expect(policy.updated_time).toBeGreaterThan(0);
    // Fields left out keep their value.
    expect((await ops.registry.setPolicy("iris gated", { protected_aliases: ["champion"] })).policy).toMatchObject({ gates: ["metrics.auc >= 0.9"], require_approval: true, protected_aliases: ["champion"] });
    expect(await apiError(ops.registry.setPolicy("iris gated", { gates: ["metrics.auc >>= 1"] }))).toMatchObject({ status: 400, errorCode: "FW_REQUEST_INVALID_FIELD" });
    expect(await apiError(ops.registry.getPolicy("no such model"))).toMatchObject({ status: 404, errorCode: "FW_REGISTRY_MODEL_NOT_FOUND" });
  });

  it("refuses a promotion whose gate fails, naming the gate; allows it after another user's approval", async () => {
    const check = await alice.registry.promotionCheck("iris gated", weak.version, { alias: "champion" });
    expect(check.protected).toBe(true);
    expect(check.allowed_without_approval).toBe(false);
    expect(check.gates).toContainEqual({ gate: "metrics.auc >= 0.9", passed: false, detail: "metrics.auc is 0.87" });

    const refused = await apiError(alice.registry.promote("iris gated", weak.version, { alias: "champion", reason: "try" }));
    expect(refused).toMatchObject({ status: 409, errorCode: "FW_GOVERNANCE_GATE_FAILED" });
    expect(refused.message).toContain("metrics.auc >= 0.9");
    expect(refused.message).toContain("0.87");

    // The gates pass, but the policy requires an approval by someone other than the requester.
    expect((await alice.registry.promotionCheck("iris gated", strong.version, { alias: "champion" })).allowed_without_approval).toBe(true);
    expect(await apiError(alice.registry.promote("iris gated", strong.version, { alias: "champion" }))).toMatchObject({ status: 403, errorCode: "FW_GOVERNANCE_APPROVAL_REQUIRED" });
    await alice.registry.approve("iris gated", strong.version, { alias: "champion", reason: "mine" });
    expect((await apiError(alice.registry.promote("iris gated", strong.version, { alias: "champion" }))).status).toBe(403);
    await bob.registry.approve("iris gated", strong.version, { alias: "champion", reason: "reviewed the eval" });
    const approvals = (await alice.registry.promotionCheck("iris gated", strong.version, { alias: "champion" })).approvals;
    expect(approvals.map((a) => [a.approver, a.reason])).toEqual([
      ["alice", "mine"],
      ["bob", "reviewed the eval"],
    ]);

    const { model_version: promoted } = await alice.registry.promote("iris gated", strong.version, { alias: "champion", reason: "auc 0.95" });
    expect(promoted).toMatchObject({ version: strong.version, aliases: ["champion"] });
    expect((await alice.registry.resolve("models:/iris gated@champion")).model_version.version).toBe(strong.version);

    // A stage promotion with archive_existing_versions; Production is protected, so it needs its own approval.
    await bob.registry.approve("iris gated", strong.version, { stage: "Production" });
    const staged = await alice.registry.promote("iris gated", strong.version, { stage: "production", archive_existing_versions: true });
    expect(staged.model_version.current_stage).toBe("Production");
    await expect(alice.registry.promote("iris gated", "1", { alias: "a", stage: "Staging" } as never)).rejects.toThrow(TypeError);
  });

  it("reads the audit log of a model and of the registry, page by page", async () => {
    const { events } = await alice.registry.auditLog({ name: "iris gated" });
    const summary = events.map((e) => [e.action, e.actor, e.to]);
    expect(summary).toEqual(
      expect.arrayContaining([
        ["create_model", "alice", "iris gated"],
        ["set_policy", "ops", expect.stringContaining('"require_approval":true')],
        ["refused", "alice", "alias:champion"],
        ["approve", "bob", "alias:champion"],
        ["set_alias", "alice", `champion=${strong.version}`],
        ["transition_stage", "alice", "Production"],
      ]),
    );
    expect(events.find((e) => e.action === "set_policy")).toMatchObject({ model: "iris gated", version: null, reason: "quality bar" });
    expect(events.find((e) => e.action === "refused")?.reason).toContain("metrics.auc >= 0.9");
    for (const e of events) expect(e.time).toBeGreaterThan(0);

    const paged = await collect(alice.registry.auditEvents({ name: "iris gated", limit: 2 }));
    expect(paged).toEqual(events);
    const after = await alice.registry.auditLog({ name: "iris gated", after: events[2]?.id, limit: 1 });
    expect(after.events).toEqual([events[3]]);
    const everything = await collect(alice.registry.auditEvents({ limit: 5 }));
    expect(everything.length).toBeGreaterThan(events.length);
    expect(new Set(everything.map((e) => e.model))).toContain("iris versions");
  });
});

describe("client.registry: lineage", () => {
  it("returns the version's graph: run, experiment, dataset and feature service upstream", async () => {
    await alice.registry.createRegisteredModel({ name: "iris lineage" });
    const { model_version: mv } = await alice.registry.createModelVersion({ name: "iris lineage", source: runs.strong.source, run_id: runs.strong.runId });
    const graph = await alice.registry.lineage("iris lineage", mv.version);
    expect(graph.root).toEqual({ type: "model_version", id: `iris lineage/${mv.version}` });
    expect(graph.truncated).toBe(false);
    const byType = new Map(graph.nodes.map((n) => [n.type, n]));
    expect(byType.get("run")?.details).toMatchObject({ run_id: runs.strong.runId, code_version: "0123abc", params: [{ key: "C", value: "1.0" }] });
    expect(byType.get("run")?.details.metrics).toEqual([expect.objectContaining({ key: "auc", value: 0.95 })]);
    expect(byType.get("experiment")).toMatchObject({ id: runs.strong.experimentId, found: true });
    expect(byType.get("dataset")).toMatchObject({ id: DATASET, details: { version: "v7" } });
    expect(byType.get("feature_service")?.details.features).toEqual(["sepal_length", "sepal_width", "petal_length", "petal_width"]);
    expect(graph.edges.map((e) => `${e.src.type} ${e.relation} ${e.dst.type}`).sort()).toEqual([
      "dataset trained model_version",
      "experiment contains run",
      "feature_service features model_version",
      "run produced model_version",
    ]);
    expect(await apiError(alice.registry.lineage("iris lineage", "99"))).toMatchObject({ status: 404, errorCode: "FW_REGISTRY_VERSION_NOT_FOUND" });
  });
});

describe("FlywheelClient: the user option", () => {
  const saved = process.env.FLYWHEEL_USER;
  afterEach(() => {
    if (saved === undefined) delete process.env.FLYWHEEL_USER;
    else process.env.FLYWHEEL_USER = saved;
  });

  it("sends X-Flywheel-User: the option, else a given header, else env FLYWHEEL_USER; '' sends none", async () => {
    process.env.FLYWHEEL_USER = "from-env";
    const clients = {
      option: new FlywheelClient({ baseUrl: server.url, user: " carol ", headers: { "x-flywheel-user": "header" } }),
      header: new FlywheelClient({ baseUrl: server.url, headers: { "X-FLYWHEEL-USER": "dave" } }),
      env: new FlywheelClient({ baseUrl: server.url }),
      none: new FlywheelClient({ baseUrl: server.url, user: "" }),
    };
    expect(Object.fromEntries(Object.entries(clients).map(([k, c]) => [k, c.user]))).toEqual({ option: "carol", header: "dave", env: "from-env", none: undefined });
    for (const [who, c] of Object.entries(clients)) await c.registry.createRegisteredModel({ name: `user-${who}` });
    const owners = await Promise.all(Object.keys(clients).map(async (who) => (await alice.registry.getRegisteredModel(`user-${who}`)).registered_model.user_id));
    expect(owners).toEqual(["carol", "dave", "from-env", ""]);
  });

  it("refuses names a header cannot carry", () => {
    expect(normalizeUser("  eve ")).toBe("eve");
    expect(() => normalizeUser("a\r\nX-Other: 1")).toThrow(TypeError);
    expect(() => new FlywheelClient({ baseUrl: server.url, user: "名前" })).toThrow(/Latin-1/);
    process.env.FLYWHEEL_USER = "bad\nname";
    expect(() => new FlywheelClient({ baseUrl: server.url })).toThrow(/^Environment variable FLYWHEEL_USER: Invalid user/);
  });
});
