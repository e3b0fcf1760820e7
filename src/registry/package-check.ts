/**
 * The registration check of a model version: the package at its source has an MLmodel with an
 * onnx flavor, the ONNX file loads in ONNX Runtime, and the declared signature agrees with the
 * graph. The outcome becomes the version's status (READY or FAILED_REGISTRATION) and message.
 */
import { parse as parseYaml } from "yaml";
import { isFlywheelError } from "../core/errors.js";
import { checkPackage } from "../models/check.js";
import type { FlywheelModelMetadata } from "../models/metadata.js";
import { readArtifact, type ArtifactStore } from "../storage/artifacts/artifact-store.js";
import { joinKey, safeRelativePath } from "../storage/artifacts/safe-path.js";
import type { VersionStatus } from "../storage/metadata/registry-store.js";
import type { DeclaredFeatureCheck } from "./feature-check.js";

function failed(message: string): { status: VersionStatus; message: string } {
  return { status: "FAILED_REGISTRATION", message };
}

/**
 * The registration check, with the declared features also checked against the feature store's
 * applied definitions when `declaredFeatures` is given.
 */
export function storedPackageChecker(declaredFeatures?: DeclaredFeatureCheck) {
  return async (store: ArtifactStore, key: string): Promise<{ status: VersionStatus; message: string }> => {
    const checked = await checkStoredPackageFiles(store, key);
    if (checked.status !== "READY" || declaredFeatures === undefined || checked.flywheel === undefined) {
      return { status: checked.status, message: checked.message };
    }
    const reason = await declaredFeatures(checked.flywheel);
    return reason === undefined ? { status: "READY", message: "" } : failed(reason);
  };
}

/** The registration check of the package files alone. */
export async function checkStoredPackage(store: ArtifactStore, key: string): Promise<{ status: VersionStatus; message: string }> {
  const { status, message } = await checkStoredPackageFiles(store, key);
  return { status, message };
}

async function checkStoredPackageFiles(
  store: ArtifactStore,
  key: string,
): Promise<{ status: VersionStatus; message: string; flywheel?: FlywheelModelMetadata }> {
  const entry = await store.stat(key);
  if (entry === undefined) return failed(`no model package at the source: nothing stored at '${key}'`);
  if (!entry.isDir) return failed(`the source names a file, not a model package directory ('${key}')`);
  const mlmodelEntry = await store.stat(joinKey(key, "MLmodel"));
  if (mlmodelEntry === undefined || mlmodelEntry.isDir) return failed("the package has no MLmodel file");
  const mlmodel = (await readArtifact(store, joinKey(key, "MLmodel"))).toString("utf8");
  let data: unknown;
  try {
    data = (parseYaml(mlmodel) as { flavors?: { onnx?: { data?: unknown } } } | null)?.flavors?.onnx?.data;
  } catch (e) {
    return failed(`MLmodel is not valid YAML: ${(e as Error).message}`);
  }
  let onnx: Uint8Array | undefined;
  if (typeof data === "string") {
    let dataKey: string;
    try {
      dataKey = joinKey(key, safeRelativePath(data));
    } catch (e) {
      return failed(`MLmodel flavors.onnx.data is not a safe relative path: ${isFlywheelError(e) ? e.message : String(e)}`);
    }
    const dataEntry = await store.stat(dataKey);
    if (dataEntry === undefined || dataEntry.isDir) return failed(`the ONNX file '${data}' named by MLmodel flavors.onnx.data is missing`);
    onnx = await readArtifact(store, dataKey);
  }
  const result = await checkPackage({ mlmodel, onnx });
  if (!result.ok) return failed(result.reason);
  return result.package.flywheel === undefined ? { status: "READY", message: "" } : { status: "READY", message: "", flywheel: result.package.flywheel };
}
