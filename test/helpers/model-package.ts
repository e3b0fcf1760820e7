/** A model package as MLflow's `mlflow.onnx.log_model` writes it, for the iris fixture model. */
import { readFileSync } from "node:fs";

/** The iris logistic-regression fixture (`float_input` [-1, 4] -> `label`, `probabilities`). */
export const IRIS_ONNX = readFileSync(new URL("../../../shared/fixtures/models/iris_logreg.onnx", import.meta.url));

/** The MLmodel file MLflow 2.x writes for the iris model, plus an optional `metadata:` block. */
export function irisMlmodel(metadata = ""): string {
  return `artifact_path: model
flavors:
  onnx:
    code: null
    data: model.onnx
    onnx_version: 1.17.0
    providers:
    - CPUExecutionProvider
  python_function:
    data: model.onnx
    loader_module: mlflow.onnx
    python_version: 3.11.7
mlflow_version: 2.17.0
model_uuid: 0123456789abcdef0123456789abcdef
signature:
  inputs: '[{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 4]}, "name": "float_input"}]'
  outputs: '[{"type": "tensor", "tensor-spec": {"dtype": "int64", "shape": [-1]}, "name": "label"}, {"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 3]}, "name": "probabilities"}]'
  params: null
utc_time_created: '2026-11-26 08:00:00.000000'
${metadata}`;
}

/** Uploads files into a run's artifacts through the server's artifact proxy. */
export async function uploadToRun(serverUrl: string, artifactUri: string, files: Record<string, string | Uint8Array>): Promise<void> {
  const prefix = artifactUri.replace(/^mlflow-artifacts:\//, "");
  for (const [path, body] of Object.entries(files)) {
    const res = await fetch(`${serverUrl}/api/2.0/mlflow-artifacts/artifacts/${prefix}/${path}`, { method: "PUT", body });
    if (res.status !== 200) throw new Error(`upload of ${path} failed: ${res.status} ${await res.text()}`);
  }
}
