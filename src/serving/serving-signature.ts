/**
 * The tensors a model is served with: the package's declared signature when it describes the
 * graph's inputs (or outputs) one for one, else what the ONNX graph itself says.
 */
import type { InferenceSession } from "onnxruntime-node";
import type { Signature, SignatureSpec } from "../models/signature.js";
import { tensorDtypeOf } from "../models/signature.js";
import type { TensorDtype } from "../onnx/inspect.js";
import { datatypeOf, type ServingSignature, type ServingTensorSpec } from "./tensors.js";

function graphSpecs(names: readonly string[], metadata: readonly InferenceSession.ValueMetadata[], role: string): ServingTensorSpec[] {
  const byName = new Map(metadata.map((m) => [m.name, m]));
  return names.map((name) => {
    const m = byName.get(name);
    if (m === undefined || !m.isTensor) throw new Error(`${role} '${name}' is not a tensor; only tensor models can be served`);
    const dtype = tensorDtypeOf(m.type);
    if (dtype === undefined) throw new Error(`${role} '${name}' has element type ${m.type}, which cannot be served`);
    return { name, datatype: datatypeOf(dtype), shape: m.shape.map((d) => (typeof d === "number" && Number.isInteger(d) && d >= 0 ? d : -1)) };
  });
}

/**
 * The package's declared tensors when they describe the graph's inputs (or outputs) one for one;
 * otherwise (no signature, a column signature, other names) what the graph says.
 */
function declaredOr(declared: SignatureSpec[] | undefined, graph: ServingTensorSpec[]): ServingTensorSpec[] {
  if (declared === undefined || declared.length !== graph.length) return graph;
  const out: ServingTensorSpec[] = [];
  for (const s of declared) {
    if (s.type !== "tensor") return graph;
    const name = s.name ?? (declared.length === 1 ? graph[0]?.name : undefined);
    const dtype: TensorDtype | undefined = tensorDtypeOf(s.dtype);
    const g = graph.find((x) => x.name === name);
    if (name === undefined || dtype === undefined || g === undefined) return graph;
    out.push({ name, datatype: datatypeOf(dtype), shape: [...s.shape] });
  }
  return out;
}

export function servingSignature(declared: Signature | undefined, session: Pick<InferenceSession, "inputNames" | "outputNames" | "inputMetadata" | "outputMetadata">): ServingSignature {
  return {
    inputs: declaredOr(declared?.inputs, graphSpecs(session.inputNames, session.inputMetadata, "input")),
    outputs: declaredOr(declared?.outputs, graphSpecs(session.outputNames, session.outputMetadata, "output")),
  };
}
