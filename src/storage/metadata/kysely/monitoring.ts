/** The MonitoringStore on Kysely: monitors, runs, time-series points, events, reference records. */
import type { Kysely } from "kysely";
import { FlywheelError } from "../../../core/errors.js";
import type {
  MonitorEventRecord,
  MonitorPoint,
  MonitorRecord,
  MonitorReferenceRecord,
  MonitorRunRecord,
  MonitorRunStatus,
  MonitoringStore,
  PointQuery,
} from "../monitoring-store.js";
import type { Database, MonitorRunsTable, MonitorsTable } from "../schema.js";
import { isUniqueViolation } from "./unique.js";

/** Rows per INSERT: far below PostgreSQL's 65,535 bind parameters at 10 columns a row. */
const POINT_BATCH = 500;

const num = (v: number | string | bigint): number => Number(v);
const numOrNull = (v: number | string | bigint | null): number | null => (v === null ? null : Number(v));

function toMonitor(r: MonitorsTable): MonitorRecord {
  return {
    name: r.name,
    spec: r.spec,
    createdTime: num(r.created_time),
    updatedTime: num(r.updated_time),
    nextRunTime: numOrNull(r.next_run_time),
    lastRunTime: numOrNull(r.last_run_time),
    lastStatus: r.last_status as MonitorRunStatus | null,
  };
}

function toRun(r: Omit<MonitorRunsTable, "id"> & { id: number }): MonitorRunRecord {
  return {
    id: num(r.id),
    monitor: r.monitor,
    trigger: r.run_trigger,
    startedTime: num(r.started_time),
    finishedTime: num(r.finished_time),
    windowStart: num(r.window_start),
    windowEnd: num(r.window_end),
    model: r.model,
    version: r.version,
    status: r.status as MonitorRunStatus,
    result: r.result,
  };
}

export class MonitoringQueries implements MonitoringStore {
  constructor(private readonly db: Kysely<Database>) {}

  async createMonitor(m: MonitorRecord): Promise<void> {
    try {
      await this.db
        .insertInto("monitors")
        .values({
          name: m.name,
          spec: m.spec,
          created_time: m.createdTime,
          updated_time: m.updatedTime,
          next_run_time: m.nextRunTime,
          last_run_time: m.lastRunTime,
          last_status: m.lastStatus,
        })
        .execute();
    } catch (e) {
      if (isUniqueViolation(e)) throw new FlywheelError("FW_MONITOR_EXISTS", `A monitor named '${m.name}' already exists`);
      throw e;
    }
  }

  async getMonitor(name: string): Promise<MonitorRecord | undefined> {
    const row = await this.db.selectFrom("monitors").selectAll().where("name", "=", name).executeTakeFirst();
    return row === undefined ? undefined : toMonitor(row);
  }

  async listMonitors(): Promise<MonitorRecord[]> {
    const rows = await this.db.selectFrom("monitors").selectAll().orderBy("name").execute();
    return rows.map(toMonitor);
  }

  async updateMonitor(name: string, spec: string, nextRunTime: number | null, now: number): Promise<boolean> {
    const res = await this.db
      .updateTable("monitors")
      .set({ spec, next_run_time: nextRunTime, updated_time: now })
      .where("name", "=", name)
      .executeTakeFirst();
    return Number(res.numUpdatedRows) > 0;
  }

  async deleteMonitor(name: string): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom("monitor_points").where("monitor", "=", name).execute();
      await trx.deleteFrom("monitor_events").where("monitor", "=", name).execute();
      await trx.deleteFrom("monitor_runs").where("monitor", "=", name).execute();
      const res = await trx.deleteFrom("monitors").where("name", "=", name).executeTakeFirst();
      return Number(res.numDeletedRows) > 0;
    });
  }

  async dueMonitors(now: number, limit: number): Promise<string[]> {
    const rows = await this.db
      .selectFrom("monitors")
      .select("name")
      .where("next_run_time", "is not", null)
      .where("next_run_time", "<=", now)
      .orderBy("next_run_time")
      .orderBy("name")
      .limit(limit)
      .execute();
    return rows.map((r) => r.name);
  }

  async claimRun(name: string, expected: number, next: number): Promise<boolean> {
    const res = await this.db
      .updateTable("monitors")
      .set({ next_run_time: next })
      .where("name", "=", name)
      .where("next_run_time", "=", expected)
      .executeTakeFirst();
    return Number(res.numUpdatedRows) === 1;
  }

  async addRun(run: Omit<MonitorRunRecord, "id">): Promise<number> {
    return this.db.transaction().execute(async (trx) => {
      const row = await trx
        .insertInto("monitor_runs")
        .values({
          monitor: run.monitor,
          run_trigger: run.trigger,
          started_time: run.startedTime,
          finished_time: run.finishedTime,
          window_start: run.windowStart,
          window_end: run.windowEnd,
          model: run.model,
          version: run.version,
          status: run.status,
          result: run.result,
        })
        .returning("id")
        .executeTakeFirstOrThrow();
      await trx.updateTable("monitors").set({ last_run_time: run.finishedTime, last_status: run.status }).where("name", "=", run.monitor).execute();
      return num(row.id);
    });
  }

  async runs(monitor: string, limit: number, before?: number): Promise<MonitorRunRecord[]> {
    let q = this.db.selectFrom("monitor_runs").selectAll().where("monitor", "=", monitor);
    if (before !== undefined) q = q.where("id", "<", before);
    const rows = await q.orderBy("id", "desc").limit(limit).execute();
    return rows.map(toRun);
  }

  async getRun(monitor: string, id: number): Promise<MonitorRunRecord | undefined> {
    const row = await this.db.selectFrom("monitor_runs").selectAll().where("monitor", "=", monitor).where("id", "=", id).executeTakeFirst();
    return row === undefined ? undefined : toRun(row);
  }

  async upsertPoints(points: readonly MonitorPoint[]): Promise<void> {
    if (points.length === 0) return;
    await this.db.transaction().execute(async (trx) => {
      for (let i = 0; i < points.length; i += POINT_BATCH) {
        const rows = points.slice(i, i + POINT_BATCH).map((p) => ({
          monitor: p.monitor,
          check_name: p.check,
          metric: p.metric,
          series: p.series,
          window_start: p.windowStart,
          window_end: p.windowEnd,
          value: p.value,
          row_count: p.count,
          run_id: p.runId,
          computed_time: p.computedTime,
        }));
        await trx
          .insertInto("monitor_points")
          .values(rows)
          .onConflict((oc) =>
            oc.columns(["monitor", "check_name", "metric", "series", "window_start"]).doUpdateSet((eb) => ({
              window_end: eb.ref("excluded.window_end"),
              value: eb.ref("excluded.value"),
              row_count: eb.ref("excluded.row_count"),
              run_id: eb.ref("excluded.run_id"),
              computed_time: eb.ref("excluded.computed_time"),
            })),
          )
          .execute();
      }
    });
  }

  async points(monitor: string, query: PointQuery): Promise<MonitorPoint[]> {
    let q = this.db.selectFrom("monitor_points").selectAll().where("monitor", "=", monitor);
    if (query.check !== undefined) q = q.where("check_name", "=", query.check);
    if (query.metric !== undefined) q = q.where("metric", "=", query.metric);
    if (query.series !== undefined) q = q.where("series", "=", query.series);
    if (query.since !== undefined) q = q.where("window_start", ">=", query.since);
    if (query.until !== undefined) q = q.where("window_start", "<", query.until);
    const rows = await q.orderBy("window_start").orderBy("check_name").orderBy("metric").orderBy("series").limit(query.limit).execute();
    return rows.map((r) => ({
      monitor: r.monitor,
      check: r.check_name,
      metric: r.metric,
      series: r.series,
      windowStart: num(r.window_start),
      windowEnd: num(r.window_end),
      value: Number(r.value),
      count: numOrNull(r.row_count),
      runId: num(r.run_id),
      computedTime: num(r.computed_time),
    }));
  }

  async addEvent(e: Omit<MonitorEventRecord, "id">): Promise<number> {
    const row = await this.db
      .insertInto("monitor_events")
      .values({ monitor: e.monitor, run_id: e.runId, kind: e.kind, event_time: e.time, payload: e.payload, delivery: e.delivery })
      .returning("id")
      .executeTakeFirstOrThrow();
    return num(row.id);
  }

  async setEventDelivery(id: number, delivery: string): Promise<void> {
    await this.db.updateTable("monitor_events").set({ delivery }).where("id", "=", id).execute();
  }

  async events(monitor: string, limit: number): Promise<MonitorEventRecord[]> {
    const rows = await this.db.selectFrom("monitor_events").selectAll().where("monitor", "=", monitor).orderBy("id", "desc").limit(limit).execute();
    return rows.map((r) => ({
      id: num(r.id),
      monitor: r.monitor,
      runId: numOrNull(r.run_id),
      kind: r.kind,
      time: num(r.event_time),
      payload: r.payload,
      delivery: r.delivery,
    }));
  }

  async getReference(model: string, version: string, fingerprint: string): Promise<MonitorReferenceRecord | undefined> {
    const r = await this.db
      .selectFrom("monitor_references")
      .selectAll()
      .where("model", "=", model)
      .where("version", "=", version)
      .where("fingerprint", "=", fingerprint)
      .executeTakeFirst();
    if (r === undefined) return undefined;
    return {
      model: r.model,
      version: r.version,
      fingerprint: r.fingerprint,
      artifactKey: r.artifact_key,
      rows: num(r.row_count),
      createdTime: num(r.created_time),
    };
  }

  async putReference(r: MonitorReferenceRecord): Promise<void> {
    const values = {
      model: r.model,
      version: r.version,
      fingerprint: r.fingerprint,
      artifact_key: r.artifactKey,
      row_count: r.rows,
      created_time: r.createdTime,
    };
    await this.db
      .insertInto("monitor_references")
      .values(values)
      .onConflict((oc) => oc.columns(["model", "version", "fingerprint"]).doUpdateSet({ artifact_key: r.artifactKey, row_count: r.rows, created_time: r.createdTime }))
      .execute();
  }
}
