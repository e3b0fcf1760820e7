import fc from "fast-check";
import { expect, test } from "vitest";
import { packTensors, unpackTensors } from "./tensor-pack.js";
import type { RuntimeTensor } from "./tensors.js";
import type { ArrayClass } from "./typed-arrays.js";

/** The data class ONNX Runtime uses for each element type. */
const CLASS_OF: Record<string, ArrayClass> = {
  float32: Float32Array, float64: Float64Array, int8: Int8Array, uint8: Uint8Array, bool: Uint8Array, int16: Int16Array,
  uint16: Uint16Array, float16: Uint16Array, int32: Int32Array, uint32: Uint32Array, int64: BigInt64Array, uint64: BigUint64Array,
};

/** A tensor of every data class the runtime uses, some as views into a larger buffer (as request bodies give them). */
const tensorArb: fc.Arbitrary<RuntimeTensor> = fc
  .record({
    kind: fc.constantFrom("float32", "float64", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64", "bool", "float16", "string"),
    values: fc.array(fc.integer({ min: -100, max: 100 }), { maxLength: 9 }),
    pad: fc.integer({ min: 0, max: 3 }),
    strings: fc.array(fc.string(), { maxLength: 4 }),
  })
  .map(({ kind, values, pad, strings }): RuntimeTensor => {
    if (kind === "string") return { type: "string", dims: [strings.length], data: strings };
    const Class = CLASS_OF[kind] as ArrayClass;
    const whole = new Class(values.length + pad);
    const big = kind === "int64" || kind === "uint64";
    const unsigned = kind.startsWith("uint") || kind === "bool" || kind === "float16";
    whole.set(values.map((v) => (unsigned ? Math.abs(v) : v)).map((v) => (big ? BigInt(v) : v)) as never, pad);
    return { type: kind, dims: [values.length], data: whole.subarray(pad, pad + values.length) };
  });

const plain = (t: RuntimeTensor) => ({ type: t.type, dims: [...t.dims], data: Array.isArray(t.data) ? t.data : Array.from(t.data as ArrayLike<unknown>), cls: (t.data as object).constructor.name });

test("tensors come back as they were packed: types, shapes, data classes and values, in order", () => {
  fc.assert(
    fc.property(fc.array(tensorArb, { maxLength: 8 }), (tensors) => {
      const packed = packTensors(tensors);
      // What a message does with a transferred buffer: the receiver gets it, the sender loses it.
      const moved = structuredClone(packed, { transfer: [packed.buffer] });
      expect(packed.buffer.byteLength).toBe(0);
      const back = unpackTensors(moved);
      expect(back.map(plain)).toEqual(tensors.map(plain));
      // Every numeric tensor is a view 8-byte aligned in the one buffer.
      for (const t of back) if (!Array.isArray(t.data)) expect((t.data as Uint8Array).byteOffset % 8).toBe(0);
    }),
    { numRuns: 200 },
  );
});

test("data the pack does not carry is refused with a TypeError", () => {
  expect(() => packTensors([{ type: "float32", dims: [1], data: new DataView(new ArrayBuffer(4)) }])).toThrow(TypeError);
  expect(() => packTensors([{ type: "float32", dims: [1], data: 1.5 }])).toThrow(TypeError);
});
