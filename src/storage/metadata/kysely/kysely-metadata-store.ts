/** The MetadataStore implemented once with Kysely; the dialect decides SQLite or PostgreSQL. */
import { Migrator, sql, type Kysely } from "kysely";
import { FlywheelError } from "../../../core/errors.js";
import type {
  Batch,
  DatasetInput,
  Experiment,
  ExperimentQuery,
  LifecycleStage,
  MetadataStore,
  Metric,
  NewExperiment,
  NewRun,
  Page,
  Run,
  RunInfo,
  RunQuery,
  RunUpdate,
  Tag,
} from "../metadata-store.js";
import { migrationProvider } from "../migrations/index.js";
import type { Database } from "../schema.js";
import { ExperimentQueries } from "./experiments.js";
import { FeatureRegistryQueries } from "./features.js";
import { GovernanceQueries } from "./governance.js";
import { LineageQueries } from "./lineage.js";
import { LoggedModelQueries } from "./logged-models.js";
import { MonitoringQueries } from "./monitoring.js";
import { RegistryQueries } from "./registry.js";
import { RunQueries } from "./runs.js";
import { isUniqueViolation } from "./unique.js";

export { isUniqueViolation };


export class KyselyMetadataStore implements MetadataStore {
  private readonly experiments: ExperimentQueries;
  private readonly runs: RunQueries;
  readonly registry: RegistryQueries;
  readonly governance: GovernanceQueries;
  readonly lineage: LineageQueries;
  readonly features: FeatureRegistryQueries;
  readonly monitoring: MonitoringQueries;
  readonly loggedModels: LoggedModelQueries;

  private constructor(
    readonly db: Kysely<Database>,
    readonly backend: "sqlite" | "postgresql",
  ) {
    this.experiments = new ExperimentQueries(db);
    this.runs = new RunQueries(db, backend);
    this.registry = new RegistryQueries(db);
    this.governance = new GovernanceQueries(db);
    this.lineage = new LineageQueries(db);
    this.features = new FeatureRegistryQueries(db);
    this.monitoring = new MonitoringQueries(db);
    this.loggedModels = new LoggedModelQueries(db);
  }

  /** Wraps an open Kysely instance and brings its schema up to date. */
  static async open(db: Kysely<Database>, backend: "sqlite" | "postgresql"): Promise<KyselyMetadataStore> {
    // Kysely looks for its migration tables in every schema unless told which one, so a second
    // schema in the same PostgreSQL database would find the first one's tables and fail.
    let migrationTableSchema: string | undefined;
    if (backend === "postgresql") {
      try {
        const { rows } = await sql<{ schema: string | null }>`select current_schema() as schema`.execute(db);
        migrationTableSchema = rows[0]?.schema ?? undefined;
      } catch (e) {
        await db.destroy().catch(() => undefined);
        throw new FlywheelError("FW_STORAGE_UNAVAILABLE", `Metadata store unreachable: ${(e as Error).message}`, { cause: e });
      }
    }
    const migrator = new Migrator({
      db,
      provider: migrationProvider(backend),
      ...(migrationTableSchema !== undefined ? { migrationTableSchema } : {}),
    });
    const { error, results } = await migrator.migrateToLatest();
    if (error !== undefined) {
      await db.destroy().catch(() => undefined);
      const failed = results?.find((r) => r.status === "Error")?.migrationName ?? "unknown";
      throw new FlywheelError("FW_STORAGE_UNAVAILABLE", `Metadata migration '${failed}' failed: ${(error as Error).message}`, {
        cause: error,
      });
    }
    return new KyselyMetadataStore(db, backend);
  }

  async ping(): Promise<void> {
    try {
      await sql`select 1`.execute(this.db);
    } catch (e) {
      throw new FlywheelError("FW_STORAGE_UNAVAILABLE", `Metadata store unreachable: ${(e as Error).message}`, { cause: e });
    }
  }

  async close(): Promise<void> {
    await this.db.destroy();
  }

  async createExperiment(input: NewExperiment): Promise<Experiment> {
    try {
      return await this.experiments.create(input);
    } catch (e) {
      if (isUniqueViolation(e)) {
        throw new FlywheelError("FW_TRACKING_EXPERIMENT_EXISTS", `Experiment '${input.name}' already exists.`, { cause: e });
      }
      throw e;
    }
  }
  getExperiment(id: string): Promise<Experiment | undefined> {
    return this.experiments.get(id);
  }
  getExperimentByName(name: string): Promise<Experiment | undefined> {
    return this.experiments.getByName(name);
  }
  searchExperiments(query: ExperimentQuery): Promise<Page<Experiment>> {
    return this.experiments.search(query);
  }
  async renameExperiment(id: string, newName: string, now: number): Promise<void> {
    try {
      await this.experiments.rename(id, newName, now);
    } catch (e) {
      if (isUniqueViolation(e)) {
        throw new FlywheelError("FW_TRACKING_EXPERIMENT_EXISTS", `Experiment '${newName}' already exists.`, { cause: e });
      }
      throw e;
    }
  }
  setExperimentLifecycle(id: string, stage: LifecycleStage, now: number): Promise<void> {
    return this.experiments.setLifecycle(id, stage, now);
  }
  setExperimentTag(id: string, tag: Tag, now: number): Promise<void> {
    return this.experiments.setTag(id, tag, now);
  }
  deleteExperimentTag(id: string, key: string, now: number): Promise<boolean> {
    return this.experiments.deleteTag(id, key, now);
  }

  createRun(input: NewRun): Promise<Run> {
    return this.runs.create(input);
  }
  getRun(runId: string): Promise<Run | undefined> {
    return this.runs.get(runId);
  }
  getRunInfo(runId: string): Promise<RunInfo | undefined> {
    return this.runs.getInfo(runId);
  }
  updateRun(runId: string, update: RunUpdate): Promise<RunInfo> {
    return this.runs.update(runId, update);
  }
  setRunLifecycle(runId: string, stage: LifecycleStage, now: number): Promise<void> {
    return this.runs.setLifecycle(runId, stage, now);
  }
  logBatch(runId: string, batch: Batch): Promise<void> {
    return this.runs.logBatch(runId, batch);
  }
  logInputs(runId: string, experimentId: string, inputs: DatasetInput[]): Promise<void> {
    return this.runs.inputs.log(runId, experimentId, inputs);
  }
  deleteRunTag(runId: string, key: string): Promise<boolean> {
    return this.runs.deleteTag(runId, key);
  }
  getMetricHistory(runId: string, key: string, offset: number, limit: number | undefined): Promise<Page<Metric>> {
    return this.runs.metricHistory(runId, key, offset, limit);
  }
  searchRuns(query: RunQuery): Promise<Page<Run>> {
    return this.runs.search(query);
  }
}
