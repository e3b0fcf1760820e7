/**
 * A minimal Protocol Buffers *encoder* (no decoder): enough of the wire format to write ONNX
 * models. Fields are written in the order the caller writes them; nested messages are encoded
 * into their own writer and then copied in, length-prefixed.
 *
 * Wire format reminders (https://protobuf.dev/programming-guides/encoding/):
 * - a tag is the varint `(fieldNumber << 3) | wireType`;
 * - varint (wire type 0): 7 bits per byte, least significant group first, high bit = "more";
 *   negative int32/int64 values are sign-extended to 64 bits and therefore take 10 bytes;
 * - fixed64 (wire type 1) and fixed32 (wire type 5): little-endian;
 * - length-delimited (wire type 2): a varint byte length, then the bytes (strings as UTF-8,
 *   bytes, nested messages and packed repeated scalars).
 */

export const WireType = {
  VARINT: 0,
  FIXED64: 1,
  LENGTH_DELIMITED: 2,
  FIXED32: 5,
} as const;
export type WireType = (typeof WireType)[keyof typeof WireType];

/** Largest field number protobuf allows (2^29 − 1). */
const MAX_FIELD_NUMBER = 536_870_911;
const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;
const UINT64_MAX = (1n << 64n) - 1n;

const utf8 = new TextEncoder();

/** Raised when a value cannot be encoded as asked (wrong range, not an integer, bad field). */
export class ProtobufEncodeError extends Error {
  override readonly name = "ProtobufEncodeError";
}

function checkField(field: number): void {
  if (!Number.isInteger(field) || field < 1 || field > MAX_FIELD_NUMBER) {
    throw new ProtobufEncodeError(`field number must be an integer in [1, ${MAX_FIELD_NUMBER}], got ${field}`);
  }
  if (field >= 19_000 && field <= 19_999) {
    throw new ProtobufEncodeError(`field numbers 19000-19999 are reserved by protobuf, got ${field}`);
  }
}

/** A signed 64-bit integer as a BigInt, checked for range. */
function toInt64(value: number | bigint, what: string): bigint {
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value)) {
      throw new ProtobufEncodeError(`${what} must be a safe integer, got ${value}`);
    }
    return BigInt(value);
  }
  if (value < INT64_MIN || value > INT64_MAX) {
    throw new ProtobufEncodeError(`${what} ${value} is outside the int64 range`);
  }
  return value;
}

/** An unsigned 64-bit integer as a BigInt, checked for range. */
function toUint64(value: number | bigint, what: string): bigint {
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new ProtobufEncodeError(`${what} must be a non-negative safe integer, got ${value}`);
    }
    return BigInt(value);
  }
  if (value < 0n || value > UINT64_MAX) {
    throw new ProtobufEncodeError(`${what} ${value} is outside the uint64 range`);
  }
  return value;
}

/** Appends protobuf-encoded fields to a growable byte buffer. */
export class ProtoWriter {
  private buf: Uint8Array;
  private view: DataView;
  private len = 0;

  constructor(initialCapacity = 64) {
    this.buf = new Uint8Array(Math.max(16, initialCapacity));
    this.view = new DataView(this.buf.buffer);
  }

  /** Number of bytes written so far. */
  get length(): number {
    return this.len;
  }

  /** A copy of the bytes written so far. */
  finish(): Uint8Array {
    return this.buf.slice(0, this.len);
  }

  private reserve(n: number): void {
    const need = this.len + n;
    if (need <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < need) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  private byte(b: number): void {
    this.reserve(1);
    this.buf[this.len++] = b;
  }

  /** Raw varint of an unsigned 64-bit value (no tag). */
  private varint(value: bigint): void {
    let v = value;
    while (v >= 0x80n) {
      this.byte(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    this.byte(Number(v));
  }

  /** Raw varint of a non-negative safe integer (no tag); avoids BigInt for the common case. */
  private smallVarint(value: number): void {
    let v = value;
    while (v >= 0x80) {
      this.byte((v % 0x80) | 0x80);
      v = Math.floor(v / 0x80);
    }
    this.byte(v);
  }

  /** A raw int64 as varint: negatives are two's complement over 64 bits (10 bytes). */
  private signedVarint(value: bigint): void {
    if (value >= 0n && value <= BigInt(Number.MAX_SAFE_INTEGER)) this.smallVarint(Number(value));
    else this.varint(BigInt.asUintN(64, value));
  }

  /** Write a field tag. */
  tag(field: number, wireType: WireType): this {
    checkField(field);
    this.smallVarint(field * 8 + wireType);
    return this;
  }

  /** `int64` / `int32` field (varint; negative values sign-extended to 10 bytes). */
  int64(field: number, value: number | bigint): this {
    const v = toInt64(value, `field ${field}`);
    this.tag(field, WireType.VARINT);
    this.signedVarint(v);
    return this;
  }

  /** `int32` field: like int64 but range-checked to 32 bits. */
  int32(field: number, value: number): this {
    if (!Number.isInteger(value) || value < -0x8000_0000 || value > 0x7fff_ffff) {
      throw new ProtobufEncodeError(`field ${field}: ${value} is not an int32`);
    }
    return this.int64(field, value);
  }

  /** `uint64` / `uint32` field (varint). */
  uint64(field: number, value: number | bigint): this {
    const v = toUint64(value, `field ${field}`);
    this.tag(field, WireType.VARINT);
    this.varint(v);
    return this;
  }

  /** `bool` field (varint 0 or 1). */
  bool(field: number, value: boolean): this {
    this.tag(field, WireType.VARINT);
    this.byte(value ? 1 : 0);
    return this;
  }

  /** `float` field (fixed32, IEEE 754 single precision, little-endian). */
  float(field: number, value: number): this {
    this.tag(field, WireType.FIXED32);
    this.rawFloat(value);
    return this;
  }

  /** `double` field (fixed64, IEEE 754 double precision, little-endian). */
  double(field: number, value: number): this {
    this.tag(field, WireType.FIXED64);
    this.rawDouble(value);
    return this;
  }

  /** `fixed32` field (unsigned, little-endian). */
  fixed32(field: number, value: number): this {
    if (!Number.isInteger(value) || value < 0 || value > 0xffff_ffff) {
      throw new ProtobufEncodeError(`field ${field}: ${value} is not a uint32`);
    }
    this.tag(field, WireType.FIXED32);
    this.reserve(4);
    this.view.setUint32(this.len, value, true);
    this.len += 4;
    return this;
  }

  /** `fixed64` field (unsigned, little-endian). */
  fixed64(field: number, value: number | bigint): this {
    const v = toUint64(value, `field ${field}`);
    this.tag(field, WireType.FIXED64);
    this.reserve(8);
    this.view.setBigUint64(this.len, v, true);
    this.len += 8;
    return this;
  }

  /** `bytes` field (length-delimited). */
  bytes(field: number, value: Uint8Array): this {
    this.tag(field, WireType.LENGTH_DELIMITED);
    this.smallVarint(value.length);
    this.reserve(value.length);
    this.buf.set(value, this.len);
    this.len += value.length;
    return this;
  }

  /** `string` field (length-delimited UTF-8). */
  string(field: number, value: string): this {
    return this.bytes(field, utf8.encode(value));
  }

  /** Embedded message field: `write` fills a fresh writer whose bytes become the field. */
  message(field: number, write: (w: ProtoWriter) => void): this {
    const inner = new ProtoWriter();
    write(inner);
    return this.bytes(field, inner.buf.subarray(0, inner.len));
  }

  /** Packed `repeated int64` / `int32` (one length-delimited field of varints). */
  packedInt64(field: number, values: ArrayLike<number | bigint>): this {
    const inner = new ProtoWriter(values.length * 2);
    for (let i = 0; i < values.length; i++) {
      inner.signedVarint(toInt64(values[i] as number | bigint, `field ${field}[${i}]`));
    }
    return this.bytes(field, inner.buf.subarray(0, inner.len));
  }

  /** Packed `repeated uint64` / `uint32`. */
  packedUint64(field: number, values: ArrayLike<number | bigint>): this {
    const inner = new ProtoWriter(values.length * 2);
    for (let i = 0; i < values.length; i++) {
      inner.varint(toUint64(values[i] as number | bigint, `field ${field}[${i}]`));
    }
    return this.bytes(field, inner.buf.subarray(0, inner.len));
  }

  /** Packed `repeated float` (one length-delimited field of fixed32 values). */
  packedFloat(field: number, values: ArrayLike<number>): this {
    this.tag(field, WireType.LENGTH_DELIMITED);
    this.smallVarint(values.length * 4);
    this.reserve(values.length * 4);
    for (let i = 0; i < values.length; i++) this.rawFloat(values[i] as number);
    return this;
  }

  /** Packed `repeated double`. */
  packedDouble(field: number, values: ArrayLike<number>): this {
    this.tag(field, WireType.LENGTH_DELIMITED);
    this.smallVarint(values.length * 8);
    this.reserve(values.length * 8);
    for (let i = 0; i < values.length; i++) this.rawDouble(values[i] as number);
    return this;
  }

  /** Unpacked `repeated int64`: one tagged varint per element. */
  repeatedInt64(field: number, values: ArrayLike<number | bigint>): this {
    for (let i = 0; i < values.length; i++) this.int64(field, values[i] as number | bigint);
    return this;
  }

  /** Unpacked `repeated float`: one tagged fixed32 per element. */
  repeatedFloat(field: number, values: ArrayLike<number>): this {
    for (let i = 0; i < values.length; i++) this.float(field, values[i] as number);
    return this;
  }

  /** Unpacked `repeated string`: one tagged length-delimited value per element. */
  repeatedString(field: number, values: readonly string[]): this {
    for (const v of values) this.string(field, v);
    return this;
  }

  private rawFloat(value: number): void {
    this.reserve(4);
    this.view.setFloat32(this.len, value, true);
    this.len += 4;
  }

  private rawDouble(value: number): void {
    this.reserve(8);
    this.view.setFloat64(this.len, value, true);
    this.len += 8;
  }
}
