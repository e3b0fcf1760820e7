/** The FeatureRegistryStore on Kysely: definition snapshots, materializations, stream offsets. */
import type { Kysely } from "kysely";
import { FlywheelError } from "../../../core/errors.js";
import type { FeatureRegistryStore, FeatureRegistryVersion, MaterializationRecord } from "../feature-registry-store.js";
import type { Database } from "../schema.js";
import { isUniqueViolation } from "./unique.js";

function toVersion(r: {
  project: string;
  version: number;
  snapshot: string;
  changes: string;
  applied_by: string;
  applied_time: number | string;
}): FeatureRegistryVersion {
  return {
    project: r.project,
    version: Number(r.version),
    snapshot: r.snapshot,
    changes: r.changes,
    appliedBy: r.applied_by,
    appliedTime: Number(r.applied_time),
  };
}

export class FeatureRegistryQueries implements FeatureRegistryStore {
  constructor(private readonly db: Kysely<Database>) {}

  async latest(project: string): Promise<FeatureRegistryVersion | undefined> {
    const row = await this.db
      .selectFrom("feature_registry_versions")
      .selectAll()
      .where("project", "=", project)
      .orderBy("version", "desc")
      .limit(1)
      .executeTakeFirst();
    return row === undefined ? undefined : toVersion(row);
  }

  async latestVersion(project: string): Promise<number> {
    const row = await this.db
      .selectFrom("feature_registry_versions")
      .select("version")
      .where("project", "=", project)
      .orderBy("version", "desc")
      .limit(1)
      .executeTakeFirst();
    return row === undefined ? 0 : Number(row.version);
  }

  async getVersion(project: string, version: number): Promise<FeatureRegistryVersion | undefined> {
    const row = await this.db
      .selectFrom("feature_registry_versions")
      .selectAll()
      .where("project", "=", project)
      .where("version", "=", version)
      .executeTakeFirst();
    return row === undefined ? undefined : toVersion(row);
  }

  async history(project: string, limit: number): Promise<Omit<FeatureRegistryVersion, "snapshot">[]> {
    const rows = await this.db
      .selectFrom("feature_registry_versions")
      .select(["project", "version", "changes", "applied_by", "applied_time"])
      .where("project", "=", project)
      .orderBy("version", "desc")
      .limit(limit)
      .execute();
    return rows.map((r) => {
      const { snapshot: _unused, ...rest } = toVersion({ ...r, snapshot: "" });
      return rest;
    });
  }

  async append(entry: Omit<FeatureRegistryVersion, "version">, expectedVersion: number): Promise<number> {
    const version = expectedVersion + 1;
    const current = await this.latestVersion(entry.project);
    if (current !== expectedVersion) {
      throw conflict(entry.project, expectedVersion, current);
    }
    try {
      await this.db
        .insertInto("feature_registry_versions")
        .values({
          project: entry.project,
          version,
          snapshot: entry.snapshot,
          changes: entry.changes,
          applied_by: entry.appliedBy,
          applied_time: entry.appliedTime,
        })
        .execute();
    } catch (e) {
      if (isUniqueViolation(e)) throw conflict(entry.project, expectedVersion, version);
      throw e;
    }
    return version;
  }

  async recordMaterialization(project: string, r: MaterializationRecord): Promise<void> {
    await this.db
      .insertInto("feature_materializations")
      .values({ project, view_name: r.view, start_ts: r.startTs, end_ts: r.endTs, row_count: r.rows, created_time: r.createdTime })
      .execute();
  }

  async materializations(project: string, view?: string): Promise<MaterializationRecord[]> {
    let q = this.db.selectFrom("feature_materializations").selectAll().where("project", "=", project);
    if (view !== undefined) q = q.where("view_name", "=", view);
    const rows = await q.orderBy("id").execute();
    return rows.map((r) => ({
      view: r.view_name,
      startTs: Number(r.start_ts),
      endTs: Number(r.end_ts),
      rows: Number(r.row_count),
      createdTime: Number(r.created_time),
    }));
  }

  async streamOffset(project: string, consumer: string): Promise<number> {
    const row = await this.db
      .selectFrom("feature_stream_offsets")
      .select("sequence")
      .where("project", "=", project)
      .where("consumer", "=", consumer)
      .executeTakeFirst();
    return row === undefined ? 0 : Number(row.sequence);
  }

  async setStreamOffset(project: string, consumer: string, sequence: number, now: number): Promise<void> {
    await this.db
      .insertInto("feature_stream_offsets")
      .values({ project, consumer, sequence, updated_time: now })
      .onConflict((oc) => oc.columns(["project", "consumer"]).doUpdateSet({ sequence, updated_time: now }))
      .execute();
  }
}

function conflict(project: string, expected: number, found: number): FlywheelError {
  return new FlywheelError(
    "FW_FEATURES_CONFLICT",
    `Feature definitions of project '${project}' changed while applying (expected version ${expected}, found ${found}); run plan and apply again`,
  );
}
