/** Monitoring: monitor definitions, runs, time-series points, events and reference documents. */
import type { Kysely, Migration } from "kysely";

export const migration0006 = (backend: "sqlite" | "postgresql"): Migration => ({
  async up(db: Kysely<unknown>): Promise<void> {
    const pg = backend === "postgresql";
    const serial = pg ? "bigserial" : "integer";
    await db.schema
      .createTable("monitors")
      .addColumn("name", "varchar(256)", (c) => c.primaryKey())
      .addColumn("spec", "text", (c) => c.notNull())
      .addColumn("created_time", "bigint", (c) => c.notNull())
      .addColumn("updated_time", "bigint", (c) => c.notNull())
      .addColumn("next_run_time", "bigint")
      .addColumn("last_run_time", "bigint")
      .addColumn("last_status", "varchar(16)")
      .execute();
    await db.schema.createIndex("monitors_next_run_idx").on("monitors").columns(["next_run_time"]).execute();
    await db.schema
      .createTable("monitor_runs")
      .addColumn("id", serial, (c) => (pg ? c.primaryKey() : c.primaryKey().autoIncrement()))
      .addColumn("monitor", "varchar(256)", (c) => c.notNull())
      .addColumn("run_trigger", "varchar(16)", (c) => c.notNull())
      .addColumn("started_time", "bigint", (c) => c.notNull())
      .addColumn("finished_time", "bigint", (c) => c.notNull())
      .addColumn("window_start", "bigint", (c) => c.notNull())
      .addColumn("window_end", "bigint", (c) => c.notNull())
      .addColumn("model", "varchar(256)", (c) => c.notNull())
      .addColumn("version", "varchar(64)", (c) => c.notNull())
      .addColumn("status", "varchar(16)", (c) => c.notNull())
      .addColumn("result", "text", (c) => c.notNull())
      .execute();
    await db.schema.createIndex("monitor_runs_monitor_idx").on("monitor_runs").columns(["monitor", "id"]).execute();
    await db.schema
      .createTable("monitor_points")
      .addColumn("monitor", "varchar(256)", (c) => c.notNull())
      .addColumn("check_name", "varchar(32)", (c) => c.notNull())
      .addColumn("metric", "varchar(128)", (c) => c.notNull())
      .addColumn("series", "varchar(512)", (c) => c.notNull())
      .addColumn("window_start", "bigint", (c) => c.notNull())
      .addColumn("window_end", "bigint", (c) => c.notNull())
      .addColumn("value", "double precision", (c) => c.notNull())
      .addColumn("row_count", "bigint")
      .addColumn("run_id", "bigint", (c) => c.notNull())
      .addColumn("computed_time", "bigint", (c) => c.notNull())
      .addPrimaryKeyConstraint("monitor_points_pk", ["monitor", "check_name", "metric", "series", "window_start"])
      .execute();
    await db.schema.createIndex("monitor_points_window_idx").on("monitor_points").columns(["monitor", "window_start"]).execute();
    await db.schema
      .createTable("monitor_events")
      .addColumn("id", serial, (c) => (pg ? c.primaryKey() : c.primaryKey().autoIncrement()))
      .addColumn("monitor", "varchar(256)", (c) => c.notNull())
      .addColumn("run_id", "bigint")
      .addColumn("kind", "varchar(32)", (c) => c.notNull())
      .addColumn("event_time", "bigint", (c) => c.notNull())
      .addColumn("payload", "text", (c) => c.notNull())
      .addColumn("delivery", "text", (c) => c.notNull())
      .execute();
    await db.schema.createIndex("monitor_events_monitor_idx").on("monitor_events").columns(["monitor", "id"]).execute();
    await db.schema
      .createTable("monitor_references")
      .addColumn("model", "varchar(256)", (c) => c.notNull())
      .addColumn("version", "varchar(64)", (c) => c.notNull())
      .addColumn("fingerprint", "varchar(128)", (c) => c.notNull())
      .addColumn("artifact_key", "varchar(1024)", (c) => c.notNull())
      .addColumn("row_count", "bigint", (c) => c.notNull())
      .addColumn("created_time", "bigint", (c) => c.notNull())
      .addPrimaryKeyConstraint("monitor_references_pk", ["model", "version", "fingerprint"])
      .execute();
  },
});
