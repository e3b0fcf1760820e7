/**
 * Export a binary logistic regression as an ONNX model shaped like skl2onnx output with
 * `zipmap=False`:
 *
 *     float_input   FP32  [N, nFeatures]   raw (unstandardised) features
 *     label         INT64 [N]              1 where P(class 1) >= 0.5, else 0
 *     probabilities FP32  [N, 2]           columns P(class 0), P(class 1)
 *
 * The graph, all float32 and built from default-domain ops (opset 17):
 *
 *     centered = Sub(float_input, mean)          ┐ only with a standardizer;
 *     scaled   = Div(centered, scale)            ┘ scale = std, or 1 where std is 0
 *     score    = Add(MatMul(scaled, coef), intercept)        [N, 1]
 *     p1       = Div(1, Add(1, Exp(Neg(score))))              [N, 1]  σ(score)
 *     p0       = Div(1, Add(1, Exp(score)))                   [N, 1]  σ(−score)
 *     probabilities = Concat(p0, p1, axis=1)                  [N, 2]
 *     label    = Reshape(Cast<int64>(GreaterOrEqual(p1, 0.5)), [-1])   [N]
 *
 * The logistic function is spelled out with Exp rather than using the Sigmoid op: ONNX
 * Runtime's CPU Sigmoid is a polynomial approximation accurate only in absolute terms, which
 * gives relative errors of 1e-3 and worse on small probabilities. Computing P(0) from its own
 * Exp (instead of 1 − P(1)) keeps it accurate to float32 precision when P(1) is close to 1.
 * At score 0 both are exactly 0.5, so the label is 1 there, matching `p >= 0.5`.
 */
import { attr, buildOnnxModel, ONNX_DATA_TYPE, tensorInfo } from "./builder.js";
import type { InitializerSpec, NodeSpec } from "./builder.js";

export interface ExportLogisticRegressionOptions {
  /** One weight per feature, in input column order (the model was fitted on standardised data
   * when `standardizer` is given). */
  readonly weights: Float64Array;
  readonly bias: number;
  /** Feature names in column order; recorded in the model metadata as `feature_names` (JSON). */
  readonly featureNames?: readonly string[];
  /** Per-feature mean and standard deviation the training data was standardised with; the
   * model then applies (x − mean) / std itself (a std of 0 divides by 1). */
  readonly standardizer?: { readonly mean: Float64Array; readonly std: Float64Array };
}

export const LOGISTIC_REGRESSION_INPUT = "float_input";
export const LOGISTIC_REGRESSION_OUTPUTS = ["label", "probabilities"] as const;

function checkFinite(what: string, values: ArrayLike<number>): void {
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as number;
    if (!Number.isFinite(v)) throw new RangeError(`exportLogisticRegression: ${what}[${i}] is ${v}; must be finite`);
  }
}

/** Encode a binary logistic regression as the bytes of an .onnx model (see the module doc). */
export function exportLogisticRegression(options: ExportLogisticRegressionOptions): Uint8Array {
  const { weights, bias, featureNames, standardizer } = options;
  const d = weights.length;
  if (d === 0) throw new RangeError("exportLogisticRegression: the model has no weights");
  checkFinite("weights", weights);
  if (!Number.isFinite(bias)) throw new RangeError(`exportLogisticRegression: bias is ${bias}; must be finite`);
  if (featureNames !== undefined) {
    if (featureNames.length !== d) {
      throw new RangeError(
        `exportLogisticRegression: ${featureNames.length} feature names for ${d} weights`,
      );
    }
    if (new Set(featureNames).size !== d) {
      throw new RangeError("exportLogisticRegression: feature names must be unique");
    }
  }

  const initializers: InitializerSpec[] = [];
  const nodes: NodeSpec[] = [];
  let features = LOGISTIC_REGRESSION_INPUT;

  if (standardizer !== undefined) {
    const { mean, std } = standardizer;
    if (mean.length !== d || std.length !== d) {
      throw new RangeError(
        `exportLogisticRegression: standardizer has ${mean.length} means and ${std.length} ` +
          `standard deviations for ${d} weights`,
      );
    }
    checkFinite("standardizer.mean", mean);
    checkFinite("standardizer.std", std);
    const scale = new Float32Array(d);
    for (let j = 0; j < d; j++) {
      const s = std[j] as number;
      if (s < 0) throw new RangeError(`exportLogisticRegression: standardizer.std[${j}] is negative (${s})`);
      scale[j] = s === 0 ? 1 : s;
    }
    initializers.push(
      { name: "scaler_mean", dtype: "float32", dims: [d], values: Float32Array.from(mean) },
      { name: "scaler_scale", dtype: "float32", dims: [d], values: scale },
    );
    nodes.push(
      { name: "Scaler_Sub", opType: "Sub", inputs: [features, "scaler_mean"], outputs: ["centered"] },
      { name: "Scaler_Div", opType: "Div", inputs: ["centered", "scaler_scale"], outputs: ["scaled"] },
    );
    features = "scaled";
  }

  initializers.push(
    { name: "coef", dtype: "float32", dims: [d, 1], values: Float32Array.from(weights) },
    { name: "intercept", dtype: "float32", dims: [1], values: [bias] },
    { name: "one", dtype: "float32", dims: [], values: [1] },
    { name: "threshold", dtype: "float32", dims: [], values: [0.5] },
    { name: "label_shape", dtype: "int64", dims: [1], values: [-1] },
  );
  nodes.push(
    { name: "Linear_MatMul", opType: "MatMul", inputs: [features, "coef"], outputs: ["linear"] },
    { name: "Linear_Add", opType: "Add", inputs: ["linear", "intercept"], outputs: ["score"] },
    // P(1) = 1 / (1 + exp(-score)) and P(0) = 1 / (1 + exp(score)), each from its own Exp.
    { name: "Positive_Neg", opType: "Neg", inputs: ["score"], outputs: ["neg_score"] },
    { name: "Positive_Exp", opType: "Exp", inputs: ["neg_score"], outputs: ["exp_neg_score"] },
    { name: "Positive_Add", opType: "Add", inputs: ["one", "exp_neg_score"], outputs: ["denom_p1"] },
    { name: "Positive_Div", opType: "Div", inputs: ["one", "denom_p1"], outputs: ["p1"] },
    { name: "Negative_Exp", opType: "Exp", inputs: ["score"], outputs: ["exp_score"] },
    { name: "Negative_Add", opType: "Add", inputs: ["one", "exp_score"], outputs: ["denom_p0"] },
    { name: "Negative_Div", opType: "Div", inputs: ["one", "denom_p0"], outputs: ["p0"] },
    {
      name: "Probabilities_Concat",
      opType: "Concat",
      inputs: ["p0", "p1"],
      outputs: ["probabilities"],
      attributes: { axis: attr.int(1) },
    },
    {
      name: "Label_GreaterOrEqual",
      opType: "GreaterOrEqual",
      inputs: ["p1", "threshold"],
      outputs: ["is_positive"],
    },
    {
      name: "Label_Cast",
      opType: "Cast",
      inputs: ["is_positive"],
      outputs: ["label_column"],
      attributes: { to: attr.int(ONNX_DATA_TYPE.int64) },
    },
    { name: "Label_Reshape", opType: "Reshape", inputs: ["label_column", "label_shape"], outputs: ["label"] },
  );

  const metadata: Record<string, string> = { model_type: "binary_logistic_regression" };
  if (featureNames !== undefined) metadata["feature_names"] = JSON.stringify(featureNames);

  return buildOnnxModel({
    docString: "Binary logistic regression exported by flywheel",
    metadata,
    graph: {
      name: "flywheel_logistic_regression",
      nodes,
      initializers,
      inputs: [tensorInfo(LOGISTIC_REGRESSION_INPUT, "float32", ["N", d])],
      outputs: [tensorInfo("label", "int64", ["N"]), tensorInfo("probabilities", "float32", ["N", 2])],
    },
  });
}
