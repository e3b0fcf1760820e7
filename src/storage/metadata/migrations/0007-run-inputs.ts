/**
 * Run inputs (MLflow's runs/log-inputs): datasets stored once per experiment by (name, digest),
 * the run↔dataset links, one per pair, and the tags of each link. Deleting an experiment deletes
 * its datasets; deleting a run or a dataset deletes its links and their tags.
 */
import type { Kysely, Migration } from "kysely";

export const migration0007 = (backend: "sqlite" | "postgresql"): Migration => ({
  async up(db: Kysely<unknown>): Promise<void> {
    const pg = backend === "postgresql";
    await db.schema
      .createTable("datasets")
      .addColumn("dataset_uuid", "varchar(36)", (c) => c.primaryKey())
      .addColumn("experiment_id", "bigint", (c) => c.notNull().references("experiments.experiment_id").onDelete("cascade"))
      .addColumn("name", "varchar(500)", (c) => c.notNull())
      .addColumn("digest", "varchar(36)", (c) => c.notNull())
      .addColumn("dataset_source_type", "varchar(36)", (c) => c.notNull())
      .addColumn("dataset_source", "text", (c) => c.notNull())
      .addColumn("dataset_schema", "text")
      .addColumn("dataset_profile", "text")
      .addUniqueConstraint("datasets_experiment_name_digest_uq", ["experiment_id", "name", "digest"])
      .execute();
    await db.schema
      .createTable("run_inputs")
      .addColumn("input_id", pg ? "bigserial" : "integer", (c) => (pg ? c.primaryKey() : c.primaryKey().autoIncrement()))
      .addColumn("run_uuid", "varchar(32)", (c) => c.notNull().references("runs.run_uuid").onDelete("cascade"))
      .addColumn("dataset_uuid", "varchar(36)", (c) => c.notNull().references("datasets.dataset_uuid").onDelete("cascade"))
      .addUniqueConstraint("run_inputs_run_dataset_uq", ["run_uuid", "dataset_uuid"])
      .execute();
    // The cascade from a deleted dataset looks its links up by dataset.
    await db.schema.createIndex("run_inputs_dataset_idx").on("run_inputs").columns(["dataset_uuid"]).execute();
    await db.schema
      .createTable("run_input_tags")
      .addColumn("input_id", "bigint", (c) => c.notNull().references("run_inputs.input_id").onDelete("cascade"))
      .addColumn("key", "varchar(255)", (c) => c.notNull())
      .addColumn("value", "varchar(500)", (c) => c.notNull())
      .addPrimaryKeyConstraint("run_input_tags_pk", ["input_id", "key"])
      .execute();
  },
});
