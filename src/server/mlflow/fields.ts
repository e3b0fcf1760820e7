/**
 * zod field types for MLflow's JSON: int64 as a number or a numeric string, doubles with
 * "NaN"/"Infinity", repeated fields that arrive as one query value.
 */
import { z } from "zod";

/** int64: protobuf JSON allows a number or a decimal string. */
export const int64 = z.union([
  z.number().int("expected an integer"),
  z
    .string()
    .regex(/^-?\d+$/, "expected an integer")
    .transform(Number),
]).refine(Number.isSafeInteger, "integer out of range");

const SPECIAL_DOUBLES: Record<string, number> = {
  NaN: Number.NaN,
  nan: Number.NaN,
  Infinity: Number.POSITIVE_INFINITY,
  inf: Number.POSITIVE_INFINITY,
  "-Infinity": Number.NEGATIVE_INFINITY,
  "-inf": Number.NEGATIVE_INFINITY,
};

/** double: a JSON number, "NaN", "Infinity", "-Infinity" or a numeric string. */
export const double = z.union([
  z.number(),
  z.string().transform((s, ctx) => {
    const special = SPECIAL_DOUBLES[s];
    if (special !== undefined) return special;
    const n = s.trim() === "" ? Number.NaN : Number(s);
    if (Number.isNaN(n)) {
      ctx.addIssue({ code: "custom", message: `expected a number, got '${s.slice(0, 40)}'` });
      return z.NEVER;
    }
    return n;
  }),
]);

/** A string field; MLflow ids may arrive as JSON numbers from loose clients. */
export const str = z.union([z.string(), z.number().transform(String)]);

/** A repeated field; a query string gives a single value as a plain string. */
export function repeated<T extends z.ZodType>(item: T) {
  return z.preprocess((v) => (v === undefined || Array.isArray(v) ? v : [v]), z.array(item));
}

export const viewType = z.enum(["ACTIVE_ONLY", "DELETED_ONLY", "ALL"]);
export const runStatus = z.enum(["RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED"]);
export const keyValue = z.object({ key: z.string(), value: str });

/** Output form of a double: protobuf JSON spells the special values as strings. */
export function doubleOut(v: number): number | string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Number.POSITIVE_INFINITY) return "Infinity";
  if (v === Number.NEGATIVE_INFINITY) return "-Infinity";
  return v;
}
