/**
 * JSON text laid out as Python's `json.dumps` lays it out by default (", " and ": " separators,
 * non-ASCII escaped as \uXXXX), so the signature strings inside an MLmodel read the same as the
 * ones MLflow writes.
 */

function pythonString(s: string): string {
  return JSON.stringify(s).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

function pythonNumber(n: number): string {
  // json.dumps writes NaN/Infinity as bare words; keep that (Python reads them back).
  if (Number.isNaN(n)) return "NaN";
  if (!Number.isFinite(n)) return n > 0 ? "Infinity" : "-Infinity";
  return JSON.stringify(n);
}

/** `json.dumps(value)` for JSON-like values (objects keep their key order). */
export function pythonJsonDumps(value: unknown): string {
  if (value === null || value === undefined) return "null";
  if (typeof value === "boolean") return value ? "true" : "false";
  if (typeof value === "number") return pythonNumber(value);
  if (typeof value === "string") return pythonString(value);
  if (Array.isArray(value)) return `[${value.map(pythonJsonDumps).join(", ")}]`;
  if (typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    return `{${entries.map(([k, v]) => `${pythonString(k)}: ${pythonJsonDumps(v)}`).join(", ")}}`;
  }
  throw new TypeError(`Cannot write a ${typeof value} as JSON`);
}
