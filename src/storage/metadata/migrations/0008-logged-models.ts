/**
 * Logged models (MLflow 3's LoggedModel): a model logged in an experiment, with its own artifact
 * location, status, tags, params and the metrics logged against it. Deleting the experiment
 * deletes its logged models; deleting a logged model (a hard delete) deletes its tags, params
 * and metrics. MLflow's "delete" is a soft delete (lifecycle_stage 'deleted').
 * Runs link to logged models as inputs (runs/log-inputs `models`) and outputs (runs/outputs), and
 * a registered model version records the logged model it was made from.
 */
import type { Kysely, Migration } from "kysely";

export const migration0008 = (): Migration => ({
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable("logged_models")
      .addColumn("model_id", "varchar(64)", (c) => c.primaryKey())
      .addColumn("experiment_id", "bigint", (c) => c.notNull().references("experiments.experiment_id").onDelete("cascade"))
      .addColumn("name", "varchar(500)", (c) => c.notNull())
      .addColumn("artifact_location", "varchar(1024)", (c) => c.notNull())
      .addColumn("creation_timestamp_ms", "bigint", (c) => c.notNull())
      .addColumn("last_updated_timestamp_ms", "bigint", (c) => c.notNull())
      .addColumn("status", "varchar(32)", (c) => c.notNull())
      .addColumn("status_message", "text")
      .addColumn("lifecycle_stage", "varchar(32)", (c) => c.notNull())
      .addColumn("model_type", "varchar(500)")
      .addColumn("source_run_id", "varchar(32)")
      .execute();
    await db.schema.createIndex("logged_models_experiment_idx").on("logged_models").columns(["experiment_id", "creation_timestamp_ms"]).execute();
    await db.schema.createIndex("logged_models_source_run_idx").on("logged_models").columns(["source_run_id"]).execute();
    for (const table of ["logged_model_tags", "logged_model_params"]) {
      await db.schema
        .createTable(table)
        .addColumn("model_id", "varchar(64)", (c) => c.notNull().references("logged_models.model_id").onDelete("cascade"))
        .addColumn("key", "varchar(255)", (c) => c.notNull())
        .addColumn("value", "text", (c) => c.notNull())
        .addPrimaryKeyConstraint(`${table}_pk`, ["model_id", "key"])
        .execute();
    }
    await db.schema
      .createTable("logged_model_metrics")
      .addColumn("model_id", "varchar(64)", (c) => c.notNull().references("logged_models.model_id").onDelete("cascade"))
      .addColumn("key", "varchar(250)", (c) => c.notNull())
      .addColumn("value", "double precision", (c) => c.notNull())
      .addColumn("is_nan", "smallint", (c) => c.notNull())
      .addColumn("timestamp", "bigint", (c) => c.notNull())
      .addColumn("step", "bigint", (c) => c.notNull())
      .addColumn("run_id", "varchar(32)", (c) => c.notNull())
      // '' when the metric names no dataset, so the key below can hold it.
      .addColumn("dataset_name", "varchar(500)", (c) => c.notNull())
      .addColumn("dataset_digest", "varchar(36)", (c) => c.notNull())
      // As for a run's metrics, a retried identical point is stored once and a different value at the same step is kept.
      .addPrimaryKeyConstraint("logged_model_metrics_pk", ["model_id", "key", "timestamp", "step", "run_id", "dataset_name", "dataset_digest", "value", "is_nan"])
      .execute();
    await db.schema
      .createTable("run_model_links")
      .addColumn("run_uuid", "varchar(32)", (c) => c.notNull().references("runs.run_uuid").onDelete("cascade"))
      .addColumn("model_id", "varchar(64)", (c) => c.notNull().references("logged_models.model_id").onDelete("cascade"))
      // 'input' or 'output'
      .addColumn("direction", "varchar(8)", (c) => c.notNull())
      .addColumn("step", "bigint", (c) => c.notNull())
      .addColumn("seq", "bigint", (c) => c.notNull())
      .addPrimaryKeyConstraint("run_model_links_pk", ["run_uuid", "direction", "model_id"])
      .execute();
    await db.schema.createIndex("run_model_links_model_idx").on("run_model_links").columns(["model_id"]).execute();
    await db.schema.alterTable("model_versions").addColumn("logged_model_id", "varchar(64)").execute();
  },
});
