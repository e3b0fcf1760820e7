/**
 * The feature server over HTTP: Feast's JSON for /get-online-features, /push,
 * /write-to-online-store, /materialize, /materialize-incremental; the definitions API; and the
 * `flywheel features` CLI end to end (YAML definitions, plan, apply, materialize with progress,
 * historical to Parquet).
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { registerFeaturesCommand } from "../../src/cli/features.js";
import { OfflineDb, quoteLiteral } from "../../src/storage/offline/duckdb.js";
import { sqliteBackend, tempDir } from "../helpers/backends.js";
import { cliHarness } from "../helpers/cli.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

const YAML = `
entities:
  - name: customer
    join_keys: [customer_id]
    value_type: String
sources:
  - kind: file
    name: customer_src
    path: customers.csv
    timestamp_field: ts
  - kind: push
    name: customer_push
    batch_source: customer_src
feature_views:
  - name: customer_profile
    entities: [customer]
    source: customer_push
    ttl: 1000w
    schema:
      - { name: age, dtype: Int64 }
      - { name: spend, dtype: Float64 }
feature_services:
  - name: churn_v1
    features:
      - customer_profile: [spend, age]
`;

describe("feature server", () => {
  let server: TestServer;
  let dir: ReturnType<typeof tempDir>;
  let db: OfflineDb;
  const flywheel = cliHarness({ register: [registerFeaturesCommand], trackingUri: () => server.url });

  beforeAll(async () => {
    dir = tempDir("flywheel-fsrv-");
    server = await startTestServer(sqliteBackend);
    db = await OfflineDb.open();
    writeFileSync(join(dir.path, "features.yaml"), YAML);
    writeFileSync(join(dir.path, "customers.csv"), "customer_id,age,spend,ts\nc1,30,12.5,2024-01-01 00:00:00\nc2,41,99.0,2024-01-02 00:00:00\nc1,31,20.0,2024-01-03 00:00:00\n");
  });

  afterAll(async () => {
    db?.close();
    await server?.stop();
    dir?.remove();
  });

  test("plan and apply from YAML through the CLI; the registry answers what was applied", async () => {
    const plan = await flywheel("features", "plan", join(dir.path, "features.yaml"));
    expect(plan.stderr).toBe("");
    expect(plan.exitCode).toBe(0);
    expect(plan.stdout).toContain("+ feature view 'customer_profile'");
    expect(plan.stdout).toContain("applied version 0");
    const apply = await flywheel("features", "apply", dir.path, "--user", "alice");
    expect(apply.stderr).toBe("");
    expect(apply.stdout).toContain("Applied version 1");
    const again = await flywheel("features", "apply", dir.path);
    expect(again.stdout).toContain("Nothing to apply: version 1 is current.");
    const list = await flywheel("features", "list");
    expect(list.stdout).toMatch(/feature view\s+customer_profile\s+age:Int64, spend:Float64/);
    const reg = await server.call("GET", "/api/v1/features/registry");
    expect(reg.json.version).toBe(1);
    expect(reg.json.definitions.featureViews[0].ttlSeconds).toBe(1000 * 604800);
    const hist = await server.call("GET", "/api/v1/features/history");
    expect(hist.json.versions[0]).toMatchObject({ version: 1, applied_by: "alice" });
  });

  test("a definition error names the object and the field; nothing is applied", async () => {
    writeFileSync(join(dir.path, "bad.yaml"), "feature_views:\n  - name: broken\n    entities: [nobody]\n    source: customer_src\n    ttl: soon\n    schema: [{ name: x, dtype: Float99 }]\n");
    const res = await flywheel("features", "apply", join(dir.path, "bad.yaml"));
    expect(res.exitCode).not.toBe(0);
    expect(res.stderr).toContain("feature view 'broken': ttl: must be a duration");
    expect(res.stderr).toContain("feature view 'broken': schema[0].dtype: must be one of");
    const bad = await server.call("POST", "/api/v1/features/apply", { definitions: { featureViews: [{ kind: "feature_view", name: "v", entities: ["ghost"], source: "s", schema: [{ name: "a", dtype: "Int64" }] }] } });
    expect(bad.status).toBe(400);
    expect(bad.json.error_code).toBe("FW_FEATURES_DEFINITION_INVALID");
    expect(bad.json.message).toContain("feature view 'v': entities[0]: entity 'ghost' is not defined");
    expect((await server.call("GET", "/api/v1/features/registry")).json.version).toBe(1);
  });

  test("materialize over HTTP (Feast's endpoint) then read with Feast's JSON", async () => {
    const mat = await server.call("POST", "/materialize", { start_ts: "2023-12-01T00:00:00", end_ts: "2024-02-01T00:00:00" });
    expect(mat.status).toBe(200);
    expect(mat.json.materialized).toEqual([{ feature_view: "customer_profile", start_ts: "2023-12-01T00:00:00.000Z", end_ts: "2024-02-01T00:00:00.000Z", rows: 2 }]);
    const res = await server.call("POST", "/get-online-features", { feature_service: "churn_v1", entities: { customer_id: ["c1", "c2", "c3"] } });
    expect(res.status).toBe(200);
    expect(res.json.metadata.feature_names).toEqual(["customer_id", "spend", "age"]);
    expect(res.json.results[1].values).toEqual([20, 99, null]);
    expect(res.json.results[2].values).toEqual([31, 41, null]);
    expect(res.json.results[1].statuses.slice(2)).toEqual(["NOT_FOUND"]);
    expect(res.json.results[1].event_timestamps[0]).toBe("2024-01-03T00:00:00Z");
  });

  test("push and write-to-online-store; bad input is a 400 naming the field", async () => {
    const push = await server.call("POST", "/push", {
      push_source_name: "customer_push",
      df: { customer_id: ["c3"], age: [22], spend: [5.5], ts: ["2024-01-05T00:00:00Z"] },
      to: "online_and_offline",
    });
    expect(push.status).toBe(200);
    const write = await server.call("POST", "/write-to-online-store", {
      feature_view_name: "customer_profile",
      df: { customer_id: ["c2"], age: [42], spend: [100], ts: ["2024-01-06T00:00:00Z"] },
    });
    expect(write.json).toEqual({ rows: 1 });
    const res = await server.call("POST", "/get-online-features", { features: ["customer_profile:age"], entities: { customer_id: ["c2", "c3"] }, full_feature_names: true });
    expect(res.json.metadata.feature_names).toEqual(["customer_id", "customer_profile__age"]);
    expect(res.json.results[1].values).toEqual([42, 22]);

    const unknown = await server.call("POST", "/get-online-features", { features: ["customer_profile:height"], entities: { customer_id: ["c1"] } });
    expect(unknown.status).toBe(400);
    expect(unknown.json.message).toContain("valid features: 'customer_profile:age', 'customer_profile:spend'");
    const wrongType = await server.call("POST", "/get-online-features", { features: ["customer_profile:age"], entities: { customer_id: [7] } });
    expect(wrongType.status).toBe(400);
    expect(wrongType.json.message).toContain("entities.customer_id");
    const badTo = await server.call("POST", "/push", { push_source_name: "customer_push", df: { customer_id: ["c1"] }, to: "somewhere" });
    expect(badTo.status).toBe(400);
    expect(badTo.json.message).toContain("'to'");
    const noView = await server.call("POST", "/write-to-online-store", { feature_view_name: "nope", df: { a: [1] } });
    expect(noView.status).toBe(400);
    expect(noView.json.message).toContain("valid views: 'customer_profile'");
  });

  test("materialize-incremental through the CLI shows progress and records the interval", async () => {
    const push = await server.call("POST", "/push", {
      push_source_name: "customer_push",
      df: { customer_id: ["c4"], age: [50], spend: [1.25], ts: ["2024-02-10 00:00:00"] },
      to: "offline",
    });
    expect(push.status).toBe(200);
    const res = await flywheel("features", "materialize-incremental", "2024-03-01T00:00:00");
    expect(res.exitCode).toBe(0);
    expect(res.stderr).toMatch(/customer_profile \[#+\] 1\/1 rows \(100%\)/);
    expect(res.stdout).toContain("customer_profile: 1 rows from 2024-02-01T00:00:00.000Z to 2024-03-01T00:00:00.000Z");
    const recs = await server.call("GET", "/api/v1/features/materializations?view=customer_profile");
    expect(recs.json.materializations).toHaveLength(2);
  });

  test("historical retrieval through the CLI sees the batch file and the offline push", async () => {
    const entities = join(dir.path, "entities.parquet");
    await db.run(
      `COPY (SELECT * FROM (VALUES ('c1', TIMESTAMP '2024-01-02 12:00:00'), ('c3', TIMESTAMP '2024-01-06 00:00:00'), ('c1', TIMESTAMP '2023-01-01 00:00:00')) t(customer_id, event_timestamp)) TO ${quoteLiteral(entities)} (FORMAT parquet)`,
    );
    const out = join(dir.path, "training.parquet");
    const res = await flywheel("features", "historical", "--entities", entities, "--feature-service", "churn_v1", "--out", out, "--offline-dir", join(server.dataDir, "offline"));
    expect(res.stderr).toBe("");
    expect(res.stdout).toContain("Wrote 3 rows");
    const rows = await db.query(`SELECT customer_id, spend, age FROM read_parquet(${quoteLiteral(out)})`);
    expect(rows).toEqual([
      { customer_id: "c1", spend: 12.5, age: 30n },
      { customer_id: "c3", spend: 5.5, age: 22n },
      { customer_id: "c1", spend: null, age: null },
    ]);
  });
});
