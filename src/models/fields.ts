/**
 * Readers for untrusted documents (MLmodel YAML, signature JSON, SDK options): each checks one
 * field and throws a FieldError naming it, which callers turn into their own error type.
 */

/** A field of a document has the wrong shape; `field` is its dotted path, e.g. `flavors.onnx.data`. */
export class FieldError extends Error {
  constructor(
    readonly field: string,
    readonly problem: string,
  ) {
    super(`'${field}' ${problem}`);
    this.name = "FieldError";
  }
}

export type Mapping = Record<string, unknown>;

/** How a value looks in an error message: its type, and the value itself when it is short. */
export function describe(value: unknown): string {
  if (value === null) return "null";
  if (value === undefined) return "nothing";
  if (Array.isArray(value)) return "a list";
  if (value instanceof Date) return "a timestamp";
  if (typeof value === "object") return "a mapping";
  if (typeof value === "string") return value.length <= 40 ? `the string ${JSON.stringify(value)}` : "a string";
  return `${typeof value} ${String(value)}`;
}

export function isMapping(value: unknown): value is Mapping {
  return typeof value === "object" && value !== null && !Array.isArray(value) && !(value instanceof Date);
}

export function child(field: string, key: string | number): string {
  return typeof key === "number" ? `${field}[${key}]` : field === "" ? key : `${field}.${key}`;
}

/** A required field that is absent. */
function absent(value: unknown, field: string): void {
  if (value === undefined) throw new FieldError(field, "is required");
}

export function readMapping(value: unknown, field: string): Mapping {
  absent(value, field);
  if (!isMapping(value)) throw new FieldError(field, `must be a mapping (got ${describe(value)})`);
  return value;
}

export function readList(value: unknown, field: string): unknown[] {
  absent(value, field);
  if (!Array.isArray(value)) throw new FieldError(field, `must be a list (got ${describe(value)})`);
  return value;
}

export function readString(value: unknown, field: string, opts: { nonEmpty?: boolean } = {}): string {
  absent(value, field);
  if (typeof value !== "string") throw new FieldError(field, `must be a string (got ${describe(value)})`);
  if (opts.nonEmpty === true && value.trim() === "") throw new FieldError(field, "must not be empty");
  return value;
}

/**
 * A version-like scalar: YAML 1.1 reads an unquoted `3.10` as the float 3.1 and `2` as an int,
 * so numbers are accepted and written back as text.
 */
export function readVersion(value: unknown, field: string): string {
  if (typeof value === "number" && Number.isFinite(value)) return String(value);
  return readString(value, field, { nonEmpty: true });
}

export function readStringList(value: unknown, field: string, opts: { unique?: boolean } = {}): string[] {
  const list = readList(value, field).map((v, i) => readString(v, child(field, i), { nonEmpty: true }));
  if (opts.unique === true) {
    const seen = new Set<string>();
    for (const [i, v] of list.entries()) {
      if (seen.has(v)) throw new FieldError(child(field, i), `repeats ${JSON.stringify(v)}`);
      seen.add(v);
    }
  }
  return list;
}

export function readInteger(value: unknown, field: string, min: number): number {
  absent(value, field);
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min) {
    throw new FieldError(field, `must be an integer >= ${min} (got ${describe(value)})`);
  }
  return value;
}

/** `value` when it is present (not undefined or null), read by `read`; otherwise undefined. */
export function optional<T>(value: unknown, field: string, read: (v: unknown, f: string) => T): T | undefined {
  return value === undefined || value === null ? undefined : read(value, field);
}
