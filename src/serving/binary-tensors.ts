/**
 * The Open Inference Protocol's binary tensor data extension. A request whose
 * `Inference-Header-Content-Length` header is N carries N bytes of JSON followed by raw tensor
 * bytes; each input with `parameters.binary_data_size` takes that many bytes, in input order.
 * Elements are little-endian and row-major without padding; BOOL is one byte (0 or 1); each BYTES
 * element is a 4-byte little-endian length followed by that many bytes. Outputs asked for with
 * `binary_data` (or `binary_data_output`) come back the same way.
 */
import type { TensorDtype } from "../onnx/inspect.js";
import { badRequest } from "./errors.js";
import { toFloat16Bits } from "./float16.js";

/** The name `GET /v2` lists among its extensions. */
export const BINARY_EXTENSION = "binary_tensor_data";
/** The header that gives the JSON part's length, as Node spells request header names (lower case). */
export const HEADER_LENGTH_HEADER = "inference-header-content-length";

/** Row-major element data as ONNX Runtime takes it (FP16 as raw bits, BOOL as 0/1 bytes). */
export type TensorData =
  | Uint8Array
  | Int8Array
  | Int16Array
  | Int32Array
  | BigInt64Array
  | Uint16Array
  | Uint32Array
  | BigUint64Array
  | Float32Array
  | Float64Array
  | string[];

type FixedDtype = Exclude<TensorDtype, "string">;

const WIDTH: Readonly<Record<FixedDtype, number>> = {
  bool: 1,
  int8: 1,
  uint8: 1,
  int16: 2,
  uint16: 2,
  float16: 2,
  int32: 4,
  uint32: 4,
  float32: 4,
  int64: 8,
  uint64: 8,
  float64: 8,
};

const VIEW: Readonly<Record<Exclude<FixedDtype, "bool">, new (buffer: ArrayBuffer) => Exclude<TensorData, string[]>>> = {
  int8: Int8Array,
  uint8: Uint8Array,
  int16: Int16Array,
  uint16: Uint16Array,
  float16: Uint16Array,
  int32: Int32Array,
  uint32: Uint32Array,
  float32: Float32Array,
  int64: BigInt64Array,
  uint64: BigUint64Array,
  float64: Float64Array,
};

/** Byte width of one element, or undefined for BYTES (variable length). */
export function elementWidth(dtype: TensorDtype): number | undefined {
  return dtype === "string" ? undefined : WIDTH[dtype];
}

const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Reverses the bytes of every `width`-byte element in place (host order <-> little-endian on a big-endian host). */
function swapInPlace(bytes: Uint8Array, width: number): void {
  for (let at = 0; at + width <= bytes.length; at += width) bytes.subarray(at, at + width).reverse();
}

/** A fresh, aligned little-endian -> host-order copy of `bytes`. */
function hostOrderCopy(bytes: Uint8Array, width: number): Uint8Array<ArrayBuffer> {
  const copy = new Uint8Array(bytes);
  if (!HOST_LITTLE_ENDIAN && width > 1) swapInPlace(copy, width);
  return copy;
}

function shown(value: string): string {
  return value.length > 40 ? `${value.slice(0, 40)}...` : value;
}

/**
 * The JSON part and the binary part of a request body, or undefined when the request has no
 * `Inference-Header-Content-Length` (then the whole body is JSON).
 */
export function splitBody(body: Buffer, headerValue: string | string[] | undefined): { json: Buffer; binary: Buffer } | undefined {
  if (headerValue === undefined) return undefined;
  const text = Array.isArray(headerValue) ? headerValue.join(", ") : headerValue;
  const length = /^\d{1,15}$/.test(text) ? Number(text) : Number.NaN;
  if (Number.isNaN(length)) {
    throw badRequest(`Inference-Header-Content-Length must be the length of the JSON header in bytes (a non-negative integer), got '${shown(text)}'`);
  }
  if (length > body.length) {
    throw badRequest(`Inference-Header-Content-Length is ${length} bytes, but the whole request body has only ${body.length} bytes`);
  }
  return { json: body.subarray(0, length), binary: body.subarray(length) };
}

/** What the binary parts need to know of a request input. */
export interface BinaryInputHeader {
  name: string;
  data?: unknown;
  parameters?: Record<string, unknown> | undefined;
}

/**
 * Each input's bytes (undefined for inputs given as JSON `data`), cut from `binary` (the part
 * after the JSON header, undefined when the request has none) in input order. The sizes must
 * add up to exactly the binary part.
 */
export function binaryInputParts(inputs: readonly BinaryInputHeader[], binary: Buffer | undefined): (Buffer | undefined)[] {
  let offset = 0;
  const parts = inputs.map((input) => {
    const size = input.parameters?.binary_data_size;
    if (size === undefined) return undefined;
    const where = `input '${input.name}'`;
    if (typeof size !== "number" || !Number.isSafeInteger(size) || size < 0) {
      throw badRequest(`${where}: parameters.binary_data_size must be a non-negative integer (the tensor's size in bytes), got ${JSON.stringify(size) ?? String(size)}`);
    }
    if (input.data !== undefined) throw badRequest(`${where}: give either data or parameters.binary_data_size, not both`);
    if (binary === undefined) {
      throw badRequest(`${where} has parameters.binary_data_size, but the request has no Inference-Header-Content-Length header, so no binary data follows the JSON`);
    }
    if (offset + size > binary.length) {
      throw badRequest(
        `binary tensor data is truncated: ${where} needs ${size} bytes at offset ${offset}, but only ${binary.length} bytes follow the JSON header`,
      );
    }
    const part = binary.subarray(offset, offset + size);
    offset += size;
    return part;
  });
  const given = binary?.length ?? 0;
  if (offset !== given) {
    throw badRequest(`the inputs' parameters.binary_data_size add up to ${offset} bytes, but ${given} bytes follow the JSON header`);
  }
  return parts;
}

/**
 * Whether outputs should be binary, from `parameters`: a requested output's `binary_data` (as the
 * extension names it) or `binary_data_output`, or the request's `binary_data_output` (the
 * default for every output); undefined when none is given.
 */
export function binaryChoice(parameters: Record<string, unknown> | undefined, level: "request" | { output: string }): boolean | undefined {
  const where = level === "request" ? "request" : `output '${level.output}'`;
  const keys = level === "request" ? ["binary_data_output"] : ["binary_data", "binary_data_output"];
  let choice: boolean | undefined;
  for (const key of keys) {
    const v = parameters?.[key];
    if (v === undefined) continue;
    if (typeof v !== "boolean") throw badRequest(`${where}: parameters.${key} must be true or false, got ${JSON.stringify(v) ?? String(v)}`);
    if (choice !== undefined && choice !== v) throw badRequest(`${where}: parameters.binary_data and parameters.binary_data_output disagree`);
    choice = v;
  }
  return choice;
}

const UTF8 = new TextDecoder("utf-8", { fatal: true });

function decodeBytesElements(count: number, bytes: Uint8Array, where: string): string[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: string[] = [];
  let at = 0;
  for (let i = 0; i < count; i++) {
    if (at + 4 > bytes.length) {
      throw badRequest(`${where}: binary data is truncated: BYTES element ${i} of ${count} has no 4-byte length (binary_data_size is ${bytes.length} bytes)`);
    }
    const n = view.getUint32(at, true);
    at += 4;
    if (n > bytes.length - at) {
      throw badRequest(`${where}: binary data is truncated: BYTES element ${i} declares ${n} bytes, but only ${bytes.length - at} remain`);
    }
    try {
      out.push(UTF8.decode(bytes.subarray(at, at + n)));
    } catch {
      throw badRequest(`${where}: BYTES element ${i} is not valid UTF-8`);
    }
    at += n;
  }
  if (at !== bytes.length) {
    throw badRequest(`${where}: binary_data_size is ${bytes.length} bytes, but its ${count} BYTES elements take ${at}`);
  }
  return out;
}

/**
 * A binary input's bytes as typed data of `dtype`; `shape` and `datatype` (the protocol name)
 * give the expected size, `where` prefixes messages.
 */
export function decodeBinaryTensor(dtype: TensorDtype, shape: readonly number[], datatype: string, bytes: Uint8Array, where: string): TensorData {
  const count = shape.reduce((n, d) => n * d, 1);
  if (dtype === "string") return decodeBytesElements(count, bytes, where);
  const width = WIDTH[dtype];
  const expected = count * width;
  if (bytes.length !== expected) {
    throw badRequest(
      `${where}: binary_data_size is ${bytes.length} bytes, but shape [${shape.join(", ")}] of ${datatype} takes ${count} x ${width} = ${expected} bytes`,
    );
  }
  const copy = hostOrderCopy(bytes, width);
  if (dtype === "bool") {
    const bad = copy.findIndex((b) => b > 1);
    if (bad !== -1) throw badRequest(`${where}: BOOL element ${bad} is byte ${copy[bad]}; only 0 (false) and 1 (true) are allowed`);
    return copy;
  }
  return new VIEW[dtype](copy.buffer);
}

function bytesOfView(view: ArrayBufferView, width: number): Buffer {
  const copy = Buffer.from(new Uint8Array(view.buffer, view.byteOffset, view.byteLength));
  if (!HOST_LITTLE_ENDIAN && width > 1) swapInPlace(copy, width);
  return copy;
}

/** A runtime tensor's data as the extension's bytes (little-endian, row-major; BYTES length-prefixed). */
export function encodeBinaryTensor(tensor: { type: string; data: unknown }): Buffer {
  const { type, data } = tensor;
  if (type === "string") {
    const parts: Buffer[] = [];
    for (const s of data as readonly string[]) {
      const bytes = Buffer.from(s, "utf8");
      const length = Buffer.alloc(4);
      length.writeUInt32LE(bytes.length);
      parts.push(length, bytes);
    }
    return Buffer.concat(parts);
  }
  if (type === "bool") return Buffer.from(Array.from(data as ArrayLike<number | boolean>, (v) => (v ? 1 : 0)));
  if (type === "float16" && !(data instanceof Uint16Array)) {
    return bytesOfView(Uint16Array.from(data as ArrayLike<number>, toFloat16Bits), 2);
  }
  const width = (WIDTH as Readonly<Record<string, number | undefined>>)[type];
  if (width === undefined || !ArrayBuffer.isView(data)) throw new Error(`an output of element type ${type} cannot be sent as binary tensor data`);
  return bytesOfView(data, width);
}
