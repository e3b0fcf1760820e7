/** Model packages in MLflow's layout: the MLmodel file, signatures, servability checks, and logging. */
export { checkPackage, loadGraph, signatureMismatch } from "./check.js";
export type { CheckResult } from "./check.js";
export {
  DEFAULT_ARTIFACT_PATH,
  INPUT_EXAMPLE_FILE,
  LogModelError,
  MLFLOW_FORMAT_VERSION,
  MODEL_FILE,
  ONNX_FORMAT_VERSION,
  ONNX_PROVIDERS,
  PYFUNC_PYTHON_VERSION,
  normalizeArtifactPath,
  prepareModel,
} from "./log-model.js";
export type { LogModelOptions, ModelFile, PreparedModel } from "./log-model.js";
export { readFlywheelMetadata } from "./metadata.js";
export type { FlywheelModelMetadata, TrainingDataset } from "./metadata.js";
export {
  MLMODEL_FILE,
  MlmodelError,
  formatUtcTime,
  modelJson,
  modelToDict,
  onnxFlavorOf,
  parseMlmodel,
  renderMlmodel,
} from "./mlmodel.js";
export type { FlavorConfig, ModelPackage, OnnxFlavorConfig, PyfuncFlavorConfig, SavedInputExampleInfo } from "./mlmodel.js";
export { FieldError } from "./fields.js";
export {
  describeSpec,
  numpyDtypeOf,
  parseSignatureJson,
  readSignature,
  schemaToJson,
  signatureFromGraph,
  signatureToDict,
  tensorDtypeOf,
} from "./signature.js";
export type { Signature, SignatureColumn, SignatureParam, SignatureSpec, SignatureTensor } from "./signature.js";
