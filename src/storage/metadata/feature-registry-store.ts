/**
 * The FeatureRegistryStore port: versioned feature-store definitions per project, the
 * materialization intervals written to the online store, and stream consumer checkpoints.
 *
 * Definitions are stored as whole snapshots: every `apply` appends version N+1 holding every
 * object of the project (as JSON) and the list of changes from version N, so any earlier state
 * can be read back and diffed. Snapshots are small (definitions, not data).
 */

export interface FeatureRegistryVersion {
  project: string;
  version: number;
  /** JSON text of every definition in the project at this version. */
  snapshot: string;
  /** JSON text of the changes from the previous version. */
  changes: string;
  appliedBy: string;
  appliedTime: number;
}

export interface MaterializationRecord {
  view: string;
  /** Epoch milliseconds; the interval is [startTs, endTs). */
  startTs: number;
  endTs: number;
  rows: number;
  createdTime: number;
}

export interface FeatureRegistryStore {
  /** The latest version of a project's definitions, or undefined before the first apply. */
  latest(project: string): Promise<FeatureRegistryVersion | undefined>;
  /** Only the number of the latest version (0 before the first apply): one indexed read. */
  latestVersion(project: string): Promise<number>;
  getVersion(project: string, version: number): Promise<FeatureRegistryVersion | undefined>;
  /** Versions newest first, without their snapshots' size mattering to the caller. */
  history(project: string, limit: number): Promise<Omit<FeatureRegistryVersion, "snapshot">[]>;
  /**
   * Stores version `expectedVersion + 1`. Throws FW_FEATURES_CONFLICT when another apply stored
   * that version first, so two concurrent applies never silently overwrite each other.
   */
  append(entry: Omit<FeatureRegistryVersion, "version">, expectedVersion: number): Promise<number>;

  recordMaterialization(project: string, record: MaterializationRecord): Promise<void>;
  /** Intervals of one view (or all views), oldest first. */
  materializations(project: string, view?: string): Promise<MaterializationRecord[]>;

  /** The last stream sequence a consumer applied, or 0. */
  streamOffset(project: string, consumer: string): Promise<number>;
  setStreamOffset(project: string, consumer: string, sequence: number, now: number): Promise<void>;
}
