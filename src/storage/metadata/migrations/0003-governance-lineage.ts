/** Governance (per-model policy, approvals, audit log) and the lineage graph's edges. */
import type { Kysely, Migration } from "kysely";

export const migration0003 = (backend: "sqlite" | "postgresql"): Migration => ({
  async up(db: Kysely<unknown>): Promise<void> {
    const pg = backend === "postgresql";
    const serial = pg ? "bigserial" : "integer";
    await db.schema
      .createTable("model_policies")
      .addColumn("model_id", "bigint", (c) => c.primaryKey().references("registered_models.model_id").onDelete("cascade"))
      // JSON arrays: protected alias names and gate expressions such as "metrics.auc >= 0.9".
      .addColumn("protected_aliases", "text", (c) => c.notNull())
      .addColumn("gates", "text", (c) => c.notNull())
      .addColumn("require_approval", "smallint", (c) => c.notNull())
      .addColumn("updated_time", "bigint", (c) => c.notNull())
      .addColumn("updated_by", "varchar(256)", (c) => c.notNull())
      .execute();
    await db.schema
      .createTable("model_approvals")
      .addColumn("approval_id", serial, (c) => (pg ? c.primaryKey() : c.primaryKey().autoIncrement()))
      .addColumn("model_id", "bigint", (c) => c.notNull().references("registered_models.model_id").onDelete("cascade"))
      .addColumn("version", "integer", (c) => c.notNull())
      // What is approved: "stage:Production" or "alias:champion".
      .addColumn("action", "varchar(300)", (c) => c.notNull())
      .addColumn("approver", "varchar(256)", (c) => c.notNull())
      .addColumn("reason", "text", (c) => c.notNull())
      .addColumn("created_time", "bigint", (c) => c.notNull())
      .execute();
    await db.schema.createIndex("model_approvals_lookup_idx").on("model_approvals").columns(["model_id", "version", "action"]).execute();
    // The audit log names models by name at the time of the event and outlives their deletion.
    await db.schema
      .createTable("registry_audit_log")
      .addColumn("event_id", serial, (c) => (pg ? c.primaryKey() : c.primaryKey().autoIncrement()))
      .addColumn("model_name", "varchar(256)", (c) => c.notNull())
      .addColumn("version", "integer")
      .addColumn("action", "varchar(64)", (c) => c.notNull())
      .addColumn("from_value", "varchar(300)")
      .addColumn("to_value", "varchar(300)")
      .addColumn("actor", "varchar(256)", (c) => c.notNull())
      .addColumn("reason", "text", (c) => c.notNull())
      .addColumn("created_time", "bigint", (c) => c.notNull())
      .execute();
    await db.schema.createIndex("registry_audit_model_idx").on("registry_audit_log").columns(["model_name", "event_id"]).execute();
    // Directed edges between typed nodes ("run:<id>" -> "model_version:<name>/<v>"), queried both ways.
    await db.schema
      .createTable("lineage_edges")
      .addColumn("src_type", "varchar(32)", (c) => c.notNull())
      .addColumn("src_id", "varchar(1024)", (c) => c.notNull())
      .addColumn("relation", "varchar(64)", (c) => c.notNull())
      .addColumn("dst_type", "varchar(32)", (c) => c.notNull())
      .addColumn("dst_id", "varchar(1024)", (c) => c.notNull())
      .addColumn("attributes", "text", (c) => c.notNull())
      .addColumn("created_time", "bigint", (c) => c.notNull())
      .addPrimaryKeyConstraint("lineage_edges_pk", ["src_type", "src_id", "relation", "dst_type", "dst_id"])
      .execute();
    await db.schema.createIndex("lineage_edges_dst_idx").on("lineage_edges").columns(["dst_type", "dst_id"]).execute();
  },
});
