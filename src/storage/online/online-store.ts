/**
 * The OnlineStore port: the latest feature values per entity, one row per (view, entity).
 * Behaviour follows Feast's OnlineStore: a write never replaces a newer row with an older one,
 * and a read reports a status for every requested feature.
 */

/** A join-key value: strings and numbers are distinct types (`42` and `"42"` are different entities). */
export type EntityKeyValue = string | number;

/** The join keys of one entity, e.g. `{ driver_id: 1001 }` or `{ customer: "c7", store: 3 }`. */
export type EntityKey = Readonly<Record<string, EntityKeyValue>>;

/**
 * What a feature value may be: the scalar and list types of Feast's ValueType.
 * Non-finite numbers (NaN, ±Infinity) and byte arrays round-trip; plain objects are rejected.
 */
export type FeatureValue = number | string | boolean | null | Uint8Array | FeatureValue[];

export interface OnlineWriteRow {
  entityKey: EntityKey;
  /** Feature name → value. The row replaces the entity's whole stored row for the view. */
  values: Readonly<Record<string, unknown>>;
  /** Event time, epoch milliseconds. */
  eventTs: number;
  /** Creation time, epoch milliseconds; breaks ties between equal eventTs. Absent counts as 0. */
  createdTs?: number;
}

/**
 * PRESENT: stored and not null. NULL_VALUE: the stored row holds null for it.
 * NOT_FOUND: no row for the entity, or the row has no such feature.
 * OUTSIDE_MAX_AGE: the row is older than the `ttlSeconds` given to read (value is null).
 */
export type FeatureStatus = "PRESENT" | "NULL_VALUE" | "NOT_FOUND" | "OUTSIDE_MAX_AGE";

export interface OnlineFeatureValue {
  value: FeatureValue;
  status: FeatureStatus;
  /** Event time of the stored row, or null when the entity has no row. */
  eventTs: number | null;
}

/** One entity's answer: feature name → value and status, for every requested feature. */
export type OnlineEntityResult = Record<string, OnlineFeatureValue>;

export interface OnlineReadOptions {
  /**
   * The view's ttl. When set and > 0, a row whose eventTs is older than `now - ttlSeconds`
   * reads as OUTSIDE_MAX_AGE with a null value (0 or absent means no limit, as in Feast).
   */
  ttlSeconds?: number;
  /** "Now" for the ttl check, epoch milliseconds; defaults to Date.now(). */
  now?: number;
}

/** What a backend can do beyond the required contract (Feast-style capability flags). */
export interface OnlineStoreCapabilities {
  /** Processes on several hosts can share the store (false: one machine, e.g. a local file). */
  readonly sharedAcrossHosts: boolean;
  /** A write batch commits all-or-nothing; otherwise each entity row is atomic on its own. */
  readonly atomicBatchWrites: boolean;
  /** Keys are laid out so a cluster can shard them by entity. */
  readonly shardsByEntity: boolean;
}

export interface OnlineStore {
  readonly scheme: string;
  readonly capabilities: OnlineStoreCapabilities;
  /**
   * Upserts rows. A row is stored only when it is newer than the stored one (greater eventTs, or
   * equal eventTs and greater createdTs), so re-writes and out-of-order writes are harmless.
   * @example await store.write("driver_stats", [{ entityKey: { driver_id: 1 }, values: { trips: 3 }, eventTs: Date.now() }]);
   */
  write(view: string, rows: readonly OnlineWriteRow[]): Promise<void>;
  /** Reads features for many entities in one round trip; the result is aligned with `entityKeys`. */
  read(
    view: string,
    entityKeys: readonly EntityKey[],
    features: readonly string[],
    options?: OnlineReadOptions,
  ): Promise<OnlineEntityResult[]>;
  /** Removes every row of the view (for this store's project). */
  deleteView(view: string): Promise<void>;
  close(): Promise<void>;
}
