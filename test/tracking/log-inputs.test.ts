/**
 * MLflow's runs/log-inputs over HTTP, against every metadata backend: datasets stored once per
 * experiment by (name, digest), one link per (run, dataset), the inputs runs/get and runs/search
 * return, MLflow's validation rules and the run's state.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { WireDataset } from "../../src/client/wire-types.js";
import type { KyselyMetadataStore } from "../../src/storage/metadata/kysely/kysely-metadata-store.js";
import { openMetadataStore } from "../../src/storage/metadata/open.js";
import { metadataBackends, titleOf } from "../helpers/backends.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

const API = "/api/2.0/mlflow";

/** MLflow's dataset JSON, as the TypeScript client types it. */
type DatasetBody = WireDataset;

const ds = (name: string, digest: string, extra: Partial<DatasetBody> = {}): DatasetBody => ({
  name,
  digest,
  source_type: "local",
  source: JSON.stringify({ uri: `/data/${name}.parquet` }),
  ...extra,
});

for (const backend of metadataBackends) {
  describe.skipIf(backend.skip !== undefined)(`runs/log-inputs on ${titleOf(backend)}`, () => {
    let s: TestServer;
    let seq = 0;
    beforeAll(async () => {
      // Room for a profile over MLflow's 16 MB limit in one request.
      s = await startTestServer(backend, { bodyLimit: 40 * 1024 * 1024 });
    });
    afterAll(async () => {
      await s?.stop();
    });

    const post = (path: string, body: unknown) => s.call("POST", `${API}/${path}`, body);
    const getRun = async (runId: string) => {
      const r = await s.call("GET", `${API}/runs/get?run_id=${runId}`);
      expect(r.status).toBe(200);
      return r.json.run;
    };
    async function newExperiment(): Promise<string> {
      const r = await post("experiments/create", { name: `inputs-${++seq}` });
      expect(r.status).toBe(200);
      return r.json.experiment_id as string;
    }
    async function newRun(experimentId: string): Promise<string> {
      const r = await post("runs/create", { experiment_id: experimentId, start_time: Date.now() });
      expect(r.status).toBe(200);
      return r.json.run.info.run_id as string;
    }
    const logInputs = (runId: string, datasets: unknown) => post("runs/log-inputs", { run_id: runId, datasets });

    test("a run without inputs has `inputs: {}`, as MLflow sends it", async () => {
      const runId = await newRun(await newExperiment());
      expect((await getRun(runId)).inputs).toEqual({});
      const created = await post("runs/create", { experiment_id: "0" });
      expect(created.json.run.inputs).toEqual({});
    });

    test("log datasets with tags; runs/get lists them by (name, digest) within a request, later requests after, schema and profile only when set", async () => {
      const runId = await newRun(await newExperiment());
      const train = ds("train", "abc123", { schema: '{"mlflow_colspec": []}', profile: '{"num_rows": 10}' });
      const r = await logInputs(runId, [
        { dataset: train, tags: [{ key: "mlflow.data.context", value: "training" }, { key: "b", value: "2" }] },
        { dataset: ds("eval", "def456"), tags: [] },
        { dataset: ds("holdout", "0000", { schema: "", profile: "" }) },
      ]);
      expect(r).toEqual({ status: 200, json: {} });
      const inputs = (await getRun(runId)).inputs;
      expect(inputs).toEqual({
        dataset_inputs: [
          { dataset: ds("eval", "def456") },
          { dataset: ds("holdout", "0000") },
          {
            tags: [
              { key: "b", value: "2" },
              { key: "mlflow.data.context", value: "training" },
            ],
            dataset: train,
          },
        ],
      });
    });

    test("re-logging a linked dataset adds nothing and keeps the first tags; the same pair twice in one request counts once", async () => {
      const runId = await newRun(await newExperiment());
      const first = { dataset: ds("d", "1"), tags: [{ key: "mlflow.data.context", value: "train" }] };
      expect((await logInputs(runId, [first])).status).toBe(200);
      // The same (name, digest) with other tags, source and profile: the link and the dataset stay as stored.
      const again = { dataset: ds("d", "1", { source: "other", profile: "p" }), tags: [{ key: "mlflow.data.context", value: "eval" }] };
      expect((await logInputs(runId, [again])).status).toBe(200);
      expect((await getRun(runId)).inputs.dataset_inputs).toEqual([first]);
      // Within one request the first entry of a (name, digest) wins.
      const x1 = { dataset: ds("x", "1"), tags: [{ key: "k", value: "first" }] };
      const x2 = { dataset: ds("x", "1", { source: "second" }), tags: [{ key: "k", value: "second" }] };
      expect((await logInputs(runId, [x1, x2, first])).status).toBe(200);
      expect((await getRun(runId)).inputs.dataset_inputs).toEqual([first, x1]);
      // Same name, other digest: another dataset.
      const d2 = { dataset: ds("d", "2") };
      expect((await logInputs(runId, [d2])).status).toBe(200);
      expect((await getRun(runId)).inputs.dataset_inputs).toEqual([first, x1, d2]);
    });

    test("a dataset is stored once per experiment: another run reuses it, another experiment gets its own", async () => {
      const exp = await newExperiment();
      const [a, b] = [await newRun(exp), await newRun(exp)];
      expect((await logInputs(a, [{ dataset: ds("shared", "s1", { source: "from-a" }) }])).status).toBe(200);
      // Logged to run b with its own tags and another source: b gets the experiment's stored dataset, with b's tags.
      expect((await logInputs(b, [{ dataset: ds("shared", "s1", { source: "from-b" }), tags: [{ key: "t", value: "b" }] }])).status).toBe(200);
      expect((await getRun(b)).inputs.dataset_inputs).toEqual([{ tags: [{ key: "t", value: "b" }], dataset: ds("shared", "s1", { source: "from-a" }) }]);
      expect((await getRun(a)).inputs.dataset_inputs).toEqual([{ dataset: ds("shared", "s1", { source: "from-a" }) }]);
      const other = await newRun(await newExperiment());
      expect((await logInputs(other, [{ dataset: ds("shared", "s1", { source: "from-other" }) }])).status).toBe(200);
      expect((await getRun(other)).inputs.dataset_inputs).toEqual([{ dataset: ds("shared", "s1", { source: "from-other" }) }]);

      const store = (await openMetadataStore(s.metadataUri)) as KyselyMetadataStore;
      try {
        const rows = await store.db.selectFrom("datasets").select(["experiment_id", "dataset_source"]).where("name", "=", "shared").orderBy("experiment_id").execute();
        expect(rows.map((r) => r.dataset_source)).toEqual(["from-a", "from-other"]);
        const links = await store.db.selectFrom("run_inputs").select("run_uuid").where("run_uuid", "in", [a, b, other]).execute();
        expect(links).toHaveLength(3);
      } finally {
        await store.close();
      }
    });

    test("concurrent requests: one dataset per experiment, one link per run", async () => {
      const exp = await newExperiment();
      const runs = await Promise.all(Array.from({ length: 8 }, () => newRun(exp)));
      const input = { dataset: ds("race", "r1"), tags: [{ key: "k", value: "v" }] };
      const answers = await Promise.all([...runs.map((r) => logInputs(r, [input])), ...runs.map((r) => logInputs(r, [input, { dataset: ds("race", "r2") }])), ...runs.map((r) => logInputs(r, [{ dataset: ds("race", "r2") }, input]))]);
      expect(answers.map((a) => a.status)).toEqual(answers.map(() => 200));
      for (const r of runs) expect((await getRun(r)).inputs.dataset_inputs.map((i: any) => i.dataset.digest).sort()).toEqual(["r1", "r2"]);
      const store = (await openMetadataStore(s.metadataUri)) as KyselyMetadataStore;
      try {
        const rows = await store.db.selectFrom("datasets").select("digest").where("experiment_id", "=", Number(exp)).execute();
        expect(rows.map((r) => r.digest).sort()).toEqual(["r1", "r2"]);
      } finally {
        await store.close();
      }
    });

    test("runs/search returns each run's inputs", async () => {
      const exp = await newExperiment();
      const [a, b, c] = [await newRun(exp), await newRun(exp), await newRun(exp)];
      await logInputs(a, [{ dataset: ds("one", "1"), tags: [{ key: "ctx", value: "train" }] }, { dataset: ds("two", "2") }]);
      await logInputs(b, [{ dataset: ds("two", "2"), tags: [{ key: "ctx", value: "eval" }] }]);
      const r = await post("runs/search", { experiment_ids: [exp] });
      expect(r.status).toBe(200);
      const byId = new Map<string, any>(r.json.runs.map((run: any) => [run.info.run_id, run.inputs]));
      expect(byId.get(a)).toEqual({ dataset_inputs: [{ tags: [{ key: "ctx", value: "train" }], dataset: ds("one", "1") }, { dataset: ds("two", "2") }] });
      expect(byId.get(b)).toEqual({ dataset_inputs: [{ tags: [{ key: "ctx", value: "eval" }], dataset: ds("two", "2") }] });
      expect(byId.get(c)).toEqual({});
    });

    test("runs/search filters on datasets.name, datasets.digest and datasets.context (the mlflow.data.context input tag); a bad key is 400", async () => {
      const exp = await newExperiment();
      const [a, b] = [await newRun(exp), await newRun(exp)];
      await logInputs(a, [{ dataset: ds("train", "t1"), tags: [{ key: "mlflow.data.context", value: "training" }] }]);
      await logInputs(b, [{ dataset: ds("train", "t2"), tags: [{ key: "mlflow.data.context", value: "training" }] }, { dataset: ds("holdout", "h1"), tags: [{ key: "mlflow.data.context", value: "eval" }] }]);
      const found = async (filter: string) => {
        const r = await post("runs/search", { experiment_ids: [exp], filter });
        expect(r.status).toBe(200);
        return ((r.json.runs ?? []) as any[]).map((run) => run.info.run_id as string).sort();
      };
      expect(await found("datasets.name = 'train'")).toEqual([a, b].sort());
      expect(await found("datasets.digest = 't2'")).toEqual([b]);
      expect(await found("datasets.context = 'eval' and datasets.name LIKE 'hold%'")).toEqual([b]);
      expect(await found("datasets.digest IN ('t1', 'zz')")).toEqual([a]);
      const bad = await post("runs/search", { experiment_ids: [exp], filter: "datasets.source = 'x'" });
      expect(bad.status).toBe(400);
      expect(bad.json.error_code).toBe("INVALID_PARAMETER_VALUE");
      expect(bad.json.message).toMatch(/invalid dataset key 'source'/);
    });

    test("empty or absent datasets: nothing logged, but the run must still exist", async () => {
      const runId = await newRun(await newExperiment());
      expect(await logInputs(runId, [])).toEqual({ status: 200, json: {} });
      expect(await post("runs/log-inputs", { run_id: runId })).toEqual({ status: 200, json: {} });
      expect((await getRun(runId)).inputs).toEqual({});
      expect(await post("runs/log-inputs", { run_id: "0123456789abcdef0123456789abcdef" })).toMatchObject({
        status: 404,
        json: { error_code: "RESOURCE_DOES_NOT_EXIST" },
      });
    });

    test("an unknown run is 404 RESOURCE_DOES_NOT_EXIST", async () => {
      const r = await logInputs("0123456789abcdef0123456789abcdef", [{ dataset: ds("d", "1") }]);
      expect(r).toMatchObject({ status: 404, json: { error_code: "RESOURCE_DOES_NOT_EXIST", message: "Run with id=0123456789abcdef0123456789abcdef not found" } });
    });

    test("a deleted run (or a run of a deleted experiment) refuses inputs with INVALID_PARAMETER_VALUE; its inputs stay readable", async () => {
      const exp = await newExperiment();
      const runId = await newRun(exp);
      expect((await logInputs(runId, [{ dataset: ds("kept", "1") }])).status).toBe(200);
      expect((await post("runs/delete", { run_id: runId })).status).toBe(200);
      const refused = await logInputs(runId, [{ dataset: ds("late", "1") }]);
      expect(refused).toMatchObject({ status: 400, json: { error_code: "INVALID_PARAMETER_VALUE" } });
      expect(refused.json.message).toMatch(/must be in the 'active' state/);
      expect((await getRun(runId)).inputs.dataset_inputs).toEqual([{ dataset: ds("kept", "1") }]);
      expect((await post("runs/restore", { run_id: runId })).status).toBe(200);
      expect((await logInputs(runId, [{ dataset: ds("late", "1") }])).status).toBe(200);
      expect((await getRun(runId)).inputs.dataset_inputs).toHaveLength(2);

      expect((await post("experiments/delete", { experiment_id: exp })).status).toBe(200);
      expect(await logInputs(runId, [{ dataset: ds("later", "1") }])).toMatchObject({ status: 400, json: { error_code: "INVALID_PARAMETER_VALUE" } });
      expect((await post("experiments/restore", { experiment_id: exp })).status).toBe(200);
      expect((await getRun(runId)).inputs.dataset_inputs).toHaveLength(2);
    });

    describe("MLflow's validation rules: 400 INVALID_PARAMETER_VALUE naming the field, nothing written", () => {
      let runId: string;
      beforeAll(async () => {
        runId = await newRun(await newExperiment());
      });
      const long = (n: number) => "x".repeat(n);
      const withDs = (over: Partial<DatasetBody>) => [{ dataset: { ...ds("ok", "1"), ...over } }];
      const cases: [string, () => unknown, string, RegExp][] = [
        ["run_id missing", () => ({ datasets: [{ dataset: ds("a", "1") }] }), "run_id", /missing value for required parameter/],
        ["datasets not a list", () => ({ run_id: runId, datasets: { dataset: ds("a", "1") } }), "datasets", /array/],
        ["dataset missing", () => ({ run_id: runId, datasets: [{ tags: [] }] }), "datasets[0].dataset", /missing value for required parameter/],
        ["name missing", () => ({ run_id: runId, datasets: [{ dataset: { digest: "1", source_type: "local", source: "s" } }] }), "datasets[0].dataset.name", /missing value/],
        ["digest missing", () => ({ run_id: runId, datasets: [{ dataset: { name: "n", source_type: "local", source: "s" } }] }), "datasets[0].dataset.digest", /missing value/],
        ["source_type missing", () => ({ run_id: runId, datasets: [{ dataset: { name: "n", digest: "1", source: "s" } }] }), "datasets[0].dataset.source_type", /missing value/],
        ["source missing", () => ({ run_id: runId, datasets: [{ dataset: { name: "n", digest: "1", source_type: "local" } }] }), "datasets[0].dataset.source", /missing value/],
        ["name not a string", () => ({ run_id: runId, datasets: withDs({ name: 5 as unknown as string }) }), "datasets[0].dataset.name", /string/],
        ["name over 500", () => ({ run_id: runId, datasets: [{ dataset: ds("a", "1") }, { dataset: ds(long(501), "1") }] }), "datasets[1].dataset.name", /length 501 exceeds the limit of 500/],
        ["digest over 36", () => ({ run_id: runId, datasets: withDs({ digest: long(37) }) }), "datasets[0].dataset.digest", /limit of 36/],
        ["source_type over 36", () => ({ run_id: runId, datasets: withDs({ source_type: long(37) }) }), "datasets[0].dataset.source_type", /limit of 36/],
        ["source over 65535", () => ({ run_id: runId, datasets: withDs({ source: long(65536) }) }), "datasets[0].dataset.source", /limit of 65535/],
        ["schema over 1048575", () => ({ run_id: runId, datasets: withDs({ schema: long(1048576) }) }), "datasets[0].dataset.schema", /limit of 1048575/],
        ["profile over 16777215", () => ({ run_id: runId, datasets: withDs({ profile: long(16777216) }) }), "datasets[0].dataset.profile", /limit of 16777215/],
        ["tag key missing", () => ({ run_id: runId, datasets: [{ dataset: ds("a", "1"), tags: [{ value: "v" }] }] }), "datasets[0].tags[0].key", /missing value/],
        ["tag value missing", () => ({ run_id: runId, datasets: [{ dataset: ds("a", "1"), tags: [{ key: "k" }] }] }), "datasets[0].tags[0].value", /missing value/],
        ["tag key over 255", () => ({ run_id: runId, datasets: [{ dataset: ds("a", "1"), tags: [{ key: "k", value: "v" }, { key: long(256), value: "v" }] }] }), "datasets[0].tags[1].key", /limit of 255/],
        ["tag value over 500", () => ({ run_id: runId, datasets: [{ dataset: ds("a", "1"), tags: [{ key: "k", value: long(501) }] }] }), "datasets[0].tags[0].value", /limit of 500/],
        ["a tag key twice in one input", () => ({ run_id: runId, datasets: [{ dataset: ds("a", "1"), tags: [{ key: "k", value: "1" }, { key: "k", value: "2" }] }] }), "datasets[0].tags[1].key", /given twice/],
        ["a NUL character", () => ({ run_id: runId, datasets: withDs({ source: "a\u0000b" }) }), "datasets[0].dataset.source", /NUL/],
        ["over 1000 datasets", () => ({ run_id: runId, datasets: Array.from({ length: 1001 }, (_, i) => ({ dataset: ds(`d${i}`, "1") })) }), "datasets", /at most 1000 datasets, got 1001/],
      ];
      test.each(cases)("%s", async (_name, body, field, rule) => {
        const r = await post("runs/log-inputs", body());
        expect(r.status).toBe(400);
        expect(r.json.error_code).toBe("INVALID_PARAMETER_VALUE");
        expect(r.json.message).toContain(`'${field}'`);
        expect(r.json.message).toMatch(rule);
        expect((await getRun(runId)).inputs).toEqual({});
      });

      test("values at the limits are accepted, counted in characters", async () => {
        const at = ds("é".repeat(500), long(36), { source_type: long(36), schema: long(1048575) });
        const r = await logInputs(runId, [{ dataset: at, tags: [{ key: "😀".repeat(255), value: "ü".repeat(500) }] }]);
        expect(r.status).toBe(200);
        expect((await getRun(runId)).inputs.dataset_inputs).toEqual([{ tags: [{ key: "😀".repeat(255), value: "ü".repeat(500) }], dataset: at }]);
      });
    });

    test("served under /ajax-api too, and listed in the OpenAPI document", async () => {
      const runId = await newRun(await newExperiment());
      const r = await s.call("POST", "/ajax-api/2.0/mlflow/runs/log-inputs", { run_id: runId, datasets: [{ dataset: ds("ajax", "1") }] });
      expect(r).toEqual({ status: 200, json: {} });
      const g = await s.call("GET", `/ajax-api/2.0/mlflow/runs/get?run_id=${runId}`);
      expect(g.json.run.inputs.dataset_inputs).toEqual([{ dataset: ds("ajax", "1") }]);
      const doc = await s.call("GET", "/api/openapi.json");
      const op = doc.json.paths[`${API}/runs/log-inputs`];
      expect(op?.post).toBeDefined();
      expect(op.post.requestBody.content["application/json"].schema.properties).toHaveProperty("datasets");
    });

    test("removing a run or an experiment row removes its links, their tags and the experiment's datasets", async () => {
      const exp = await newExperiment();
      const [a, b] = [await newRun(exp), await newRun(exp)];
      await logInputs(a, [{ dataset: ds("gone", "1"), tags: [{ key: "k", value: "v" }] }]);
      await logInputs(b, [{ dataset: ds("gone", "1"), tags: [{ key: "k", value: "w" }] }]);
      const store = (await openMetadataStore(s.metadataUri)) as KyselyMetadataStore;
      try {
        const db = store.db;
        const linkIds = async (runId: string) => (await db.selectFrom("run_inputs").select("input_id").where("run_uuid", "=", runId).execute()).map((r) => Number(r.input_id));
        const tagCount = async (ids: number[]) => (ids.length === 0 ? 0 : (await db.selectFrom("run_input_tags").select("key").where("input_id", "in", ids).execute()).length);
        const aLinks = await linkIds(a);
        expect(aLinks).toHaveLength(1);
        expect(await tagCount(aLinks)).toBe(1);
        await db.deleteFrom("runs").where("run_uuid", "=", a).execute();
        expect(await linkIds(a)).toEqual([]);
        expect(await tagCount(aLinks)).toBe(0);
        expect((await getRun(b)).inputs.dataset_inputs).toEqual([{ tags: [{ key: "k", value: "w" }], dataset: ds("gone", "1") }]);
        const bLinks = await linkIds(b);
        await db.deleteFrom("experiments").where("experiment_id", "=", Number(exp)).execute();
        expect(await db.selectFrom("datasets").select("name").where("experiment_id", "=", Number(exp)).execute()).toEqual([]);
        expect(await linkIds(b)).toEqual([]);
        expect(await tagCount(bLinks)).toBe(0);
      } finally {
        await store.close();
      }
    });
  });
}
