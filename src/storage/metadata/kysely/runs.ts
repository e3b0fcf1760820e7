/** Run, param, tag and metric storage, one Kysely code path for SQLite and PostgreSQL. */
import { CompiledQuery, sql, type Kysely, type Transaction } from "kysely";
import { FlywheelError } from "../../../core/errors.js";
import type { Batch, LifecycleStage, Metric, NewRun, Page, Run, RunInfo, RunQuery, RunUpdate, Tag } from "../metadata-store.js";
import type { Database, MetricsTable, RunsTable } from "../schema.js";
import { groupBy, isLater, metricRow, toMetric, toRunInfo } from "./rows.js";
import { RunInputQueries } from "./run-inputs.js";
import { runFilterSql, runOrderSql } from "./search-sql.js";

/** Rows per multi-row INSERT: 6 columns x 500 stays under every driver's parameter limit. */
const CHUNK = 500;
const RUN_NAME_TAG = "mlflow.runName";

/**
 * Rows are written in key order so that concurrent batches on one run lock rows in the same order
 * (PostgreSQL would otherwise report a deadlock when two batches name the same keys differently ordered).
 */
function byKey(a: { key: string }, b: { key: string }): number {
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}

function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/**
 * The metric-point INSERT of the hot path, built without Kysely's query builder: its text depends
 * only on the row count, so it is built once, and SQLite keeps it prepared (the dialect caches
 * statements by text). On SQLite, rows go as one multi-row VALUES per chunk; on PostgreSQL, where
 * each statement is a network round trip, the whole batch goes as one JSON parameter that the
 * server unpacks (JSON has no NaN or infinities: NaN is stored as 0 with is_nan set, and a batch
 * holding an infinity takes the VALUES path there too).
 */
const insertTexts = new Map<string, string>();
const METRIC_COLUMNS = "run_uuid, key, value, timestamp, step, is_nan";

function metricValuesInsert(backend: "sqlite" | "postgresql", rows: MetricsTable[]): CompiledQuery {
  const cacheKey = `${backend}:${rows.length}`;
  let text = insertTexts.get(cacheKey);
  if (text === undefined) {
    const tuples = rows.map((_, i) =>
      backend === "sqlite" ? "(?, ?, ?, ?, ?, ?)" : `($${i * 6 + 1}, $${i * 6 + 2}, $${i * 6 + 3}, $${i * 6 + 4}, $${i * 6 + 5}, $${i * 6 + 6})`,
    );
    text = `insert into metrics (${METRIC_COLUMNS}) values ${tuples.join(", ")} on conflict do nothing`;
    if (insertTexts.size < 256) insertTexts.set(cacheKey, text);
  }
  const params: unknown[] = new Array(rows.length * 6);
  rows.forEach((r, i) => {
    params[i * 6] = r.run_uuid;
    params[i * 6 + 1] = r.key;
    params[i * 6 + 2] = r.value;
    params[i * 6 + 3] = r.timestamp;
    params[i * 6 + 4] = r.step;
    params[i * 6 + 5] = r.is_nan;
  });
  return CompiledQuery.raw(text, params);
}

function metricJsonInsert(runId: string, rows: MetricsTable[]) {
  const packed = JSON.stringify(rows.map((r) => [r.key, r.value, r.timestamp, r.step, r.is_nan]));
  return sql`insert into metrics (run_uuid, key, value, timestamp, step, is_nan)
          select ${runId}, x.value ->> 0, (x.value ->> 1)::float8, (x.value ->> 2)::bigint, (x.value ->> 3)::bigint, (x.value ->> 4)::smallint
          from jsonb_array_elements(${packed}::jsonb) x
          on conflict do nothing`;
}

export class RunQueries {
  readonly inputs: RunInputQueries;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly backend: "sqlite" | "postgresql",
  ) {
    this.inputs = new RunInputQueries(db);
  }

  async create(input: NewRun): Promise<Run> {
    await this.db.transaction().execute(async (trx) => {
      await trx
        .insertInto("runs")
        .values({
          run_uuid: input.runId,
          name: input.runName,
          experiment_id: Number(input.experimentId),
          user_id: input.userId,
          status: "RUNNING",
          start_time: input.startTime,
          end_time: null,
          deleted_time: null,
          lifecycle_stage: "active",
          artifact_uri: input.artifactUri,
        })
        .execute();
      await this.upsertTags(trx, input.runId, input.tags);
    });
    const run = await this.get(input.runId);
    if (run === undefined) throw new FlywheelError("FW_INTERNAL", `Run ${input.runId} vanished after insert`);
    return run;
  }

  async getInfo(runId: string): Promise<RunInfo | undefined> {
    const row = await this.db.selectFrom("runs").selectAll().where("run_uuid", "=", runId).executeTakeFirst();
    return row === undefined ? undefined : toRunInfo(row);
  }

  async get(runId: string): Promise<Run | undefined> {
    const row = await this.db.selectFrom("runs").selectAll().where("run_uuid", "=", runId).executeTakeFirst();
    if (row === undefined) return undefined;
    return (await this.hydrate([row]))[0];
  }

  /** Attaches latest metrics, params, tags and inputs to run rows with five queries, whatever the count. */
  private async hydrate(rows: RunsTable[]): Promise<Run[]> {
    if (rows.length === 0) return [];
    const ids = rows.map((r) => r.run_uuid);
    const [metrics, params, tags, inputs, links] = await Promise.all([
      this.db.selectFrom("latest_metrics").selectAll().where("run_uuid", "in", ids).orderBy("key").execute(),
      this.db.selectFrom("params").selectAll().where("run_uuid", "in", ids).orderBy("key").execute(),
      this.db.selectFrom("tags").selectAll().where("run_uuid", "in", ids).orderBy("key").execute(),
      this.inputs.forRuns(ids),
      this.db.selectFrom("run_model_links").selectAll().where("run_uuid", "in", ids).orderBy("seq").execute(),
    ]);
    const l = groupBy(links, (r) => r.run_uuid);
    const m = groupBy(metrics, (r) => r.run_uuid);
    const p = groupBy(params, (r) => r.run_uuid);
    const t = groupBy(tags, (r) => r.run_uuid);
    return rows.map((row) => ({
      info: toRunInfo(row),
      metrics: (m.get(row.run_uuid) ?? []).map(toMetric),
      params: (p.get(row.run_uuid) ?? []).map(({ key, value }) => ({ key, value })),
      tags: (t.get(row.run_uuid) ?? []).map(({ key, value }) => ({ key, value })),
      inputs: inputs.get(row.run_uuid) ?? [],
      modelInputs: (l.get(row.run_uuid) ?? []).filter((x) => x.direction === "input").map((x) => x.model_id),
      modelOutputs: (l.get(row.run_uuid) ?? []).filter((x) => x.direction === "output").map((x) => ({ modelId: x.model_id, step: Number(x.step) })),
    }));
  }

  async update(runId: string, update: RunUpdate): Promise<RunInfo> {
    await this.db.transaction().execute(async (trx) => {
      const set: Partial<RunsTable> = {};
      if (update.status !== undefined) set.status = update.status;
      if (update.endTime !== undefined) set.end_time = update.endTime;
      if (update.runName !== undefined) set.name = update.runName;
      if (Object.keys(set).length > 0) await trx.updateTable("runs").set(set).where("run_uuid", "=", runId).execute();
      if (update.runName !== undefined) await this.upsertTags(trx, runId, [{ key: RUN_NAME_TAG, value: update.runName }]);
    });
    const info = await this.getInfo(runId);
    if (info === undefined) throw new FlywheelError("FW_TRACKING_RUN_NOT_FOUND", `Run with id=${runId} not found`);
    return info;
  }

  async setLifecycle(runId: string, stage: LifecycleStage, now: number): Promise<void> {
    await this.db
      .updateTable("runs")
      .set({ lifecycle_stage: stage, deleted_time: stage === "deleted" ? now : null })
      .where("run_uuid", "=", runId)
      .execute();
  }

  private async upsertTags(trx: Transaction<Database>, runId: string, tags: Tag[]): Promise<void> {
    if (tags.length === 0) return;
    // The last value given for a key wins; one statement may not upsert the same row twice.
    const unique = [...new Map(tags.map((t) => [t.key, t])).values()].sort(byKey);
    for (const part of chunks(unique, CHUNK)) {
      await trx
        .insertInto("tags")
        .values(part.map((t) => ({ run_uuid: runId, key: t.key, value: t.value })))
        .onConflict((oc) => oc.columns(["run_uuid", "key"]).doUpdateSet({ value: (eb) => eb.ref("excluded.value") }))
        .execute();
    }
    const named = tags.filter((t) => t.key === RUN_NAME_TAG).at(-1);
    if (named !== undefined) await trx.updateTable("runs").set({ name: named.value }).where("run_uuid", "=", runId).execute();
  }

  async logBatch(runId: string, batch: Batch): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      if (batch.params.length > 0) await this.insertParams(trx, runId, batch.params);
      await this.upsertTags(trx, runId, batch.tags);
      if (batch.metrics.length > 0) await this.insertMetrics(trx, runId, batch.metrics);
    });
  }

  private async storedParams(trx: Transaction<Database>, runId: string, keys: string[]): Promise<Map<string, string>> {
    const rows = await trx.selectFrom("params").select(["key", "value"]).where("run_uuid", "=", runId).where("key", "in", keys).execute();
    return new Map(rows.map((r) => [r.key, r.value]));
  }

  private async insertParams(trx: Transaction<Database>, runId: string, params: Tag[]): Promise<void> {
    const unchanged = (stored: Map<string, string>) => {
      for (const p of params) {
        const old = stored.get(p.key);
        if (old !== undefined && old !== p.value) {
          throw new FlywheelError(
            "FW_TRACKING_PARAM_CHANGED",
            `Changing param values is not allowed. Param with key='${p.key}' was already logged with value='${old}' for run ID='${runId}'. Attempted logging new value '${p.value}'.`,
          );
        }
      }
    };
    const stored = await this.storedParams(trx, runId, params.map((p) => p.key));
    unchanged(stored);
    const fresh = params.filter((p) => !stored.has(p.key)).sort(byKey);
    if (fresh.length === 0) return;
    const res = await trx
      .insertInto("params")
      .values(fresh.map((p) => ({ run_uuid: runId, key: p.key, value: p.value })))
      .onConflict((oc) => oc.doNothing())
      .executeTakeFirst();
    // A concurrent batch inserted some of these keys between our read and our write (possible
    // on PostgreSQL): compare with what it stored, so a different value is still refused.
    if (Number(res.numInsertedOrUpdatedRows ?? fresh.length) < fresh.length) {
      unchanged(await this.storedParams(trx, runId, fresh.map((p) => p.key)));
    }
  }


  private async insertMetrics(trx: Transaction<Database>, runId: string, metrics: Metric[]): Promise<void> {
    const rows = metrics
      .map((m) => metricRow(runId, m))
      .sort((a, b) => byKey(a, b) || a.step - b.step || a.timestamp - b.timestamp || a.value - b.value || a.is_nan - b.is_nan);
    if (this.backend === "postgresql" && rows.every((r) => Number.isFinite(r.value))) {
      await metricJsonInsert(runId, rows).execute(trx);
    } else {
      for (const part of chunks(rows, CHUNK)) await trx.executeQuery(metricValuesInsert(this.backend, part));
    }
    const latest = new Map<string, MetricsTable>();
    for (const r of rows) {
      const cur = latest.get(r.key);
      if (cur === undefined || isLater(r, cur)) latest.set(r.key, r);
    }
    for (const part of chunks([...latest.values()].sort(byKey), CHUNK)) {
      await trx
        .insertInto("latest_metrics")
        .values(part)
        .onConflict((oc) =>
          oc
            .columns(["run_uuid", "key"])
            .doUpdateSet({
              value: (eb) => eb.ref("excluded.value"),
              timestamp: (eb) => eb.ref("excluded.timestamp"),
              step: (eb) => eb.ref("excluded.step"),
              is_nan: (eb) => eb.ref("excluded.is_nan"),
            })
            .where(
              sql<boolean>`excluded.step > latest_metrics.step
                or (excluded.step = latest_metrics.step and excluded.timestamp > latest_metrics.timestamp)
                or (excluded.step = latest_metrics.step and excluded.timestamp = latest_metrics.timestamp and excluded.value > latest_metrics.value)`,
            ),
        )
        .execute();
    }
  }

  async deleteTag(runId: string, key: string): Promise<boolean> {
    const res = await this.db.deleteFrom("tags").where("run_uuid", "=", runId).where("key", "=", key).executeTakeFirst();
    return Number(res.numDeletedRows) > 0;
  }

  async metricHistory(runId: string, key: string, offset: number, limit: number | undefined): Promise<Page<Metric>> {
    let q = this.db
      .selectFrom("metrics")
      .select(["key", "value", "timestamp", "step", "is_nan"])
      .where("run_uuid", "=", runId)
      .where("key", "=", key)
      .orderBy("step")
      .orderBy("timestamp")
      .orderBy("value");
    if (limit !== undefined) q = q.limit(limit + 1);
    else if (offset > 0) q = q.limit(Number.MAX_SAFE_INTEGER);
    if (offset > 0) q = q.offset(offset);
    const rows = await q.execute();
    const more = limit !== undefined && rows.length > limit;
    return {
      items: (more ? rows.slice(0, limit) : rows).map(toMetric),
      nextOffset: more && limit !== undefined ? offset + limit : undefined,
    };
  }

  async search(q: RunQuery): Promise<Page<Run>> {
    if (q.experimentIds.length === 0) return { items: [], nextOffset: undefined };
    const ids = q.experimentIds.map(Number);
    const where = [sql`r.experiment_id in (${sql.join(ids)})`, ...runFilterSql(q.filter)];
    if (q.viewType !== "ALL") where.push(sql`r.lifecycle_stage = ${q.viewType === "ACTIVE_ONLY" ? "active" : "deleted"}`);
    const order = runOrderSql(q.orderBy);
    const result = await sql<RunsTable>`
      select r.* from runs r ${sql.join(order.joins, sql` `)}
      where ${sql.join(where, sql` and `)}
      order by ${sql.join(order.orderBy)}
      limit ${q.maxResults + 1} offset ${q.offset}`.execute(this.db);
    const rows = result.rows;
    const more = rows.length > q.maxResults;
    return {
      items: await this.hydrate(more ? rows.slice(0, q.maxResults) : rows),
      nextOffset: more ? q.offset + q.maxResults : undefined,
    };
  }
}
