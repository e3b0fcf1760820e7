/** The request and result types of historical feature retrieval. */
import type { FileFormat, OfflineDbOptions, OfflineDb } from "../storage/offline/duckdb.js";

export interface FeatureSourceSpec {
  path: string;
  format: FileFormat;
  /** The event timestamp column (a source column, or the name a field mapping gives one). */
  timestampField: string;
  createdTimestampColumn?: string;
  /** Source column name → feature view column name. */
  fieldMapping?: Record<string, string>;
  /**
   * Parquet files appended to the source (offline pushes), read after it with the source's own
   * column names; on a full tie they come after the source's rows, so the latest append wins.
   */
  appendedParquet?: string[];
}

export interface FeatureViewSpec {
  name: string;
  /** Entity join keys (feature view column names), e.g. `["driver_id"]`. */
  joinKeys: string[];
  source: FeatureSourceSpec;
  /** Feature column names (after field mapping). */
  features: string[];
  /** 0 means no lower bound on the event timestamp. */
  ttlSeconds: number;
}

export interface EntitySpec {
  path: string;
  format: FileFormat;
  /** Defaults to `event_timestamp`. */
  timestampField?: string;
}

export interface HistoricalFeaturesRequest {
  entities: EntitySpec;
  views: FeatureViewSpec[];
  /** `"view:feature"` references, in output order. */
  features: string[];
  /** Name feature columns `<view>__<feature>`; without it, two features with one name is an error. */
  fullFeatureNames?: boolean;
  /** Drop feature rows created after the entity timestamp (default false). */
  filterByCreatedTimestamp?: boolean;
  /** The Parquet file to write (replaced atomically). */
  out: string;
}

export interface HistoricalFeaturesResult {
  rows: number;
  columns: string[];
}

/**
 * `asof`: ASOF JOIN on the event timestamp, then fix the entity rows whose match is tied with a
 * better-created row (and, filtering by created timestamp, those whose match was created too late).
 * `window`: range join on keys and the ttl window, then keep the best row per entity row; slow
 * when a key has many rows inside the window. `auto` (default) is `asof`.
 */
export type JoinStrategy = "auto" | "asof" | "window";

export interface HistoricalFeaturesOptions {
  /** An open database to run in (left open); otherwise one is opened and closed per call. */
  db?: OfflineDb;
  dbOptions?: OfflineDbOptions;
  strategy?: JoinStrategy;
  /**
   * Match `asof` views on one exact packed key where their data allows (see Packing in
   * historical-packing.ts), with no tie fix; default true. False always matches on the event
   * timestamp and fixes ties (the answers are the same).
   */
  packedKeys?: boolean;
}
