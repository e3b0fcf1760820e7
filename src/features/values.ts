/** Conversions between DuckDB's JS values, request JSON and online-store values. */
import { FlywheelError } from "../core/errors.js";
import type { FeatureValue } from "../storage/online/online-store.js";
import type { ScalarType } from "./definitions.js";

/** A join-key value from DuckDB: integers as numbers (exact up to 2^53), strings as they are. */
export function toEntityValue(v: unknown, key: string): string | number {
  if (typeof v === "string" || typeof v === "number") return v;
  if (typeof v === "bigint") {
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) {
      throw new FlywheelError("FW_REQUEST_INVALID_FIELD", `Join key '${key}' value ${v} is beyond 2^53 and cannot be stored exactly`);
    }
    return Number(v);
  }
  throw new FlywheelError("FW_REQUEST_INVALID_FIELD", `Join key '${key}' must be an integer or a string, got ${v === null ? "null" : typeof v}`);
}

/** A feature value from DuckDB: bigints as numbers, timestamps as epoch milliseconds. */
export function toFeatureValue(v: unknown): FeatureValue {
  if (v === null || v === undefined) return null;
  if (typeof v === "bigint") return Number(v);
  if (v instanceof Date) return v.getTime();
  if (Array.isArray(v)) return v.map(toFeatureValue);
  if (typeof v === "number" || typeof v === "string" || typeof v === "boolean" || v instanceof Uint8Array) return v;
  return String(v);
}

/**
 * A timestamp from a request: an ISO-8601 string (`2024-05-01T10:00:00Z`, or naive
 * `2024-05-01 10:00:00`, read as UTC) or a number of epoch milliseconds.
 */
export function parseTimestamp(v: unknown, field: string): number {
  if (typeof v === "number" && Number.isFinite(v)) return v;
  if (typeof v === "string" && v.trim() !== "") {
    let text = v.trim().replace(" ", "T");
    if (/^\d{4}-\d{2}-\d{2}$/.test(text)) text += "T00:00:00";
    if (!/(Z|[+-]\d{2}:?\d{2})$/i.test(text)) text += "Z";
    const ms = Date.parse(text);
    if (Number.isFinite(ms)) return ms;
  }
  throw new FlywheelError("FW_REQUEST_INVALID_FIELD", `'${field}' must be an ISO-8601 timestamp or epoch milliseconds (got ${JSON.stringify(v)})`, {
    details: { field },
  });
}

/** Checks a join-key value from a request against the entity's declared type. */
export function checkEntityValue(v: unknown, type: ScalarType, key: string): string | number {
  const bad = (): FlywheelError =>
    new FlywheelError("FW_REQUEST_INVALID_FIELD", `Entity key '${key}' must be ${type === "String" ? "a string" : "an integer"} (entity type ${type}), got ${JSON.stringify(v)}`, {
      details: { field: key },
    });
  switch (type) {
    case "Int32":
    case "Int64":
    case "UnixTimestamp":
      if (typeof v === "number" && Number.isSafeInteger(v)) return v;
      throw bad();
    case "Float32":
    case "Float64":
      if (typeof v === "number" && Number.isFinite(v)) return v;
      throw bad();
    case "String":
    case "Bytes":
      if (typeof v === "string") return v;
      throw bad();
    case "Bool":
      throw bad();
  }
}

/** Checks a feature value from a request against its declared type (null is always allowed). */
export function checkFeatureValue(v: unknown, dtype: string, field: string): FeatureValue {
  if (v === null || v === undefined) return null;
  const list = /^Array\((\w+)\)$/.exec(dtype);
  if (list !== null) {
    if (!Array.isArray(v)) throw mistyped(v, dtype, field);
    return v.map((x) => checkFeatureValue(x, list[1] as string, field));
  }
  switch (dtype) {
    case "Int32":
    case "Int64":
      if (typeof v === "number" && Number.isInteger(v)) return v;
      break;
    case "Float32":
    case "Float64":
      if (typeof v === "number") return v;
      if (v === "NaN" || v === "Infinity" || v === "-Infinity") return Number(v);
      break;
    case "String":
    case "Bytes":
      if (typeof v === "string") return v;
      break;
    case "Bool":
      if (typeof v === "boolean") return v;
      break;
    case "UnixTimestamp":
      return parseTimestamp(v, field);
  }
  throw mistyped(v, dtype, field);
}

function mistyped(v: unknown, dtype: string, field: string): FlywheelError {
  return new FlywheelError("FW_REQUEST_INVALID_FIELD", `Column '${field}' must hold ${dtype} values, got ${JSON.stringify(v)}`, { details: { field } });
}
