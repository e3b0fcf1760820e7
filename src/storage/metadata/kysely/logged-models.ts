/** Logged models (MLflow 3's LoggedModel), one Kysely code path for SQLite and PostgreSQL. */
import { sql, type Kysely, type Transaction } from "kysely";
import { FlywheelError } from "../../../core/errors.js";
import type { LoggedModel, LoggedModelMetric, LoggedModelStatus, LoggedModelStore, NewLoggedModel, RunModelLink } from "../logged-model-store.js";
import type { LifecycleStage, Param, Tag } from "../metadata-store.js";
import type { Database, LoggedModelsTable } from "../schema.js";
import type { Comparison } from "../search-types.js";
import { groupBy } from "./rows.js";
import { compareSql } from "./search-sql.js";

/** The columns a search can compare in the database, by attribute name. */
const COLUMNS: Record<string, keyof LoggedModelsTable> = {
  name: "name",
  model_id: "model_id",
  model_type: "model_type",
  status: "status",
  source_run_id: "source_run_id",
  creation_timestamp: "creation_timestamp_ms",
  last_updated_timestamp: "last_updated_timestamp_ms",
};

/** Rows per multi-row INSERT: 10 columns x 100 stays under every driver's parameter limit. */
const CHUNK = 100;

const byKey = (a: { key: string }, b: { key: string }) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);

export class LoggedModelQueries implements LoggedModelStore {
  constructor(private readonly db: Kysely<Database>) {}

  async create(input: NewLoggedModel): Promise<LoggedModel> {
    await this.db.transaction().execute(async (trx) => {
      await trx
        .insertInto("logged_models")
        .values({
          model_id: input.modelId,
          experiment_id: Number(input.experimentId),
          name: input.name,
          artifact_location: input.artifactLocation,
          creation_timestamp_ms: input.now,
          last_updated_timestamp_ms: input.now,
          status: "LOGGED_MODEL_PENDING",
          status_message: null,
          lifecycle_stage: "active",
          model_type: input.modelType,
          source_run_id: input.sourceRunId,
        })
        .execute();
      await this.upsertTags(trx, input.modelId, input.tags);
      await this.insertParams(trx, input.modelId, input.params);
    });
    return (await this.get(input.modelId)) as LoggedModel;
  }

  async get(modelId: string): Promise<LoggedModel | undefined> {
    const row = await this.db.selectFrom("logged_models").selectAll().where("model_id", "=", modelId).executeTakeFirst();
    if (row === undefined) return undefined;
    const [model] = await this.withDetails([row]);
    return model;
  }

  async update(modelId: string, patch: { status?: LoggedModelStatus; statusMessage?: string | null; lifecycleStage?: LifecycleStage }, now: number): Promise<boolean> {
    const res = await this.db
      .updateTable("logged_models")
      .set({
        last_updated_timestamp_ms: now,
        ...(patch.status === undefined ? {} : { status: patch.status }),
        ...(patch.statusMessage === undefined ? {} : { status_message: patch.statusMessage }),
        ...(patch.lifecycleStage === undefined ? {} : { lifecycle_stage: patch.lifecycleStage }),
      })
      .where("model_id", "=", modelId)
      .executeTakeFirst();
    return Number(res.numUpdatedRows) > 0;
  }

  async setTags(modelId: string, tags: Tag[], now: number): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await this.upsertTags(trx, modelId, tags);
      await this.touch(trx, modelId, now);
    });
  }

  async deleteTag(modelId: string, key: string, now: number): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const res = await trx.deleteFrom("logged_model_tags").where("model_id", "=", modelId).where("key", "=", key).executeTakeFirst();
      if (Number(res.numDeletedRows) === 0) return false;
      await this.touch(trx, modelId, now);
      return true;
    });
  }

  async logParams(modelId: string, params: Param[], now: number): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await this.insertParams(trx, modelId, params);
      await this.touch(trx, modelId, now);
    });
  }

  async logMetrics(points: (LoggedModelMetric & { modelId: string })[]): Promise<void> {
    if (points.length === 0) return;
    const rows = points.map((p) => ({
      model_id: p.modelId,
      key: p.key,
      value: Number.isNaN(p.value) ? 0 : p.value,
      is_nan: Number.isNaN(p.value) ? 1 : 0,
      timestamp: p.timestamp,
      step: p.step,
      run_id: p.runId,
      dataset_name: p.datasetName ?? "",
      dataset_digest: p.datasetDigest ?? "",
    }));
    await this.db.transaction().execute(async (trx) => {
      for (let i = 0; i < rows.length; i += CHUNK) {
        await trx
          .insertInto("logged_model_metrics")
          .values(rows.slice(i, i + CHUNK))
          .onConflict((oc) => oc.doNothing())
          .execute();
      }
    });
  }

  async linkRun(runId: string, links: RunModelLink[]): Promise<void> {
    if (links.length === 0) return;
    await this.db.transaction().execute(async (trx) => {
      const last = await trx.selectFrom("run_model_links").select((eb) => eb.fn.max("seq").as("seq")).where("run_uuid", "=", runId).executeTakeFirst();
      let seq = Number(last?.seq ?? 0);
      const unique = [...new Map(links.map((l) => [`${l.direction}\u0000${l.modelId}`, l])).values()];
      for (let i = 0; i < unique.length; i += CHUNK) {
        await trx
          .insertInto("run_model_links")
          .values(unique.slice(i, i + CHUNK).map((l) => ({ run_uuid: runId, model_id: l.modelId, direction: l.direction, step: l.step, seq: ++seq })))
          .onConflict((oc) => oc.doNothing())
          .execute();
      }
    });
  }

  async list(experimentIds: readonly string[], stage: LifecycleStage, where: readonly Comparison[] = []): Promise<LoggedModel[]> {
    // Experiment ids are numbers here; another string names no experiment.
    const ids = experimentIds.filter((id) => /^\d{1,18}$/.test(id)).map(Number);
    if (ids.length === 0) return [];
    let query = this.db
      .selectFrom("logged_models")
      .selectAll()
      .where("experiment_id", "in", ids)
      .where("lifecycle_stage", "=", stage);
    for (const c of where) {
      const column = COLUMNS[c.key];
      if (column === undefined) throw new FlywheelError("FW_SEARCH_INVALID_FILTER", `Invalid filter attribute '${c.key}' for logged models`);
      const cond = compareSql(sql.ref(column), c);
      query = query.where(() => cond.$castTo<boolean>());
    }
    const rows = await query.orderBy("creation_timestamp_ms", "desc").orderBy("model_id").execute();
    return this.withDetails(rows);
  }

  private async withDetails(rows: LoggedModelsTable[]): Promise<LoggedModel[]> {
    if (rows.length === 0) return [];
    const tags = new Map<string, Tag[]>();
    const params = new Map<string, Param[]>();
    const metrics = new Map<string, LoggedModelMetric[]>();
    for (let i = 0; i < rows.length; i += 500) {
      const ids = rows.slice(i, i + 500).map((r) => r.model_id);
      const [t, p, m] = await Promise.all([
        this.db.selectFrom("logged_model_tags").selectAll().where("model_id", "in", ids).orderBy("key").execute(),
        this.db.selectFrom("logged_model_params").selectAll().where("model_id", "in", ids).orderBy("key").execute(),
        this.db.selectFrom("logged_model_metrics").selectAll().where("model_id", "in", ids).orderBy("key").orderBy("timestamp").orderBy("step").execute(),
      ]);
      for (const [id, list] of groupBy(t, (r) => r.model_id)) tags.set(id, list.map((r) => ({ key: r.key, value: r.value })));
      for (const [id, list] of groupBy(p, (r) => r.model_id)) params.set(id, list.map((r) => ({ key: r.key, value: r.value })));
      for (const [id, list] of groupBy(m, (r) => r.model_id)) {
        metrics.set(
          id,
          list.map((r) => ({
            key: r.key,
            value: Number(r.is_nan) === 1 ? Number.NaN : Number(r.value),
            timestamp: Number(r.timestamp),
            step: Number(r.step),
            runId: r.run_id,
            datasetName: r.dataset_name === "" ? null : r.dataset_name,
            datasetDigest: r.dataset_digest === "" ? null : r.dataset_digest,
          })),
        );
      }
    }
    return rows.map((r) => ({
      modelId: r.model_id,
      experimentId: String(r.experiment_id),
      name: r.name,
      artifactLocation: r.artifact_location,
      creationTimestamp: Number(r.creation_timestamp_ms),
      lastUpdatedTimestamp: Number(r.last_updated_timestamp_ms),
      status: r.status as LoggedModelStatus,
      statusMessage: r.status_message,
      lifecycleStage: r.lifecycle_stage as LifecycleStage,
      modelType: r.model_type,
      sourceRunId: r.source_run_id,
      tags: tags.get(r.model_id) ?? [],
      params: params.get(r.model_id) ?? [],
      metrics: metrics.get(r.model_id) ?? [],
    }));
  }

  private async touch(trx: Transaction<Database>, modelId: string, now: number): Promise<void> {
    await trx.updateTable("logged_models").set({ last_updated_timestamp_ms: now }).where("model_id", "=", modelId).execute();
  }

  private async upsertTags(trx: Transaction<Database>, modelId: string, items: Tag[]): Promise<void> {
    // The last value of a key wins, as it would with the tags set one by one.
    const last = [...new Map(items.map((t) => [t.key, t])).values()].sort(byKey);
    for (let i = 0; i < last.length; i += CHUNK) {
      await trx
        .insertInto("logged_model_tags")
        .values(last.slice(i, i + CHUNK).map((t) => ({ model_id: modelId, key: t.key, value: t.value })))
        .onConflict((oc) => oc.columns(["model_id", "key"]).doUpdateSet({ value: (eb) => eb.ref("excluded.value") }))
        .execute();
    }
  }

  private async insertParams(trx: Transaction<Database>, modelId: string, params: Param[]): Promise<void> {
    if (params.length === 0) return;
    const check = async () => {
      const stored = await trx.selectFrom("logged_model_params").select(["key", "value"]).where("model_id", "=", modelId).where("key", "in", params.map((p) => p.key)).execute();
      const old = new Map(stored.map((r) => [r.key, r.value]));
      for (const p of params) {
        const was = old.get(p.key);
        if (was !== undefined && was !== p.value) {
          throw new FlywheelError(
            "FW_TRACKING_PARAM_CHANGED",
            `Changing param values is not allowed. Param with key='${p.key}' was already logged with value='${was}' for logged model ID='${modelId}'. Attempted logging new value '${p.value}'.`,
          );
        }
      }
      return old;
    };
    const old = await check();
    const fresh = [...new Map(params.filter((p) => !old.has(p.key)).map((p) => [p.key, p])).values()].sort(byKey);
    for (let i = 0; i < fresh.length; i += CHUNK) {
      await trx
        .insertInto("logged_model_params")
        .values(fresh.slice(i, i + CHUNK).map((p) => ({ model_id: modelId, key: p.key, value: p.value })))
        .onConflict((oc) => oc.doNothing())
        .execute();
    }
    // A concurrent request may have stored some of these keys meanwhile (PostgreSQL): compare again.
    await check();
  }
}
