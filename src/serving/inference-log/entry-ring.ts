/**
 * A single-producer, single-consumer ring of inference-log entries in a SharedArrayBuffer: the
 * serving thread writes each entry's fields and tensor bytes into it (a few hundred bytes copied,
 * nothing encoded, nothing allocated per value) and the log thread reads them back as entries and
 * encodes them there (see threaded-entry-log.ts).
 *
 * Layout: a 64-byte header of Int32 slots (HEAD, the producer's next write offset; TAIL, the
 * consumer's next read offset), then the data region. The consumer polls (see log-thread.ts):
 * waking it on every write would cost both threads a system call per entry. Records are 8-byte aligned: a u32 length, then the fields; a
 * length of WRAP (or the end of the region) sends the reader back to offset 0. HEAD == TAIL is
 * empty; the producer never fills the ring up to TAIL.
 *
 * An entry is written as: u32 length, u32 descriptor id (model, version, feature and class lists,
 * tensor names: sent to the consumer once, see `EntryDescriptor`), f64 time, f64 latency, u16
 * request-id length, u16 arm length + 1 (0: no arm), u8 protocol, then the request id and arm as
 * UTF-16 code units, then each input and output tensor: u8 type, u8 array class, u8 dimensions,
 * u32 byte length, the dimensions as f64, the data bytes.
 */
import type { RuntimeTensor } from "../tensors.js";
import { ARRAY_CLASSES, arrayClassIndex, type NumericArray } from "../typed-arrays.js";
import type { InferenceLogEntry, LogProtocol } from "./log-record.js";

const HEAD = 0;
const TAIL = 1;
const HEADER_BYTES = 64;
const WRAP = 0xffffffff;
const FIXED_BYTES = 32;
const TENSOR_HEAD_BYTES = 8;

const PROTOCOLS: readonly LogProtocol[] = ["v2", "v1", "predict"];
/** ONNX Runtime's element type names (a tensor of another type is not written to the ring). */
const TYPES = ["float32", "float64", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64", "bool", "float16"] as const;

/** What is the same for many entries, sent to the consumer once and named by its id. */
export interface EntryDescriptor {
  id: number;
  model: string;
  version: string;
  features: readonly string[] | undefined;
  classNames: readonly string[] | undefined;
  inputNames: readonly string[];
  outputNames: readonly string[];
}

const align8 = (n: number) => (n + 7) & ~7;

function typeIndex(type: string): number {
  for (let i = 0; i < TYPES.length; i++) if (TYPES[i] === type) return i;
  return -1;
}

/** Bytes a tensor takes in a record, or -1 when it cannot be written (strings, unknown types). */
function tensorBytes(t: RuntimeTensor): number {
  if (typeIndex(t.type) < 0 || arrayClassIndex(t.data) < 0 || t.dims.length > 255) return -1;
  return TENSOR_HEAD_BYTES + 8 * t.dims.length + align8((t.data as NumericArray).byteLength);
}

/** UTF-16 code units as a string: `apply` over them (a spread iterates the view, five times slower), in slices that stay under the argument limit. */
function textOf(units: Uint16Array): string {
  const SLICE = 4096;
  if (units.length <= SLICE) return String.fromCharCode.apply(null, units as unknown as number[]);
  let out = "";
  for (let i = 0; i < units.length; i += SLICE) out += String.fromCharCode.apply(null, units.subarray(i, i + SLICE) as unknown as number[]);
  return out;
}

export class EntryRing {
  readonly sab: SharedArrayBuffer;
  private readonly header: Int32Array;
  private readonly u8: Uint8Array;
  private readonly u16: Uint16Array;
  private readonly dv: DataView;
  /** One view per data class over the data region (records are 8-byte aligned, so any element fits). */
  private readonly views: NumericArray[];
  /** Bytes in the data region. */
  readonly capacity: number;

  /** A new ring of `bytes` (rounded down to 8), or a view of one another thread made. */
  constructor(source: number | SharedArrayBuffer) {
    this.sab = typeof source === "number" ? new SharedArrayBuffer(HEADER_BYTES + (Math.floor(source / 8) * 8)) : source;
    this.capacity = this.sab.byteLength - HEADER_BYTES;
    if (this.capacity < 64 || this.capacity % 8 !== 0) throw new Error(`an entry ring needs a data region of at least 64 bytes, a multiple of 8; got ${this.capacity}`);
    this.header = new Int32Array(this.sab, 0, HEADER_BYTES / 4);
    this.u8 = new Uint8Array(this.sab, HEADER_BYTES, this.capacity);
    this.u16 = new Uint16Array(this.sab, HEADER_BYTES, this.capacity / 2);
    this.dv = new DataView(this.sab, HEADER_BYTES, this.capacity);
    this.views = ARRAY_CLASSES.map((C) => new C(this.sab as unknown as ArrayBuffer, HEADER_BYTES, this.capacity / C.BYTES_PER_ELEMENT));
  }

  // ---- producer ------------------------------------------------------------------------------

  /**
   * The bytes `entry` takes in a record, or -1 when it must go another way: string tensors, data
   * that is not a typed array, store features, or ids and arms too long for the record's fields.
   */
  static recordBytes(entry: InferenceLogEntry): number {
    if (entry.featuresFromStore !== undefined && entry.featuresFromStore.length > 0) return -1;
    const arm = entry.arm;
    if (entry.requestId.length > 0xffff || (arm !== undefined && arm.length >= 0xffff) || PROTOCOLS.indexOf(entry.protocol) < 0) return -1;
    let n = FIXED_BYTES + align8(2 * (entry.requestId.length + (arm?.length ?? 0)));
    for (const name in entry.inputs) {
      const b = tensorBytes(entry.inputs[name] as RuntimeTensor);
      if (b < 0) return -1;
      n += b;
    }
    for (const [, t] of entry.outputs) {
      const b = tensorBytes(t);
      if (b < 0) return -1;
      n += b;
    }
    return n;
  }

  /** Where a record of `len` bytes can be written now, or -1 when the ring has no room for it. */
  private reserve(len: number): number {
    const head = Atomics.load(this.header, HEAD);
    const tail = Atomics.load(this.header, TAIL);
    const c = this.capacity;
    if (head >= tail) {
      const atEnd = c - head;
      if (len < atEnd || (len === atEnd && tail > 0)) return head;
      // Not at the end: from the start, below the reader.
      if (len < tail) {
        if (atEnd >= 4) this.dv.setUint32(head, WRAP, true);
        return 0;
      }
      return -1;
    }
    return head + len < tail ? head : -1;
  }

  /**
   * Writes `entry` (of `recordBytes(entry)` = `len` bytes) under descriptor `desc`; false when the
   * ring is full. The tensors' names are the descriptor's: inputs in the entry's key order.
   */
  write(entry: InferenceLogEntry, len: number, desc: number): boolean {
    const at = this.reserve(len);
    if (at < 0) return false;
    const dv = this.dv;
    const id = entry.requestId;
    const arm = entry.arm;
    dv.setUint32(at, len, true);
    dv.setUint32(at + 4, desc, true);
    dv.setFloat64(at + 8, entry.time, true);
    dv.setFloat64(at + 16, entry.latencyMs, true);
    dv.setUint16(at + 24, id.length, true);
    dv.setUint16(at + 26, arm === undefined ? 0 : arm.length + 1, true);
    dv.setUint8(at + 28, PROTOCOLS.indexOf(entry.protocol));
    let ch = (at + FIXED_BYTES) / 2;
    const u16 = this.u16;
    for (let i = 0; i < id.length; i++) u16[ch++] = id.charCodeAt(i);
    if (arm !== undefined) for (let i = 0; i < arm.length; i++) u16[ch++] = arm.charCodeAt(i);
    let p = align8(ch * 2);
    for (const name in entry.inputs) p = this.writeTensor(p, entry.inputs[name] as RuntimeTensor);
    for (const [, t] of entry.outputs) p = this.writeTensor(p, t);
    const next = at + len;
    Atomics.store(this.header, HEAD, next === this.capacity ? 0 : next);
    return true;
  }

  private writeTensor(p: number, t: RuntimeTensor): number {
    const data = t.data as NumericArray;
    const k = arrayClassIndex(data);
    const dv = this.dv;
    dv.setUint8(p, typeIndex(t.type));
    dv.setUint8(p + 1, k);
    dv.setUint8(p + 2, t.dims.length);
    dv.setUint32(p + 4, data.byteLength, true);
    p += TENSOR_HEAD_BYTES;
    for (let d = 0; d < t.dims.length; d++, p += 8) dv.setFloat64(p, t.dims[d] as number, true);
    const view = this.views[k] as NumericArray;
    (view as Float32Array).set(data as Float32Array, p / view.BYTES_PER_ELEMENT);
    return p + align8(data.byteLength);
  }

  // ---- consumer ------------------------------------------------------------------------------

  /** Reads every record written so far, oldest first, freeing each once `take` has returned. */
  drain(descriptor: (id: number) => EntryDescriptor | undefined, take: (entry: InferenceLogEntry | undefined) => void): number {
    let n = 0;
    let tail = Atomics.load(this.header, TAIL);
    const c = this.capacity;
    while (tail !== Atomics.load(this.header, HEAD)) {
      if (c - tail < 4 || this.dv.getUint32(tail, true) === WRAP) {
        tail = 0;
        Atomics.store(this.header, TAIL, 0);
        continue;
      }
      const len = this.dv.getUint32(tail, true);
      const desc = this.dv.getUint32(tail + 4, true);
      const d = descriptor(desc);
      take(d === undefined ? undefined : this.read(tail, d));
      n++;
      tail += len;
      if (tail === c) tail = 0;
      Atomics.store(this.header, TAIL, tail);
    }
    return n;
  }

  private read(at: number, d: EntryDescriptor): InferenceLogEntry {
    const dv = this.dv;
    const idLen = dv.getUint16(at + 24, true);
    const armLen = dv.getUint16(at + 26, true);
    const start = (at + FIXED_BYTES) / 2;
    const requestId = textOf(this.u16.subarray(start, start + idLen));
    const arm = armLen === 0 ? undefined : textOf(this.u16.subarray(start + idLen, start + idLen + armLen - 1));
    let p = align8((start + idLen + Math.max(0, armLen - 1)) * 2);
    const inputs: Record<string, RuntimeTensor> = {};
    for (const name of d.inputNames) {
      const [t, next] = this.readTensor(p);
      inputs[name] = t;
      p = next;
    }
    const outputs: [string, RuntimeTensor][] = [];
    for (const name of d.outputNames) {
      const [t, next] = this.readTensor(p);
      outputs.push([name, t]);
      p = next;
    }
    const entry: InferenceLogEntry = {
      requestId,
      protocol: PROTOCOLS[dv.getUint8(at + 28)] as LogProtocol,
      time: dv.getFloat64(at + 8, true),
      latencyMs: dv.getFloat64(at + 16, true),
      model: d.model,
      version: d.version,
      features: d.features,
      classNames: d.classNames,
      inputs: inputs as InferenceLogEntry["inputs"],
      outputs,
    };
    if (arm !== undefined) entry.arm = arm;
    return entry;
  }

  private readTensor(p: number): [RuntimeTensor, number] {
    const dv = this.dv;
    const type = TYPES[dv.getUint8(p)] as string;
    const k = dv.getUint8(p + 1);
    const ndims = dv.getUint8(p + 2);
    const bytes = dv.getUint32(p + 4, true);
    p += TENSOR_HEAD_BYTES;
    const dims: number[] = [];
    for (let d = 0; d < ndims; d++, p += 8) dims.push(dv.getFloat64(p, true));
    const view = this.views[k] as NumericArray;
    const from = p / view.BYTES_PER_ELEMENT;
    // A copy: the record's bytes are reused once it is read.
    const data = view.slice(from, from + bytes / view.BYTES_PER_ELEMENT);
    return [{ type, dims, data }, p + align8(bytes)];
  }
}
