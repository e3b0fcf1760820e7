/** `flywheel models list|versions|show|register|alias|promote|approve|policy|lineage|audit` in-process against the real server. */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { sqliteBackend } from "../../test/helpers/backends.js";
import { cliHarness, tableRows } from "../../test/helpers/cli.js";
import { startTestServer } from "../../test/helpers/server.js";
import { applyIrisFeatures } from "../../test/helpers/features.js";
import type { TestServer } from "../../test/helpers/server.js";
import { FlywheelClient } from "../client/http-client.js";
import { createTracking } from "../client/tracking.js";
import { defaultUser } from "./models-shared.js";
import { registerModelsCommand } from "./models.js";

const IRIS_PATH = new URL("../../../shared/fixtures/models/iris_logreg.onnx", import.meta.url).pathname;
const DATASET = "file:///data/iris.parquet";

let server: TestServer;
let client: FlywheelClient;
const savedUser = process.env.FLYWHEEL_USER;

/** Runs `flywheel <args> --tracking-uri <server>` in-process. */
const flywheel = cliHarness({ register: [registerModelsCommand], trackingUri: () => server.url });

/** `flywheel ... --json`, parsed; the command must succeed. */
async function flywheelJson(...args: string[]): Promise<any> {
  const res = await flywheel(...args, "--json");
  expect(res.stderr).toBe("");
  expect(res.exitCode).toBe(0);
  return JSON.parse(res.stdout);
}

/** A tracked run (git commit, params, auc) with the iris model logged as a package by the SDK. */
async function trainedRun(auc: number): Promise<string> {
  const tracking = createTracking({ client, flushIntervalMs: 0, endRunsOnExit: false });
  const run = await tracking.startRun({ experiment: "iris-cli", runName: `auc-${auc}`, tags: { "mlflow.source.git.commit": "feedc0de" } });
  run.logParams({ C: 1, solver: "lbfgs" });
  run.logMetric("auc", auc);
  await run.logModel({
    onnx: IRIS_PATH,
    metadata: {
      features: ["sepal_length", "sepal_width", "petal_length", "petal_width"],
      featureService: "iris_features",
      trainingDataset: { uri: DATASET, version: "v7" },
    },
  });
  await run.end();
  return run.runId;
}

let weakRun: string;
let strongRun: string;

beforeAll(async () => {
  server = await startTestServer(sqliteBackend);
  await applyIrisFeatures(server.url);
  client = new FlywheelClient({ baseUrl: server.url, user: "setup" });
  weakRun = await trainedRun(0.87);
  strongRun = await trainedRun(0.95);
});

afterAll(async () => {
  await server.stop();
});

afterEach(() => {
  if (savedUser === undefined) delete process.env.FLYWHEEL_USER;
  else process.env.FLYWHEEL_USER = savedUser;
});

describe("flywheel models register", () => {
  it("creates the model when missing, then the version; prints the version and its status", async () => {
    const first = await flywheel("models", "register", "iris cli", "--source", `runs:/${weakRun}/model`, "--description", "baseline", "--tag", "data=v7", "--user", "alice");
    expect(first).toEqual({ stdout: "Created registered model 'iris cli'\nRegistered iris cli version 1: READY\n", stderr: "", exitCode: 0 });
    const { model_version: v1 } = await client.registry.getModelVersion("iris cli", "1");
    expect(v1).toMatchObject({ user_id: "alice", description: "baseline", run_id: weakRun, tags: [{ key: "data", value: "v7" }] });

    // The model exists now: RESOURCE_ALREADY_EXISTS is not an error.
    const second = await flywheelJson("models", "register", "iris cli", "--source", `runs:/${strongRun}/model`, "--run-id", strongRun, "--user", "alice");
    expect(second.model_version).toMatchObject({ name: "iris cli", version: "2", status: "READY", run_id: strongRun });
  });

  it("exits 1 and prints the reason when the package fails its check", async () => {
    const res = await flywheel("models", "register", "iris cli", "--source", `runs:/${weakRun}/nothing-here`);
    expect(res.exitCode).toBe(1);
    expect(res.stdout).toBe("Registered iris cli version 3: FAILED_REGISTRATION\n");
    expect(res.stderr).toMatch(/^error: the package of iris cli version 3 failed its check: .+/);
    const json = await flywheel("models", "register", "iris cli", "--source", `runs:/${weakRun}/nothing-here`, "--json");
    expect(json.exitCode).toBe(1);
    expect(JSON.parse(json.stdout).model_version).toMatchObject({ version: "4", status: "FAILED_REGISTRATION", status_message: expect.any(String) });
  });

  it("exits 2 on usage mistakes and 1 when the server refuses", async () => {
    expect((await flywheel("models", "register", "iris cli")).exitCode).toBe(2);
    expect((await flywheel("models", "register", "iris cli", "--source", "x", "--tag", "novalue")).exitCode).toBe(2);
    const outside = await flywheel("models", "register", "iris cli", "--source", "file:///etc/passwd");
    expect(outside.exitCode).toBe(1);
    expect(outside.stderr).toMatch(/^error: /);
    expect((await flywheel("models", "register", "iris cli", "--source", "x", "--user", "a\tb")).exitCode).toBe(2);
  });
});

describe("flywheel models list, versions, show", () => {
  beforeAll(async () => {
    await client.registry.createRegisteredModel({ name: "iris shown", description: "for show", tags: [{ key: "team", value: "ml" }] });
    for (const run of [weakRun, strongRun]) await client.registry.createModelVersion({ name: "iris shown", source: `runs:/${run}/model` });
    await client.registry.createModelVersion({ name: "iris shown", source: `runs:/${weakRun}/missing` });
    await client.registry.transitionModelVersionStage({ name: "iris shown", version: "1", stage: "Staging" });
    await client.registry.setRegisteredModelAlias({ name: "iris shown", alias: "candidate", version: "2" });
    await client.registry.setModelVersionTag({ name: "iris shown", version: "2", key: "validated", value: "yes" });
  });

  it("lists registered models with their latest version per stage and aliases", async () => {
    const res = await flywheel("models", "list", "--filter", "name LIKE 'iris shown%'");
    expect(res.exitCode).toBe(0);
    const rows = tableRows(res.stdout);
    expect(rows[0]).toEqual(["NAME", "LATEST VERSIONS", "ALIASES", "UPDATED"]);
    expect(rows[1]?.slice(0, 3)).toEqual(["iris shown", "Staging: 1, None: 3", "candidate=2"]);
    expect(rows[1]?.[3]).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect((await flywheel("models", "list", "--filter", "name = 'nothing'")).stdout).toBe("No registered models found.\n");
    const json = await flywheelJson("models", "list", "--order-by", "name DESC", "--max-results", "1");
    expect(json.registered_models).toHaveLength(1);
    expect(json.next_page_token).toEqual(expect.any(String));
    expect((await flywheel("models", "list", "--filter", "name ~ 'x'")).exitCode).toBe(1);
  });

  it("lists a model's versions, newest first, with the reason of a failed registration", async () => {
    const res = await flywheel("models", "versions", "iris shown");
    expect(res.exitCode).toBe(0);
    const rows = tableRows(res.stdout);
    expect(rows[0]).toEqual(["VERSION", "STAGE", "STATUS", "ALIASES", "RUN ID", "CREATED", "STATUS MESSAGE"]);
    expect(rows.slice(1).map((r) => r.slice(0, 5))).toEqual([
      ["3", "None", "FAILED_REGISTRATION", "-", weakRun],
      ["2", "None", "READY", "candidate", strongRun],
      ["1", "Staging", "READY", "-", weakRun],
    ]);
    expect(rows[1]?.[6]).not.toBe("-");
    expect(rows[2]?.[6]).toBe("-");
    expect((await flywheelJson("models", "versions", "iris shown")).model_versions.map((v: any) => v.version)).toEqual(["3", "2", "1"]);
    const missing = await flywheel("models", "versions", "no such model");
    expect(missing.exitCode).toBe(1);
    expect(missing.stderr).toContain("no such model");
  });

  it("shows a version by NAME/VERSION, NAME@ALIAS or models:/ URI, and a registered model by NAME", async () => {
    const res = await flywheel("models", "show", "iris shown/2");
    expect(res.exitCode).toBe(0);
    expect(res.stdout).toContain("Model version iris shown/2\n");
    expect(res.stdout).toMatch(/Status: +READY/);
    expect(res.stdout).toMatch(/Aliases: +candidate/);
    expect(res.stdout).toMatch(new RegExp(`Source: +runs:/${strongRun}/model`));
    expect(res.stdout).toMatch(/Download URI: +mlflow-artifacts:\/.+\/model/);
    expect(res.stdout).toMatch(new RegExp(`Run ID: +${strongRun}`));
    expect(res.stdout).toMatch(/validated +yes/);

    expect((await flywheel("models", "show", "models:/iris shown@candidate")).stdout).toContain("Model version iris shown/2\n");
    expect((await flywheel("models", "show", "iris shown@candidate")).stdout).toContain("Model version iris shown/2\n");
    expect((await flywheel("models", "show", "models:/iris shown/Staging")).stdout).toContain("Model version iris shown/1\n");
    const failed = await flywheel("models", "show", "iris shown/3");
    expect(failed.stdout).toMatch(/Status: +FAILED_REGISTRATION\n +Status message: +\S/);

    const json = await flywheelJson("models", "show", "models:/iris shown/latest");
    expect(json.model_version).toMatchObject({ name: "iris shown", version: "3" });
    expect(json.artifact_uri).toMatch(/\/missing$/);

    const model = await flywheel("models", "show", "iris shown");
    expect(model.stdout).toContain("Registered model iris shown\n");
    expect(model.stdout).toMatch(/Description: +for show/);
    expect(model.stdout).toMatch(/Aliases: +candidate=2/);
    expect(model.stdout).toMatch(/team +ml/);
    expect((await flywheelJson("models", "show", "iris shown")).registered_model.name).toBe("iris shown");

    expect((await flywheel("models", "show", "models:/iris shown")).exitCode).toBe(2);
    expect((await flywheel("models", "show", "iris shown/9")).exitCode).toBe(1);
  });
});

describe("flywheel models alias, policy, promote, approve, audit", () => {
  beforeAll(async () => {
    await client.registry.createRegisteredModel({ name: "iris gov" });
    await client.registry.createModelVersion({ name: "iris gov", source: `runs:/${weakRun}/model` });
    await client.registry.createModelVersion({ name: "iris gov", source: `runs:/${strongRun}/model` });
  });

  it("moves and deletes an unprotected alias", async () => {
    expect(await flywheel("models", "alias", "iris gov", "candidate", "1", "--reason", "first look", "--user", "alice")).toEqual({
      stdout: "Alias 'candidate' of iris gov now points at version 1\n",
      stderr: "",
      exitCode: 0,
    });
    expect((await flywheelJson("models", "alias", "iris gov", "candidate", "2")).model_version).toMatchObject({ version: "2", aliases: ["candidate"] });
    expect((await flywheel("models", "alias", "iris gov", "candidate", "--delete")).stdout).toBe("Deleted alias 'candidate' of iris gov\n");
    expect((await client.registry.getRegisteredModel("iris gov")).registered_model.aliases).toEqual([]);
    expect((await flywheel("models", "alias", "iris gov", "candidate")).exitCode).toBe(2);
    expect((await flywheel("models", "alias", "iris gov", "candidate", "1", "--delete")).exitCode).toBe(2);
    expect((await flywheel("models", "alias", "iris gov", "candidate", "--delete", "--reason", "x")).exitCode).toBe(2);
    expect((await flywheel("models", "alias", "iris gov", "latest", "1")).exitCode).toBe(1);
  });

  it("prints and sets the policy", async () => {
    const shown = await flywheel("models", "policy", "iris gov");
    expect(shown.exitCode).toBe(0);
    expect(shown.stdout).toMatch(/Protected aliases: +champion, production/);
    expect(shown.stdout).toMatch(/Require approval: +no/);
    expect(shown.stdout).toMatch(/Updated: +never/);
    expect(shown.stdout).toContain("Gates: none");

    const set = await flywheel("models", "policy", "iris gov", "--gate", "metrics.auc >= 0.9", "--gate", "params.solver = 'lbfgs'", "--require-approval", "--reason", "quality bar", "--user", "ops");
    expect(set.exitCode).toBe(0);
    expect(set.stdout).toMatch(/Require approval: +yes/);
    expect(set.stdout).toMatch(/Updated: +\d{4}-.+ by ops/);
    expect(set.stdout).toContain("    metrics.auc >= 0.9\n    params.solver = 'lbfgs'\n");
    expect((await flywheelJson("models", "policy", "iris gov")).policy).toMatchObject({
      protected_aliases: ["champion", "production"],
      gates: ["metrics.auc >= 0.9", "params.solver = 'lbfgs'"],
      require_approval: true,
      updated_by: "ops",
    });
    // Only the options given change.
    expect((await flywheelJson("models", "policy", "iris gov", "--protect", "champion", "--protect", "prod")).policy).toMatchObject({ protected_aliases: ["champion", "prod"], require_approval: true });
    expect((await flywheelJson("models", "policy", "iris gov", "--no-require-approval")).policy).toMatchObject({ require_approval: false, gates: ["metrics.auc >= 0.9", "params.solver = 'lbfgs'"] });
    expect((await flywheelJson("models", "policy", "iris gov", "--require-approval", "--clear-protected")).policy).toMatchObject({ require_approval: true, protected_aliases: [] });
    expect((await flywheelJson("models", "policy", "iris gov", "--protect", "champion")).policy.protected_aliases).toEqual(["champion"]);

    expect((await flywheel("models", "policy", "iris gov", "--gate", "metrics.auc >>= 1")).exitCode).toBe(1);
    expect((await flywheel("models", "policy", "iris gov", "--gate", "x", "--clear-gates")).exitCode).toBe(2);
    expect((await flywheel("models", "policy", "iris gov", "--reason", "nothing to change")).exitCode).toBe(2);
    expect((await flywheel("models", "policy", "no such model")).exitCode).toBe(1);
  });

  it("refuses a promotion that fails a gate (exit 1, naming the gate) and needs another user's approval", async () => {
    const refused = await flywheel("models", "promote", "iris gov/1", "--alias", "champion", "--user", "alice");
    expect(refused.exitCode).toBe(1);
    expect(refused.stdout).toBe("");
    expect(refused.stderr).toContain("gate 'metrics.auc >= 0.9' failed");
    expect(refused.stderr).toContain("0.87");

    const unapproved = await flywheel("models", "promote", "iris gov/2", "--alias", "champion", "--user", "alice");
    expect(unapproved.exitCode).toBe(1);
    expect(unapproved.stderr).toContain("approval by a user other than 'alice'");

    expect(await flywheel("models", "approve", "iris gov/2", "--alias", "champion", "--reason", "checked the eval", "--user", "bob")).toEqual({
      stdout: "Approved iris gov version 2 for alias 'champion' as bob\n",
      stderr: "",
      exitCode: 0,
    });
    const promoted = await flywheel("models", "promote", "iris gov/2", "--alias", "champion", "--reason", "best auc", "--user", "alice");
    expect(promoted).toEqual({ stdout: "Promoted iris gov version 2 to alias 'champion'\n", stderr: "", exitCode: 0 });
    expect((await client.registry.resolve("models:/iris gov@champion")).model_version.version).toBe("2");

    // --user defaults to env FLYWHEEL_USER; a version may be named by alias.
    process.env.FLYWHEEL_USER = "carol";
    expect((await flywheelJson("models", "approve", "models:/iris gov@champion", "--stage", "production"))).toMatchObject({ approver: "carol", version: "2", stage: "Production" });
    const staged = await flywheelJson("models", "promote", "iris gov@champion", "--stage", "Production", "--archive-existing", "--user", "alice");
    expect(staged.model_version).toMatchObject({ version: "2", current_stage: "Production" });
  });

  it("exits 2 when the promotion target is missing, doubled or malformed", async () => {
    expect((await flywheel("models", "promote", "iris gov/2")).exitCode).toBe(2);
    expect((await flywheel("models", "promote", "iris gov/2", "--alias", "a", "--stage", "Staging")).exitCode).toBe(2);
    expect((await flywheel("models", "promote", "iris gov/2", "--stage", "Live")).exitCode).toBe(2);
    expect((await flywheel("models", "promote", "iris gov/2", "--alias", "a", "--archive-existing")).exitCode).toBe(2);
    expect((await flywheel("models", "approve", "iris gov", "--alias", "a")).exitCode).toBe(2);
    expect((await flywheel("models", "promote", "iris gov/9", "--alias", "a")).exitCode).toBe(1);
  });

  it("prints the audit log: one model's or the registry's, the most recent events", async () => {
    const res = await flywheel("models", "audit", "iris gov");
    expect(res.exitCode).toBe(0);
    const rows = tableRows(res.stdout);
    expect(rows[0]).toEqual(["TIME", "MODEL", "VERSION", "ACTION", "FROM", "TO", "ACTOR", "REASON"]);
    const actions = rows.slice(1).map((r) => [r[3], r[6]]);
    expect(actions).toEqual(
      expect.arrayContaining([
        ["create_model", "setup"],
        ["set_alias", "alice"],
        ["set_policy", "ops"],
        ["refused", "alice"],
        ["approve", "bob"],
        ["approve", "carol"],
        ["transition_stage", "alice"],
      ]),
    );
    const promotion = rows.find((r) => r[3] === "set_alias" && r[7] === "best auc");
    expect(promotion?.slice(1, 6)).toEqual(["iris gov", "2", "set_alias", "-", "champion=2"]);

    const last = await flywheel("models", "audit", "iris gov", "--limit", "2");
    expect(tableRows(last.stdout).slice(1).map((r) => r[3])).toEqual(["approve", "transition_stage"]);
    expect(last.stderr).toMatch(/^\(showing the last 2 of \d+ events; use --limit to see more\)\n$/);

    const json = await flywheelJson("models", "audit", "--limit", "10000");
    expect(new Set(json.events.map((e: any) => e.model))).toEqual(new Set(["iris cli", "iris shown", "iris gov"]));
    expect((await flywheel("models", "audit", "no such model")).exitCode).toBe(1);
    expect((await flywheel("models", "audit", "--limit", "0")).exitCode).toBe(2);
  });
});

describe("flywheel models lineage", () => {
  it("prints experiment → run (git commit, params, metrics) → version, the dataset and the feature service", async () => {
    await client.registry.createRegisteredModel({ name: "iris lineage" });
    await client.registry.createModelVersion({ name: "iris lineage", source: `runs:/${strongRun}/model` });
    const res = await flywheel("models", "lineage", "iris lineage/1");
    expect(res.stderr).toBe("");
    expect(res.exitCode).toBe(0);
    const out = res.stdout;
    expect(out).toMatch(/^Model version iris lineage\/1 \(READY, stage None\)\n/);
    expect(out).toMatch(new RegExp(`\n {2}Source: +runs:/${strongRun}/model\n\nUpstream:\n`));
    expect(out).toMatch(/Upstream:\n {2}experiment iris-cli \(id \d+\)\n {2}└─ contains → run auc-0.95 \(\w+\), FINISHED\n/);
    expect(out).toMatch(/Git commit: +feedc0de\n/);
    expect(out).toMatch(/Params: +C=1, solver=lbfgs\n/);
    expect(out).toMatch(/Metrics: +auc=0.95\n/);
    expect(out).toMatch(/ {5}└─ produced → model version iris lineage\/1\n/);
    expect(out).toContain(`iris lineage/1\n  dataset ${DATASET} (version v7)\n  └─ trained → model version iris lineage/1\n  feature service iris_features\n`);
    expect(out).toMatch(/ {2}feature service iris_features\n +Features: +sepal_length, sepal_width, petal_length, petal_width\n {2}└─ features → model version iris lineage\/1\n\nDownstream: none\n$/);

    const json = await flywheelJson("models", "lineage", "models:/iris lineage/latest");
    expect(json.root).toEqual({ type: "model_version", id: "iris lineage/1" });
    expect(json.nodes.map((n: any) => n.type).sort()).toEqual(["dataset", "experiment", "feature_service", "model_version", "run"]);
    expect(json.edges).toHaveLength(4);
    expect((await flywheel("models", "lineage", "iris lineage/7")).exitCode).toBe(1);
  });
});

describe("defaultUser", () => {
  it("is env FLYWHEEL_USER, else the OS user name", () => {
    expect(defaultUser({ FLYWHEEL_USER: " dana " })).toBe("dana");
    expect(defaultUser({})).not.toBe("");
  });
});
