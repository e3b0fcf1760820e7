import { describe, expect, it } from "vitest";
import * as ort from "onnxruntime-node";
import { attr, buildOnnxModel, OnnxBuildError, tensorInfo } from "./builder.js";
import type { GraphSpec, ModelSpec } from "./builder.js";
import { inspectOnnx } from "./inspect.js";

/** A test-only protobuf reader: the fields of one message, nested messages left as bytes. */
interface Field {
  field: number;
  wire: number;
  value: bigint | Uint8Array;
}
function readFields(buf: Uint8Array): Field[] {
  let pos = 0;
  const varint = (): bigint => {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      const b = buf[pos++];
      if (b === undefined) throw new Error("truncated varint");
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
      shift += 7n;
    }
  };
  const fields: Field[] = [];
  while (pos < buf.length) {
    const tag = Number(varint());
    const field = tag >>> 3;
    const wire = tag & 7;
    if (wire === 0) fields.push({ field, wire, value: varint() });
    else if (wire === 2) {
      const len = Number(varint());
      fields.push({ field, wire, value: buf.subarray(pos, pos + len) });
      pos += len;
    } else if (wire === 5) {
      fields.push({ field, wire, value: buf.subarray(pos, pos + 4) });
      pos += 4;
    } else if (wire === 1) {
      fields.push({ field, wire, value: buf.subarray(pos, pos + 8) });
      pos += 8;
    } else throw new Error(`unexpected wire type ${wire}`);
  }
  return fields;
}
const text = (v: bigint | Uint8Array): string => new TextDecoder().decode(v as Uint8Array);

async function run(
  model: Uint8Array,
  feeds: Record<string, ort.Tensor>,
): Promise<Record<string, ort.Tensor>> {
  const session = await ort.InferenceSession.create(model);
  try {
    return (await session.run(feeds)) as Record<string, ort.Tensor>;
  } finally {
    await session.release();
  }
}

const GEMM_GRAPH: GraphSpec = {
  name: "gemm",
  inputs: [tensorInfo("x", "float32", ["N", 3])],
  outputs: [tensorInfo("y", "float32", ["N", 2]), tensorInfo("idx", "int64", ["N"])],
  initializers: [
    // B is [2, 3] and used transposed.
    { name: "B", dtype: "float32", dims: [2, 3], values: Float32Array.from([1, 2, 3, -1, 0.5, 0.25]) },
    { name: "C", dtype: "float32", dims: [2], values: [10, -10] },
  ],
  nodes: [
    {
      name: "gemm",
      opType: "Gemm",
      inputs: ["x", "B", "C"],
      outputs: ["y"],
      attributes: { alpha: attr.float(0.5), beta: attr.float(2), transB: attr.int(1) },
    },
    {
      opType: "ArgMax",
      inputs: ["y"],
      outputs: ["idx"],
      attributes: { axis: attr.int(1), keepdims: attr.int(0) },
    },
  ],
};

describe("buildOnnxModel", () => {
  it("builds a model ONNX Runtime runs, with float and int attributes", async () => {
    const model = buildOnnxModel({ graph: GEMM_GRAPH });
    const x = Float32Array.from([1, 1, 1, 2, 0, -4]);
    const out = await run(model, { x: new ort.Tensor("float32", x, [2, 3]) });
    // y = 0.5 * x @ B^T + 2 * C
    const expected = [0.5 * 6 + 20, 0.5 * -0.25 - 20, 0.5 * (2 - 12) + 20, 0.5 * (-2 - 1) - 20];
    expect(out.y?.dims).toEqual([2, 2]);
    expect(Array.from(out.y?.data as Float32Array)).toEqual(expected.map(Math.fround));
    expect(Array.from(out.idx?.data as BigInt64Array)).toEqual([0n, 0n]);
  });

  it("writes ir_version 8, producer flywheel, opset 17 and metadata", () => {
    const model = buildOnnxModel({
      graph: GEMM_GRAPH,
      producerVersion: "1.2.3",
      docString: "doc",
      metadata: { k: "v", other: "w" },
    });
    const top = readFields(model);
    expect(top.find((f) => f.field === 1)?.value).toBe(8n);
    expect(text(top.find((f) => f.field === 2)?.value ?? new Uint8Array())).toBe("flywheel");
    expect(text(top.find((f) => f.field === 3)?.value ?? new Uint8Array())).toBe("1.2.3");
    expect(text(top.find((f) => f.field === 6)?.value ?? new Uint8Array())).toBe("doc");
    const opsets = top.filter((f) => f.field === 8).map((f) => readFields(f.value as Uint8Array));
    expect(opsets).toHaveLength(1);
    expect(opsets[0]?.find((f) => f.field === 1)).toBeUndefined(); // default domain ""
    expect(opsets[0]?.find((f) => f.field === 2)?.value).toBe(17n);
    const props = top
      .filter((f) => f.field === 14)
      .map((f) => readFields(f.value as Uint8Array).map((e) => text(e.value)));
    expect(props).toEqual([
      ["k", "v"],
      ["other", "w"],
    ]);
    const graph = readFields(top.find((f) => f.field === 7)?.value as Uint8Array);
    expect(graph.filter((f) => f.field === 1)).toHaveLength(2); // nodes
    expect(text(graph.find((f) => f.field === 2)?.value ?? new Uint8Array())).toBe("gemm");
    expect(graph.filter((f) => f.field === 5)).toHaveLength(2); // initializers
    expect(graph.filter((f) => f.field === 11)).toHaveLength(1); // inputs
    expect(graph.filter((f) => f.field === 12)).toHaveLength(2); // outputs
  });

  it("imports ai.onnx.ml opset 3 for ML ops, with ints/floats/string/strings attributes", async () => {
    // Two-class-per-row linear scores for 2 features, 3 classes.
    const coefficients = [1, 0, 0, 1, -1, -1];
    const intercepts = [0, 0, 0.5];
    const spec: ModelSpec = {
      graph: {
        name: "linear_classifier",
        inputs: [tensorInfo("X", "float32", [null, 2])],
        outputs: [tensorInfo("label", "int64", [null]), tensorInfo("scores", "float32", [null, 3])],
        nodes: [
          {
            opType: "LinearClassifier",
            domain: "ai.onnx.ml",
            inputs: ["X"],
            outputs: ["label", "scores"],
            attributes: {
              coefficients: attr.floats(coefficients),
              intercepts: attr.floats(intercepts),
              classlabels_ints: attr.ints([10, 20, 30]),
              multi_class: attr.int(0),
              post_transform: attr.string("NONE"),
            },
          },
        ],
      },
    };
    const model = buildOnnxModel(spec);
    const opsets = readFields(model)
      .filter((f) => f.field === 8)
      .map((f) => readFields(f.value as Uint8Array).map((e) => (e.wire === 2 ? text(e.value) : e.value)));
    expect(opsets).toEqual([[17n], ["ai.onnx.ml", 3n]]);

    const X = Float32Array.from([3, 1, -2, -1, 0, 5]);
    const out = await run(model, { X: new ort.Tensor("float32", X, [3, 2]) });
    expect(Array.from(out.label?.data as BigInt64Array)).toEqual([10n, 30n, 20n]);
    expect(Array.from(out.scores?.data as Float32Array)).toEqual([3, 1, -3.5, -2, -1, 3.5, 0, 5, -4.5]);

    // String class labels: a `strings` attribute and a string tensor output.
    const stringModel = buildOnnxModel({
      graph: {
        ...spec.graph,
        outputs: [tensorInfo("label", "string", [null]), tensorInfo("scores", "float32", [null, 3])],
        nodes: [
          {
            opType: "LinearClassifier",
            domain: "ai.onnx.ml",
            inputs: ["X"],
            outputs: ["label", "scores"],
            attributes: {
              coefficients: attr.floats(coefficients),
              intercepts: attr.floats(intercepts),
              classlabels_strings: attr.strings(["setosa", "versicolor", "virginica"]),
            },
          },
        ],
      },
    });
    const out2 = await run(stringModel, { X: new ort.Tensor("float32", X, [3, 2]) });
    expect(out2.label?.data).toEqual(["setosa", "virginica", "versicolor"]);
    expect((await inspectOnnx(stringModel)).outputs[0]).toEqual({ name: "label", dtype: "string", shape: [-1] });
  });

  it("writes int64 initializers, scalar initializers and negative ints", async () => {
    const model = buildOnnxModel({
      graph: {
        name: "reshape",
        inputs: [tensorInfo("x", "float32", [2, 3])],
        outputs: [tensorInfo("y", "float32", [3, 2]), tensorInfo("z", "float32", [2, 3])],
        initializers: [
          { name: "shape", dtype: "int64", dims: [2], values: BigInt64Array.from([-1n, 2n]) },
          { name: "two", dtype: "float32", dims: [], values: [2] },
        ],
        nodes: [
          { opType: "Reshape", inputs: ["x", "shape"], outputs: ["y"] },
          { opType: "Mul", inputs: ["x", "two"], outputs: ["z"] },
        ],
      },
    });
    const out = await run(model, { x: new ort.Tensor("float32", Float32Array.from([1, 2, 3, 4, 5, 6]), [2, 3]) });
    expect(out.y?.dims).toEqual([3, 2]);
    expect(Array.from(out.z?.data as Float32Array)).toEqual([2, 4, 6, 8, 10, 12]);
  });

  it("rejects inconsistent graphs", () => {
    const bad = (patch: Partial<GraphSpec>): (() => Uint8Array) => () =>
      buildOnnxModel({ graph: { ...GEMM_GRAPH, ...patch } });
    const inits = GEMM_GRAPH.initializers ?? [];
    expect(bad({ name: "" })).toThrow(OnnxBuildError);
    expect(bad({ nodes: [...GEMM_GRAPH.nodes].reverse() })).toThrow(
      /input "y" is not a graph input/,
    );
    expect(bad({ outputs: [tensorInfo("nope", "float32")] })).toThrow(/"nope" is never produced/);
    expect(bad({ outputs: [] })).toThrow(/no outputs/);
    expect(bad({ inputs: [tensorInfo("x", "float32"), tensorInfo("x", "float32")] })).toThrow(
      /duplicate graph input/,
    );
    const short = { name: "B", dtype: "float32", dims: [2, 3], values: [1, 2] } as const;
    expect(bad({ initializers: [short, ...inits] })).toThrow(/has 2 values but dims \[2, 3\] hold 6/);
    const redefine = { opType: "Identity", inputs: ["x"], outputs: ["y"] };
    expect(bad({ nodes: [...GEMM_GRAPH.nodes, redefine] })).toThrow(/"y" is already defined/);
    expect(bad({ inputs: [tensorInfo("x", "float32", [-1, 3])] })).toThrow(/non-negative integer/);
    expect(bad({ inputs: [tensorInfo("x", "float32", ["", 3])] })).toThrow(/needs a name/);
    const fractional = { name: "s", dtype: "int64", dims: [1], values: [0.5] } as const;
    expect(bad({ initializers: [fractional, ...inits] })).toThrow(/must be an int64/);
    const badAttr = { opType: "Identity", inputs: ["x"], outputs: ["q"], attributes: { k: attr.int(1.5) } };
    expect(bad({ nodes: [badAttr] })).toThrow(/attribute k must be an int64/);
    const custom = { ...GEMM_GRAPH.nodes[0]!, domain: "com.example" };
    expect(bad({ nodes: [custom], outputs: [tensorInfo("y", "float32")] })).toThrow(/domain "com.example"/);
    expect(() =>
      buildOnnxModel({ graph: GEMM_GRAPH, opsetImports: [{ domain: "ai.onnx.ml", version: 3 }] }),
    ).toThrow(/"ai.onnx" but it is not in opsetImports/);
  });

  it("honours explicit opset imports and IR version", async () => {
    const model = buildOnnxModel({
      graph: GEMM_GRAPH,
      irVersion: 7,
      opsetImports: [{ domain: "", version: 13 }],
    });
    const top = readFields(model);
    expect(top.find((f) => f.field === 1)?.value).toBe(7n);
    const sig = await inspectOnnx(model);
    expect(sig.outputs.map((o) => o.name)).toEqual(["y", "idx"]);
  });
});
