/**
 * One comparison of MLflow's search grammar evaluated on a value in memory, as the SQL the search
 * compiles to would: LIKE is case-sensitive and ILIKE is not (`%` any run, `_` one character), a
 * number compares only with a number, and a missing value (null or undefined) passes only IS NULL.
 */
import type { Comparison } from "../storage/metadata/search-types.js";

function likeToRegExp(pattern: string, insensitive: boolean): RegExp {
  const body = pattern.replace(/[.*+?^${}()|[\]\\]/g, "\\$&").replace(/%/g, ".*").replace(/_/g, ".");
  return new RegExp(`^${body}$`, insensitive ? "is" : "s");
}

export function compareValue(actual: string | number | null | undefined, c: Comparison): boolean {
  const missing = actual === null || actual === undefined;
  if (c.comparator === "IS NULL") return missing;
  if (c.comparator === "IS NOT NULL") return !missing;
  if (missing) return false;
  const v = c.value;
  switch (c.comparator) {
    case "=":
      return actual === v;
    case "!=":
      return actual !== v;
    case ">":
      return typeof v === "number" && (actual as number) > v;
    case ">=":
      return typeof v === "number" && (actual as number) >= v;
    case "<":
      return typeof v === "number" && (actual as number) < v;
    case "<=":
      return typeof v === "number" && (actual as number) <= v;
    case "LIKE":
    case "ILIKE":
      return typeof v === "string" && likeToRegExp(v, c.comparator === "ILIKE").test(String(actual));
    case "IN":
      return Array.isArray(v) && v.includes(String(actual));
    case "NOT IN":
      return Array.isArray(v) && !v.includes(String(actual));
  }
}
