/** The RegistryStore on Kysely: one code path for SQLite and PostgreSQL. */
import { sql, type Kysely, type Transaction } from "kysely";
import { FlywheelError } from "../../../core/errors.js";
import type { Page, Tag } from "../metadata-store.js";
import type { ModelVersion, NewModelVersion, RegisteredModel, RegistryQuery, RegistryStore, Stage, VersionStatus } from "../registry-store.js";
import { STAGES } from "../registry-store.js";
import type { Database, ModelVersionsTable } from "../schema.js";
import { groupBy } from "./rows.js";
import { WriteCount } from "./write-count.js";
import { modelFilterSql, modelOrderSql, versionFilterSql, versionOrderSql } from "./registry-search-sql.js";

type Db = Kysely<Database> | Transaction<Database>;
type ModelRow = { model_id: number; name: string; creation_time: number; last_updated_time: number; description: string; user_id: string };
type VersionRow = ModelVersionsTable & { name: string };

const kv = (r: { key: string; value: string }): Tag => ({ key: r.key, value: r.value });

function modelNotFound(name: string): FlywheelError {
  return new FlywheelError("FW_REGISTRY_MODEL_NOT_FOUND", `Registered Model with name=${name} not found`);
}

function versionNotFound(name: string, version: string): FlywheelError {
  return new FlywheelError("FW_REGISTRY_VERSION_NOT_FOUND", `Model Version (name=${name}, version=${version}) not found`);
}

/** A version string as stored: a positive integer, or undefined for anything else. */
function versionNumber(version: string): number | undefined {
  return /^[1-9]\d{0,8}$/.test(version) ? Number(version) : undefined;
}

/** The methods that write: each bumps the write count when it starts and when it ends. */
const WRITES: readonly (keyof RegistryStore)[] = ["createModel", "renameModel", "updateModel", "deleteModel", "setModelTag", "deleteModelTag", "createVersion", "updateVersion",
  "transitionStage", "deleteVersion", "setVersionTag", "deleteVersionTag", "setAlias", "deleteAlias"];

export class RegistryQueries implements RegistryStore {
  private readonly writes = new WriteCount();

  constructor(private readonly db: Kysely<Database>) {
    this.writes.wrap<RegistryStore>(this, WRITES);
  }

  /** This process's write count: bumped when a write starts and again when it has committed or failed. */
  writeCount(): number {
    return this.writes.value;
  }

  private async modelId(db: Db, name: string): Promise<number> {
    const row = await db.selectFrom("registered_models").select("model_id").where("name", "=", name).executeTakeFirst();
    if (row === undefined) throw modelNotFound(name);
    return Number(row.model_id);
  }

  private async versionKey(db: Db, name: string, version: string): Promise<{ modelId: number; version: number }> {
    const n = versionNumber(version);
    const modelId = await this.modelId(db, name);
    if (n === undefined) throw versionNotFound(name, version);
    const row = await db.selectFrom("model_versions").select("version").where("model_id", "=", modelId).where("version", "=", n).executeTakeFirst();
    if (row === undefined) throw versionNotFound(name, version);
    return { modelId, version: n };
  }

  private async touchModel(db: Db, modelId: number, now?: number): Promise<void> {
    await db
      .updateTable("registered_models")
      .set((eb) => ({ revision: eb("revision", "+", 1), ...(now !== undefined ? { last_updated_time: now } : {}) }))
      .where("model_id", "=", modelId)
      .execute();
  }

  /** Builds full versions (tags, aliases) for rows, with two queries whatever the count. */
  private async hydrateVersions(rows: VersionRow[]): Promise<ModelVersion[]> {
    if (rows.length === 0) return [];
    const ids = [...new Set(rows.map((r) => Number(r.model_id)))];
    const [tags, aliases] = await Promise.all([
      this.db.selectFrom("model_version_tags").selectAll().where("model_id", "in", ids).orderBy("key").execute(),
      this.db.selectFrom("registered_model_aliases").selectAll().where("model_id", "in", ids).orderBy("alias").execute(),
    ]);
    const tagsOf = groupBy(tags, (t) => `${Number(t.model_id)}/${Number(t.version)}`);
    const aliasesOf = groupBy(aliases, (a) => `${Number(a.model_id)}/${Number(a.version)}`);
    return rows.map((r) => {
      const key = `${Number(r.model_id)}/${Number(r.version)}`;
      return {
        name: r.name,
        version: String(r.version),
        creationTime: Number(r.creation_time),
        lastUpdatedTime: Number(r.last_updated_time),
        description: r.description,
        userId: r.user_id,
        currentStage: r.current_stage as Stage,
        source: r.source,
        runId: r.run_id,
        runLink: r.run_link,
        status: r.status as VersionStatus,
        statusMessage: r.status_message,
        tags: (tagsOf.get(key) ?? []).map(kv),
        aliases: (aliasesOf.get(key) ?? []).map((a) => a.alias),
        loggedModelId: r.logged_model_id ?? null,
      };
    });
  }

  private versionRows(db: Db) {
    return db.selectFrom("model_versions as v").innerJoin("registered_models as m", "m.model_id", "v.model_id").selectAll("v").select("m.name");
  }

  private async latestOf(modelIds: number[], stages: readonly Stage[]): Promise<Map<number, ModelVersion[]>> {
    if (modelIds.length === 0) return new Map();
    const rows = (await sql<VersionRow>`
      select v.*, m.name from model_versions v join registered_models m on m.model_id = v.model_id
      where v.model_id in (${sql.join(modelIds)}) and v.current_stage in (${sql.join([...stages])})
        and v.version = (select max(x.version) from model_versions x where x.model_id = v.model_id and x.current_stage = v.current_stage)
      order by v.model_id, v.version`.execute(this.db)).rows;
    const versions = await this.hydrateVersions(rows);
    const out = new Map<number, ModelVersion[]>();
    versions.forEach((v, i) => {
      const id = Number(rows[i]?.model_id);
      out.set(id, [...(out.get(id) ?? []), v]);
    });
    return out;
  }

  private async hydrateModels(rows: ModelRow[]): Promise<RegisteredModel[]> {
    if (rows.length === 0) return [];
    const ids = rows.map((r) => Number(r.model_id));
    const [tags, aliases, latest] = await Promise.all([
      this.db.selectFrom("registered_model_tags").selectAll().where("model_id", "in", ids).orderBy("key").execute(),
      this.db.selectFrom("registered_model_aliases").selectAll().where("model_id", "in", ids).orderBy("alias").execute(),
      this.latestOf(ids, STAGES),
    ]);
    const tagsOf = groupBy(tags, (t) => Number(t.model_id));
    const aliasesOf = groupBy(aliases, (a) => Number(a.model_id));
    return rows.map((r) => ({
      name: r.name,
      creationTime: Number(r.creation_time),
      lastUpdatedTime: Number(r.last_updated_time),
      description: r.description,
      userId: r.user_id,
      tags: (tagsOf.get(Number(r.model_id)) ?? []).map(kv),
      aliases: (aliasesOf.get(Number(r.model_id)) ?? []).map((a) => ({ alias: a.alias, version: String(a.version) })),
      latestVersions: latest.get(Number(r.model_id)) ?? [],
    }));
  }

  async createModel(input: { name: string; description: string; userId: string; tags: Tag[]; now: number }): Promise<RegisteredModel> {
    await this.db.transaction().execute(async (trx) => {
      const existing = await trx.selectFrom("registered_models").select("model_id").where("name", "=", input.name).executeTakeFirst();
      if (existing !== undefined) {
        throw new FlywheelError("FW_REGISTRY_MODEL_EXISTS", `Registered Model (name=${input.name}) already exists.`);
      }
      const row = await trx
        .insertInto("registered_models")
        .values({ name: input.name, creation_time: input.now, last_updated_time: input.now, description: input.description, user_id: input.userId })
        .returning("model_id")
        .executeTakeFirstOrThrow();
      const tags = [...new Map(input.tags.map((t) => [t.key, t])).values()];
      if (tags.length > 0) {
        await trx.insertInto("registered_model_tags").values(tags.map((t) => ({ model_id: Number(row.model_id), key: t.key, value: t.value }))).execute();
      }
    });
    const model = await this.getModel(input.name);
    if (model === undefined) throw modelNotFound(input.name);
    return model;
  }

  async getModel(name: string): Promise<RegisteredModel | undefined> {
    const row = await this.db.selectFrom("registered_models").selectAll().where("name", "=", name).executeTakeFirst();
    return row === undefined ? undefined : (await this.hydrateModels([row]))[0];
  }

  async renameModel(name: string, newName: string, now: number): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      const id = await this.modelId(trx, name);
      const clash = await trx.selectFrom("registered_models").select("model_id").where("name", "=", newName).executeTakeFirst();
      if (clash !== undefined) throw new FlywheelError("FW_REGISTRY_MODEL_EXISTS", `Registered Model (name=${newName}) already exists.`);
      await trx
        .updateTable("registered_models")
        .set((eb) => ({ name: newName, last_updated_time: now, revision: eb("revision", "+", 1) }))
        .where("model_id", "=", id)
        .execute();
    });
  }

  async updateModel(name: string, description: string, now: number): Promise<void> {
    const id = await this.modelId(this.db, name);
    await this.db.updateTable("registered_models").set({ description, last_updated_time: now }).where("model_id", "=", id).execute();
  }

  async deleteModel(name: string): Promise<void> {
    const id = await this.modelId(this.db, name);
    await this.db.transaction().execute(async (trx) => {
      // Children first, so the cascade does not depend on the backend's FK settings.
      await trx.deleteFrom("registered_model_aliases").where("model_id", "=", id).execute();
      await trx.deleteFrom("model_version_tags").where("model_id", "=", id).execute();
      await trx.deleteFrom("model_versions").where("model_id", "=", id).execute();
      await trx.deleteFrom("registered_model_tags").where("model_id", "=", id).execute();
      await trx.deleteFrom("registered_models").where("model_id", "=", id).execute();
    });
  }

  async searchModels(q: RegistryQuery): Promise<Page<RegisteredModel>> {
    const where = modelFilterSql(q.filter);
    const whereSql = where.length > 0 ? sql`where ${sql.join(where, sql` and `)}` : sql``;
    const rows = (await sql<ModelRow>`
      select m.model_id, m.name, m.creation_time, m.last_updated_time, m.description, m.user_id
      from registered_models m ${whereSql}
      order by ${sql.join(modelOrderSql(q.orderBy))}
      limit ${q.maxResults + 1} offset ${q.offset}`.execute(this.db)).rows;
    const more = rows.length > q.maxResults;
    return { items: await this.hydrateModels(more ? rows.slice(0, q.maxResults) : rows), nextOffset: more ? q.offset + q.maxResults : undefined };
  }

  async setModelTag(name: string, tag: Tag, now: number): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      const id = await this.modelId(trx, name);
      await trx
        .insertInto("registered_model_tags")
        .values({ model_id: id, key: tag.key, value: tag.value })
        .onConflict((oc) => oc.columns(["model_id", "key"]).doUpdateSet({ value: tag.value }))
        .execute();
      await this.touchModel(trx, id, now);
    });
  }

  async deleteModelTag(name: string, key: string): Promise<boolean> {
    const id = await this.modelId(this.db, name);
    const res = await this.db.deleteFrom("registered_model_tags").where("model_id", "=", id).where("key", "=", key).executeTakeFirst();
    return Number(res.numDeletedRows) > 0;
  }

  async createVersion(input: NewModelVersion): Promise<ModelVersion> {
    const version = await this.db.transaction().execute(async (trx) => {
      const id = await this.modelId(trx, input.name);
      // The counter update takes the model row's write lock, so concurrent creations serialize here.
      const bumped = await trx
        .updateTable("registered_models")
        .set((eb) => ({ last_version: eb("last_version", "+", 1), revision: eb("revision", "+", 1), last_updated_time: input.now }))
        .where("model_id", "=", id)
        .returning("last_version")
        .executeTakeFirstOrThrow();
      const n = Number(bumped.last_version);
      await trx
        .insertInto("model_versions")
        .values({
          model_id: id,
          version: n,
          creation_time: input.now,
          last_updated_time: input.now,
          description: input.description,
          user_id: input.userId,
          current_stage: "None",
          source: input.source,
          run_id: input.runId,
          run_link: input.runLink,
          status: input.status,
          status_message: input.statusMessage,
          logged_model_id: input.loggedModelId ?? null,
        })
        .execute();
      const tags = [...new Map(input.tags.map((t) => [t.key, t])).values()];
      if (tags.length > 0) {
        await trx.insertInto("model_version_tags").values(tags.map((t) => ({ model_id: id, version: n, key: t.key, value: t.value }))).execute();
      }
      return String(n);
    });
    const created = await this.getVersion(input.name, version);
    if (created === undefined) throw versionNotFound(input.name, version);
    return created;
  }

  async getVersion(name: string, version: string): Promise<ModelVersion | undefined> {
    const n = versionNumber(version);
    if (n === undefined) return undefined;
    const row = await this.versionRows(this.db).where("m.name", "=", name).where("v.version", "=", n).executeTakeFirst();
    return row === undefined ? undefined : (await this.hydrateVersions([row]))[0];
  }

  async updateVersion(name: string, version: string, description: string, now: number): Promise<void> {
    const key = await this.versionKey(this.db, name, version);
    await this.db
      .updateTable("model_versions")
      .set({ description, last_updated_time: now })
      .where("model_id", "=", key.modelId)
      .where("version", "=", key.version)
      .execute();
  }

  async transitionStage(name: string, version: string, stage: Stage, archiveExisting: boolean, now: number): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      const key = await this.versionKey(trx, name, version);
      if (archiveExisting && (stage === "Staging" || stage === "Production")) {
        await trx
          .updateTable("model_versions")
          .set({ current_stage: "Archived", last_updated_time: now })
          .where("model_id", "=", key.modelId)
          .where("current_stage", "=", stage)
          .where("version", "!=", key.version)
          .execute();
      }
      await trx
        .updateTable("model_versions")
        .set({ current_stage: stage, last_updated_time: now })
        .where("model_id", "=", key.modelId)
        .where("version", "=", key.version)
        .execute();
      await this.touchModel(trx, key.modelId, now);
    });
  }

  async deleteVersion(name: string, version: string): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      const key = await this.versionKey(trx, name, version);
      await trx.deleteFrom("registered_model_aliases").where("model_id", "=", key.modelId).where("version", "=", key.version).execute();
      await trx.deleteFrom("model_version_tags").where("model_id", "=", key.modelId).where("version", "=", key.version).execute();
      await trx.deleteFrom("model_versions").where("model_id", "=", key.modelId).where("version", "=", key.version).execute();
      await this.touchModel(trx, key.modelId);
    });
  }

  async searchVersions(q: RegistryQuery): Promise<Page<ModelVersion>> {
    const where = versionFilterSql(q.filter);
    const whereSql = where.length > 0 ? sql`where ${sql.join(where, sql` and `)}` : sql``;
    const rows = (await sql<VersionRow>`
      select v.*, m.name from model_versions v join registered_models m on m.model_id = v.model_id ${whereSql}
      order by ${sql.join(versionOrderSql(q.orderBy))}
      limit ${q.maxResults + 1} offset ${q.offset}`.execute(this.db)).rows;
    const more = rows.length > q.maxResults;
    return { items: await this.hydrateVersions(more ? rows.slice(0, q.maxResults) : rows), nextOffset: more ? q.offset + q.maxResults : undefined };
  }

  async latestVersions(name: string, stages: Stage[]): Promise<ModelVersion[]> {
    const id = await this.modelId(this.db, name);
    return (await this.latestOf([id], stages.length > 0 ? stages : STAGES)).get(id) ?? [];
  }

  async setVersionTag(name: string, version: string, tag: Tag, now: number): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      const key = await this.versionKey(trx, name, version);
      await trx
        .insertInto("model_version_tags")
        .values({ model_id: key.modelId, version: key.version, key: tag.key, value: tag.value })
        .onConflict((oc) => oc.columns(["model_id", "version", "key"]).doUpdateSet({ value: tag.value }))
        .execute();
      await trx
        .updateTable("model_versions")
        .set({ last_updated_time: now })
        .where("model_id", "=", key.modelId)
        .where("version", "=", key.version)
        .execute();
    });
  }

  async deleteVersionTag(name: string, version: string, key: string): Promise<boolean> {
    const k = await this.versionKey(this.db, name, version);
    const res = await this.db
      .deleteFrom("model_version_tags")
      .where("model_id", "=", k.modelId)
      .where("version", "=", k.version)
      .where("key", "=", key)
      .executeTakeFirst();
    return Number(res.numDeletedRows) > 0;
  }

  async setAlias(name: string, alias: string, version: string, now: number): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      const key = await this.versionKey(trx, name, version);
      await trx
        .insertInto("registered_model_aliases")
        .values({ model_id: key.modelId, alias, version: key.version })
        .onConflict((oc) => oc.columns(["model_id", "alias"]).doUpdateSet({ version: key.version }))
        .execute();
      await this.touchModel(trx, key.modelId, now);
    });
  }

  async deleteAlias(name: string, alias: string): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const id = await this.modelId(trx, name);
      const res = await trx.deleteFrom("registered_model_aliases").where("model_id", "=", id).where("alias", "=", alias).executeTakeFirst();
      if (Number(res.numDeletedRows) === 0) return false;
      await this.touchModel(trx, id);
      return true;
    });
  }

  async modelRevision(name: string): Promise<string | undefined> {
    const row = await this.db.selectFrom("registered_models").select(["model_id", "revision"]).where("name", "=", name).executeTakeFirst();
    // The model id is part of the token: a model deleted and created again starts its counter anew.
    return row === undefined ? undefined : `${Number(row.model_id)}.${Number(row.revision)}`;
  }

  async getAlias(name: string, alias: string): Promise<string | undefined> {
    const id = await this.modelId(this.db, name);
    const row = await this.db.selectFrom("registered_model_aliases").select("version").where("model_id", "=", id).where("alias", "=", alias).executeTakeFirst();
    return row === undefined ? undefined : String(row.version);
  }
}
