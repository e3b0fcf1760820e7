/**
 * On-demand feature view transformations: the function's source text compiled once in its own
 * V8 context (no `require`, `process`, file system or network; only the language's built-ins),
 * then run over batches of rows, with a time limit per batch. The same code path serves
 * historical retrieval and online reads, so both compute the same values.
 */
import { Script, createContext, type Context } from "node:vm";
import { FlywheelError } from "../core/errors.js";
import type { Field, OnDemandFeatureViewDef } from "./definitions.js";

/** How long one batch of rows may run before the transformation is stopped. */
const BATCH_TIMEOUT_MS = 5_000;

export class Transformation {
  private readonly context: Context;
  private readonly script: Script;

  private constructor(readonly view: OnDemandFeatureViewDef) {
    this.context = createContext(Object.create(null) as object, { codeGeneration: { strings: false, wasm: false } });
    let fn: Script;
    try {
      fn = new Script(`"use strict"; globalThis.__fw_fn = (${view.transform});`, { filename: `odfv:${view.name}` });
      fn.runInContext(this.context, { timeout: BATCH_TIMEOUT_MS });
    } catch (e) {
      throw new FlywheelError(
        "FW_FEATURES_DEFINITION_INVALID",
        `on-demand feature view '${view.name}': transform: does not compile as a JavaScript function: ${(e as Error).message}`,
      );
    }
    const isFn = new Script("typeof globalThis.__fw_fn === 'function'").runInContext(this.context) as boolean;
    if (!isFn) {
      throw new FlywheelError("FW_FEATURES_DEFINITION_INVALID", `on-demand feature view '${view.name}': transform: must be a function`);
    }
    this.script = new Script(
      `"use strict"; globalThis.__fw_out = globalThis.__fw_in.map((r) => { const o = globalThis.__fw_fn(r); ` +
        `if (o === null || typeof o !== "object" || Array.isArray(o)) throw new TypeError("returned " + (o === null ? "null" : Array.isArray(o) ? "a list" : typeof o) + ", not an object of features"); return o; });`,
      { filename: `odfv:${view.name}` },
    );
  }

  static compile(view: OnDemandFeatureViewDef): Transformation {
    return new Transformation(view);
  }

  /**
   * Runs the transformation over `rows` (source features by name and request fields) and returns,
   * for each row, the view's declared outputs (missing or undefined outputs are null).
   */
  run(rows: readonly Record<string, unknown>[]): Record<string, unknown>[] {
    const ctx = this.context as Record<string, unknown>;
    ctx.__fw_in = rows.map((r) => ({ ...r }));
    let out: unknown;
    try {
      this.script.runInContext(this.context, { timeout: BATCH_TIMEOUT_MS });
      out = ctx.__fw_out;
    } catch (e) {
      throw new FlywheelError("FW_REQUEST_INVALID_FIELD", `on-demand feature view '${this.view.name}' failed: ${(e as Error).message}`, {
        details: { field: this.view.name },
      });
    } finally {
      ctx.__fw_in = undefined;
      ctx.__fw_out = undefined;
    }
    const results = out as Record<string, unknown>[];
    return results.map((o) => {
      const row: Record<string, unknown> = {};
      for (const f of this.view.schema) row[f.name] = coerce(o[f.name], f, this.view.name);
      return row;
    });
  }
}

/** Checks an output value against its declared type; numbers stay numbers, NaN is allowed. */
function coerce(value: unknown, field: Field, view: string): unknown {
  if (value === undefined || value === null) return null;
  const scalar = field.dtype.startsWith("Array(") ? field.dtype.slice(6, -1) : field.dtype;
  const check = (v: unknown): boolean => {
    switch (scalar) {
      case "Int32":
      case "Int64":
        return typeof v === "number" ? Number.isInteger(v) : typeof v === "bigint";
      case "Float32":
      case "Float64":
      case "UnixTimestamp":
        return typeof v === "number";
      case "String":
        return typeof v === "string";
      case "Bool":
        return typeof v === "boolean";
      case "Bytes":
        return v instanceof Uint8Array || typeof v === "string";
      default:
        return false;
    }
  };
  const ok = field.dtype.startsWith("Array(") ? Array.isArray(value) && value.every((v) => v === null || check(v)) : check(value);
  if (!ok) {
    throw new FlywheelError(
      "FW_REQUEST_INVALID_FIELD",
      `on-demand feature view '${view}' returned ${JSON.stringify(value)} for '${field.name}', which is declared ${field.dtype}`,
      { details: { field: field.name } },
    );
  }
  return typeof value === "bigint" ? Number(value) : value;
}

/** A plausible value of a type, to try a transformation at apply time. */
export function sampleValue(dtype: string): unknown {
  if (dtype.startsWith("Array(")) return [sampleValue(dtype.slice(6, -1))];
  switch (dtype) {
    case "Int32":
    case "Int64":
      return 1;
    case "Float32":
    case "Float64":
      return 0.5;
    case "UnixTimestamp":
      return 1_700_000_000_000;
    case "Bool":
      return true;
    default:
      return "a";
  }
}
