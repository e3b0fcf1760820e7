import { describe, expect, test } from "vitest";
import type { TensorDtype } from "../onnx/inspect.js";
import { binaryChoice, binaryInputParts, decodeBinaryTensor, elementWidth, encodeBinaryTensor, splitBody } from "./binary-tensors.js";
import { ServingError } from "./errors.js";

function servingError(fn: () => unknown): ServingError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ServingError) return e;
    throw e;
  }
  throw new Error("expected a ServingError");
}

const bytes = (...b: number[]) => Buffer.from(b);

describe("binary tensor data", () => {
  test("splitBody: the JSON part and the rest; the header length is checked", () => {
    const body = Buffer.from('{"a":1}\u0001\u0002');
    expect(splitBody(body, undefined)).toBeUndefined();
    const split = splitBody(body, "7");
    expect(split?.json.toString()).toBe('{"a":1}');
    expect([...(split?.binary ?? [])]).toEqual([1, 2]);
    expect(splitBody(body, "9")?.binary.length).toBe(0);
    expect(splitBody(body, "0")?.json.length).toBe(0);
    expect(servingError(() => splitBody(body, "10")).message).toBe("Inference-Header-Content-Length is 10 bytes, but the whole request body has only 9 bytes");
    for (const bad of ["", "x", "-1", "1.0", " 1", "1e1", "0x1", "1234567890123456", ["1", "1"]]) {
      const e = servingError(() => splitBody(body, bad));
      expect(e.status).toBe(400);
      expect(e.message).toMatch(/^Inference-Header-Content-Length must be the length of the JSON header in bytes/);
    }
  });

  test("binaryInputParts: sizes taken in input order and checked against the binary part", () => {
    const rest = bytes(1, 2, 3, 4, 5, 6);
    const inputs = [
      { name: "a", parameters: { binary_data_size: 2 } },
      { name: "j", data: [1] },
      { name: "b", parameters: { binary_data_size: 4 } },
    ];
    const parts = binaryInputParts(inputs, rest);
    expect(parts.map((p) => (p === undefined ? undefined : [...p]))).toEqual([[1, 2], undefined, [3, 4, 5, 6]]);
    expect(binaryInputParts([{ name: "j", data: [1] }], undefined)).toEqual([undefined]);
    expect(binaryInputParts([{ name: "j", data: [1] }], Buffer.alloc(0))).toEqual([undefined]);
    expect(servingError(() => binaryInputParts(inputs.slice(0, 1), rest)).message).toBe("the inputs' parameters.binary_data_size add up to 2 bytes, but 6 bytes follow the JSON header");
    expect(servingError(() => binaryInputParts([{ name: "j", data: [1] }], rest)).message).toBe("the inputs' parameters.binary_data_size add up to 0 bytes, but 6 bytes follow the JSON header");
    expect(servingError(() => binaryInputParts([...inputs, { name: "c", parameters: { binary_data_size: 1 } }], rest)).message).toBe(
      "binary tensor data is truncated: input 'c' needs 1 bytes at offset 6, but only 6 bytes follow the JSON header",
    );
    expect(servingError(() => binaryInputParts(inputs, undefined)).message).toMatch(/^input 'a' has parameters.binary_data_size, but the request has no Inference-Header-Content-Length header/);
    expect(servingError(() => binaryInputParts([{ name: "a", data: [1], parameters: { binary_data_size: 6 } }], rest)).message).toBe("input 'a': give either data or parameters.binary_data_size, not both");
    for (const bad of [-1, 0.5, "6", null, 2 ** 53]) {
      expect(servingError(() => binaryInputParts([{ name: "a", parameters: { binary_data_size: bad } }], rest)).message).toMatch(/^input 'a': parameters.binary_data_size must be a non-negative integer/);
    }
  });

  test("binaryChoice: binary_data or binary_data_output on an output, binary_data_output on the request", () => {
    expect(binaryChoice(undefined, "request")).toBeUndefined();
    expect(binaryChoice({ binary_data_output: true }, "request")).toBe(true);
    expect(binaryChoice({ binary_data: true }, "request")).toBeUndefined();
    expect(binaryChoice({ binary_data: false }, { output: "y" })).toBe(false);
    expect(binaryChoice({ binary_data_output: true }, { output: "y" })).toBe(true);
    expect(binaryChoice({ binary_data: true, binary_data_output: true }, { output: "y" })).toBe(true);
    expect(servingError(() => binaryChoice({ binary_data: true, binary_data_output: false }, { output: "y" })).message).toBe("output 'y': parameters.binary_data and parameters.binary_data_output disagree");
    expect(servingError(() => binaryChoice({ binary_data_output: "true" }, "request")).message).toBe('request: parameters.binary_data_output must be true or false, got "true"');
  });

  test("decode: little-endian, row-major, every fixed-width type", () => {
    const one = (dtype: TensorDtype, b: Buffer, shape = [b.length / (elementWidth(dtype) ?? 1)]) => Array.from(decodeBinaryTensor(dtype, shape, "T", b, "x") as ArrayLike<unknown>);
    expect(one("bool", bytes(1, 0, 1))).toEqual([1, 0, 1]);
    expect(one("int8", bytes(0xff, 0x7f))).toEqual([-1, 127]);
    expect(one("uint8", bytes(0xff))).toEqual([255]);
    expect(one("int16", bytes(0xfe, 0xff, 0x01, 0x02))).toEqual([-2, 0x0201]);
    expect(one("uint16", bytes(0x01, 0x02))).toEqual([0x0201]);
    expect(one("float16", bytes(0x00, 0x3c))).toEqual([0x3c00]);
    expect(one("int32", bytes(0xff, 0xff, 0xff, 0xff))).toEqual([-1]);
    expect(one("uint32", bytes(0x01, 0, 0, 0x80))).toEqual([0x80000001]);
    expect(one("float32", bytes(0, 0, 0x80, 0x3f))).toEqual([1]);
    expect(one("int64", bytes(0, 0, 0, 0, 0, 0, 0, 0x80))).toEqual([-(2n ** 63n)]);
    expect(one("uint64", Buffer.alloc(8, 0xff))).toEqual([2n ** 64n - 1n]);
    expect(one("float64", bytes(0, 0, 0, 0, 0, 0, 0xf0, 0xbf))).toEqual([-1]);
    // A view at an odd offset of a larger buffer decodes the same (the bytes are copied, aligned).
    const odd = Buffer.concat([bytes(9), bytes(0, 0, 0x80, 0x3f)]).subarray(1);
    expect(one("float32", odd)).toEqual([1]);
    expect(decodeBinaryTensor("float32", [2, 0], "FP32", Buffer.alloc(0), "x")).toEqual(new Float32Array(0));
  });

  test("decode: sizes, BOOL bytes and BYTES framing are checked", () => {
    expect(servingError(() => decodeBinaryTensor("float32", [2, 2], "FP32", Buffer.alloc(12), "input 'x'")).message).toBe(
      "input 'x': binary_data_size is 12 bytes, but shape [2, 2] of FP32 takes 4 x 4 = 16 bytes",
    );
    expect(servingError(() => decodeBinaryTensor("bool", [2], "BOOL", bytes(0, 255), "input 'x'")).message).toBe("input 'x': BOOL element 1 is byte 255; only 0 (false) and 1 (true) are allowed");
    const s = (...parts: [number, string][]) => Buffer.concat(parts.flatMap(([n, t]) => [bytes(n & 0xff, (n >> 8) & 0xff, 0, 0), Buffer.from(t)]));
    expect(decodeBinaryTensor("string", [1, 3], "BYTES", s([1, "a"], [0, ""], [5, "héll"]), "x")).toEqual(["a", "", "héll"]);
    expect(servingError(() => decodeBinaryTensor("string", [2], "BYTES", s([1, "a"]), "x")).message).toBe("x: binary data is truncated: BYTES element 1 of 2 has no 4-byte length (binary_data_size is 5 bytes)");
    expect(servingError(() => decodeBinaryTensor("string", [1], "BYTES", s([4, "ab"]), "x")).message).toBe("x: binary data is truncated: BYTES element 0 declares 4 bytes, but only 2 remain");
    expect(servingError(() => decodeBinaryTensor("string", [1], "BYTES", Buffer.concat([s([1, "a"]), bytes(0)]), "x")).message).toBe("x: binary_data_size is 6 bytes, but its 1 BYTES elements take 5");
    expect(servingError(() => decodeBinaryTensor("string", [1], "BYTES", Buffer.concat([bytes(1, 0, 0, 0, 0xff)]), "x")).message).toBe("x: BYTES element 0 is not valid UTF-8");
  });

  test("encode: the inverse of decode; BOOL normalised; FP16 numbers become bits; BYTES length-prefixed", () => {
    const cases: [TensorDtype, Buffer][] = [
      ["int8", bytes(0xff, 1)],
      ["int16", bytes(0xfe, 0xff)],
      ["uint16", bytes(1, 2)],
      ["float16", bytes(0, 0x3c)],
      ["int32", bytes(1, 2, 3, 4)],
      ["uint32", bytes(1, 2, 3, 0x84)],
      ["float32", bytes(0, 0, 0xc0, 0x7f)],
      ["int64", bytes(1, 2, 3, 4, 5, 6, 7, 0x88)],
      ["uint64", Buffer.alloc(16, 0xee)],
      ["float64", bytes(0, 0, 0, 0, 0, 0, 0xf0, 0x7f)],
    ];
    for (const [type, b] of cases) {
      const data = decodeBinaryTensor(type, [b.length / (elementWidth(type) as number)], "T", b, "x");
      expect(encodeBinaryTensor({ type, data }).equals(b), type).toBe(true);
    }
    expect([...encodeBinaryTensor({ type: "bool", data: new Uint8Array([0, 1, 7]) })]).toEqual([0, 1, 1]);
    expect([...encodeBinaryTensor({ type: "bool", data: [true, false] })]).toEqual([1, 0]);
    expect([...encodeBinaryTensor({ type: "float16", data: [1, -2] })]).toEqual([0x00, 0x3c, 0x00, 0xc0]);
    expect([...encodeBinaryTensor({ type: "string", data: ["ü", ""] })]).toEqual([2, 0, 0, 0, 0xc3, 0xbc, 0, 0, 0, 0]);
    expect(() => encodeBinaryTensor({ type: "int4", data: new Uint8Array(1) })).toThrow(/int4 cannot be sent as binary/);
  });
});
