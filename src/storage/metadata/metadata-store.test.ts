/**
 * The MetadataStore contract, run once against every backend (SQLite always, PostgreSQL when
 * FLYWHEEL_TEST_POSTGRES_URL is set). Queries are written as MLflow filters and parsed with the
 * tracking grammar, so each case reads like a client's search_runs call.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { metadataBackends, titleOf } from "../../../test/helpers/backends.js";
import type { ErrorCode } from "../../core/errors.js";
import { newRunId } from "../../core/ids.js";
import { parseFilter, parseOrderBy } from "../../tracking/search-grammar.js";
import type { Batch, DatasetInput, Experiment, MetadataStore, Metric, Page, Run, RunStatus, Tag, ViewType } from "./metadata-store.js";
import { openMetadataStore } from "./open.js";

const NOW = 1_700_000_000_000;
const RUN_NAME = "mlflow.runName";

async function expectCode(p: Promise<unknown>, code: ErrorCode, message?: RegExp): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, `expected ${code}`).toBeDefined();
  expect(err).toMatchObject({ code });
  if (message !== undefined) expect((err as Error).message).toMatch(message);
}

function batch(part: Partial<Batch>): Batch {
  return { metrics: part.metrics ?? [], params: part.params ?? [], tags: part.tags ?? [] };
}

function metric(key: string, value: number, step = 0, timestamp = NOW): Metric {
  return { key, value, step, timestamp };
}

const sortedNames = (runs: Run[]): string[] => runs.map((r) => r.info.runName).sort();
const names = (runs: Run[]): string[] => runs.map((r) => r.info.runName);

for (const backend of metadataBackends) {
  describe.skipIf(backend.skip !== undefined)(`MetadataStore on ${titleOf(backend)}`, () => {
    let store: MetadataStore;
    let uri: string;
    let drop: () => Promise<void> = async () => undefined;
    let seq = 0;

    beforeAll(async () => {
      const db = await backend.create();
      uri = db.uri;
      drop = db.drop;
      store = await openMetadataStore(uri);
    });
    afterAll(async () => {
      await store?.close();
      await drop();
    });

    function newExperiment(name = `exp-${++seq}`, tags: Tag[] = [], now = NOW): Promise<Experiment> {
      return store.createExperiment({ name, artifactLocation: (id) => `mlflow-artifacts:/${id}`, tags, now });
    }

    async function newRun(experimentId: string, runName: string, startTime = NOW, tags: Tag[] = []): Promise<Run> {
      const runId = newRunId();
      return store.createRun({
        runId,
        experimentId,
        runName,
        userId: "alice",
        startTime,
        artifactUri: `mlflow-artifacts:/${experimentId}/${runId}/artifacts`,
        tags: [{ key: RUN_NAME, value: runName }, ...tags],
      });
    }

    async function history(runId: string, key: string): Promise<Metric[]> {
      return (await store.getMetricHistory(runId, key, 0, undefined)).items;
    }

    interface SearchOptions {
      orderBy?: string[];
      viewType?: ViewType;
      maxResults?: number;
      offset?: number;
    }
    function searchRuns(experimentIds: string[], filter?: string, o: SearchOptions = {}): Promise<Page<Run>> {
      return store.searchRuns({
        experimentIds,
        viewType: o.viewType ?? "ACTIVE_ONLY",
        filter: parseFilter(filter, "run"),
        orderBy: parseOrderBy(o.orderBy, "run"),
        maxResults: o.maxResults ?? 1000,
        offset: o.offset ?? 0,
      });
    }
    function searchExperiments(filter?: string, o: SearchOptions = {}): Promise<Page<Experiment>> {
      return store.searchExperiments({
        viewType: o.viewType ?? "ACTIVE_ONLY",
        filter: parseFilter(filter, "experiment"),
        orderBy: parseOrderBy(o.orderBy, "experiment"),
        maxResults: o.maxResults ?? 1000,
        offset: o.offset ?? 0,
      });
    }
    async function allPages<T>(fetch: (offset: number) => Promise<Page<T>>): Promise<T[][]> {
      const pages: T[][] = [];
      let offset: number | undefined = 0;
      while (offset !== undefined) {
        const page: Page<T> = await fetch(offset);
        pages.push(page.items);
        offset = page.nextOffset;
        if (pages.length > 100) throw new Error("paging does not terminate");
      }
      return pages;
    }

    // ---- schema --------------------------------------------------------------------------------

    describe("migrations", () => {
      test("open creates the schema and the Default experiment (id 0)", async () => {
        expect(store.backend).toBe(backend.name);
        await store.ping();
        const def = await store.getExperiment("0");
        expect(def).toMatchObject({ experimentId: "0", name: "Default", lifecycleStage: "active", tags: [] });
        expect(await store.getExperimentByName("Default")).toEqual(def);
      });

      test("re-opening runs no migration twice and keeps the data", async () => {
        const db = await backend.create();
        try {
          const first = await openMetadataStore(db.uri);
          const exp = await first.createExperiment({ name: "survivor", artifactLocation: "s3://b/x", tags: [], now: NOW });
          expect(exp.experimentId).not.toBe("0");
          await first.close();
          for (let i = 0; i < 2; i++) {
            const again = await openMetadataStore(db.uri);
            try {
              expect(await again.getExperimentByName("survivor")).toEqual(exp);
              const defaults = await again.searchExperiments({
                viewType: "ALL",
                filter: parseFilter("name = 'Default'", "experiment"),
                orderBy: [],
                maxResults: 10,
                offset: 0,
              });
              expect(defaults.items.map((e) => e.experimentId)).toEqual(["0"]);
            } finally {
              await again.close();
            }
          }
        } finally {
          await db.drop();
        }
      });
    });

    // ---- experiments ---------------------------------------------------------------------------

    describe("experiments", () => {
      test("create, get and getByName", async () => {
        const exp = await newExperiment("exp-create", [
          { key: "z", value: "last" },
          { key: "a", value: "first" },
        ]);
        expect(exp).toEqual({
          experimentId: expect.stringMatching(/^[1-9]\d*$/),
          name: "exp-create",
          artifactLocation: `mlflow-artifacts:/${exp.experimentId}`,
          lifecycleStage: "active",
          creationTime: NOW,
          lastUpdateTime: NOW,
          tags: [
            { key: "a", value: "first" },
            { key: "z", value: "last" },
          ],
        });
        expect(await store.getExperiment(exp.experimentId)).toEqual(exp);
        expect(await store.getExperimentByName("exp-create")).toEqual(exp);

        const fixed = await store.createExperiment({ name: "exp-fixed", artifactLocation: "s3://bucket/p", tags: [], now: NOW });
        expect(fixed.artifactLocation).toBe("s3://bucket/p");
        expect(Number(fixed.experimentId)).toBeGreaterThan(Number(exp.experimentId));

        expect(await store.getExperiment("987654")).toBeUndefined();
        expect(await store.getExperiment("not-a-number")).toBeUndefined();
        expect(await store.getExperimentByName("no such experiment")).toBeUndefined();
      });

      test("a duplicate name is FW_TRACKING_EXPERIMENT_EXISTS, also when renaming onto it", async () => {
        const a = await newExperiment("dup-a");
        await newExperiment("dup-b");
        await expectCode(newExperiment("dup-a"), "FW_TRACKING_EXPERIMENT_EXISTS", /dup-a/);
        await expectCode(store.renameExperiment(a.experimentId, "dup-b", NOW + 1), "FW_TRACKING_EXPERIMENT_EXISTS", /dup-b/);
        // A deleted experiment still holds its name.
        await store.setExperimentLifecycle(a.experimentId, "deleted", NOW + 2);
        await expectCode(newExperiment("dup-a"), "FW_TRACKING_EXPERIMENT_EXISTS");
        // The store is still usable after the failed statements.
        expect((await store.getExperimentByName("dup-b"))?.name).toBe("dup-b");
      });

      test("rename", async () => {
        const exp = await newExperiment("before-rename");
        await store.renameExperiment(exp.experimentId, "after-rename", NOW + 5);
        expect(await store.getExperimentByName("before-rename")).toBeUndefined();
        expect(await store.getExperiment(exp.experimentId)).toMatchObject({
          name: "after-rename",
          creationTime: NOW,
          lastUpdateTime: NOW + 5,
        });
      });

      test("tags: set, overwrite, delete", async () => {
        const exp = await newExperiment();
        await store.setExperimentTag(exp.experimentId, { key: "owner", value: "ann" }, NOW + 1);
        await store.setExperimentTag(exp.experimentId, { key: "team", value: "ml" }, NOW + 2);
        await store.setExperimentTag(exp.experimentId, { key: "owner", value: "bob" }, NOW + 3);
        expect(await store.getExperiment(exp.experimentId)).toMatchObject({
          lastUpdateTime: NOW + 3,
          tags: [
            { key: "owner", value: "bob" },
            { key: "team", value: "ml" },
          ],
        });
        expect(await store.deleteExperimentTag(exp.experimentId, "owner", NOW + 4)).toBe(true);
        expect(await store.deleteExperimentTag(exp.experimentId, "owner", NOW + 5)).toBe(false);
        expect(await store.getExperiment(exp.experimentId)).toMatchObject({
          lastUpdateTime: NOW + 4,
          tags: [{ key: "team", value: "ml" }],
        });
      });

      test("deleting an experiment deletes its runs; restoring brings them back", async () => {
        const exp = await newExperiment();
        const other = await newExperiment();
        const r1 = await newRun(exp.experimentId, "r1");
        const r2 = await newRun(exp.experimentId, "r2");
        const bystander = await newRun(other.experimentId, "bystander");

        await store.setExperimentLifecycle(exp.experimentId, "deleted", NOW + 10);
        expect(await store.getExperiment(exp.experimentId)).toMatchObject({ lifecycleStage: "deleted", lastUpdateTime: NOW + 10 });
        for (const r of [r1, r2]) expect((await store.getRunInfo(r.info.runId))?.lifecycleStage).toBe("deleted");
        expect((await store.getRunInfo(bystander.info.runId))?.lifecycleStage).toBe("active");
        expect((await searchRuns([exp.experimentId])).items).toEqual([]);
        expect(sortedNames((await searchRuns([exp.experimentId], undefined, { viewType: "DELETED_ONLY" })).items)).toEqual(["r1", "r2"]);

        await store.setExperimentLifecycle(exp.experimentId, "active", NOW + 20);
        expect((await store.getExperiment(exp.experimentId))?.lifecycleStage).toBe("active");
        for (const r of [r1, r2]) expect((await store.getRunInfo(r.info.runId))?.lifecycleStage).toBe("active");
        expect(sortedNames((await searchRuns([exp.experimentId])).items)).toEqual(["r1", "r2"]);
      });
    });

    // ---- runs ----------------------------------------------------------------------------------

    describe("runs", () => {
      test("create and get", async () => {
        const exp = await newExperiment();
        const created = await newRun(exp.experimentId, "first-run", NOW + 7, [{ key: "source", value: "nb" }]);
        expect(created.info).toEqual({
          runId: expect.stringMatching(/^[0-9a-f]{32}$/),
          runName: "first-run",
          experimentId: exp.experimentId,
          userId: "alice",
          status: "RUNNING",
          startTime: NOW + 7,
          endTime: null,
          artifactUri: `mlflow-artifacts:/${exp.experimentId}/${created.info.runId}/artifacts`,
          lifecycleStage: "active",
        });
        expect(created.metrics).toEqual([]);
        expect(created.params).toEqual([]);
        expect(created.tags).toEqual([
          { key: RUN_NAME, value: "first-run" },
          { key: "source", value: "nb" },
        ]);
        expect(await store.getRun(created.info.runId)).toEqual(created);
        expect(await store.getRunInfo(created.info.runId)).toEqual(created.info);
        expect(await store.getRun(newRunId())).toBeUndefined();
        expect(await store.getRunInfo(newRunId())).toBeUndefined();
      });

      test("update status, end time and name (the name tag follows)", async () => {
        const exp = await newExperiment();
        const run = await newRun(exp.experimentId, "old-name");
        const id = run.info.runId;
        const info = await store.updateRun(id, { status: "FINISHED", endTime: NOW + 100 });
        expect(info).toMatchObject({ status: "FINISHED", endTime: NOW + 100, runName: "old-name" });
        expect(await store.updateRun(id, { runName: "new-name" })).toMatchObject({ runName: "new-name", status: "FINISHED" });
        expect((await store.getRun(id))?.tags).toContainEqual({ key: RUN_NAME, value: "new-name" });
        expect(await store.updateRun(id, { endTime: null, status: "RUNNING" })).toMatchObject({ endTime: null, status: "RUNNING" });
        for (const status of ["SCHEDULED", "FAILED", "KILLED"] as RunStatus[]) {
          expect((await store.updateRun(id, { status })).status).toBe(status);
        }
        await expectCode(store.updateRun(newRunId(), { status: "FINISHED" }), "FW_TRACKING_RUN_NOT_FOUND");
      });

      test("delete and restore a run", async () => {
        const exp = await newExperiment();
        const run = await newRun(exp.experimentId, "doomed");
        await store.setRunLifecycle(run.info.runId, "deleted", NOW + 1);
        expect((await store.getRunInfo(run.info.runId))?.lifecycleStage).toBe("deleted");
        await store.setRunLifecycle(run.info.runId, "active", NOW + 2);
        expect((await store.getRunInfo(run.info.runId))?.lifecycleStage).toBe("active");
      });

      test("run tags: delete", async () => {
        const exp = await newExperiment();
        const run = await newRun(exp.experimentId, "tagged", NOW, [{ key: "k", value: "v" }]);
        expect(await store.deleteRunTag(run.info.runId, "k")).toBe(true);
        expect(await store.deleteRunTag(run.info.runId, "k")).toBe(false);
        expect((await store.getRun(run.info.runId))?.tags).toEqual([{ key: RUN_NAME, value: "tagged" }]);
      });
    });

    // ---- log inputs ----------------------------------------------------------------------------

    describe("logInputs", () => {
      const input = (name: string, digest: string, source = "s", tags: Tag[] = []): DatasetInput => ({
        dataset: { name, digest, sourceType: "local", source, schema: null, profile: null },
        tags,
      });

      test("a run starts without inputs; logged ones come back on get and search, in link order", async () => {
        const exp = await newExperiment();
        const run = await newRun(exp.experimentId, "fed");
        expect(run.inputs).toEqual([]);
        const withSchema: DatasetInput = { dataset: { ...input("b", "2").dataset, schema: "{}", profile: "p" }, tags: [{ key: "z", value: "1" }, { key: "a", value: "2" }] };
        await store.logInputs(run.info.runId, exp.experimentId, [input("a", "1"), withSchema]);
        await store.logInputs(run.info.runId, exp.experimentId, [input("0", "0")]);
        const sortedTags = { ...withSchema, tags: [{ key: "a", value: "2" }, { key: "z", value: "1" }] };
        expect((await store.getRun(run.info.runId))?.inputs).toEqual([input("a", "1"), sortedTags, input("0", "0")]);
        const found = await searchRuns([exp.experimentId]);
        expect(found.items.map((r) => r.inputs)).toEqual([[input("a", "1"), sortedTags, input("0", "0")]]);
      });

      test("one dataset per (experiment, name, digest), kept as first stored; one link per (run, dataset), its tags kept", async () => {
        const exp = await newExperiment();
        const [a, b] = [await newRun(exp.experimentId, "a"), await newRun(exp.experimentId, "b")];
        await store.logInputs(a.info.runId, exp.experimentId, [input("d", "1", "first", [{ key: "k", value: "a" }])]);
        await store.logInputs(a.info.runId, exp.experimentId, [input("d", "1", "second", [{ key: "k", value: "again" }])]);
        await store.logInputs(b.info.runId, exp.experimentId, [input("d", "1", "third", [{ key: "k", value: "b" }])]);
        expect((await store.getRun(a.info.runId))?.inputs).toEqual([input("d", "1", "first", [{ key: "k", value: "a" }])]);
        expect((await store.getRun(b.info.runId))?.inputs).toEqual([input("d", "1", "first", [{ key: "k", value: "b" }])]);
        const other = await newExperiment();
        const c = await newRun(other.experimentId, "c");
        await store.logInputs(c.info.runId, other.experimentId, [input("d", "1", "own")]);
        expect((await store.getRun(c.info.runId))?.inputs).toEqual([input("d", "1", "own")]);
      });
      test("runs are found by their datasets' name and digest and their inputs' context, as MLflow's datasets.* filters find them", async () => {
        const exp = await newExperiment();
        const ctx = (v: string): Tag[] => [{ key: "mlflow.data.context", value: v }];
        const [a, b, c] = [await newRun(exp.experimentId, "a"), await newRun(exp.experimentId, "b"), await newRun(exp.experimentId, "c")];
        await store.logInputs(a.info.runId, exp.experimentId, [input("iris", "d1", "s", ctx("training")), input("iris-eval", "d2", "s", ctx("eval"))]);
        await store.logInputs(b.info.runId, exp.experimentId, [input("Iris", "d3", "s", ctx("training"))]);
        const names = async (filter: string) => sortedNames((await searchRuns([exp.experimentId], filter)).items);
        expect(await names("datasets.name = 'iris'")).toEqual(["a"]);
        expect(await names("dataset.name LIKE 'iris%'")).toEqual(["a"]);
        expect(await names("datasets.name ILIKE 'iris'")).toEqual(["a", "b"]);
        expect(await names("datasets.digest IN ('d2', 'd3')")).toEqual(["a", "b"]);
        expect(await names("datasets.context = 'eval'")).toEqual(["a"]);
        expect(await names("datasets.context = 'training' and datasets.name = 'Iris'")).toEqual(["b"]);
        // As MLflow answers them: some input differs (a run without inputs has none that does).
        expect(await names("datasets.name != 'iris'")).toEqual(["a", "b"]);
        expect(await names("datasets.digest NOT IN ('d1', 'd2')")).toEqual(["b"]);
        expect(await names("datasets.name = 'missing'")).toEqual([]);
        expect(c.inputs).toEqual([]);
      });
    });

    // ---- log batch -----------------------------------------------------------------------------

    describe("logBatch", () => {
      let experimentId: string;
      beforeAll(async () => {
        experimentId = (await newExperiment("log-batch")).experimentId;
      });

      test("metrics are appended; an identical retried batch adds nothing", async () => {
        const id = (await newRun(experimentId, "append")).info.runId;
        const b = batch({ metrics: [metric("loss", 3, 0, NOW), metric("loss", 2, 1, NOW + 1), metric("acc", 0.5, 0, NOW)] });
        await store.logBatch(id, b);
        await store.logBatch(id, b);
        // Same point twice within one batch counts once too.
        await store.logBatch(id, batch({ metrics: [metric("loss", 1, 2, NOW + 2), metric("loss", 1, 2, NOW + 2)] }));
        expect(await history(id, "loss")).toEqual([metric("loss", 3, 0, NOW), metric("loss", 2, 1, NOW + 1), metric("loss", 1, 2, NOW + 2)]);
        expect(await history(id, "acc")).toHaveLength(1);
        // A point differing only in value is a new point.
        await store.logBatch(id, batch({ metrics: [metric("loss", 1.5, 2, NOW + 2)] }));
        expect(await history(id, "loss")).toHaveLength(4);
        expect(await history(id, "missing")).toEqual([]);
      });

      test("latest metric is the highest step, then timestamp, then value", async () => {
        const id = (await newRun(experimentId, "latest")).info.runId;
        const latest = async (key: string) => (await store.getRun(id))?.metrics.find((m) => m.key === key);

        await store.logBatch(id, batch({ metrics: [metric("m", 1, 2, NOW + 100)] }));
        // A later timestamp at a lower step loses.
        await store.logBatch(id, batch({ metrics: [metric("m", 9, 1, NOW + 900)] }));
        expect(await latest("m")).toEqual(metric("m", 1, 2, NOW + 100));
        // Same step, later timestamp wins even with a smaller value.
        await store.logBatch(id, batch({ metrics: [metric("m", 0, 2, NOW + 200)] }));
        expect(await latest("m")).toEqual(metric("m", 0, 2, NOW + 200));
        // Same step and timestamp: the larger value wins, a smaller one does not.
        await store.logBatch(id, batch({ metrics: [metric("m", 5, 2, NOW + 200)] }));
        await store.logBatch(id, batch({ metrics: [metric("m", 4, 2, NOW + 200)] }));
        expect(await latest("m")).toEqual(metric("m", 5, 2, NOW + 200));

        // Within one batch, in any order.
        await store.logBatch(
          id,
          batch({
            metrics: [metric("n", 7, 3, NOW + 1), metric("n", 1, 1, NOW + 999), metric("n", 8, 3, NOW + 1), metric("n", 2, 3, NOW + 0)],
          }),
        );
        expect(await latest("n")).toEqual(metric("n", 8, 3, NOW + 1));
        // Negative steps are older than step 0.
        await store.logBatch(id, batch({ metrics: [metric("neg", 1, 0, NOW), metric("neg", 2, -5, NOW + 50)] }));
        expect(await latest("neg")).toEqual(metric("neg", 1, 0, NOW));
      });

      test("NaN and ±Infinity round-trip", async () => {
        const id = (await newRun(experimentId, "special")).info.runId;
        const b = batch({
          metrics: [
            metric("nan", Number.NaN, 0),
            metric("inf", Number.POSITIVE_INFINITY, 0),
            metric("ninf", Number.NEGATIVE_INFINITY, 0),
            metric("tiny", -1.5e-300, 0),
            metric("big", 1.7976931348623157e308, 0),
          ],
        });
        await store.logBatch(id, b);
        await store.logBatch(id, b);
        const run = await store.getRun(id);
        const byKey = new Map(run?.metrics.map((m) => [m.key, m.value]));
        expect(byKey.get("nan")).toBeNaN();
        expect(byKey.get("inf")).toBe(Number.POSITIVE_INFINITY);
        expect(byKey.get("ninf")).toBe(Number.NEGATIVE_INFINITY);
        expect(byKey.get("tiny")).toBe(-1.5e-300);
        expect(byKey.get("big")).toBe(1.7976931348623157e308);
        const nan = await history(id, "nan");
        expect(nan).toHaveLength(1);
        expect(nan[0]?.value).toBeNaN();
        expect(await history(id, "inf")).toEqual([metric("inf", Number.POSITIVE_INFINITY, 0)]);
        expect(await history(id, "ninf")).toEqual([metric("ninf", Number.NEGATIVE_INFINITY, 0)]);
        // NaN and 0 are different points.
        await store.logBatch(id, batch({ metrics: [metric("nan", 0, 0)] }));
        expect(await history(id, "nan")).toHaveLength(2);
      });

      test("finite values and int64-range timestamps round-trip exactly", async () => {
        const id = (await newRun(experimentId, "exact")).info.runId;
        const values = [0.1 + 0.2, 1 / 3, 5e-324, -2.2250738585072014e-308, 1.7976931348623157e308, 123456789.12345679, -0, 42];
        const points = values.map((v, i) => metric("x", v, i - 3, 2 ** 52 + i));
        await store.logBatch(id, batch({ metrics: points }));
        const got = await history(id, "x");
        expect(got.map((m) => m.value)).toEqual(values.map((v) => (Object.is(v, -0) ? 0 : v)));
        expect(got.map((m) => m.step)).toEqual(values.map((_, i) => i - 3));
        expect(got.map((m) => m.timestamp)).toEqual(values.map((_, i) => 2 ** 52 + i));
      });

      test("params are immutable and a rejected batch writes nothing", async () => {
        const run = await newRun(experimentId, "params");
        const id = run.info.runId;
        await store.logBatch(id, batch({ params: [{ key: "lr", value: "0.1" }] }));
        // The same value again is fine, also twice within one batch.
        await store.logBatch(id, batch({ params: [{ key: "lr", value: "0.1" }, { key: "bs", value: "32" }, { key: "bs", value: "32" }] }));
        expect((await store.getRun(id))?.params).toEqual([
          { key: "bs", value: "32" },
          { key: "lr", value: "0.1" },
        ]);

        const before = await store.getRun(id);
        await expectCode(
          store.logBatch(
            id,
            batch({
              metrics: [metric("loss", 1, 0)],
              params: [{ key: "fresh", value: "x" }, { key: "lr", value: "0.2" }],
              tags: [{ key: "note", value: "should not land" }, { key: RUN_NAME, value: "renamed" }],
            }),
          ),
          "FW_TRACKING_PARAM_CHANGED",
          /lr.*0\.1.*0\.2/,
        );
        expect(await store.getRun(id)).toEqual(before);
        expect(await history(id, "loss")).toEqual([]);
      });

      test("tags overwrite; the last value for a key in one batch wins", async () => {
        const id = (await newRun(experimentId, "tags")).info.runId;
        await store.logBatch(id, batch({ tags: [{ key: "stage", value: "dev" }] }));
        await store.logBatch(id, batch({ tags: [{ key: "stage", value: "prod" }] }));
        await store.logBatch(id, batch({ tags: [{ key: "dup", value: "one" }, { key: "dup", value: "two" }] }));
        const tags = (await store.getRun(id))?.tags;
        expect(tags).toContainEqual({ key: "stage", value: "prod" });
        expect(tags).toContainEqual({ key: "dup", value: "two" });
        expect(tags?.filter((t) => t.key === "stage" || t.key === "dup")).toHaveLength(2);
      });

      test("tag mlflow.runName renames the run", async () => {
        const id = (await newRun(experimentId, "before")).info.runId;
        await store.logBatch(id, batch({ tags: [{ key: RUN_NAME, value: "after" }] }));
        const run = await store.getRun(id);
        expect(run?.info.runName).toBe("after");
        expect(run?.tags).toContainEqual({ key: RUN_NAME, value: "after" });
        expect(names((await searchRuns([experimentId], "attributes.run_name = 'after'")).items)).toEqual(["after"]);
      });

      test("a large batch (1000 metrics) lands in full", async () => {
        const id = (await newRun(experimentId, "large")).info.runId;
        const metrics = Array.from({ length: 1000 }, (_, i) => metric("big", i, i, NOW + i));
        await store.logBatch(id, batch({ metrics, params: [{ key: "p", value: "1" }], tags: [{ key: "t", value: "1" }] }));
        expect(await history(id, "big")).toHaveLength(1000);
        expect((await store.getRun(id))?.metrics).toEqual([metric("big", 999, 999, NOW + 999)]);
      });

      test("metric history pages by offset and limit", async () => {
        const id = (await newRun(experimentId, "paged")).info.runId;
        // Logged out of order; history is ordered by step, then timestamp.
        const points = Array.from({ length: 25 }, (_, i) => metric("h", i * 10, i, NOW + i)).reverse();
        await store.logBatch(id, batch({ metrics: points }));

        const p1 = await store.getMetricHistory(id, "h", 0, 10);
        expect(p1.items.map((m) => m.step)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
        expect(p1.nextOffset).toBe(10);
        const p2 = await store.getMetricHistory(id, "h", 10, 10);
        expect(p2.items.map((m) => m.step)).toEqual([10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
        expect(p2.nextOffset).toBe(20);
        const p3 = await store.getMetricHistory(id, "h", 20, 10);
        expect(p3.items.map((m) => m.step)).toEqual([20, 21, 22, 23, 24]);
        expect(p3.nextOffset).toBeUndefined();

        const exact = await store.getMetricHistory(id, "h", 15, 10);
        expect(exact.items).toHaveLength(10);
        expect(exact.nextOffset).toBeUndefined();

        const all = await store.getMetricHistory(id, "h", 0, undefined);
        expect(all.items).toHaveLength(25);
        expect(all.items[24]).toEqual(metric("h", 240, 24, NOW + 24));
        expect(all.nextOffset).toBeUndefined();
        const rest = await store.getMetricHistory(id, "h", 20, undefined);
        expect(rest.items.map((m) => m.step)).toEqual([20, 21, 22, 23, 24]);
        expect((await store.getMetricHistory(id, "h", 100, 10)).items).toEqual([]);
      });

      test("20 concurrent logBatch calls on one run all land", async () => {
        const id = (await newRun(experimentId, "concurrent")).info.runId;
        const calls = Array.from({ length: 20 }, (_, i) => {
          // Alternate key order between calls, as independent clients would.
          const metrics = [metric("loss", 100 - i, i, NOW + i), metric("acc", i / 20, i, NOW + i), metric(`own-${i}`, i, 0, NOW)];
          const tags = [
            { key: "last", value: String(i) },
            { key: `t-${i}`, value: "x" },
            { key: "shared", value: "same" },
          ];
          return store.logBatch(
            id,
            batch({
              metrics: i % 2 === 0 ? metrics : metrics.reverse(),
              params: [{ key: `p-${i}`, value: String(i) }, { key: "common", value: "c" }],
              tags: i % 2 === 0 ? tags : tags.reverse(),
            }),
          );
        });
        const results = await Promise.allSettled(calls);
        expect(results.filter((r) => r.status === "rejected")).toEqual([]);

        expect(await history(id, "loss")).toHaveLength(20);
        expect(await history(id, "acc")).toHaveLength(20);
        const run = await store.getRun(id);
        expect(run?.params).toHaveLength(21);
        expect(run?.metrics.find((m) => m.key === "loss")).toEqual(metric("loss", 81, 19, NOW + 19));
        expect(run?.metrics.find((m) => m.key === "acc")).toEqual(metric("acc", 19 / 20, 19, NOW + 19));
        expect(run?.metrics).toHaveLength(22);
        expect(run?.tags.filter((t) => t.key.startsWith("t-"))).toHaveLength(20);
        expect(run?.tags.find((t) => t.key === "last")?.value).toMatch(/^\d+$/);
      });

      test("concurrent batches logging one new param with different values: exactly one wins", async () => {
        for (let round = 0; round < 5; round++) {
          const id = (await newRun(experimentId, `param-race-${round}`)).info.runId;
          const results = await Promise.allSettled(
            ["a", "b", "c", "d"].map((v) => store.logBatch(id, batch({ params: [{ key: "lr", value: v }], metrics: [metric(`m-${v}`, 1, 0, NOW)] }))),
          );
          const ok = results.filter((r) => r.status === "fulfilled");
          expect(ok).toHaveLength(1);
          for (const r of results) {
            if (r.status === "rejected") expect((r.reason as { code?: string }).code).toBe("FW_TRACKING_PARAM_CHANGED");
          }
          const run = await store.getRun(id);
          expect(run?.params).toHaveLength(1);
          // The losers' metrics were rolled back with their params.
          expect(run?.metrics).toHaveLength(1);
        }
      });
    });

    // ---- search runs ---------------------------------------------------------------------------

    describe("searchRuns", () => {
      /**
       *  run      acc   loss  lr     model        opt   team    stage     start  end   status
       *  alpha    0.9   0.1   0.01   CNN          sgd   Vision  prod      1000   2000  FINISHED
       *  beta     0.5   NaN   0.1    cnn-large    adam  vision  dev       2000   -     RUNNING
       *  gamma    NaN   0.3   0.001  rnn          sgd   -       -         3000   5000  FAILED
       *  delta    -     -Inf  -      Transformer  adam  NLP     staging   4000   4500  FINISHED
       *  epsilon  Inf   0.2   0.5    -            sgd   nlp     archived  5000   -     KILLED
       *  zeta     -2    -     1.0    rnn          -     -       -         6000   7000  FINISHED
       *  eta (deleted) acc 0.99
       */
      let exp: string;
      const ids: Record<string, string> = {};
      const ACTIVE = ["alpha", "beta", "delta", "epsilon", "gamma", "zeta"];

      beforeAll(async () => {
        exp = (await newExperiment("search-runs")).experimentId;
        const spec: {
          name: string;
          start: number;
          end: number | null;
          status: RunStatus;
          metrics: Record<string, number>;
          params: Record<string, string>;
          tags: Record<string, string>;
        }[] = [
          { name: "alpha", start: 1000, end: 2000, status: "FINISHED", metrics: { acc: 0.9, loss: 0.1 }, params: { lr: "0.01", model: "CNN", opt: "sgd" }, tags: { team: "Vision", stage: "prod" } },
          { name: "beta", start: 2000, end: null, status: "RUNNING", metrics: { acc: 0.5, loss: Number.NaN }, params: { lr: "0.1", model: "cnn-large", opt: "adam" }, tags: { team: "vision", stage: "dev" } },
          { name: "gamma", start: 3000, end: 5000, status: "FAILED", metrics: { acc: Number.NaN, loss: 0.3 }, params: { lr: "0.001", model: "rnn", opt: "sgd" }, tags: {} },
          { name: "delta", start: 4000, end: 4500, status: "FINISHED", metrics: { loss: Number.NEGATIVE_INFINITY }, params: { model: "Transformer", opt: "adam" }, tags: { team: "NLP", stage: "staging" } },
          { name: "epsilon", start: 5000, end: null, status: "KILLED", metrics: { acc: Number.POSITIVE_INFINITY, loss: 0.2 }, params: { lr: "0.5", opt: "sgd" }, tags: { team: "nlp", stage: "archived" } },
          { name: "zeta", start: 6000, end: 7000, status: "FINISHED", metrics: { acc: -2 }, params: { lr: "1.0", model: "rnn" }, tags: {} },
          { name: "eta", start: 7000, end: null, status: "RUNNING", metrics: { acc: 0.99 }, params: { lr: "0.01" }, tags: { team: "Vision" } },
        ];
        for (const s of spec) {
          const run = await newRun(exp, s.name, s.start);
          ids[s.name] = run.info.runId;
          await store.logBatch(
            run.info.runId,
            batch({
              // An older point first, so the filters must use the latest value only.
              metrics: Object.entries(s.metrics).flatMap(([key, value]) => [metric(key, 12345, 0, 1), metric(key, value, 1, 2)]),
              params: Object.entries(s.params).map(([key, value]) => ({ key, value })),
              tags: Object.entries(s.tags).map(([key, value]) => ({ key, value })),
            }),
          );
          if (s.status !== "RUNNING" || s.end !== null) await store.updateRun(run.info.runId, { status: s.status, endTime: s.end });
        }
        await store.setRunLifecycle(ids.eta as string, "deleted", NOW);
      });

      const find = async (filter: string) => sortedNames((await searchRuns([exp], filter)).items);
      const order = async (...orderBy: string[]) => names((await searchRuns([exp], undefined, { orderBy })).items);

      test("no filter returns active runs, newest start first", async () => {
        expect(await order()).toEqual(["zeta", "epsilon", "delta", "gamma", "beta", "alpha"]);
        const run = (await searchRuns([exp], "attributes.run_name = 'alpha'")).items[0];
        expect(run?.metrics).toEqual([metric("acc", 0.9, 1, 2), metric("loss", 0.1, 1, 2)]);
        expect(run?.params.map((p) => p.key)).toEqual(["lr", "model", "opt"]);
      });

      test.each([
        ["metrics.acc > 0.6", ["alpha", "epsilon"]],
        ["metrics.acc >= 0.5", ["alpha", "beta", "epsilon"]],
        ["metrics.acc < 0", ["zeta"]],
        ["metrics.acc <= 0.5", ["beta", "zeta"]],
        ["metrics.acc = 0.9", ["alpha"]],
        ["metrics.acc != 0.9", ["beta", "epsilon", "zeta"]],
        ["metrics.acc > -1e300", ["alpha", "beta", "epsilon", "zeta"]],
        ["metrics.loss < -1e308", ["delta"]],
        ["metric.loss >= 0.2", ["epsilon", "gamma"]],
        ["metrics.acc = 12345", []],
        ["metrics.missing > 0", []],
      ])("metric filter %s (NaN never matches)", async (filter, expected) => {
        expect(await find(filter)).toEqual(expected);
      });

      test.each([
        ["params.model = 'rnn'", ["gamma", "zeta"]],
        ["params.model != 'rnn'", ["alpha", "beta", "delta"]],
        ["params.model LIKE 'cnn%'", ["beta"]],
        ["params.model LIKE 'C%'", ["alpha"]],
        ["params.model like '%N%'", ["alpha"]],
        ["params.model ILIKE 'CNN%'", ["alpha", "beta"]],
        ["params.model ilike '%n%'", ["alpha", "beta", "delta", "gamma", "zeta"]],
        ["params.model LIKE 'rn_'", ["gamma", "zeta"]],
        ["params.lr IS NULL", ["delta"]],
        ["params.lr IS NOT NULL", ["alpha", "beta", "epsilon", "gamma", "zeta"]],
        ["params.lr = '0.01' and params.opt = 'sgd'", ["alpha"]],
        ["param.opt = 'adam'", ["beta", "delta"]],
        ["parameters.opt = \"adam\"", ["beta", "delta"]],
      ])("param filter %s", async (filter, expected) => {
        expect(await find(filter)).toEqual(expected);
      });

      test.each([
        ["tags.team = 'vision'", ["beta"]],
        ["tags.team != 'nlp'", ["alpha", "beta", "delta"]],
        ["tags.team LIKE 'V%'", ["alpha"]],
        ["tags.team LIKE '%ision'", ["alpha", "beta"]],
        ["tags.team ILIKE 'VISION'", ["alpha", "beta"]],
        ["tags.team ILIKE 'n%'", ["delta", "epsilon"]],
        ["tags.team IS NULL", ["gamma", "zeta"]],
        ["tags.team IS NOT NULL", ["alpha", "beta", "delta", "epsilon"]],
        ["tags.`mlflow.runName` = 'gamma'", ["gamma"]],
        ["tags.\"mlflow.runName\" LIKE '%ta'", ["beta", "delta", "zeta"]],
      ])("tag filter %s", async (filter, expected) => {
        expect(await find(filter)).toEqual(expected);
      });

      test("attribute filters: run_id IN / NOT IN", async () => {
        expect(await find(`attributes.run_id IN ('${ids.alpha}', '${ids.gamma}', '${ids.eta}')`)).toEqual(["alpha", "gamma"]);
        expect(await find(`run_id NOT IN ('${ids.alpha}', '${ids.gamma}')`)).toEqual(["beta", "delta", "epsilon", "zeta"]);
        expect(await find(`attributes.run_id = '${ids.beta}'`)).toEqual(["beta"]);
        expect(await find(`attr.run_id != '${ids.beta}'`)).toHaveLength(5);
        expect(await find(`run_id IN ('${newRunId()}')`)).toEqual([]);
      });

      test.each([
        ["attributes.run_name = 'alpha'", ["alpha"]],
        ["run_name != 'alpha'", ["beta", "delta", "epsilon", "gamma", "zeta"]],
        ["attributes.run_name LIKE '%eta'", ["beta", "zeta"]],
        ["attributes.run_name LIKE 'A%'", []],
        ["attributes.run_name ILIKE 'A%'", ["alpha"]],
        ["attributes.status = 'FINISHED'", ["alpha", "delta", "zeta"]],
        ["attributes.status != 'FINISHED'", ["beta", "epsilon", "gamma"]],
        ["run.status = 'RUNNING'", ["beta"]],
        ["attributes.start_time >= 3000 AND attributes.start_time < 6000", ["delta", "epsilon", "gamma"]],
        ["attributes.start_time = 1000", ["alpha"]],
        ["attributes.created > 5000", ["zeta"]],
        ["attributes.end_time > 4000", ["delta", "gamma", "zeta"]],
        ["attributes.end_time <= 2000", ["alpha"]],
        ["attributes.end_time != 4500", ["alpha", "gamma", "zeta"]],
        ["attributes.user_id = 'alice'", ACTIVE],
        ["metrics.acc > 0 and params.model ILIKE 'cnn%' and tags.team = 'Vision' and attributes.status = 'FINISHED'", ["alpha"]],
      ])("attribute filter %s", async (filter, expected) => {
        expect(await find(filter)).toEqual(expected);
      });

      test("an unknown attribute is FW_SEARCH_INVALID_FILTER", async () => {
        await expectCode(searchRuns([exp], "attributes.colour = 'red'"), "FW_SEARCH_INVALID_FILTER", /colour/);
        await expectCode(searchRuns([exp], undefined, { orderBy: ["attributes.colour"] }), "FW_SEARCH_INVALID_FILTER", /colour/);
      });

      test.each([
        [["metrics.acc ASC"], ["zeta", "beta", "alpha", "epsilon", "gamma", "delta"]],
        [["metrics.acc"], ["zeta", "beta", "alpha", "epsilon", "gamma", "delta"]],
        [["metrics.acc DESC"], ["epsilon", "alpha", "beta", "zeta", "gamma", "delta"]],
        [["metrics.loss ASC"], ["delta", "alpha", "epsilon", "gamma", "beta", "zeta"]],
        [["metrics.loss DESC"], ["gamma", "epsilon", "alpha", "delta", "beta", "zeta"]],
        [["params.lr ASC"], ["gamma", "alpha", "beta", "epsilon", "zeta", "delta"]],
        [["params.lr DESC"], ["zeta", "epsilon", "beta", "alpha", "gamma", "delta"]],
        // Missing values last; ties keep the default order (start_time DESC).
        [["tags.stage ASC"], ["epsilon", "beta", "alpha", "delta", "zeta", "gamma"]],
        [["tags.stage DESC"], ["delta", "alpha", "beta", "epsilon", "zeta", "gamma"]],
        [["attributes.end_time ASC"], ["alpha", "delta", "gamma", "zeta", "epsilon", "beta"]],
        [["attributes.end_time DESC"], ["zeta", "gamma", "delta", "alpha", "epsilon", "beta"]],
        [["attributes.start_time"], ["alpha", "beta", "gamma", "delta", "epsilon", "zeta"]],
        [["start_time DESC"], ["zeta", "epsilon", "delta", "gamma", "beta", "alpha"]],
        [["attributes.run_name DESC"], ["zeta", "gamma", "epsilon", "delta", "beta", "alpha"]],
        [["run_name ASC"], ["alpha", "beta", "delta", "epsilon", "gamma", "zeta"]],
        [["params.opt ASC", "metrics.acc DESC"], ["beta", "delta", "epsilon", "alpha", "gamma", "zeta"]],
        [["params.opt DESC", "metrics.acc ASC"], ["alpha", "epsilon", "gamma", "beta", "delta", "zeta"]],
      ])("order_by %j (NaN just before missing, missing last)", async (orderBy, expected) => {
        expect(await order(...orderBy)).toEqual(expected);
      });

      test("order_by combined with a filter", async () => {
        expect(names((await searchRuns([exp], "metrics.acc > -100", { orderBy: ["metrics.acc DESC"] })).items)).toEqual([
          "epsilon",
          "alpha",
          "beta",
          "zeta",
        ]);
      });

      test.each([
        [["metrics.acc DESC"]],
        [["metrics.loss ASC"]],
        [["tags.stage ASC"]],
        [["attributes.end_time DESC"]],
        [[]],
      ])("pages of 2 with order_by %j have no overlap or gap", async (orderBy) => {
        const full = names((await searchRuns([exp], undefined, { orderBy })).items);
        const pages = await allPages((offset) => searchRuns([exp], undefined, { orderBy, maxResults: 2, offset }));
        expect(pages.map((p) => p.length)).toEqual([2, 2, 2]);
        expect(pages.flat().map((r) => r.info.runName)).toEqual(full);
      });

      test("paging through runs with identical start times is stable", async () => {
        const tie = (await newExperiment("ties")).experimentId;
        const created: string[] = [];
        for (let i = 0; i < 11; i++) created.push((await newRun(tie, `tie-${i}`, 500)).info.runId);
        const pages = await allPages((offset) => searchRuns([tie], undefined, { maxResults: 3, offset }));
        expect(pages.map((p) => p.length)).toEqual([3, 3, 3, 2]);
        const seen = pages.flat().map((r) => r.info.runId);
        expect(new Set(seen).size).toBe(11);
        expect([...seen].sort()).toEqual([...created].sort());
        // Same order as one unpaged search.
        expect(seen).toEqual((await searchRuns([tie])).items.map((r) => r.info.runId));
        const big = await searchRuns([tie], undefined, { maxResults: 11 });
        expect(big.items).toHaveLength(11);
        expect(big.nextOffset).toBeUndefined();
      });

      test("viewType ACTIVE_ONLY, DELETED_ONLY and ALL", async () => {
        expect(await find("metrics.acc = 0.99")).toEqual([]);
        expect(sortedNames((await searchRuns([exp], undefined, { viewType: "DELETED_ONLY" })).items)).toEqual(["eta"]);
        expect(sortedNames((await searchRuns([exp], undefined, { viewType: "ALL" })).items)).toEqual([...ACTIVE, "eta"].sort());
        expect(sortedNames((await searchRuns([exp], "tags.team = 'Vision'", { viewType: "ALL" })).items)).toEqual(["alpha", "eta"]);
      });

      test("several experiments at once; none at all", async () => {
        const other = (await newExperiment("search-other")).experimentId;
        await newRun(other, "other-run", 99_999);
        const both = await searchRuns([exp, other], "attributes.start_time >= 6000");
        expect(names(both.items)).toEqual(["other-run", "zeta"]);
        expect((await searchRuns([], undefined)).items).toEqual([]);
      });
    });

    // ---- search experiments --------------------------------------------------------------------

    describe("searchExperiments", () => {
      const T = NOW + 1_000_000;
      beforeAll(async () => {
        await newExperiment("xs-apple", [{ key: "color", value: "red" }], T + 1);
        await newExperiment("xs-banana", [{ key: "color", value: "yellow" }, { key: "shape", value: "long" }], T + 2);
        await newExperiment("xs-cherry", [{ key: "color", value: "Red" }], T + 3);
        await newExperiment("xs-date", [], T + 4);
        const gone = await newExperiment("xs-elderberry", [{ key: "color", value: "red" }], T + 5);
        await store.setExperimentLifecycle(gone.experimentId, "deleted", T + 6);
      });
      const find = async (filter: string, o: SearchOptions = {}) =>
        (await searchExperiments(`name LIKE 'xs-%'${filter === "" ? "" : ` and ${filter}`}`, o)).items.map((e) => e.name);

      test.each([
        ["", ["xs-date", "xs-cherry", "xs-banana", "xs-apple"]],
        ["name = 'xs-apple'", ["xs-apple"]],
        ["attributes.name != 'xs-apple'", ["xs-date", "xs-cherry", "xs-banana"]],
        ["name LIKE '%an%'", ["xs-banana"]],
        ["name LIKE 'XS-%'", []],
        ["name ILIKE 'XS-%A%'", ["xs-date", "xs-banana", "xs-apple"]],
        ["tags.color = 'red'", ["xs-apple"]],
        ["tags.color ILIKE 'red'", ["xs-cherry", "xs-apple"]],
        ["tags.color != 'red'", ["xs-cherry", "xs-banana"]],
        ["tags.color LIKE '%e%'", ["xs-cherry", "xs-banana", "xs-apple"]],
        ["tags.shape IS NOT NULL", ["xs-banana"]],
        ["tags.color IS NULL", ["xs-date"]],
        [`creation_time > ${T + 2}`, ["xs-date", "xs-cherry"]],
        [`attributes.creation_time <= ${T + 1}`, ["xs-apple"]],
      ])("filter %s", async (filter, expected) => {
        expect(await find(filter)).toEqual(expected);
      });

      test("viewType", async () => {
        expect(await find("", { viewType: "DELETED_ONLY" })).toEqual(["xs-elderberry"]);
        expect(await find("tags.color = 'red'", { viewType: "ALL" })).toEqual(["xs-elderberry", "xs-apple"]);
      });

      test.each([
        [["name ASC"], ["xs-apple", "xs-banana", "xs-cherry", "xs-date"]],
        [["name DESC"], ["xs-date", "xs-cherry", "xs-banana", "xs-apple"]],
        [["creation_time ASC"], ["xs-apple", "xs-banana", "xs-cherry", "xs-date"]],
        [["attributes.creation_time DESC"], ["xs-date", "xs-cherry", "xs-banana", "xs-apple"]],
        [["last_update_time"], ["xs-apple", "xs-banana", "xs-cherry", "xs-date"]],
      ])("order_by %j", async (orderBy, expected) => {
        expect(await find("", { orderBy })).toEqual(expected);
      });

      test("order_by on a tag is rejected", async () => {
        await expectCode(searchExperiments(undefined, { orderBy: ["tags.color"] }), "FW_SEARCH_INVALID_FILTER", /tags\.color/);
      });

      test("paging", async () => {
        const pages = await allPages((offset) => searchExperiments("name LIKE 'xs-%'", { orderBy: ["name"], maxResults: 3, offset }));
        expect(pages.map((p) => p.map((e) => e.name))).toEqual([["xs-apple", "xs-banana", "xs-cherry"], ["xs-date"]]);
        const pages2 = await allPages((offset) => searchExperiments("name LIKE 'xs-%'", { maxResults: 2, offset }));
        expect(pages2.map((p) => p.map((e) => e.name))).toEqual([
          ["xs-date", "xs-cherry"],
          ["xs-banana", "xs-apple"],
        ]);
        // Tags come back with paged experiments.
        expect(pages2[1]?.[0]?.tags).toEqual([
          { key: "color", value: "yellow" },
          { key: "shape", value: "long" },
        ]);
      });
    });
  });
}
