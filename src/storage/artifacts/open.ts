/** Opens the artifact store a URI names: `file:` (or a plain directory path). */
import { isAbsolute, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { UriRegistry } from "../../core/uri-registry.js";
import type { ArtifactStore } from "./artifact-store.js";

const registry = new UriRegistry<ArtifactStore>("artifact store").register("file", async (uri) => {
  const { LocalArtifactStore } = await import("./local/local-artifact-store.js");
  return new LocalArtifactStore(fileURLToPath(uri));
});

/** `file:///abs/dir`, or a bare path (relative to the working directory). */
export function openArtifactStore(uriOrPath: string): Promise<ArtifactStore> {
  if (isAbsolute(uriOrPath) || !/^[a-zA-Z][a-zA-Z0-9+.-]+:/.test(uriOrPath)) {
    return registry.open(pathToFileURL(resolve(uriOrPath)).href, {});
  }
  return registry.open(uriOrPath, {});
}

export const ARTIFACT_SCHEMES = registry.schemes();
