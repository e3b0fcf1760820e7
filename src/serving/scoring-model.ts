/** A model package's ONNX graph loaded into ONNX Runtime for batch scoring, with what the package says about its columns. */
import { MLMODEL_FILE, onnxFlavorOf, parseMlmodel, type ModelPackage } from "../models/mlmodel.js";
import { readArtifact, type ArtifactStore } from "../storage/artifacts/artifact-store.js";
import { joinKey, safeRelativePath } from "../storage/artifacts/safe-path.js";
import { servingSignature } from "./serving-signature.js";
import type { RuntimeTensor, ServingSignature, TensorValue } from "./tensors.js";

/** A model loaded for batch scoring. */
export interface ScoringModel {
  name: string;
  version: string;
  signature: ServingSignature;
  /** The package's ordered feature list (`metadata.flywheel.features`). */
  features: readonly string[] | undefined;
  /** The package's class names, in the order of the probability columns. */
  classNames: readonly string[] | undefined;
  /** False when the package forbids NaN in float inputs (`metadata.flywheel.allow_nan: false`). */
  allowNan: boolean;
  run(feeds: Record<string, TensorValue>, outputs: readonly string[]): Promise<Record<string, RuntimeTensor>>;
  release(): Promise<void>;
}

/**
 * A registered version's package from the artifact store: its MLmodel and the ONNX graph its
 * onnx flavor names. `uri` is where the registry says the package is (`mlflow-artifacts:/<key>`).
 */
export async function readModelPackage(artifacts: ArtifactStore, uri: string): Promise<{ pkg: ModelPackage; onnx: Buffer }> {
  const key = safeRelativePath(uri.replace(/^mlflow-artifacts:\/*/, ""));
  const pkg = parseMlmodel((await readArtifact(artifacts, joinKey(key, MLMODEL_FILE))).toString("utf8"));
  return { pkg, onnx: await readArtifact(artifacts, joinKey(key, safeRelativePath(onnxFlavorOf(pkg).data))) };
}

/** Loads a model package's ONNX graph into ONNX Runtime. */
export async function openScoringModel(
  source: { name: string; version: string; package: ModelPackage; onnx: Uint8Array },
  options: { intraOpNumThreads?: number } = {},
): Promise<ScoringModel> {
  const what = `model '${source.name}' version ${source.version}`;
  const ort = await import("onnxruntime-node");
  let session: Awaited<ReturnType<typeof ort.InferenceSession.create>>;
  try {
    session = await ort.InferenceSession.create(source.onnx, {
      intraOpNumThreads: options.intraOpNumThreads ?? 1,
      interOpNumThreads: 1,
      executionMode: "sequential",
      graphOptimizationLevel: "all",
    });
  } catch (e) {
    throw new Error(`${what} could not be loaded by ONNX Runtime: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
  let signature: ServingSignature;
  try {
    signature = servingSignature(source.package.signature, session);
  } catch (e) {
    await session.release();
    throw new Error(`${what} cannot be scored: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
  return {
    name: source.name,
    version: source.version,
    signature,
    features: source.package.flywheel?.features,
    classNames: source.package.flywheel?.classNames,
    allowNan: source.package.flywheel?.allowNan !== false,
    async run(feeds, outputs) {
      const tensors: Record<string, InstanceType<typeof ort.Tensor>> = {};
      for (const [name, t] of Object.entries(feeds)) tensors[name] = new ort.Tensor(t.type, t.data, t.dims);
      return session.run(tensors, [...outputs]);
    },
    release: () => session.release(),
  };
}

