/**
 * A package written by Flywheel's logModel, read the way MLflow's Python client reads one
 * (`Model.load`: PyYAML; `ModelSignature.from_dict`: json + NumPy dtypes; `_read_example`:
 * the tf-serving "inputs" layout), with the machine's python3, PyYAML and NumPy.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { IRIS_ONNX } from "../../test/helpers/model-package.js";
import { prepareModel } from "./log-model.js";

const probe = spawnSync("python3", ["-c", "import yaml, numpy"], { encoding: "utf8" });
const skip = probe.status === 0 ? undefined : `python3 with PyYAML and NumPy is not available: ${probe.stderr || probe.error?.message}`;

const CHECK = String.raw`
import json, sys, datetime, re
import yaml, numpy as np
files = json.load(sys.stdin)
m = yaml.safe_load(files["MLmodel"])
assert m["flavors"]["onnx"]["data"] == "model.onnx", m["flavors"]
assert m["flavors"]["python_function"]["loader_module"] == "mlflow.onnx"
assert m["flavors"]["python_function"]["data"] == "model.onnx"
assert re.fullmatch(r"[0-9a-f]{32}", m["model_uuid"])
datetime.datetime.strptime(m["utc_time_created"], "%Y-%m-%d %H:%M:%S.%f")
out = {}
for side in ("inputs", "outputs"):
    specs = json.loads(m["signature"][side])
    for s in specs:
        assert s["type"] == "tensor", s
        np.dtype(s["tensor-spec"]["dtype"])
        assert all(isinstance(d, int) for d in s["tensor-spec"]["shape"])
    out[side] = [(s["name"], s["tensor-spec"]["dtype"], s["tensor-spec"]["shape"]) for s in specs]
info = m["saved_input_example_info"]
example = json.loads(files[info["artifact_path"]])
arr = np.array(example["inputs"], dtype=np.float32)
out["example_shape"] = list(arr.shape)
out["features"] = m["metadata"]["flywheel"]["features"]
print(json.dumps(out))
`;

describe.skipIf(skip !== undefined)(`MLmodel read as MLflow's Python client reads it${skip !== undefined ? ` (skipped: ${skip})` : ""}`, () => {
  it("parses with PyYAML, its signature with json and NumPy dtypes, its input example as an ndarray", async () => {
    const prepared = await prepareModel(
      { onnx: IRIS_ONNX, inputExample: [[5.1, 3.5, 1.4, 0.2]], metadata: { features: ["sepal_length", "sepal_width", "petal_length", "petal_width"] } },
      { runId: "0".repeat(32), artifactUri: `mlflow-artifacts:/1/${"0".repeat(32)}/artifacts` },
    );
    const files = Object.fromEntries(prepared.files.map((f) => [f.path, Buffer.from(f.body).toString("utf8")]));
    const result = JSON.parse(execFileSync("python3", ["-c", CHECK], { input: JSON.stringify(files), encoding: "utf8" })) as Record<string, unknown>;
    expect(result).toEqual({
      inputs: [["float_input", "float32", [-1, 4]]],
      outputs: [
        ["label", "int64", [-1]],
        ["probabilities", "float32", [-1, 3]],
      ],
      example_shape: [1, 4],
      features: ["sepal_length", "sepal_width", "petal_length", "petal_width"],
    });
  });
});
