/**
 * Tensors packed for a message between threads: every numeric tensor's bytes in one ArrayBuffer
 * (transferred, not copied), their types and shapes in a flat list, string tensors as lists of
 * strings. Structured-cloning a typed array per tensor cost the ONNX Runtime thread and the
 * serving thread several microseconds a tensor; one buffer per message costs a fraction of that.
 */
import type { RuntimeTensor } from "./tensors.js";
import { ARRAY_CLASSES, arrayClassIndex, type ArrayClass, type NumericArray } from "./typed-arrays.js";

/** `classIndex` of data that is a list of strings. */
const STRINGS = -1;

export interface PackedTensors {
  /** The numeric tensors' bytes, each at an offset that is a multiple of 8. */
  buffer: ArrayBuffer;
  /** Per tensor: type, number of dimensions, the dimensions, class index (-1: strings), then byte offset and element count (or index into `strings`). */
  meta: (string | number)[];
  strings: string[][];
}

const align8 = (n: number) => (n + 7) & ~7;

function classIndex(data: unknown): number {
  if (Array.isArray(data)) return STRINGS;
  const k = arrayClassIndex(data);
  if (k < 0) throw new TypeError(`tensor data must be a typed array or a list of strings, got ${ArrayBuffer.isView(data) ? data.constructor.name : typeof data}`);
  return k;
}

/** Packs `tensors`, in order; pass `packed.buffer` in the message's transfer list. */
export function packTensors(tensors: readonly RuntimeTensor[]): PackedTensors {
  const kinds = tensors.map((t) => classIndex(t.data));
  let size = 0;
  tensors.forEach((t, i) => {
    if (kinds[i] !== STRINGS) size += align8((t.data as NumericArray).byteLength);
  });
  const buffer = new ArrayBuffer(size);
  const bytes = new Uint8Array(buffer);
  const meta: (string | number)[] = [];
  const strings: string[][] = [];
  let at = 0;
  tensors.forEach((t, i) => {
    const k = kinds[i] as number;
    meta.push(t.type, t.dims.length, ...t.dims, k);
    if (k === STRINGS) {
      meta.push(strings.length, (t.data as string[]).length);
      strings.push(t.data as string[]);
      return;
    }
    const data = t.data as NumericArray;
    bytes.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), at);
    meta.push(at, data.length);
    at += align8(data.byteLength);
  });
  return { buffer, meta, strings };
}

/** The tensors `packTensors` packed, in order; numeric data are views of `packed.buffer`. */
export function unpackTensors(packed: PackedTensors): RuntimeTensor[] {
  const { buffer, meta, strings } = packed;
  const out: RuntimeTensor[] = [];
  let p = 0;
  while (p < meta.length) {
    const type = meta[p++] as string;
    const ndims = meta[p++] as number;
    const dims = meta.slice(p, p + ndims) as number[];
    p += ndims;
    const k = meta[p++] as number;
    const a = meta[p++] as number;
    const n = meta[p++] as number;
    if (k === STRINGS) out.push({ type, dims, data: strings[a] as string[] });
    else out.push({ type, dims, data: new (ARRAY_CLASSES[k] as ArrayClass)(buffer, a, n) });
  }
  return out;
}
