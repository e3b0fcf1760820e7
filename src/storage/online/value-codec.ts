/**
 * Feature values as JSON text. JSON has no NaN, ±Infinity or bytes, so those are written as
 * one-key tag objects; plain objects are not feature values, which keeps the tags unambiguous.
 */
import { FlywheelError } from "../../core/errors.js";
import type { FeatureValue } from "./online-store.js";

type Encoded = number | string | boolean | null | Encoded[] | { $num: string } | { $bytes: string };

function encode(value: unknown, path: string): Encoded {
  if (value === null || typeof value === "string" || typeof value === "boolean") return value;
  if (typeof value === "number") return Number.isFinite(value) ? value : { $num: String(value) };
  if (value instanceof Uint8Array) return { $bytes: Buffer.from(value).toString("base64") };
  if (Array.isArray(value)) return value.map((v, i) => encode(v, `${path}[${i}]`));
  throw new FlywheelError(
    "FW_REQUEST_INVALID_FIELD",
    `Feature value ${path} must be a number, string, boolean, null, bytes or a list of those, got ${typeof value}`,
  );
}

function decode(value: Encoded): FeatureValue {
  if (value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) return value.map(decode);
  if ("$num" in value) return Number(value.$num);
  return new Uint8Array(Buffer.from(value.$bytes, "base64"));
}

/** Encodes one feature value; `path` names it in errors. */
export function encodeValue(value: unknown, path: string): string {
  return JSON.stringify(encode(value, path));
}

export function decodeValue(text: string): FeatureValue {
  return decode(JSON.parse(text) as Encoded);
}

/** Encodes a whole row as one JSON object of feature → encoded value. */
export function encodeRow(values: Readonly<Record<string, unknown>>, where: string): string {
  const out: Record<string, Encoded> = {};
  for (const [name, v] of Object.entries(values)) {
    if (v === undefined) continue;
    out[name] = encode(v, `${where}.${name}`);
  }
  return JSON.stringify(out);
}

/** Decodes a row written by encodeRow; feature names map to their JSON-decoded values. */
export function decodeRow(text: string): Map<string, FeatureValue> {
  const parsed = JSON.parse(text) as Record<string, Encoded>;
  const out = new Map<string, FeatureValue>();
  for (const [name, v] of Object.entries(parsed)) out.set(name, decode(v));
  return out;
}
