import { readFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { OnnxLoadError, inspectOnnx } from "../onnx/inspect.js";
import { checkPackage, signatureMismatch } from "./check.js";
import { onnxFlavorOf, parseMlmodel, renderMlmodel } from "./mlmodel.js";
import type { ModelPackage } from "./mlmodel.js";
import { signatureFromGraph } from "./signature.js";
import type { Signature, SignatureTensor } from "./signature.js";

const MODELS = new URL("../../../shared/fixtures/models/", import.meta.url);
const FIXTURES = ["iris_logreg", "breast_cancer_rf", "diabetes_gbr", "mlp_8x16x3"] as const;
const fixture = (name: string): Uint8Array => readFileSync(new URL(`${name}.onnx`, MODELS));
const IRIS = fixture("iris_logreg");

function packageWith(signature?: Signature): ModelPackage {
  return {
    artifactPath: "model",
    flavors: {
      onnx: { code: null, data: "model.onnx", onnx_version: "1.17.0", providers: ["CPUExecutionProvider"] },
      python_function: { data: "model.onnx", loader_module: "mlflow.onnx", python_version: "3.11.7" },
    },
    ...(signature === undefined ? {} : { signature }),
  };
}

const tensor = (name: string | undefined, dtype: string, shape: number[]): SignatureTensor => ({
  type: "tensor",
  ...(name === undefined ? {} : { name }),
  dtype,
  shape,
});

const IRIS_OUTPUTS = [tensor("label", "int64", [-1]), tensor("probabilities", "float32", [-1, 3])];

async function reasonFor(signature: Signature, onnx: Uint8Array = IRIS): Promise<string> {
  const result = await checkPackage({ mlmodel: renderMlmodel(packageWith(signature)), onnx });
  if (result.ok) throw new Error("expected the check to fail");
  return result.reason;
}

describe("checkPackage", () => {
  for (const name of FIXTURES) {
    it(`accepts ${name} with an auto signature`, async () => {
      const onnx = fixture(name);
      const graph = await inspectOnnx(onnx);
      const mlmodel = renderMlmodel(packageWith(signatureFromGraph(graph)));
      const result = await checkPackage({ mlmodel, onnx });
      expect(result).toEqual({ ok: true, package: parseMlmodel(mlmodel), graph });
    });
  }

  it("accepts a package without a signature, and a column-based one (not compared)", async () => {
    expect((await checkPackage({ mlmodel: renderMlmodel(packageWith()), onnx: IRIS })).ok).toBe(true);
    const columns: Signature = { inputs: [{ type: "column", name: "sepal", dataType: "double", required: true }] };
    expect((await checkPackage({ mlmodel: renderMlmodel(packageWith(columns)), onnx: IRIS })).ok).toBe(true);
  });

  it("accepts fixed sizes where the graph's dimension is variable, a subset of outputs, and one unnamed input", async () => {
    const ok = async (signature: Signature) =>
      (await checkPackage({ mlmodel: renderMlmodel(packageWith(signature)), onnx: IRIS })).ok;
    expect(await ok({ inputs: [tensor("float_input", "float32", [32, 4])], outputs: [tensor("probabilities", "float32", [-1, 3])] })).toBe(true);
    expect(await ok({ inputs: [tensor("float_input", "float32", [-1, -1])] })).toBe(true);
    expect(await ok({ inputs: [tensor(undefined, "float32", [-1, 4])] })).toBe(true);
  });

  it("names a wrong dtype", async () => {
    expect(await reasonFor({ inputs: [tensor("float_input", "float64", [-1, 4])], outputs: IRIS_OUTPUTS })).toBe(
      "signature input 'float_input' has dtype float64 but the ONNX graph expects float32",
    );
    expect(await reasonFor({ inputs: [tensor("float_input", "float32", [-1, 4])], outputs: [tensor("label", "int32", [-1])] })).toBe(
      "signature output 'label' has dtype int32 but the ONNX graph expects int64",
    );
    expect(await reasonFor({ inputs: [tensor("float_input", "complex64", [-1, 4])] })).toBe(
      "signature input 'float_input' has dtype complex64, which no ONNX tensor type matches (the ONNX graph expects float32)",
    );
  });

  it("names a wrong name", async () => {
    expect(await reasonFor({ inputs: [tensor("features", "float32", [-1, 4])], outputs: IRIS_OUTPUTS })).toBe(
      "signature input 'features' is not an input of the ONNX graph (its inputs: float_input)",
    );
    expect(await reasonFor({ inputs: [tensor("float_input", "float32", [-1, 4])], outputs: [tensor("proba", "float32", [-1, 3])] })).toBe(
      "signature output 'proba' is not an output of the ONNX graph (its outputs: label, probabilities)",
    );
  });

  it("names a graph input the signature leaves out", () => {
    const graph = {
      inputs: [
        { name: "a", dtype: "float32" as const, shape: [-1, 2] },
        { name: "b", dtype: "int64" as const, shape: [-1] },
      ],
      outputs: [],
    };
    expect(signatureMismatch({ inputs: [tensor("a", "float32", [-1, 2])] }, graph)).toBe(
      "the ONNX graph input 'b' is missing from the signature",
    );
    expect(signatureMismatch({ inputs: [tensor(undefined, "float32", [-1, 2])] }, graph)).toBe(
      "the signature declares 1 unnamed input but the ONNX graph has 2 (a, b)",
    );
  });

  it("names a wrong fixed dimension and a wrong rank", async () => {
    expect(await reasonFor({ inputs: [tensor("float_input", "float32", [-1, 5])], outputs: IRIS_OUTPUTS })).toBe(
      "signature input 'float_input' has size 5 in dimension 1 but the ONNX graph expects 4 (signature shape [-1, 5], graph shape [-1, 4])",
    );
    expect(await reasonFor({ inputs: [tensor("float_input", "float32", [-1, 4])], outputs: [tensor("probabilities", "float32", [-1, 2])] })).toBe(
      "signature output 'probabilities' has size 2 in dimension 1 but the ONNX graph expects 3 (signature shape [-1, 2], graph shape [-1, 3])",
    );
    expect(await reasonFor({ inputs: [tensor("float_input", "float32", [-1, 4, 1])] })).toBe(
      "signature input 'float_input' has shape [-1, 4, 1] (rank 3) but the ONNX graph expects rank 2 (shape [-1, 4])",
    );
  });

  it("fails random bytes with ONNX Runtime's own reason", async () => {
    const junk = randomBytes(512);
    let ortReason = "";
    try {
      await inspectOnnx(junk);
    } catch (e) {
      expect(e).toBeInstanceOf(OnnxLoadError);
      ortReason = (e as OnnxLoadError).reason;
    }
    expect(ortReason).not.toBe("");
    const result = await checkPackage({ mlmodel: renderMlmodel(packageWith()), onnx: junk });
    expect(result).toEqual({ ok: false, reason: `the ONNX file 'model.onnx' does not load in ONNX Runtime: ${ortReason}` });
  });

  it("fails a truncated model, a missing ONNX file, a package without an onnx flavor and a bad MLmodel", async () => {
    const truncated = await checkPackage({ mlmodel: renderMlmodel(packageWith()), onnx: IRIS.subarray(0, 200) });
    expect(truncated.ok ? "" : truncated.reason).toMatch(/^the ONNX file 'model.onnx' does not load in ONNX Runtime: ./);
    expect(await checkPackage({ mlmodel: renderMlmodel(packageWith()), onnx: undefined })).toEqual({
      ok: false,
      reason: "the ONNX file 'model.onnx' named by flavors.onnx.data is missing from the package",
    });
    const sklearnOnly = "flavors:\n  sklearn:\n    pickled_model: model.pkl\n";
    expect(await checkPackage({ mlmodel: sklearnOnly, onnx: IRIS })).toEqual({
      ok: false,
      reason: "The MLmodel has no 'onnx' flavor (its flavors: sklearn); only ONNX models can be served",
    });
    expect(await checkPackage({ mlmodel: "flavors:\n  onnx: {data: 7}\n", onnx: IRIS })).toEqual({
      ok: false,
      reason: "MLmodel field 'flavors.onnx.data' must be a string (got number 7)",
    });
  });

  it("names the file the flavor points at", async () => {
    const pkg = packageWith();
    pkg.flavors.onnx = { ...pkg.flavors.onnx, data: "weights/net.onnx" };
    const mlmodel = renderMlmodel(pkg);
    expect(onnxFlavorOf(parseMlmodel(mlmodel)).data).toBe("weights/net.onnx");
    const result = await checkPackage({ mlmodel, onnx: new Uint8Array([1, 2, 3]) });
    expect(result.ok ? "" : result.reason).toMatch(/^the ONNX file 'weights\/net.onnx' does not load in ONNX Runtime: /);
  });
});

describe("declared features", () => {
  it("must match the input's columns once each", async () => {
    const onnx = new Uint8Array(readFileSync(new URL("iris_logreg.onnx", MODELS)));
    const withFeatures = (features: string) =>
      `flavors:\n  onnx: {data: model.onnx}\nmetadata:\n  flywheel:\n    features: [${features}]\n`;
    expect((await checkPackage({ mlmodel: withFeatures("a, b, c, d"), onnx })).ok).toBe(true);
    const short = await checkPackage({ mlmodel: withFeatures("a, b, c"), onnx });
    expect(short).toEqual({ ok: false, reason: "metadata.flywheel.features lists 3 features but the ONNX input 'float_input' takes 4 columns" });
    const twice = await checkPackage({ mlmodel: withFeatures("a, b, a, d"), onnx });
    expect(twice).toEqual({ ok: false, reason: "MLmodel field 'metadata.flywheel.features[2]' repeats \"a\"" });
  });
});
