/**
 * Tensor elements as JSON values and JSON text for the inference log. This runs for every logged
 * value on the serving process, so float32 (the common case) is printed from an integer mantissa
 * rather than through the double-to-shortest conversion or `toPrecision`.
 */
import { fromFloat16Bits } from "../float16.js";

/** 10^(k - 16) for k in 0..40 (exact doubles for 10^0 .. 10^22). */
const POW10 = Array.from({ length: 41 }, (_, k) => 10 ** (k - 16));

/**
 * A float32 as the shortest of 6 or 9 significant digits that reads back as the same float32:
 * 6 when they do (so 5.1f logs as 5.1, as the client sent it), else 9, which always do.
 */
export function float32Value(x: number): number | null {
  if (!Number.isFinite(x)) return null;
  if (x === 0) return 0;
  // Rounding by arithmetic costs a fraction of toPrecision; toPrecision decides only when it misses.
  const e = Math.floor(Math.log10(Math.abs(x)));
  if (e >= -15 && e <= 15) {
    for (const digits of [6, 9]) {
      const scale = POW10[digits - 1 - e + 16] as number;
      const y = Math.round(x * scale) / scale;
      if (Math.fround(y) === x) return y;
    }
  }
  const y = Number(x.toPrecision(6));
  return Math.fround(y) === x ? y : Number(x.toPrecision(9));
}

/** `m / 10^frac` written out in decimal, trailing zeros dropped (m an integer, frac >= 0). */
function decimalText(m: number, frac: number): string {
  let digits = String(m < 0 ? -m : m);
  let end = digits.length;
  while (frac > 0 && end > 1 && digits.charCodeAt(end - 1) === 48) {
    end--;
    frac--;
  }
  digits = digits.slice(0, end);
  const sign = m < 0 ? "-" : "";
  if (frac === 0) return sign + digits;
  if (digits.length > frac) return `${sign}${digits.slice(0, digits.length - frac)}.${digits.slice(digits.length - frac)}`;
  return `${sign}0.${"0".repeat(frac - digits.length)}${digits}`;
}

/**
 * `float32Value(x)` as JSON text. For |x| from 1e-7 to below 1e6 (9 digits: 1e9) the digits come
 * from an integer: `m / 10^f` with 10^f an exact double is the correctly rounded double of the
 * decimal written out, which is what a reader parses, so the round-trip check holds for the text.
 */
export function float32Text(x: number): string {
  if (!Number.isFinite(x)) return "null";
  if (x === 0) return "0";
  const e = Math.floor(Math.log10(Math.abs(x)));
  if (e >= -7) {
    for (const digits of [6, 9]) {
      const frac = digits - 1 - e;
      if (frac < 0) break;
      const scale = POW10[frac + 16] as number;
      const m = Math.round(x * scale);
      if (Math.fround(m / scale) === x) return decimalText(m, frac);
    }
  }
  return String(float32Value(x));
}

/** A value as JSON; numbers print as JSON.stringify prints them (non-finite: null). */
export function json(v: unknown): string {
  if (typeof v === "number") return Number.isFinite(v) ? String(v) : "null";
  if (typeof v === "string") return JSON.stringify(v);
  if (typeof v === "boolean") return v ? "true" : "false";
  if (v === null || v === undefined) return "null";
  if (Array.isArray(v)) {
    let out = "[";
    for (let i = 0; i < v.length; i++) out += (i === 0 ? "" : ",") + json(v[i]);
    return `${out}]`;
  }
  return JSON.stringify(v);
}

function int64Value(b: bigint): number | string {
  const n = Number(b);
  return Number.isSafeInteger(n) ? n : b.toString();
}

/**
 * Element `k` of a tensor as a plain value: float32 shortened (see float32Value), 64-bit
 * integers beyond 2^53 as decimal strings, booleans, strings; non-finite floats as null, or as
 * they are with `raw` (reading predictions compares them).
 */
export function valueAt(type: string, data: unknown, k: number, raw = false): unknown {
  switch (type) {
    case "float32": {
      const x = (data as Float32Array)[k] as number;
      return raw && !Number.isFinite(x) ? x : float32Value(x);
    }
    case "float64": {
      const x = (data as Float64Array)[k] as number;
      return raw || Number.isFinite(x) ? x : null;
    }
    case "float16": {
      const x = fromFloat16Bits((data as Uint16Array)[k] as number);
      return raw || Number.isFinite(x) ? x : null;
    }
    case "bool":
      return (data as Uint8Array)[k] !== 0;
    case "int64":
    case "uint64":
      return int64Value((data as BigInt64Array)[k] as bigint);
    case "string":
      return (data as string[])[k];
    default:
      return (data as ArrayLike<number>)[k];
  }
}

/** Element `k` of a tensor as JSON text: `json(valueAt(type, data, k))`, with float32 printed directly. */
export function textAt(type: string, data: unknown, k: number): string {
  switch (type) {
    case "float32":
      return float32Text((data as Float32Array)[k] as number);
    case "bool":
      return (data as Uint8Array)[k] !== 0 ? "true" : "false";
    case "string":
      return JSON.stringify((data as string[])[k]);
    case "int8":
    case "int16":
    case "int32":
    case "uint8":
    case "uint16":
    case "uint32":
      return String((data as ArrayLike<number>)[k]);
    default:
      return json(valueAt(type, data, k));
  }
}
