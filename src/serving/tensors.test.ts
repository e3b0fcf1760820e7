import { describe, expect, test } from "vitest";
import { ServingError } from "./errors.js";
import { fromFloat16Bits, toFloat16Bits } from "./float16.js";
import { modelRefOf } from "./model-ref.js";
import { nest, rowsToInput, shapeOfNested, tensorRows } from "./rows.js";
import { flattenData, selectOutputs, toFeeds, toResponseTensor, toTensorData, toTensorValue, type ServingSignature } from "./tensors.js";

const SIG: ServingSignature = {
  inputs: [{ name: "x", datatype: "FP32", shape: [-1, 2] }],
  outputs: [
    { name: "label", datatype: "INT64", shape: [-1] },
    { name: "p", datatype: "FP32", shape: [-1, 2] },
  ],
};

function servingError(fn: () => unknown): ServingError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ServingError) return e;
    throw e;
  }
  throw new Error("expected a ServingError");
}

describe("float16", () => {
  test("known bit patterns", () => {
    expect(toFloat16Bits(1)).toBe(0x3c00);
    expect(toFloat16Bits(-2)).toBe(0xc000);
    expect(toFloat16Bits(65504)).toBe(0x7bff);
    expect(toFloat16Bits(65520)).toBe(0x7c00); // rounds up to Infinity
    expect(toFloat16Bits(0.1)).toBe(0x2e66);
    expect(toFloat16Bits(2 ** -24)).toBe(0x0001); // smallest subnormal
    expect(toFloat16Bits(2 ** -26)).toBe(0x0000);
    expect(toFloat16Bits(-0)).toBe(0x8000);
    expect(toFloat16Bits(Number.NEGATIVE_INFINITY)).toBe(0xfc00);
    expect(Number.isNaN(fromFloat16Bits(toFloat16Bits(Number.NaN)))).toBe(true);
    expect(fromFloat16Bits(0x7bff)).toBe(65504);
    expect(fromFloat16Bits(0x0001)).toBe(2 ** -24);
  });

  test("ties round to even", () => {
    expect(toFloat16Bits(1 + 2 ** -11)).toBe(0x3c00); // halfway between 1 and the next half: even is 1
    expect(toFloat16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(toFloat16Bits(3 * 2 ** -25)).toBe(0x0002); // subnormal tie, 1.5 ulp -> 2
  });

  test("every finite half round-trips through a number", () => {
    for (let bits = 0; bits < 0x10000; bits++) {
      const x = fromFloat16Bits(bits);
      if (Number.isNaN(x)) continue;
      expect(toFloat16Bits(x)).toBe(bits);
    }
  });
});

describe("request tensors", () => {
  test("nested data is flattened row-major; scalars are a list of one", () => {
    expect(flattenData([[1, [2, 3]], [], [[4]]])).toEqual([1, 2, 3, 4]);
    expect(flattenData(5)).toEqual([5]);
    let deep: unknown = [7];
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(flattenData(deep)).toEqual([7]);
  });

  test("a request tensor is checked against the spec, then converted", () => {
    const v = toTensorValue({ name: "x", shape: [2, 2], datatype: "FP32", data: [[1, 2], [3, 4]] }, SIG.inputs[0]!);
    expect(v).toEqual({ type: "float32", dims: [2, 2], data: new Float32Array([1, 2, 3, 4]) });
    expect(toTensorValue({ name: "x", shape: [0, 2], datatype: "fp32", data: [] }, SIG.inputs[0]!).dims).toEqual([0, 2]);
    const spec = SIG.inputs[0]!;
    expect(servingError(() => toTensorValue({ name: "x", shape: [1, 2], datatype: "INT32", data: [1, 2] }, spec)).message).toBe("input 'x': expected datatype FP32, got INT32");
    expect(servingError(() => toTensorValue({ name: "x", shape: [1, 3], datatype: "FP32", data: [1, 2, 3] }, spec)).message).toBe("input 'x': expected shape [-1, 2], got [1, 3]");
    expect(servingError(() => toTensorValue({ name: "x", shape: [1, 2, 1], datatype: "FP32", data: [1, 2] }, spec)).message).toBe("input 'x': expected shape [-1, 2], got [1, 2, 1]");
    expect(servingError(() => toTensorValue({ name: "x", shape: [2, 2], datatype: "FP32", data: [1, 2] }, spec)).message).toBe("input 'x': shape [2, 2] holds 4 elements, data has 2");
    expect(servingError(() => toTensorValue({ name: "x", shape: [1.5, 2], datatype: "FP32", data: [1, 2] }, spec)).status).toBe(400);
  });

  test("element conversion per datatype, with ranges", () => {
    expect(toTensorData("bool", [true, false], "t")).toEqual(new Uint8Array([1, 0]));
    expect(toTensorData("int16", [-32768, 32767], "t")).toEqual(new Int16Array([-32768, 32767]));
    expect(toTensorData("uint32", [4294967295], "t")).toEqual(new Uint32Array([4294967295]));
    expect(toTensorData("int64", ["-9223372036854775808", 5], "t")).toEqual(new BigInt64Array([-(2n ** 63n), 5n]));
    expect(toTensorData("uint64", ["18446744073709551615"], "t")).toEqual(new BigUint64Array([2n ** 64n - 1n]));
    expect(toTensorData("float16", [1, "Infinity"], "t")).toEqual(new Uint16Array([0x3c00, 0x7c00]));
    expect(toTensorData("float64", [0.1, "-Infinity"], "t")).toEqual(new Float64Array([0.1, Number.NEGATIVE_INFINITY]));
    expect(toTensorData("string", ["a", ""], "t")).toEqual(["a", ""]);
    expect(servingError(() => toTensorData("int64", ["9223372036854775808"], "t")).message).toMatch(/^t: data\[0\] must be an integer from -9223372036854775808 to 9223372036854775807/);
    expect(servingError(() => toTensorData("uint64", [-1], "t")).message).toMatch(/data\[0\]/);
    expect(servingError(() => toTensorData("uint16", [65536], "t")).message).toBe("t: data[0] must be an integer from 0 to 65535 (got 65536)");
    expect(servingError(() => toTensorData("float32", [null], "t")).message).toBe('t: data[0] must be a number (or "NaN", "Infinity", "-Infinity") (got null)');
    expect(servingError(() => toTensorData("string", [[1]], "t")).message).toBe("t: data[0] must be a string (got an array)");
    expect(servingError(() => toTensorData("bool", [{}], "t")).message).toBe("t: data[0] must be true or false (got an object)");
  });

  test("feeds: every input once, nothing unknown; outputs: known, once", () => {
    const x = { name: "x", shape: [1, 2], datatype: "FP32", data: [1, 2] };
    expect(Object.keys(toFeeds([x], SIG))).toEqual(["x"]);
    expect(servingError(() => toFeeds([], SIG)).message).toBe("missing input 'x' (expected FP32 [-1, 2])");
    expect(servingError(() => toFeeds([x, x], SIG)).message).toBe("input 'x' is given more than once");
    expect(servingError(() => toFeeds([{ ...x, name: "y" }], SIG)).message).toBe("unknown input 'y'; the model takes x FP32 [-1, 2]");
    expect(selectOutputs(undefined, SIG)).toEqual(["label", "p"]);
    expect(selectOutputs([{ name: "p" }, { name: "label" }], SIG)).toEqual(["p", "label"]);
    expect(servingError(() => selectOutputs([{ name: "p" }, { name: "p" }], SIG)).message).toBe("output 'p' is requested more than once");
    expect(servingError(() => selectOutputs([{ name: "q" }], SIG)).message).toBe("unknown output 'q'; the model's outputs are 'label', 'p'");
  });
});

describe("response tensors", () => {
  test("runtime tensors become JSON values", () => {
    expect(toResponseTensor("l", { type: "int64", dims: [2], data: new BigInt64Array([3n, -4n]) })).toEqual({ name: "l", shape: [2], datatype: "INT64", data: [3, -4] });
    expect(toResponseTensor("b", { type: "bool", dims: [2], data: new Uint8Array([1, 0]) }).data).toEqual([true, false]);
    expect(toResponseTensor("h", { type: "float16", dims: [3], data: new Uint16Array([0x3c00, 0x7e00, 0xfc00]) }).data).toEqual([1, "NaN", "-Infinity"]);
    expect(toResponseTensor("f", { type: "float32", dims: [2], data: new Float32Array([0.5, Number.POSITIVE_INFINITY]) }).data).toEqual([0.5, "Infinity"]);
    expect(toResponseTensor("s", { type: "string", dims: [1], data: ["x"] })).toEqual({ name: "s", shape: [1], datatype: "BYTES", data: ["x"] });
    expect(toResponseTensor("u", { type: "uint8", dims: [1], data: new Uint8Array([255]) }).datatype).toBe("UINT8");
    expect(() => toResponseTensor("q", { type: "int4", dims: [1], data: new Int8Array(1) })).toThrow(/int4/);
  });
});

describe("V1 rows", () => {
  test("instances stack into one tensor; outputs split back into rows", () => {
    const spec = SIG.inputs[0]!;
    expect(shapeOfNested([[1, 2], [3, 4], [5, 6]])).toEqual([3, 2]);
    expect(rowsToInput([[1, 2], [3, 4]], spec)).toEqual({ name: "x", datatype: "FP32", shape: [2, 2], data: [[1, 2], [3, 4]] });
    expect(rowsToInput([1, 2, 3], { name: "s", datatype: "INT64", shape: [-1] }).shape).toEqual([3]);
    expect(servingError(() => rowsToInput({}, spec)).message).toBe("'instances' must be a non-empty list of rows");
    expect(servingError(() => rowsToInput([[1, 2], 3], spec)).message).toMatch(/^instances\[1\] has 1 values in 0 dimensions/);
    expect(nest([1, 2, 3, 4, 5, 6], [2, 3])).toEqual([[1, 2, 3], [4, 5, 6]]);
    expect(nest([9], [])).toBe(9);
    expect(tensorRows({ name: "p", shape: [2, 2], datatype: "FP32", data: [1, 2, 3, 4] }, 2)).toEqual([[1, 2], [3, 4]]);
    expect(tensorRows({ name: "l", shape: [2], datatype: "INT64", data: [0, 1] }, 2)).toEqual([0, 1]);
    expect(tensorRows({ name: "c", shape: [1], datatype: "INT64", data: [7] }, 2)).toEqual([[7], [7]]);
  });
});

describe("model references in paths", () => {
  test("name, name + version, name@alias", () => {
    expect(modelRefOf("iris")).toEqual({ name: "iris", kind: "latest" });
    expect(modelRefOf("iris", "3")).toEqual({ name: "iris", kind: "version", version: "3" });
    expect(modelRefOf("iris@champion")).toEqual({ name: "iris", kind: "alias", alias: "champion" });
    expect(modelRefOf("team@iris@blue")).toEqual({ name: "team@iris", kind: "alias", alias: "blue" });
    expect(servingError(() => modelRefOf("iris", "0")).message).toMatch(/positive integer/);
    expect(servingError(() => modelRefOf("iris@a", "1")).message).toMatch(/not both/);
    expect(servingError(() => modelRefOf("@a")).status).toBe(400);
    expect(servingError(() => modelRefOf("")).status).toBe(400);
  });
});
