/**
 * Validation and result assembly shared by every backend, so backends implement only storage:
 * names are checked, entity keys serialized and timestamps normalized once, here.
 */
import { FlywheelError } from "../../core/errors.js";
import { serializeEntityKey } from "./entity-key.js";
import { checkName } from "./names.js";
import type {
  EntityKey,
  FeatureValue,
  OnlineEntityResult,
  OnlineReadOptions,
  OnlineWriteRow,
} from "./online-store.js";

export interface PreparedRow {
  /** Serialized entity key. */
  key: string;
  eventTs: number;
  createdTs: number;
  values: Readonly<Record<string, unknown>>;
}

function checkTs(value: unknown, what: string): number {
  if (typeof value !== "number" || !Number.isFinite(value)) {
    throw new FlywheelError("FW_REQUEST_INVALID_FIELD", `${what} must be a finite number of epoch milliseconds`);
  }
  return value + 0;
}

export function prepareWrite(view: string, rows: readonly OnlineWriteRow[]): PreparedRow[] {
  checkName(view, "feature view");
  return rows.map((row, i) => {
    for (const name of Object.keys(row.values)) checkName(name, "feature");
    return {
      key: serializeEntityKey(row.entityKey),
      eventTs: checkTs(row.eventTs, `rows[${i}].eventTs`),
      createdTs: row.createdTs === undefined ? 0 : checkTs(row.createdTs, `rows[${i}].createdTs`),
      values: row.values,
    };
  });
}

export function prepareRead(view: string, entityKeys: readonly EntityKey[], features: readonly string[]): string[] {
  checkName(view, "feature view");
  for (const f of features) checkName(f, "feature");
  return entityKeys.map(serializeEntityKey);
}

/** A stored row as a backend found it: its timestamps and a lookup of its features. */
export interface FoundRow {
  eventTs: number;
  /** The feature's value, or undefined when the row does not hold that feature. */
  get(feature: string): FeatureValue | undefined;
}

/** The cutoff below which rows are OUTSIDE_MAX_AGE, or -Infinity without a ttl. */
export function maxAgeCutoff(options: OnlineReadOptions | undefined): number {
  const ttl = options?.ttlSeconds;
  if (ttl === undefined || ttl <= 0) return -Infinity;
  if (!Number.isFinite(ttl)) {
    throw new FlywheelError("FW_REQUEST_INVALID_FIELD", "ttlSeconds must be a finite number");
  }
  return (options?.now ?? Date.now()) - ttl * 1000;
}

/** Builds one entity's answer with a status for every requested feature. */
export function entityResult(row: FoundRow | undefined, features: readonly string[], cutoff: number): OnlineEntityResult {
  const out: OnlineEntityResult = {};
  for (const f of features) {
    if (row === undefined) {
      out[f] = { value: null, status: "NOT_FOUND", eventTs: null };
      continue;
    }
    const value = row.get(f);
    if (value === undefined) out[f] = { value: null, status: "NOT_FOUND", eventTs: row.eventTs };
    else if (value === null) out[f] = { value: null, status: "NULL_VALUE", eventTs: row.eventTs };
    else if (row.eventTs < cutoff) out[f] = { value: null, status: "OUTSIDE_MAX_AGE", eventTs: row.eventTs };
    else out[f] = { value, status: "PRESENT", eventTs: row.eventTs };
  }
  return out;
}
