import { existsSync, readdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PassThrough, Readable } from "node:stream";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { tempDir } from "../../../../test/helpers/backends.js";
import { FlywheelError } from "../../../core/errors.js";
import { LocalArtifactStore } from "./local-artifact-store.js";

async function text(r: Readable): Promise<string> {
  let s = "";
  for await (const c of r) s += String(c);
  return s;
}

function code(e: unknown): string | undefined {
  return e instanceof FlywheelError ? e.code : undefined;
}

describe("LocalArtifactStore", () => {
  let dir: { path: string; remove(): void };
  let store: LocalArtifactStore;
  beforeEach(() => {
    dir = tempDir("flywheel-artifacts-");
    store = new LocalArtifactStore(join(dir.path, "root"));
  });
  afterEach(() => dir.remove());

  test("put, get, stat, list and delete", async () => {
    expect(await store.put("a/b/c.txt", Readable.from(["hello ", "world"]))).toEqual({ size: 11 });
    await store.put("a/d.bin", Readable.from([Buffer.from([1, 2, 3])]));
    const got = await store.get("a/b/c.txt");
    expect(got.size).toBe(11);
    expect(await text(got.stream)).toBe("hello world");
    expect(await store.stat("a")).toEqual({ path: "a", isDir: true });
    expect(await store.stat("a/d.bin")).toEqual({ path: "a/d.bin", isDir: false, size: 3 });
    expect(await store.list("a")).toEqual([
      { path: "a/b", isDir: true },
      { path: "a/d.bin", isDir: false, size: 3 },
    ]);
    expect(await store.list("")).toEqual([{ path: "a", isDir: true }]);
    expect(await store.list("missing")).toEqual([]);
    await store.delete("a/b");
    expect(await store.stat("a/b")).toBeUndefined();
    expect(code(await store.delete("a/b").catch((e: unknown) => e))).toBe("FW_ARTIFACT_NOT_FOUND");
    expect(code(await store.get("nope").catch((e: unknown) => e))).toBe("FW_ARTIFACT_NOT_FOUND");
    expect(code(await store.get("a").catch((e: unknown) => e))).toBe("FW_ARTIFACT_IS_DIRECTORY");
  });

  test("a write in progress is invisible, and replaces the old object only when complete", async () => {
    await store.put("m.txt", Readable.from(["old"]));
    const body = new PassThrough();
    const writing = store.put("m.txt", body);
    body.write("new-part-1 ");
    await new Promise((r) => setTimeout(r, 20));
    expect(await text((await store.get("m.txt")).stream)).toBe("old");
    expect((await store.list("")).map((e) => e.path)).toEqual(["m.txt"]);
    body.end("new-part-2");
    await writing;
    expect(await text((await store.get("m.txt")).stream)).toBe("new-part-1 new-part-2");
  });

  test("a failed upload leaves the old object and no temporary file", async () => {
    await store.put("f.txt", Readable.from(["keep"]));
    const body = new PassThrough();
    const writing = store.put("f.txt", body);
    body.write("partial");
    body.destroy(new Error("client went away"));
    await expect(writing).rejects.toThrow(/client went away/);
    expect(await text((await store.get("f.txt")).stream)).toBe("keep");
    expect(readdirSync(join(dir.path, "root"))).toEqual(["f.txt"]);
  });

  test("unsafe keys are refused before touching the disk", async () => {
    for (const key of ["../x", "a/../../x", "/etc/passwd", "a\\b", "a;b", "a#b", "%2e%2e/x", "C:/x", "a\u0000b"]) {
      expect(code(await store.put(key, Readable.from(["x"])).catch((e: unknown) => e)), key).toBe("FW_ARTIFACT_UNSAFE_PATH");
      expect(code(await store.get(key).catch((e: unknown) => e)), key).toBe("FW_ARTIFACT_UNSAFE_PATH");
      expect(code(await store.delete(key).catch((e: unknown) => e)), key).toBe("FW_ARTIFACT_UNSAFE_PATH");
    }
    expect(existsSync(join(dir.path, "x"))).toBe(false);
  });

  test("a symlink inside the root cannot lead outside it", async () => {
    writeFileSync(join(dir.path, "outside.txt"), "secret");
    await store.put("inside.txt", Readable.from(["x"]));
    symlinkSync(dir.path, join(dir.path, "root", "escape"));
    expect(code(await store.get("escape/outside.txt").catch((e: unknown) => e))).toBe("FW_ARTIFACT_UNSAFE_PATH");
    expect(code(await store.put("escape/new.txt", Readable.from(["x"])).catch((e: unknown) => e))).toBe("FW_ARTIFACT_UNSAFE_PATH");
    expect(code(await store.delete("escape/outside.txt").catch((e: unknown) => e))).toBe("FW_ARTIFACT_UNSAFE_PATH");
    expect(existsSync(join(dir.path, "outside.txt"))).toBe(true);
    expect(existsSync(join(dir.path, "new.txt"))).toBe(false);
  });
});
