/** The feature store's registry: versioned definition snapshots, materializations, stream offsets. */
import type { Kysely, Migration } from "kysely";

export const migration0005 = (backend: "sqlite" | "postgresql"): Migration => ({
  async up(db: Kysely<unknown>): Promise<void> {
    const pg = backend === "postgresql";
    const serial = pg ? "bigserial" : "integer";
    await db.schema
      .createTable("feature_registry_versions")
      .addColumn("project", "varchar(256)", (c) => c.notNull())
      .addColumn("version", "integer", (c) => c.notNull())
      .addColumn("snapshot", "text", (c) => c.notNull())
      .addColumn("changes", "text", (c) => c.notNull())
      .addColumn("applied_by", "varchar(256)", (c) => c.notNull())
      .addColumn("applied_time", "bigint", (c) => c.notNull())
      .addPrimaryKeyConstraint("feature_registry_versions_pk", ["project", "version"])
      .execute();
    await db.schema
      .createTable("feature_materializations")
      .addColumn("id", serial, (c) => (pg ? c.primaryKey() : c.primaryKey().autoIncrement()))
      .addColumn("project", "varchar(256)", (c) => c.notNull())
      .addColumn("view_name", "varchar(256)", (c) => c.notNull())
      .addColumn("start_ts", "bigint", (c) => c.notNull())
      .addColumn("end_ts", "bigint", (c) => c.notNull())
      .addColumn("row_count", "bigint", (c) => c.notNull())
      .addColumn("created_time", "bigint", (c) => c.notNull())
      .execute();
    await db.schema.createIndex("feature_materializations_view_idx").on("feature_materializations").columns(["project", "view_name", "id"]).execute();
    await db.schema
      .createTable("feature_stream_offsets")
      .addColumn("project", "varchar(256)", (c) => c.notNull())
      .addColumn("consumer", "varchar(256)", (c) => c.notNull())
      .addColumn("sequence", "bigint", (c) => c.notNull())
      .addColumn("updated_time", "bigint", (c) => c.notNull())
      .addPrimaryKeyConstraint("feature_stream_offsets_pk", ["project", "consumer"])
      .execute();
  },
});
