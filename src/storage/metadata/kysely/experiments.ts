/** Experiment storage, one Kysely code path for SQLite and PostgreSQL. */
import { sql, type Kysely } from "kysely";
import type { Experiment, ExperimentQuery, LifecycleStage, NewExperiment, Page, Tag } from "../metadata-store.js";
import type { Database } from "../schema.js";
import { groupBy, toExperiment, type ExperimentRow } from "./rows.js";
import { experimentFilterSql, experimentOrderSql } from "./search-sql.js";

const COLUMNS = [
  "experiment_id",
  "name",
  "artifact_location",
  "lifecycle_stage",
  "creation_time",
  "last_update_time",
] as const;

export class ExperimentQueries {
  constructor(private readonly db: Kysely<Database>) {}

  private async withTags(rows: ExperimentRow[]): Promise<Experiment[]> {
    if (rows.length === 0) return [];
    const tags = await this.db
      .selectFrom("experiment_tags")
      .select(["experiment_id", "key", "value"])
      .where(
        "experiment_id",
        "in",
        rows.map((r) => r.experiment_id),
      )
      .orderBy("key")
      .execute();
    const byId = groupBy(tags, (t) => Number(t.experiment_id));
    return rows.map((r) =>
      toExperiment(
        r,
        (byId.get(Number(r.experiment_id)) ?? []).map((t) => ({ key: t.key, value: t.value })),
      ),
    );
  }

  async create(input: NewExperiment): Promise<Experiment> {
    return this.db.transaction().execute(async (trx) => {
      const placeholder = typeof input.artifactLocation === "string" ? input.artifactLocation : "";
      const inserted = await trx
        .insertInto("experiments")
        .values({
          name: input.name,
          artifact_location: placeholder,
          lifecycle_stage: "active",
          creation_time: input.now,
          last_update_time: input.now,
        })
        .returning("experiment_id")
        .executeTakeFirstOrThrow();
      const id = Number(inserted.experiment_id);
      let location = placeholder;
      if (typeof input.artifactLocation === "function") {
        location = input.artifactLocation(String(id));
        await trx.updateTable("experiments").set({ artifact_location: location }).where("experiment_id", "=", id).execute();
      }
      if (input.tags.length > 0) {
        await trx
          .insertInto("experiment_tags")
          .values(input.tags.map((t) => ({ experiment_id: id, key: t.key, value: t.value })))
          .execute();
      }
      return toExperiment(
        {
          experiment_id: id,
          name: input.name,
          artifact_location: location,
          lifecycle_stage: "active",
          creation_time: input.now,
          last_update_time: input.now,
        },
        [...input.tags].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)),
      );
    });
  }

  async get(experimentId: string): Promise<Experiment | undefined> {
    const id = Number(experimentId);
    if (!Number.isSafeInteger(id)) return undefined;
    const row = await this.db.selectFrom("experiments").select(COLUMNS).where("experiment_id", "=", id).executeTakeFirst();
    return row === undefined ? undefined : (await this.withTags([row]))[0];
  }

  async getByName(name: string): Promise<Experiment | undefined> {
    const row = await this.db.selectFrom("experiments").select(COLUMNS).where("name", "=", name).executeTakeFirst();
    return row === undefined ? undefined : (await this.withTags([row]))[0];
  }

  async search(q: ExperimentQuery): Promise<Page<Experiment>> {
    const where = [...experimentFilterSql(q.filter)];
    if (q.viewType !== "ALL") where.push(sql`e.lifecycle_stage = ${q.viewType === "ACTIVE_ONLY" ? "active" : "deleted"}`);
    const whereSql = where.length > 0 ? sql`where ${sql.join(where, sql` and `)}` : sql``;
    const result = await sql<ExperimentRow>`
      select e.experiment_id, e.name, e.artifact_location, e.lifecycle_stage, e.creation_time, e.last_update_time
      from experiments e ${whereSql}
      order by ${sql.join(experimentOrderSql(q.orderBy))}
      limit ${q.maxResults + 1} offset ${q.offset}`.execute(this.db);
    const rows = result.rows;
    const more = rows.length > q.maxResults;
    return {
      items: await this.withTags(more ? rows.slice(0, q.maxResults) : rows),
      nextOffset: more ? q.offset + q.maxResults : undefined,
    };
  }

  async rename(experimentId: string, newName: string, now: number): Promise<void> {
    await this.db
      .updateTable("experiments")
      .set({ name: newName, last_update_time: now })
      .where("experiment_id", "=", Number(experimentId))
      .execute();
  }

  async setLifecycle(experimentId: string, stage: LifecycleStage, now: number): Promise<void> {
    const id = Number(experimentId);
    await this.db.transaction().execute(async (trx) => {
      await trx.updateTable("experiments").set({ lifecycle_stage: stage, last_update_time: now }).where("experiment_id", "=", id).execute();
      await trx
        .updateTable("runs")
        .set({ lifecycle_stage: stage, deleted_time: stage === "deleted" ? now : null })
        .where("experiment_id", "=", id)
        .execute();
    });
  }

  async setTag(experimentId: string, tag: Tag, now: number): Promise<void> {
    const id = Number(experimentId);
    await this.db.transaction().execute(async (trx) => {
      await trx
        .insertInto("experiment_tags")
        .values({ experiment_id: id, key: tag.key, value: tag.value })
        .onConflict((oc) => oc.columns(["experiment_id", "key"]).doUpdateSet({ value: tag.value }))
        .execute();
      await trx.updateTable("experiments").set({ last_update_time: now }).where("experiment_id", "=", id).execute();
    });
  }

  async deleteTag(experimentId: string, key: string, now: number): Promise<boolean> {
    const id = Number(experimentId);
    return this.db.transaction().execute(async (trx) => {
      const res = await trx.deleteFrom("experiment_tags").where("experiment_id", "=", id).where("key", "=", key).executeTakeFirst();
      if (Number(res.numDeletedRows) === 0) return false;
      await trx.updateTable("experiments").set({ last_update_time: now }).where("experiment_id", "=", id).execute();
      return true;
    });
  }
}
