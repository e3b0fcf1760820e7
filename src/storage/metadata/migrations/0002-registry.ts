/** The model registry: registered models, versions, tags and aliases. */
import type { Kysely, Migration } from "kysely";

export const migration0002 = (backend: "sqlite" | "postgresql"): Migration => ({
  async up(db: Kysely<unknown>): Promise<void> {
    const pg = backend === "postgresql";
    // A surrogate id keeps renames to one row; the API addresses models by name.
    await db.schema
      .createTable("registered_models")
      .addColumn("model_id", pg ? "bigserial" : "integer", (c) => (pg ? c.primaryKey() : c.primaryKey().autoIncrement()))
      .addColumn("name", "varchar(256)", (c) => c.notNull().unique())
      .addColumn("creation_time", "bigint", (c) => c.notNull())
      .addColumn("last_updated_time", "bigint", (c) => c.notNull())
      .addColumn("description", "text", (c) => c.notNull())
      .addColumn("user_id", "varchar(256)", (c) => c.notNull())
      // The highest version number ever issued; versions are never renumbered or reused.
      .addColumn("last_version", "integer", (c) => c.notNull().defaultTo(0))
      .execute();
    await db.schema
      .createTable("registered_model_tags")
      .addColumn("model_id", "bigint", (c) => c.notNull().references("registered_models.model_id").onDelete("cascade"))
      .addColumn("key", "varchar(250)", (c) => c.notNull())
      .addColumn("value", "text", (c) => c.notNull())
      .addPrimaryKeyConstraint("registered_model_tags_pk", ["model_id", "key"])
      .execute();
    await db.schema
      .createTable("model_versions")
      .addColumn("model_id", "bigint", (c) => c.notNull().references("registered_models.model_id").onDelete("cascade"))
      .addColumn("version", "integer", (c) => c.notNull())
      .addColumn("creation_time", "bigint", (c) => c.notNull())
      .addColumn("last_updated_time", "bigint", (c) => c.notNull())
      .addColumn("description", "text", (c) => c.notNull())
      .addColumn("user_id", "varchar(256)", (c) => c.notNull())
      .addColumn("current_stage", "varchar(20)", (c) => c.notNull())
      .addColumn("source", "varchar(1024)", (c) => c.notNull())
      .addColumn("run_id", "varchar(32)")
      .addColumn("run_link", "varchar(1024)", (c) => c.notNull())
      .addColumn("status", "varchar(32)", (c) => c.notNull())
      .addColumn("status_message", "text", (c) => c.notNull())
      .addPrimaryKeyConstraint("model_versions_pk", ["model_id", "version"])
      .execute();
    await db.schema.createIndex("model_versions_run_idx").on("model_versions").column("run_id").execute();
    await db.schema
      .createTable("model_version_tags")
      .addColumn("model_id", "bigint", (c) => c.notNull())
      .addColumn("version", "integer", (c) => c.notNull())
      .addColumn("key", "varchar(250)", (c) => c.notNull())
      .addColumn("value", "text", (c) => c.notNull())
      .addPrimaryKeyConstraint("model_version_tags_pk", ["model_id", "version", "key"])
      .addForeignKeyConstraint("model_version_tags_fk", ["model_id", "version"], "model_versions", ["model_id", "version"], (c) =>
        c.onDelete("cascade"),
      )
      .execute();
    await db.schema
      .createTable("registered_model_aliases")
      .addColumn("model_id", "bigint", (c) => c.notNull().references("registered_models.model_id").onDelete("cascade"))
      .addColumn("alias", "varchar(256)", (c) => c.notNull())
      .addColumn("version", "integer", (c) => c.notNull())
      .addPrimaryKeyConstraint("registered_model_aliases_pk", ["model_id", "alias"])
      .addForeignKeyConstraint("registered_model_aliases_fk", ["model_id", "version"], "model_versions", ["model_id", "version"], (c) =>
        c.onDelete("cascade"),
      )
      .execute();
  },
});
