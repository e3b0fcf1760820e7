/**
 * The feature store of one project: applied definitions (versioned in the metadata store),
 * historical retrieval, materialization, online reads and pushes.
 *
 * The applied definitions are cached by version and re-checked with one indexed read per call, so
 * an apply made by another process takes effect at once; online reads (the hot path) re-check at
 * most every `registryCheckMs` instead, so there such an apply takes effect within that delay.
 */
import { FlywheelError } from "../core/errors.js";
import type { FeatureRegistryStore } from "../storage/metadata/feature-registry-store.js";
import { OfflineDb, type OfflineDbOptions } from "../storage/offline/duckdb.js";
import type { OnlineStore } from "../storage/online/online-store.js";
import { EMPTY_REPO, type FeatureRepo, type FeatureViewDef } from "./definitions.js";
import { FeatureStoreError } from "./errors.js";
import { historicalWithOnDemand, type StoreHistoricalRequest } from "./historical-store.js";
import type { HistoricalFeaturesResult } from "./historical-types.js";
import { materializeView, type MaterializeProgress, type ViewMaterialization } from "./materialize.js";
import { normalizeDefinitions } from "./normalize.js";
import { OnlineReader, type OnlineFeaturesRequest, type OnlineFeaturesResponse } from "./online-read.js";
import { diffRepos, type Change } from "./plan.js";
import { appendOffline, appendedFiles, onlineRows, pushFolder, pushSource, viewsOfPushSource, type Columns, type PushTarget } from "./push.js";
import { checkSourceFile, sourceExists } from "./source-check.js";
import { batchSourceOf, validateRepo } from "./validate.js";

export interface FeatureStoreOptions {
  registry: FeatureRegistryStore;
  online: OnlineStore;
  project: string;
  /** Where offline pushes are appended as Parquet files. */
  offlineDir: string;
  now?: () => number;
  dbOptions?: OfflineDbOptions;
  /**
   * How long online reads trust the last registry check (default 1000 ms; 0: check on every read).
   * An apply through this store takes effect at once; one through another process within this delay.
   */
  registryCheckMs?: number;
}

export interface PlanResult {
  /** The applied version the plan is against (0: nothing applied yet). */
  version: number;
  changes: Change[];
}

export interface ApplyResult extends PlanResult {
  /** The new version (unchanged when there was nothing to apply). */
  applied: number;
}

export class FeatureStore {
  readonly project: string;
  private readonly registry: FeatureRegistryStore;
  private readonly online: OnlineStore;
  private readonly offlineDir: string;
  private readonly now: () => number;
  private readonly reader: OnlineReader;
  private cached: { version: number; repo: FeatureRepo } = { version: 0, repo: EMPTY_REPO };
  private readonly registryCheckMs: number;
  /** When the registry was last checked (performance.now()), and the check in flight, if any. */
  private checkedAt = Number.NEGATIVE_INFINITY;
  /** Bumped by every apply through this store, so a check that began before it does not count as fresh. */
  private applies = 0;
  private checking: Promise<{ version: number; repo: FeatureRepo }> | undefined;

  constructor(private readonly options: FeatureStoreOptions) {
    this.project = options.project;
    this.registry = options.registry;
    this.online = options.online;
    this.offlineDir = options.offlineDir;
    this.now = options.now ?? Date.now;
    this.reader = new OnlineReader(this.online, this.now);
    this.registryCheckMs = options.registryCheckMs ?? 1000;
  }

  /** The applied definitions and their version (0 and an empty repo before the first apply). */
  async current(): Promise<{ version: number; repo: FeatureRepo }> {
    const checkedAt = performance.now();
    const applies = this.applies;
    const version = await this.registry.latestVersion(this.project);
    if (version !== this.cached.version) {
      const entry = await this.registry.getVersion(this.project, version);
      const repo = entry === undefined ? EMPTY_REPO : (JSON.parse(entry.snapshot) as FeatureRepo);
      this.cached = { version, repo };
    }
    if (applies === this.applies) this.checkedAt = Math.max(this.checkedAt, checkedAt);
    return this.cached;
  }

  /** `current()` for online reads: at most one registry check per `registryCheckMs`, shared by concurrent reads. */
  private currentForReads(): Promise<{ version: number; repo: FeatureRepo }> | { version: number; repo: FeatureRepo } {
    if (performance.now() - this.checkedAt < this.registryCheckMs) return this.cached;
    if (this.checking === undefined) {
      const check = this.current().finally(() => {
        if (this.checking === check) this.checking = undefined;
      });
      this.checking = check;
    }
    return this.checking;
  }

  /** Checks definitions sent by a client (plain objects): the same rules as when loading files. */
  static checkRepo(raw: unknown): FeatureRepo {
    if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
      throw new FlywheelError("FW_FEATURES_DEFINITION_INVALID", "'definitions' must be a mapping of entities, sources, featureViews, onDemandFeatureViews and featureServices");
    }
    const r = raw as Record<string, unknown>;
    const objects: { value: unknown; where: string }[] = [];
    for (const section of ["entities", "sources", "featureViews", "onDemandFeatureViews", "featureServices"]) {
      const items = r[section] ?? [];
      if (!Array.isArray(items)) throw new FlywheelError("FW_FEATURES_DEFINITION_INVALID", `'definitions.${section}' must be a list`);
      items.forEach((value, i) => objects.push({ value, where: `definitions.${section}[${i}]` }));
    }
    for (const key of Object.keys(r)) {
      if (!["entities", "sources", "featureViews", "onDemandFeatureViews", "featureServices"].includes(key)) {
        throw new FlywheelError("FW_FEATURES_DEFINITION_INVALID", `'definitions.${key}' is not a known section`);
      }
    }
    const repo = normalizeDefinitions(objects, { baseDir: process.cwd() });
    validateRepo(repo);
    return repo;
  }

  async plan(desired: FeatureRepo): Promise<PlanResult> {
    const { version, repo } = await this.current();
    return { version, changes: diffRepos(repo, desired) };
  }

  /**
   * Stores `desired` as the next version. Source files that exist are checked against their views
   * first. A view that is deleted, or whose entities change, has its online rows removed.
   */
  async apply(desired: FeatureRepo, actor: string, expectedVersion?: number): Promise<ApplyResult> {
    const { version, repo } = await this.current();
    if (expectedVersion !== undefined && expectedVersion !== version) {
      throw new FlywheelError("FW_FEATURES_CONFLICT", `The plan was made against version ${expectedVersion}, but version ${version} is applied now; plan again`);
    }
    const changes = diffRepos(repo, desired);
    if (changes.length === 0) return { version, changes, applied: version };
    await this.withDb(async (db) => {
      for (const view of desired.featureViews) {
        const source = batchSourceOf(desired, view);
        if (source !== undefined && sourceExists(source)) await checkSourceFile(db, desired, view);
      }
    });
    const applied = await this.registry.append(
      { project: this.project, snapshot: JSON.stringify(desired), changes: JSON.stringify(changes), appliedBy: actor, appliedTime: this.now() },
      version,
    );
    // The next online read re-checks, so an apply through this store takes effect at once.
    this.applies++;
    this.checkedAt = Number.NEGATIVE_INFINITY;
    this.checking = undefined;
    for (const c of changes) {
      if (c.kind !== "feature_view") continue;
      const before = repo.featureViews.find((v) => v.name === c.name);
      const after = desired.featureViews.find((v) => v.name === c.name);
      if (c.op === "delete" || (before !== undefined && after !== undefined && JSON.stringify(before.entities) !== JSON.stringify(after.entities))) {
        await this.online.deleteView(c.name);
      }
    }
    return { version, changes, applied };
  }

  async history(limit = 50): Promise<{ version: number; changes: Change[]; appliedBy: string; appliedTime: number }[]> {
    const rows = await this.registry.history(this.project, limit);
    return rows.map((r) => ({ version: r.version, changes: JSON.parse(r.changes) as Change[], appliedBy: r.appliedBy, appliedTime: r.appliedTime }));
  }

  /** The Parquet files offline pushes appended to a view's push source. */
  appendedFiles(repo: FeatureRepo, view: FeatureViewDef): string[] {
    return appendedFiles(this.offlineDir, this.project, repo, view);
  }

  async getHistoricalFeatures(request: StoreHistoricalRequest): Promise<HistoricalFeaturesResult> {
    const { repo } = await this.current();
    return this.withDb((db) => historicalWithOnDemand(db, repo, request, (v) => this.appendedFiles(repo, v)));
  }

  private onlineViews(repo: FeatureRepo, names: readonly string[] | undefined): FeatureViewDef[] {
    const online = repo.featureViews.filter((v) => v.online);
    if (names === undefined || names.length === 0) return online;
    return names.map((n) => {
      const v = online.find((x) => x.name === n);
      if (v === undefined) {
        throw new FeatureStoreError("feature_views", `Unknown online feature view '${n}'; valid views: ${online.map((x) => `'${x.name}'`).join(", ") || "(none)"}`);
      }
      return v;
    });
  }

  /** Writes the latest row per entity in [startTs, endTs) of each (named) online view. */
  async materialize(
    startTs: number,
    endTs: number,
    opts: { views?: readonly string[]; onProgress?: (p: MaterializeProgress) => void } = {},
  ): Promise<ViewMaterialization[]> {
    if (!(startTs < endTs)) throw new FeatureStoreError("start_ts", `start_ts (${new Date(startTs).toISOString()}) must be before end_ts (${new Date(endTs).toISOString()})`);
    const { repo } = await this.current();
    const views = this.onlineViews(repo, opts.views);
    return this.runMaterialization(repo, views.map((v) => ({ view: v, startTs, endTs })), opts.onProgress);
  }

  /**
   * Continues each view from the end of its last materialization; a first run starts at
   * `endTs - ttl` (the epoch when the view has no ttl). Views already materialized up to `endTs`
   * are skipped.
   */
  async materializeIncremental(
    endTs: number,
    opts: { views?: readonly string[]; onProgress?: (p: MaterializeProgress) => void } = {},
  ): Promise<ViewMaterialization[]> {
    const { repo } = await this.current();
    const views = this.onlineViews(repo, opts.views);
    const jobs: { view: FeatureViewDef; startTs: number; endTs: number }[] = [];
    for (const v of views) {
      const done = await this.registry.materializations(this.project, v.name);
      const last = done.reduce((m, r) => Math.max(m, r.endTs), Number.NEGATIVE_INFINITY);
      const startTs = Number.isFinite(last) ? last : v.ttlSeconds > 0 ? endTs - v.ttlSeconds * 1000 : 0;
      if (startTs < endTs) jobs.push({ view: v, startTs, endTs });
    }
    return this.runMaterialization(repo, jobs, opts.onProgress);
  }

  private async runMaterialization(
    repo: FeatureRepo,
    jobs: { view: FeatureViewDef; startTs: number; endTs: number }[],
    onProgress?: (p: MaterializeProgress) => void,
  ): Promise<ViewMaterialization[]> {
    return this.withDb(async (db) => {
      const out: ViewMaterialization[] = [];
      for (const job of jobs) {
        const result = await materializeView(db, this.online, repo, job.view, job, this.appendedFiles(repo, job.view), onProgress);
        await this.registry.recordMaterialization(this.project, { ...result, createdTime: this.now() });
        out.push(result);
      }
      return out;
    });
  }

  async materializations(view?: string) {
    return this.registry.materializations(this.project, view);
  }

  async getOnlineFeatures(request: OnlineFeaturesRequest): Promise<OnlineFeaturesResponse> {
    const { repo } = await this.currentForReads();
    return this.reader.read(repo, request);
  }

  /** Feast's push: rows of a push source to the online store, the offline history, or both. */
  async push(sourceName: string, df: Columns, to: PushTarget = "online", offlineFileName?: string): Promise<{ rows: number; file?: string }> {
    const { repo } = await this.current();
    const source = pushSource(repo, sourceName);
    const views = viewsOfPushSource(repo, source);
    // Every row is checked for every view before anything is written.
    const online = to === "offline" ? [] : views.filter((v) => v.online).map((v) => ({ view: v, rows: onlineRows(repo, v, df) }));
    let file: string | undefined;
    if (to !== "online") {
      const folder = pushFolder(this.offlineDir, this.project, source.name);
      file = await this.withDb((db) => appendOffline(db, repo, source, df, folder, offlineFileName));
    }
    for (const { view, rows } of online) await this.online.write(view.name, rows);
    const rows = (Object.values(df)[0] ?? []).length;
    return file === undefined ? { rows } : { rows, file };
  }

  /** Feast's write_to_online_store: rows of one feature view straight into the online store. */
  async writeToOnlineStore(viewName: string, df: Columns): Promise<{ rows: number }> {
    const { repo } = await this.current();
    const view = repo.featureViews.find((v) => v.name === viewName);
    if (view === undefined) {
      throw new FeatureStoreError("feature_view_name", `Unknown feature view '${viewName}'; valid views: ${repo.featureViews.map((v) => `'${v.name}'`).join(", ") || "(none)"}`);
    }
    const rows = onlineRows(repo, view, df);
    await this.online.write(view.name, rows);
    return { rows: rows.length };
  }

  private async withDb<T>(fn: (db: OfflineDb) => Promise<T>): Promise<T> {
    const db = await OfflineDb.open(this.options.dbOptions);
    try {
      return await fn(db);
    } finally {
      db.close();
    }
  }
}
