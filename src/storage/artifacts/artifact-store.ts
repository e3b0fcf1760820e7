/**
 * The ArtifactStore port. Keys are normalized relative paths (`a/b/c`, checked by
 * safeRelativePath); nothing here assumes a filesystem, so an object store can implement it.
 */
import type { Readable } from "node:stream";

export interface ArtifactEntry {
  /** Key of the entry, relative to the store root. */
  path: string;
  isDir: boolean;
  /** Size in bytes for files. */
  size?: number;
}

export interface ArtifactStore {
  readonly scheme: string;
  /** Writes a whole object from a stream; readers see the old object or the new one, never a part. */
  put(key: string, body: Readable): Promise<{ size: number }>;
  /** Opens an object for reading; FW_ARTIFACT_NOT_FOUND when absent, FW_ARTIFACT_IS_DIRECTORY for a prefix. */
  get(key: string): Promise<{ stream: Readable; size: number }>;
  stat(key: string): Promise<ArtifactEntry | undefined>;
  /** Direct children of a prefix ("" is the root), sorted by path; empty when absent. */
  list(prefix: string): Promise<ArtifactEntry[]>;
  /** Deletes an object or everything under a prefix; FW_ARTIFACT_NOT_FOUND when neither exists. */
  delete(key: string): Promise<void>;
  close(): Promise<void>;
  /**
   * Optional capability of stores on a local filesystem: the key of an absolute local path,
   * or undefined when the path is outside the store's root.
   */
  keyOfLocalPath?(path: string): string | undefined;
}

/** A whole object's bytes (for small ones: an MLmodel file, an ONNX graph). */
export async function readArtifact(store: ArtifactStore, key: string): Promise<Buffer> {
  const { stream } = await store.get(key);
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(typeof c === "string" ? Buffer.from(c) : (c as Buffer));
  return Buffer.concat(chunks);
}
