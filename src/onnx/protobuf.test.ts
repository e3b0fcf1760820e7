import { describe, expect, it } from "vitest";
import { ProtobufEncodeError, ProtoWriter, WireType } from "./protobuf.js";

const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");

describe("ProtoWriter", () => {
  it("encodes varint fields as in the protobuf encoding guide", () => {
    // Field 1 = 150 is the guide's example: 08 96 01.
    expect(hex(new ProtoWriter().int64(1, 150).finish())).toBe("089601");
    expect(hex(new ProtoWriter().uint64(1, 300).finish())).toBe("08ac02");
    expect(hex(new ProtoWriter().int64(2, 0).finish())).toBe("1000");
    expect(hex(new ProtoWriter().bool(3, true).bool(3, false).finish())).toBe("18011800");
  });

  it("sign-extends negative int64/int32 to ten bytes", () => {
    expect(hex(new ProtoWriter().int64(1, -1).finish())).toBe("08ffffffffffffffffff01");
    expect(hex(new ProtoWriter().int32(1, -2).finish())).toBe("08feffffffffffffffff01");
    expect(hex(new ProtoWriter().int64(1, -(1n << 63n)).finish())).toBe("0880808080808080808001");
  });

  it("encodes large values beyond 32 bits", () => {
    expect(hex(new ProtoWriter().int64(1, 2 ** 35).finish())).toBe("08808080808001");
    expect(hex(new ProtoWriter().uint64(1, (1n << 64n) - 1n).finish())).toBe("08ffffffffffffffffff01");
    expect(hex(new ProtoWriter().int64(1, Number.MAX_SAFE_INTEGER).finish())).toBe("08ffffffffffffff0f");
  });

  it("encodes fixed32/fixed64/float/double little-endian", () => {
    expect(hex(new ProtoWriter().float(1, 1).finish())).toBe("0d0000803f");
    expect(hex(new ProtoWriter().double(1, 1).finish())).toBe("09000000000000f03f");
    expect(hex(new ProtoWriter().fixed32(2, 0x01020304).finish())).toBe("1504030201");
    expect(hex(new ProtoWriter().fixed64(2, 1n).finish())).toBe("110100000000000000");
  });

  it("encodes strings, bytes and nested messages length-delimited", () => {
    // The guide's example: field 2 = "testing" -> 12 07 74 65 73 74 69 6e 67.
    expect(hex(new ProtoWriter().string(2, "testing").finish())).toBe("120774657374696e67");
    expect(hex(new ProtoWriter().string(1, "é").finish())).toBe("0a02c3a9");
    expect(hex(new ProtoWriter().bytes(4, new Uint8Array([0, 255])).finish())).toBe("220200ff");
    // The guide's nested example: field 3 = { field 1 = 150 } -> 1a 03 08 96 01.
    expect(hex(new ProtoWriter().message(3, (w) => w.int64(1, 150)).finish())).toBe("1a03089601");
    expect(hex(new ProtoWriter().message(3, () => undefined).finish())).toBe("1a00");
  });

  it("encodes packed repeated fields", () => {
    // The guide's packed example: field 4 = [3, 270, 86942] -> 22 06 03 8e 02 9e a7 05.
    expect(hex(new ProtoWriter().packedInt64(4, [3, 270, 86942]).finish())).toBe("2206038e029ea705");
    expect(hex(new ProtoWriter().packedInt64(4, BigInt64Array.from([-1n])).finish())).toBe(
      "220affffffffffffffffff01",
    );
    expect(hex(new ProtoWriter().packedUint64(4, [1, 128]).finish())).toBe("2203018001");
    expect(hex(new ProtoWriter().packedFloat(4, [1, -2]).finish())).toBe("22080000803f000000c0");
    expect(hex(new ProtoWriter().packedDouble(4, [1]).finish())).toBe("2208000000000000f03f");
    expect(hex(new ProtoWriter().packedFloat(4, []).finish())).toBe("2200");
  });

  it("encodes unpacked repeated fields one tag per element", () => {
    expect(hex(new ProtoWriter().repeatedInt64(8, [1, 2]).finish())).toBe("40014002");
    expect(hex(new ProtoWriter().repeatedFloat(7, [1]).finish())).toBe("3d0000803f");
    expect(hex(new ProtoWriter().repeatedString(1, ["a", "b"]).finish())).toBe("0a01610a0162");
  });

  it("encodes multi-byte tags", () => {
    // Field 20 varint: tag 20 << 3 = 160 -> a0 01.
    expect(hex(new ProtoWriter().int32(20, 2).finish())).toBe("a00102");
    expect(hex(new ProtoWriter().tag(536_870_911, WireType.VARINT).finish())).toBe("f8ffffff0f");
  });

  it("grows its buffer for large payloads", () => {
    const values = Float32Array.from({ length: 10_000 }, (_, i) => i);
    const out = new ProtoWriter(16).packedFloat(1, values).finish();
    expect(out.length).toBe(1 + 3 + 40_000);
    const view = new DataView(out.buffer, out.byteOffset + 4);
    expect(view.getFloat32(4 * 9_999, true)).toBe(9_999);
  });

  it("rejects values it cannot encode", () => {
    expect(() => new ProtoWriter().int64(1, 1.5)).toThrow(ProtobufEncodeError);
    expect(() => new ProtoWriter().int64(1, 2 ** 60)).toThrow(ProtobufEncodeError);
    expect(() => new ProtoWriter().int64(1, 1n << 63n)).toThrow(ProtobufEncodeError);
    expect(() => new ProtoWriter().uint64(1, -1)).toThrow(ProtobufEncodeError);
    expect(() => new ProtoWriter().int32(1, 2 ** 31)).toThrow(ProtobufEncodeError);
    expect(() => new ProtoWriter().fixed32(1, -1)).toThrow(ProtobufEncodeError);
    expect(() => new ProtoWriter().int64(0, 1)).toThrow(ProtobufEncodeError);
    expect(() => new ProtoWriter().int64(19_500, 1)).toThrow(ProtobufEncodeError);
    expect(() => new ProtoWriter().packedInt64(1, [1, 0.5])).toThrow(/field 1\[1\]/);
  });
});
