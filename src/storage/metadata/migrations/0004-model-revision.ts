/**
 * A per-model revision counter, bumped by every change that can alter what a `models:/` reference
 * resolves to (new or deleted versions, stage moves, alias moves). Servers cache resolutions and
 * re-check them with one indexed read of this counter.
 */
import type { Kysely, Migration } from "kysely";

export const migration0004: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema.alterTable("registered_models").addColumn("revision", "bigint", (c) => c.notNull().defaultTo(0)).execute();
  },
};
