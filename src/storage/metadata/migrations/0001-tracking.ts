/** Experiments, runs, params, tags, metrics and the latest value of each metric. */
import { sql, type Kysely, type Migration } from "kysely";

export const migration0001 = (backend: "sqlite" | "postgresql"): Migration => ({
  async up(db: Kysely<unknown>): Promise<void> {
    const pg = backend === "postgresql";
    await db.schema
      .createTable("experiments")
      .addColumn("experiment_id", pg ? "bigserial" : "integer", (c) =>
        pg ? c.primaryKey() : c.primaryKey().autoIncrement(),
      )
      .addColumn("name", "varchar(256)", (c) => c.notNull().unique())
      .addColumn("artifact_location", "varchar(1024)", (c) => c.notNull())
      .addColumn("lifecycle_stage", "varchar(32)", (c) => c.notNull())
      .addColumn("creation_time", "bigint", (c) => c.notNull())
      .addColumn("last_update_time", "bigint", (c) => c.notNull())
      .execute();
    await db.schema
      .createTable("experiment_tags")
      .addColumn("experiment_id", "bigint", (c) =>
        c.notNull().references("experiments.experiment_id").onDelete("cascade"),
      )
      .addColumn("key", "varchar(250)", (c) => c.notNull())
      .addColumn("value", "varchar(5000)", (c) => c.notNull())
      .addPrimaryKeyConstraint("experiment_tags_pk", ["experiment_id", "key"])
      .execute();
    await db.schema
      .createTable("runs")
      .addColumn("run_uuid", "varchar(32)", (c) => c.primaryKey())
      .addColumn("name", "varchar(250)", (c) => c.notNull())
      .addColumn("experiment_id", "bigint", (c) =>
        c.notNull().references("experiments.experiment_id").onDelete("cascade"),
      )
      .addColumn("user_id", "varchar(256)", (c) => c.notNull())
      .addColumn("status", "varchar(20)", (c) => c.notNull())
      .addColumn("start_time", "bigint", (c) => c.notNull())
      .addColumn("end_time", "bigint")
      .addColumn("deleted_time", "bigint")
      .addColumn("lifecycle_stage", "varchar(20)", (c) => c.notNull())
      .addColumn("artifact_uri", "varchar(1024)", (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex("runs_experiment_start_idx")
      .on("runs")
      .columns(["experiment_id", "start_time", "run_uuid"])
      .execute();
    for (const [table, valueType] of [
      ["params", "varchar(8000)"],
      ["tags", "text"],
    ] as const) {
      await db.schema
        .createTable(table)
        .addColumn("run_uuid", "varchar(32)", (c) => c.notNull().references("runs.run_uuid").onDelete("cascade"))
        .addColumn("key", "varchar(250)", (c) => c.notNull())
        .addColumn("value", valueType, (c) => c.notNull())
        .addPrimaryKeyConstraint(`${table}_pk`, ["run_uuid", "key"])
        .execute();
      await db.schema.createIndex(`${table}_key_value_idx`).on(table).columns(["key", "value"]).execute();
    }
    // Every logged point; the primary key makes a retried identical point a no-op.
    await db.schema
      .createTable("metrics")
      .addColumn("run_uuid", "varchar(32)", (c) => c.notNull().references("runs.run_uuid").onDelete("cascade"))
      .addColumn("key", "varchar(250)", (c) => c.notNull())
      .addColumn("value", "double precision", (c) => c.notNull())
      .addColumn("timestamp", "bigint", (c) => c.notNull())
      .addColumn("step", "bigint", (c) => c.notNull())
      .addColumn("is_nan", "smallint", (c) => c.notNull())
      .addPrimaryKeyConstraint("metrics_pk", ["run_uuid", "key", "step", "timestamp", "value", "is_nan"])
      .execute();
    // The latest point per (run, key): what runs/get returns and what search filters and sorts on.
    await db.schema
      .createTable("latest_metrics")
      .addColumn("run_uuid", "varchar(32)", (c) => c.notNull().references("runs.run_uuid").onDelete("cascade"))
      .addColumn("key", "varchar(250)", (c) => c.notNull())
      .addColumn("value", "double precision", (c) => c.notNull())
      .addColumn("timestamp", "bigint", (c) => c.notNull())
      .addColumn("step", "bigint", (c) => c.notNull())
      .addColumn("is_nan", "smallint", (c) => c.notNull())
      .addPrimaryKeyConstraint("latest_metrics_pk", ["run_uuid", "key"])
      .execute();
    await db.schema
      .createIndex("latest_metrics_key_value_idx")
      .on("latest_metrics")
      .columns(["key", "value", "run_uuid"])
      .execute();
    const now = Date.now();
    await sql`insert into experiments (experiment_id, name, artifact_location, lifecycle_stage, creation_time, last_update_time)
              values (0, 'Default', 'mlflow-artifacts:/0', 'active', ${now}, ${now})`.execute(db);
  },
});
