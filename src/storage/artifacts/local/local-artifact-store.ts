/**
 * ArtifactStore on a local directory. Writes stream into a temporary file beside the target and
 * are renamed into place, so a reader never sees half an object. Every path is re-checked after
 * resolving symlinks, so nothing outside the root is read, written or deleted.
 */
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, readdir, realpath, rename, rm, stat, unlink } from "node:fs/promises";
import { dirname, isAbsolute, join, relative, resolve, sep } from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { randomToken } from "../../../core/ids.js";
import { FlywheelError } from "../../../core/errors.js";
import type { ArtifactEntry, ArtifactStore } from "../artifact-store.js";
import { safeRelativePath } from "../safe-path.js";

// ';' can never appear in a key (safeRelativePath refuses it), so temporary names never collide.
const TMP_MARK = ";partial-";

function notFound(key: string): FlywheelError {
  return new FlywheelError("FW_ARTIFACT_NOT_FOUND", `No artifact at '${key}'`);
}

export class LocalArtifactStore implements ArtifactStore {
  readonly scheme = "file";
  private realRoot: string | undefined;

  constructor(readonly root: string) {}

  private async rootReal(): Promise<string> {
    if (this.realRoot === undefined) {
      await mkdir(this.root, { recursive: true });
      this.realRoot = await realpath(this.root);
    }
    return this.realRoot;
  }

  /** Absolute path of a key; re-validates so a caller that skipped the check is still safe. */
  private async pathOf(key: string): Promise<string> {
    const clean = safeRelativePath(key);
    const root = await this.rootReal();
    return clean === "" ? root : join(root, ...clean.split("/"));
  }

  /** Throws unless `p` (after following symlinks as far as it exists) lies inside the root. */
  private async assertInside(p: string): Promise<void> {
    const root = await this.rootReal();
    let probe = p;
    for (;;) {
      try {
        const real = await realpath(probe);
        const rel = relative(root, real);
        if (rel === "" || (!rel.startsWith(`..${sep}`) && rel !== ".." && !rel.startsWith(sep))) return;
        throw new FlywheelError("FW_ARTIFACT_UNSAFE_PATH", `Invalid artifact path: resolves outside the artifact root`);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
        const parent = dirname(probe);
        if (parent === probe) return;
        probe = parent;
      }
    }
  }

  async put(key: string, body: Readable): Promise<{ size: number }> {
    // The body may fail (a client hanging up) while we are still checking paths; hold the
    // error so it is reported here rather than crashing the process as an unhandled event.
    let early: unknown;
    const hold = (e: unknown) => {
      early ??= e;
    };
    body.on("error", hold);
    try {
      return await this.write(key, body, () => early);
    } finally {
      body.off("error", hold);
    }
  }

  private async write(key: string, body: Readable, failed: () => unknown): Promise<{ size: number }> {
    const target = await this.pathOf(key);
    if (target === (await this.rootReal())) throw new FlywheelError("FW_ARTIFACT_IS_DIRECTORY", "Cannot write to the artifact root itself");
    await this.assertInside(target);
    const existing = await stat(target).catch(() => undefined);
    if (existing?.isDirectory() === true) {
      throw new FlywheelError("FW_ARTIFACT_IS_DIRECTORY", `'${key}' is a directory of artifacts`);
    }
    try {
      await mkdir(dirname(target), { recursive: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOTDIR" || (e as NodeJS.ErrnoException).code === "EEXIST") {
        throw new FlywheelError("FW_ARTIFACT_IS_DIRECTORY", `A parent of '${key}' is a file, not a directory`);
      }
      throw e;
    }
    await this.assertInside(dirname(target));
    if (failed() !== undefined) throw failed();
    const tmp = `${target}${TMP_MARK}${randomToken(6)}`;
    let size = 0;
    try {
      const out = createWriteStream(tmp, { flags: "wx" });
      body.on("data", (chunk: Buffer) => {
        size += chunk.length;
      });
      await pipeline(body, out);
      await rename(tmp, target);
    } catch (e) {
      await unlink(tmp).catch(() => undefined);
      throw e;
    }
    return { size };
  }

  async get(key: string): Promise<{ stream: Readable; size: number }> {
    const p = await this.pathOf(key);
    await this.assertInside(p);
    const st = await stat(p).catch(() => undefined);
    if (st === undefined) throw notFound(key);
    if (st.isDirectory()) throw new FlywheelError("FW_ARTIFACT_IS_DIRECTORY", `'${key}' is a directory; list it instead`);
    return { stream: createReadStream(p), size: st.size };
  }

  async stat(key: string): Promise<ArtifactEntry | undefined> {
    const p = await this.pathOf(key);
    await this.assertInside(p);
    const st = await stat(p).catch(() => undefined);
    if (st === undefined) return undefined;
    const clean = safeRelativePath(key);
    return st.isDirectory() ? { path: clean, isDir: true } : { path: clean, isDir: false, size: st.size };
  }

  async list(prefix: string): Promise<ArtifactEntry[]> {
    const clean = safeRelativePath(prefix);
    const dir = await this.pathOf(clean);
    await this.assertInside(dir);
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "ENOENT" || code === "ENOTDIR") return [];
      throw e;
    }
    const out: ArtifactEntry[] = [];
    for (const name of names.sort()) {
      if (name.includes(TMP_MARK)) continue;
      const st = await stat(join(dir, name)).catch(() => undefined);
      if (st === undefined) continue;
      const path = clean === "" ? name : `${clean}/${name}`;
      out.push(st.isDirectory() ? { path, isDir: true } : { path, isDir: false, size: st.size });
    }
    return out;
  }

  async delete(key: string): Promise<void> {
    const p = await this.pathOf(key);
    if (p === (await this.rootReal())) throw new FlywheelError("FW_ARTIFACT_UNSAFE_PATH", "Refusing to delete the artifact root");
    await this.assertInside(p);
    const st = await stat(p).catch(() => undefined);
    if (st === undefined) throw notFound(key);
    await rm(p, { recursive: true, force: true });
  }

  async close(): Promise<void> {}

  keyOfLocalPath(path: string): string | undefined {
    const rel = relative(resolve(this.root), resolve(path));
    if (rel === "" || rel === ".." || rel.startsWith(`..${sep}`) || isAbsolute(rel)) return undefined;
    try {
      return safeRelativePath(rel.split(sep).join("/"));
    } catch {
      return undefined;
    }
  }
}
