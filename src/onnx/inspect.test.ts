import { readFileSync, readdirSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { attr, buildOnnxModel, tensorInfo } from "./builder.js";
import { ProtoWriter } from "./protobuf.js";
import { inspectOnnx, OnnxLoadError, OnnxUnsupportedValueError, TENSOR_DTYPES } from "./inspect.js";
import type { OnnxSignature } from "./inspect.js";

const MODELS = new URL("../../../shared/fixtures/models/", import.meta.url);
const fixture = (name: string): Uint8Array => readFileSync(new URL(name, MODELS));

/** The signatures in ../shared/fixtures/README.md. */
const EXPECTED: Record<string, OnnxSignature> = {
  "iris_logreg.onnx": {
    inputs: [{ name: "float_input", dtype: "float32", shape: [-1, 4] }],
    outputs: [
      { name: "label", dtype: "int64", shape: [-1] },
      { name: "probabilities", dtype: "float32", shape: [-1, 3] },
    ],
  },
  "breast_cancer_rf.onnx": {
    inputs: [{ name: "float_input", dtype: "float32", shape: [-1, 30] }],
    outputs: [
      { name: "label", dtype: "int64", shape: [-1] },
      { name: "probabilities", dtype: "float32", shape: [-1, 2] },
    ],
  },
  "diabetes_gbr.onnx": {
    inputs: [{ name: "float_input", dtype: "float32", shape: [-1, 10] }],
    outputs: [{ name: "variable", dtype: "float32", shape: [-1, 1] }],
  },
  "mlp_8x16x3.onnx": {
    inputs: [{ name: "input", dtype: "float32", shape: [-1, 8] }],
    outputs: [{ name: "output", dtype: "float32", shape: [-1, 3] }],
  },
};

describe("inspectOnnx on the fixture models", () => {
  it("covers every fixture model", () => {
    const onDisk = readdirSync(MODELS).filter((f) => f.endsWith(".onnx")).sort();
    expect(onDisk).toEqual(Object.keys(EXPECTED).sort());
  });

  for (const [name, signature] of Object.entries(EXPECTED)) {
    it(`reads the signature of ${name}`, async () => {
      expect(await inspectOnnx(fixture(name))).toEqual(signature);
      // Consistent with the fixture's own description.
      const meta = JSON.parse(
        readFileSync(new URL(name.replace(/\.onnx$/, ".expected.json"), MODELS), "utf8"),
      ) as { input: string; outputs: string[] };
      expect(signature.inputs.map((i) => i.name)).toEqual([meta.input]);
      expect(signature.outputs.map((o) => o.name)).toEqual(meta.outputs);
    });
  }
});

describe("inspectOnnx on invalid models", () => {
  it("throws OnnxLoadError with ONNX Runtime's reason for random bytes", async () => {
    let state = 12345;
    const random = Uint8Array.from({ length: 4096 }, () => {
      state = (Math.imul(state, 1103515245) + 12345) >>> 0;
      return state >>> 24;
    });
    const err = await inspectOnnx(random).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OnnxLoadError);
    const loadError = err as OnnxLoadError;
    expect(loadError.message).toMatch(/^cannot load ONNX model \(4096 bytes\): /);
    expect(loadError.reason.length).toBeGreaterThan(0);
    expect(loadError.message).toContain(loadError.reason);
  });

  it("throws OnnxLoadError for a truncated copy of a fixture", async () => {
    for (const name of Object.keys(EXPECTED)) {
      const bytes = fixture(name);
      const truncated = bytes.subarray(0, Math.floor(bytes.length / 2));
      await expect(inspectOnnx(truncated), name).rejects.toBeInstanceOf(OnnxLoadError);
    }
  });

  it("throws OnnxLoadError for an empty buffer and for text", async () => {
    await expect(inspectOnnx(new Uint8Array(0))).rejects.toThrow(/the model is empty/);
    await expect(inspectOnnx(new TextEncoder().encode("not an onnx model\n"))).rejects.toBeInstanceOf(
      OnnxLoadError,
    );
  });

  it("throws OnnxLoadError for well-formed protobuf that is not a valid graph", async () => {
    // Valid encoding, but the op does not exist.
    const model = buildOnnxModel({
      graph: {
        name: "g",
        inputs: [tensorInfo("x", "float32", [1])],
        outputs: [tensorInfo("y", "float32", [1])],
        nodes: [{ opType: "NoSuchOperator", inputs: ["x"], outputs: ["y"] }],
      },
    });
    const err = await inspectOnnx(model).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OnnxLoadError);
    expect((err as OnnxLoadError).reason).toMatch(/NoSuchOperator/);
  });
});

describe("inspectOnnx on built models", () => {
  it("maps every supported element type to its NumPy name", async () => {
    const dtypes = TENSOR_DTYPES;
    const model = buildOnnxModel({
      graph: {
        name: "identities",
        inputs: dtypes.map((t) => tensorInfo(`in_${t}`, t, ["N", 2])),
        outputs: dtypes.map((t) => tensorInfo(`out_${t}`, t, ["N", 2])),
        nodes: dtypes.map((t) => ({ opType: "Identity", inputs: [`in_${t}`], outputs: [`out_${t}`] })),
      },
    });
    const sig = await inspectOnnx(model);
    expect(sig.inputs).toEqual(dtypes.map((t) => ({ name: `in_${t}`, dtype: t, shape: [-1, 2] })));
    expect(sig.outputs).toEqual(dtypes.map((t) => ({ name: `out_${t}`, dtype: t, shape: [-1, 2] })));
  });

  it("gives -1 for named, unnamed dimensions and keeps fixed ones, in model order", async () => {
    const model = buildOnnxModel({
      graph: {
        name: "shapes",
        inputs: [tensorInfo("b", "float32", ["batch", null, 7]), tensorInfo("a", "float32", [])],
        outputs: [tensorInfo("z", "float32", ["batch", null, 7]), tensorInfo("y", "float32", [])],
        nodes: [
          { opType: "Identity", inputs: ["b"], outputs: ["z"] },
          { opType: "Identity", inputs: ["a"], outputs: ["y"] },
        ],
      },
    });
    expect(await inspectOnnx(model)).toEqual({
      inputs: [
        { name: "b", dtype: "float32", shape: [-1, -1, 7] },
        { name: "a", dtype: "float32", shape: [] },
      ],
      outputs: [
        { name: "z", dtype: "float32", shape: [-1, -1, 7] },
        { name: "y", dtype: "float32", shape: [] },
      ],
    });
  });

  it("rejects a sequence output, naming it", async () => {
    const model = buildOnnxModel({
      graph: {
        name: "seq_out",
        inputs: [tensorInfo("x", "float32", [2])],
        outputs: [
          tensorInfo("copy", "float32", [2]),
          { name: "seq", type: { kind: "sequence", elem: { kind: "tensor", elemType: "float32" } } },
        ],
        nodes: [
          { opType: "Identity", inputs: ["x"], outputs: ["copy"] },
          { opType: "SequenceConstruct", inputs: ["x", "x"], outputs: ["seq"] },
        ],
      },
    });
    const err = await inspectOnnx(model).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OnnxUnsupportedValueError);
    const e = err as OnnxUnsupportedValueError;
    expect([e.role, e.valueName, e.kind]).toEqual(["output", "seq", "non-tensor"]);
    expect(e.message).toMatch(/output "seq" is not a tensor/);
  });

  it("rejects a sequence input, naming it", async () => {
    const model = buildOnnxModel({
      graph: {
        name: "seq_in",
        inputs: [{ name: "items", type: { kind: "sequence", elem: { kind: "tensor", elemType: "int64" } } }],
        outputs: [tensorInfo("n", "int64", [])],
        nodes: [{ opType: "SequenceLength", inputs: ["items"], outputs: ["n"] }],
      },
    });
    await expect(inspectOnnx(model)).rejects.toThrow(/input "items" is not a tensor/);
  });

  it("rejects a map output (sequence of maps from ZipMap)", async () => {
    const model = buildOnnxModel({
      graph: {
        name: "zipmap",
        inputs: [tensorInfo("p", "float32", [null, 2])],
        outputs: [
          {
            name: "output_probability",
            type: {
              kind: "sequence",
              elem: { kind: "map", keyType: "int64", value: { kind: "tensor", elemType: "float32" } },
            },
          },
        ],
        nodes: [
          {
            opType: "ZipMap",
            domain: "ai.onnx.ml",
            inputs: ["p"],
            outputs: ["output_probability"],
            attributes: { classlabels_int64s: attr.ints([0, 1]) },
          },
        ],
      },
    });
    await expect(inspectOnnx(model)).rejects.toThrow(/output "output_probability" is not a tensor/);
  });

  it("rejects a tensor whose element type has no NumPy name (int4), naming it", async () => {
    // Hand-encoded ModelProto (the builder only writes NumPy dtypes): y = DequantizeLinear(x, 0.5)
    // with x an INT4 (data type 22) tensor, IR version 10, opset 21.
    const valueInfo = (w: ProtoWriter, name: string, dataType: number): void => {
      w.string(1, name);
      w.message(2, (t) =>
        t.message(1, (tensor) => {
          tensor.int32(1, dataType);
          tensor.message(2, (shape) => shape.message(1, (dim) => dim.int64(1, 2)));
        }),
      );
    };
    const w = new ProtoWriter();
    w.int64(1, 10);
    w.message(7, (g) => {
      g.message(1, (n) => n.repeatedString(1, ["x", "scale"]).string(2, "y").string(4, "DequantizeLinear"));
      g.string(2, "int4");
      g.message(5, (t) => t.int32(2, 1).packedFloat(4, [0.5]).string(8, "scale"));
      g.message(11, (v) => valueInfo(v, "x", 22));
      g.message(12, (v) => valueInfo(v, "y", 1));
    });
    w.message(8, (o) => o.int64(2, 21));
    const err = await inspectOnnx(w.finish()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OnnxUnsupportedValueError);
    const e = err as OnnxUnsupportedValueError;
    expect([e.role, e.valueName, e.kind]).toEqual(["input", "x", "unsupported-dtype"]);
    expect(e.message).toMatch(/input "x" has element type int4/);
  });
});
