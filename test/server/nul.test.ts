/**
 * The NUL character in any string a request would store in the metadata database is a 400 naming
 * the field, on every backend (PostgreSQL cannot keep one; it was a 500 there), and nothing is
 * stored. Requests that do not go to the database (inference) are not affected.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { metadataBackends, titleOf } from "../helpers/backends.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

const API = "/api/2.0/mlflow";

for (const backend of metadataBackends) {
  describe.skipIf(backend.skip !== undefined)(`NUL in stored strings on ${titleOf(backend)}`, () => {
    let s: TestServer;
    beforeAll(async () => {
      s = await startTestServer(backend);
    });
    afterAll(async () => {
      await s?.stop();
    });

    test("a 400 naming the field, for MLflow's API and Flywheel's own, and nothing stored", async () => {
      const run = (await s.call("POST", `${API}/runs/create`, { experiment_id: "0" })).json.run.info.run_id;
      const cases: [string, string, unknown, string][] = [
        ["POST", `${API}/runs/log-parameter`, { run_id: run, key: "p", value: "a\u0000b" }, "value"],
        ["POST", `${API}/runs/set-tag`, { run_id: run, key: "t", value: "a\u0000b" }, "value"],
        ["POST", `${API}/runs/log-batch`, { run_id: run, tags: [{ key: "t", value: "ok" }, { key: "u", value: "\u0000" }] }, "tags[1].value"],
        ["POST", `${API}/runs/update`, { run_id: run, run_name: "a\u0000b" }, "run_name"],
        ["POST", `${API}/experiments/create`, { name: "a\u0000b" }, "name"],
        ["POST", `${API}/registered-models/create`, { name: "nul-model", description: "a\u0000b" }, "description"],
        ["GET", `${API}/runs/get?run_id=a%00b`, undefined, "run_id"],
        ["POST", "/api/v1/monitors", { name: "m", model: "x", window: "1h", description: "a\u0000b", checks: { drift: {} } }, "description"],
      ];
      for (const [method, path, body, field] of cases) {
        const r = await s.call(method, path, body);
        expect(r.status, `${method} ${path}: ${JSON.stringify(r.json)}`).toBe(400);
        expect(r.json.message).toBe(`Invalid value for '${field}': must not contain the NUL character (\\u0000)`);
      }
      const stored = (await s.call("GET", `${API}/runs/get?run_id=${run}`)).json.run;
      expect(stored.data.params ?? []).toEqual([]);
      expect((stored.data.tags ?? []).filter((t: { key: string }) => !t.key.startsWith("mlflow."))).toEqual([]);
      expect((await s.call("GET", `${API}/registered-models/get?name=nul-model`)).status).toBe(404);
    });
  });
}
