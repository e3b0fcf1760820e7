/**
 * The error-code table, its documentation and the HTTP answers agree; bad input gets a 4xx that
 * names the field, never a 500, and the server keeps serving.
 */
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { ERROR_CODES, FlywheelError, type ErrorCode } from "../../src/core/errors.js";
import { sqliteBackend } from "../helpers/backends.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

describe("error-code table", () => {
  const doc = readFileSync(new URL("../../docs/errors.md", import.meta.url), "utf8");

  test("every code is documented with its status and MLflow code, and nothing else is", () => {
    for (const [code, spec] of Object.entries(ERROR_CODES)) {
      expect(doc, code).toContain(`| \`${code}\` | ${spec.status} | \`${spec.mlflow}\` |`);
    }
    const documented = [...doc.matchAll(/^\| `(FW_[A-Z_]+)` \|/gm)].map((m) => m[1]);
    expect(documented.sort()).toEqual(Object.keys(ERROR_CODES).sort());
  });

  test("statuses are 4xx/5xx and MLflow's fixed statuses hold", () => {
    for (const [code, spec] of Object.entries(ERROR_CODES)) {
      expect(spec.status, code).toBeGreaterThanOrEqual(400);
      expect(spec.status, code).toBeLessThan(600);
      if (spec.mlflow === "RESOURCE_ALREADY_EXISTS") expect(spec.status, code).toBe(400);
      if (spec.mlflow === "RESOURCE_DOES_NOT_EXIST") expect(spec.status, code).toBe(404);
      if (spec.mlflow === "INVALID_PARAMETER_VALUE") expect(spec.status, code).toBe(400);
      expect(new FlywheelError(code as ErrorCode, "x").status).toBe(spec.status);
    }
  });
});

describe("bad input over HTTP", () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer(sqliteBackend, { bodyLimit: 64 * 1024 });
  });
  afterAll(async () => {
    await s?.stop();
  });

  const cases: [string, string, unknown, string][] = [
    ["malformed JSON", "runs/log-batch", "{not json", "MALFORMED_REQUEST"],
    ["truncated JSON", "experiments/create", '{"name": "x"', "MALFORMED_REQUEST"],
    ["a JSON array instead of an object", "experiments/create", "[1,2]", "INVALID_PARAMETER_VALUE"],
    ["missing required name", "experiments/create", {}, "INVALID_PARAMETER_VALUE"],
    ["name of the wrong type", "experiments/create", { name: { a: 1 } }, "INVALID_PARAMETER_VALUE"],
    ["missing run_id", "runs/log-metric", { key: "a", value: 1, timestamp: 1 }, "INVALID_PARAMETER_VALUE"],
    ["metric value not a number", "runs/log-batch", { run_id: "x", metrics: [{ key: "a", value: "high", timestamp: 1 }] }, "INVALID_PARAMETER_VALUE"],
    ["timestamp not an integer", "runs/log-batch", { run_id: "x", metrics: [{ key: "a", value: 1, timestamp: 1.5 }] }, "INVALID_PARAMETER_VALUE"],
    ["metrics not an array", "runs/log-batch", { run_id: "x", metrics: "all" }, "INVALID_PARAMETER_VALUE"],
    ["unknown run status", "runs/update", { run_id: "x", status: "MAYBE" }, "INVALID_PARAMETER_VALUE"],
    ["max_results out of range", "runs/search", { experiment_ids: ["0"], max_results: 50001 }, "INVALID_PARAMETER_VALUE"],
    ["experiment id not numeric", "runs/search", { experiment_ids: ["abc"] }, "INVALID_PARAMETER_VALUE"],
    ["oversized body", "runs/log-batch", { run_id: "x", tags: [{ key: "big", value: "x".repeat(100_000) }] }, "BAD_REQUEST"],
  ];

  for (const [what, path, body, code] of cases) {
    test(`${what} → 400 ${code}`, async () => {
      const r = await s.call("POST", `/api/2.0/mlflow/${path}`, body);
      expect(r.status).toBe(400);
      expect(r.json).toMatchObject({ error_code: code });
      expect(typeof r.json.message).toBe("string");
    });
  }

  test("messages name the offending field", async () => {
    const r = await s.call("POST", "/api/2.0/mlflow/runs/log-batch", { run_id: "x", metrics: [{ key: "a", value: 1, timestamp: 1 }, { key: "b", value: "high", timestamp: 1 }] });
    expect(r.json.message).toContain("metrics[1].value");
    const m = await s.call("POST", "/api/2.0/mlflow/experiments/create", {});
    expect(m.json.message).toContain("'name'");
  });

  test("a body without a JSON content type is still read as JSON, as MLflow does", async () => {
    const res = await fetch(`${s.url}/api/2.0/mlflow/experiments/create`, { method: "POST", body: JSON.stringify({ name: "no-ctype" }), headers: { "content-type": "text/plain" } });
    expect(res.status).toBe(200);
  });

  test("/api/v1 reads an empty JSON body as {} (as the MLflow routes do) and still refuses malformed or poisoned JSON", async () => {
    const send = async (method: string, path: string, body?: string) => {
      const res = await fetch(`${s.url}${path}`, { method, headers: { "content-type": "application/json" }, ...(body === undefined ? {} : { body }) });
      return { status: res.status, json: (await res.json()) as { error_code?: string; message?: string } };
    };
    // No body with a JSON content type: the route's own answer (an unknown model), not malformed JSON.
    expect(await send("DELETE", "/api/v1/models/nobody/traffic")).toMatchObject({ status: 404, json: { error_code: "FW_REGISTRY_MODEL_NOT_FOUND" } });
    // An empty POST: the schema names the missing field.
    const empty = await send("PUT", "/api/v1/models/nobody/traffic", "");
    expect(empty.status).toBe(400);
    expect(empty.json.message).toContain("'routes'");
    expect(await send("PUT", "/api/v1/models/nobody/traffic", "{nope")).toMatchObject({ status: 400, json: { error_code: "FW_REQUEST_MALFORMED_JSON" } });
    const poisoned = await send("PUT", "/api/v1/models/nobody/traffic", '{"routes": [], "__proto__": {"polluted": true}}');
    expect(poisoned.status).toBe(400);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  test("unknown endpoints answer ENDPOINT_NOT_FOUND; our own paths answer our code", async () => {
    expect(await s.call("GET", "/api/2.0/mlflow/nothing/here")).toMatchObject({ status: 404, json: { error_code: "ENDPOINT_NOT_FOUND" } });
    expect(await s.call("GET", "/api/v1/nothing")).toMatchObject({ status: 404, json: { error_code: "FW_ROUTE_NOT_FOUND" } });
  });

  test("after all of that the server still serves and nothing stored changed", async () => {
    expect((await s.call("GET", "/health")).status).toBe(200);
    const list = await s.call("POST", "/api/2.0/mlflow/experiments/search", {});
    expect(list.json.experiments.map((e: { name: string }) => e.name).sort()).toEqual(["Default", "no-ctype"]);
  });
});
