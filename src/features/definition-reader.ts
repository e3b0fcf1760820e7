/**
 * Reading one authored definition object field by field: typed getters that record a problem
 * against the object (`feature view 'x': ttl: ...`) instead of throwing, so every problem of a
 * repo is reported at once.
 */
import { SCALAR_TYPES, type Field, type ValueType } from "./definitions.js";
import { FlywheelError } from "../core/errors.js";

const SCALARS = new Set<string>(SCALAR_TYPES);

/** Letters, digits and `_`, `.`, `-`; not starting with `__` (reserved); at most 255 characters. */
export const NAME_RE = /^(?!__)[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

export class DefinitionErrors {
  readonly messages: string[] = [];
  add(where: string, field: string, rule: string): void {
    this.messages.push(`${where}: ${field}: ${rule}`);
  }
  throwIfAny(): void {
    if (this.messages.length === 0) return;
    const head = this.messages.length === 1 ? "Invalid feature definition" : `${this.messages.length} invalid feature definitions`;
    throw new FlywheelError("FW_FEATURES_DEFINITION_INVALID", `${head}: ${this.messages.join("; ")}`, {
      details: { errors: [...this.messages] },
    });
  }
}


export function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "string") return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (typeof v === "function") return "a function";
  return typeof v === "object" ? "a mapping" : String(v);
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Reads typed fields of one raw object, recording errors against the object. */
export class Reader {
  constructor(
    private readonly raw: Record<string, unknown>,
    private readonly where: string,
    private readonly errors: DefinitionErrors,
  ) {}

  string(key: string): string | undefined {
    const v = this.raw[key];
    if (typeof v !== "string" || v === "") {
      this.errors.add(this.where, key, `is required and must be a non-empty string (got ${describe(v)})`);
      return undefined;
    }
    return v;
  }

  optionalString(key: string): string | undefined {
    const v = this.raw[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== "string" || v === "") {
      this.errors.add(this.where, key, `must be a non-empty string (got ${describe(v)})`);
      return undefined;
    }
    return v;
  }

  optionalBool(key: string): boolean | undefined {
    const v = this.raw[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== "boolean") {
      this.errors.add(this.where, key, `must be true or false (got ${describe(v)})`);
      return undefined;
    }
    return v;
  }

  stringMap(key: string): Record<string, string> | undefined {
    const v = this.raw[key];
    if (v === undefined || v === null) return undefined;
    if (!isRecord(v) || !Object.values(v).every((x) => typeof x === "string")) {
      this.errors.add(this.where, key, `must be a mapping of strings (got ${describe(v)})`);
      return undefined;
    }
    return Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) as Record<string, string>;
  }

  nameList(key: string, { min }: { min: number }): string[] | undefined {
    const v = this.raw[key];
    if (!Array.isArray(v) || v.length < min || !v.every((x) => typeof x === "string" && NAME_RE.test(x))) {
      this.errors.add(this.where, key, `must be a list of at least ${min} names of letters, digits, '_', '.' or '-' (got ${describe(v)})`);
      return undefined;
    }
    if (new Set(v).size !== v.length) this.errors.add(this.where, key, "must not repeat a name");
    return [...(v as string[])];
  }

  fields(key: string, { min }: { min: number }): Field[] | undefined {
    const v = this.raw[key];
    if (v === undefined && min === 0) return [];
    if (!Array.isArray(v) || v.length < min) {
      this.errors.add(this.where, key, `must be a list of at least ${min} { name, dtype } fields (got ${describe(v)})`);
      return undefined;
    }
    const out: Field[] = [];
    const seen = new Set<string>();
    v.forEach((f, i) => {
      const at = `${key}[${i}]`;
      if (!isRecord(f)) {
        this.errors.add(this.where, at, `must be a { name, dtype } mapping (got ${describe(f)})`);
        return;
      }
      const name = f.name;
      if (typeof name !== "string" || !NAME_RE.test(name)) {
        this.errors.add(this.where, `${at}.name`, `must be letters, digits, '_', '.' or '-', not starting with '__' (got ${describe(name)})`);
        return;
      }
      if (seen.has(name)) this.errors.add(this.where, `${at}.name`, `'${name}' is listed twice`);
      seen.add(name);
      const dtype = f.dtype;
      if (typeof dtype !== "string" || !isValueType(dtype)) {
        this.errors.add(this.where, `${at}.dtype`, `must be one of ${SCALAR_TYPES.join(", ")} or Array(<one of them>) (got ${describe(dtype)})`);
        return;
      }
      const field: Field = { name, dtype };
      if (typeof f.description === "string") field.description = f.description;
      out.push(field);
    });
    return out;
  }

  described(): { description?: string; tags?: Record<string, string>; owner?: string } {
    const description = this.optionalString("description");
    const owner = this.optionalString("owner");
    const tags = this.stringMap("tags");
    return {
      ...(description === undefined ? {} : { description }),
      ...(tags === undefined ? {} : { tags }),
      ...(owner === undefined ? {} : { owner }),
    };
  }

  /** Unknown keys are errors, so a typo (`timestamp_feild`) is not silently ignored. */
  done(known: string[]): void {
    for (const key of Object.keys(this.raw)) {
      if (!known.includes(key)) this.errors.add(this.where, key, `is not a known field (known: ${known.filter((k) => k !== "kind").join(", ")})`);
    }
  }
}

export function isValueType(s: string): s is ValueType {
  if (SCALARS.has(s)) return true;
  const m = /^Array\((\w+)\)$/.exec(s);
  return m !== null && SCALARS.has(m[1] as string);
}

