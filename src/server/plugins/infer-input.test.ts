import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { fastInferInput, inferInput } from "./infer-input.js";

/** A request body as the route sees it: the JSON body with the path's model (and version) merged in. */
const VALID = [
  { inputs: [{ name: "x", shape: [1, 4], datatype: "FP32", data: [5.1, 3.5, 1.4, 0.2] }], model: "iris" },
  { inputs: [{ name: "x", shape: [2, 2], datatype: "FP32", data: [[1, 2], [3, 4]] }], model: "iris", version: "3", id: "req-1" },
  { inputs: [{ name: "a", shape: [0], datatype: "INT64", data: [] }, { name: "b", shape: [], datatype: "BYTES", data: "s" }], model: "m@champion", outputs: [{ name: "label" }] },
  { inputs: [{ name: "x", shape: [1], datatype: "BOOL", data: null, extra: 1 }], model: "m", unknown: { a: 1 }, outputs: [] },
];

describe("fastInferInput", () => {
  test("takes the common request (JSON tensors, no parameters) and gives what the schema gives", () => {
    for (const body of VALID) {
      const fast = fastInferInput(body);
      expect(fast, JSON.stringify(body)).toBeDefined();
      expect(fast).toEqual(inferInput.parse(body));
    }
  });

  test("leaves to the schema anything with parameters, and anything the schema refuses", () => {
    const base = VALID[0] as Record<string, unknown>;
    const tensor = (base.inputs as Record<string, unknown>[])[0] as Record<string, unknown>;
    for (const body of [
      { ...base, parameters: {} },
      { ...base, inputs: [{ ...tensor, parameters: { binary_data_size: 16 } }] },
      { ...base, outputs: [{ name: "label", parameters: { binary_data: true } }] },
      { ...base, inputs: [] },
      { ...base, inputs: [{ ...tensor, data: undefined }] },
      { ...base, inputs: [{ ...tensor, shape: [1, -4] }] },
      { ...base, inputs: [{ ...tensor, shape: [1, 4.5] }] },
      { ...base, inputs: [{ ...tensor, shape: [1, 2 ** 60] }] },
      { ...base, inputs: [{ ...tensor, name: "" }] },
      { ...base, id: 7 },
      { ...base, version: 2 },
      { ...base, model: undefined },
      [base],
      null,
    ]) {
      expect(fastInferInput(body), JSON.stringify(body)).toBeUndefined();
    }
  });

  test("whatever it takes, the schema takes too, with the same values (property)", () => {
    // Valid requests with one field replaced by an arbitrary JSON value.
    const edge = fc.oneof(fc.integer({ min: -8, max: 8 }), fc.constantFrom(-0, 0.5, 2 ** 53, -(2 ** 53), "", "1", true, null, [], {}));
    const json = fc.oneof(fc.jsonValue({ maxDepth: 3 }), edge);
    const field = fc.constantFrom("inputs", "model", "version", "id", "outputs", "parameters", "inputs.0", "inputs.0.name", "inputs.0.shape", "inputs.0.shape.0", "inputs.0.datatype", "inputs.0.data", "inputs.0.parameters", "outputs.0", "outputs.0.name");
    const body = fc.tuple(fc.constantFrom(...VALID), field, json).map(([valid, path, value]) => {
      const copy = structuredClone(valid) as Record<string, unknown>;
      copy.outputs ??= [{ name: "label" }];
      const keys = path.split(".");
      let at: Record<string, unknown> | undefined = copy;
      for (const k of keys.slice(0, -1)) at = at?.[k] as Record<string, unknown> | undefined;
      if (at !== undefined && typeof at === "object") at[keys.at(-1) as string] = value;
      return copy as unknown;
    });
    let fastPath = 0;
    fc.assert(
      fc.property(fc.oneof(body, json), (raw) => {
        const fast = fastInferInput(raw);
        if (fast === undefined) return;
        fastPath++;
        const parsed = inferInput.safeParse(raw);
        expect(parsed.success).toBe(true);
        expect(fast).toEqual(parsed.data);
      }),
      { numRuns: 3000 },
    );
    expect(fastPath, "some generated requests take the fast path").toBeGreaterThan(100);
  });

  test("path parameters win over the body's fields, as when they are merged into the body (property)", () => {
    const value = fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constant(undefined));
    const params = fc.oneof(fc.record({ model: fc.constantFrom("iris", "m@champion") }), fc.record({ model: fc.constantFrom("iris", "m"), version: fc.constantFrom("1", "3") }));
    fc.assert(
      fc.property(fc.constantFrom(...VALID), value, value, params, (valid, model, version, p) => {
        const body: Record<string, unknown> = { ...valid, model, version };
        const merged = { ...body, ...p };
        expect(fastInferInput(body, p)).toEqual(fastInferInput(merged));
      }),
      { numRuns: 500 },
    );
  });
});
