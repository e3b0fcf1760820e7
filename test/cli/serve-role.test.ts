/**
 * `flywheel serve` runs the serving role alone: a second, stateless process over the same
 * metadata and artifact stores answers inference (and follows alias moves made elsewhere) but
 * serves none of the tracking or registry APIs. Runs the built CLI (`npm test` builds first).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { metadataBackends, tempDir, titleOf } from "../helpers/backends.js";
import { IRIS_ONNX, irisMlmodel, uploadToRun } from "../helpers/model-package.js";

const CLI = new URL("../../dist/src/cli/main.js", import.meta.url).pathname;

function start(command: "server" | "serve", dataDir: string, metadataUri: string, extra: string[] = []): Promise<{ child: ChildProcess; url: string }> {
  const args = [CLI, command, "--port", "0", "--data-dir", dataDir, "--metadata-uri", metadataUri, "--artifacts-uri", join(dataDir, "artifacts"), "--log-level", "warn", ...extra];
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, FLYWHEEL_CONFIG: join(dataDir, "none.yaml") } });
  return new Promise((resolve, reject) => {
    let out = "";
    let err = "";
    child.stderr?.on("data", (d: Buffer) => (err += d.toString()));
    child.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m?.[1] !== undefined) resolve({ child, url: m[1] });
    });
    child.on("exit", (code) => reject(new Error(`${command} exited with ${code}: ${err}`)));
  });
}

async function json(url: string, method = "GET", body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(url, { method, headers: { "content-type": "application/json" }, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  return { status: res.status, json: await res.json() };
}

for (const backend of metadataBackends) {
  describe.skipIf(backend.skip !== undefined)(`flywheel serve on ${titleOf(backend)}`, () => {
    const dir = tempDir("flywheel-serve-");
    const children: ChildProcess[] = [];
    let db: { uri: string; drop(): Promise<void> } | undefined;
    afterAll(async () => {
      for (const c of children) c.kill("SIGTERM");
      await Promise.all(children.map((c) => new Promise((r) => (c.exitCode !== null ? r(undefined) : c.once("exit", r)))));
      await db?.drop();
      dir.remove();
    });

    test("a stateless replica serves registered versions and follows alias moves", async () => {
      expect(existsSync(CLI), `${CLI} is missing: run \`npm run build\` (npm test does)`).toBe(true);
      db = await backend.create();
      const main = await start("server", dir.path, db.uri);
      children.push(main.child);
      const api = `${main.url}/api/2.0/mlflow`;
      const run = (await json(`${api}/runs/create`, "POST", { experiment_id: "0" })).json.run.info;
      await uploadToRun(main.url, run.artifact_uri, { "model/MLmodel": irisMlmodel(), "model/model.onnx": IRIS_ONNX });
      await json(`${api}/registered-models/create`, "POST", { name: "iris" });
      for (let i = 0; i < 2; i++) await json(`${api}/model-versions/create`, "POST", { name: "iris", source: `${run.artifact_uri}/model`, run_id: run.run_id });
      await json(`${api}/registered-models/alias`, "POST", { name: "iris", alias: "live", version: "1" });

      const replica = await start("serve", dir.path, db.uri);
      children.push(replica.child);
      const infer = (model: string) =>
        json(`${replica.url}/v2/models/${model}/infer`, "POST", { inputs: [{ name: "float_input", datatype: "FP32", shape: [1, 4], data: [5.1, 3.5, 1.4, 0.2] }] });
      const first = await infer("iris@live");
      expect(first.status).toBe(200);
      expect(first.json).toMatchObject({ model_name: "iris", model_version: "1" });
      expect(first.json.outputs.find((o: any) => o.name === "label").data).toEqual([0]);

      // A move made by another process reaches the replica within its revision reuse time (1 s);
      // until then the replica answers with the version it had, never with an error.
      const moved = performance.now();
      await json(`${api}/registered-models/alias`, "POST", { name: "iris", alias: "live", version: "2" });
      let seen: { status: number; json: any };
      for (;;) {
        seen = await infer("iris@live");
        expect(seen.status).toBe(200);
        if (seen.json.model_version === "2" || performance.now() - moved > 5000) break;
        expect(seen.json.model_version).toBe("1");
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(seen.json.model_version).toBe("2");
      expect(performance.now() - moved).toBeLessThan(2500);

      expect((await json(`${replica.url}/v2/health/ready`)).status).toBe(200);
      expect((await json(`${replica.url}/ready`)).status).toBe(200);
      expect((await json(`${replica.url}/api/2.0/mlflow/experiments/search`, "POST", {})).status).toBe(404);
      expect((await json(`${replica.url}/api/v1/audit`)).status).toBe(404);

      // Several worker processes share one port; all of them answer, and SIGTERM stops them all.
      const pool = await start("serve", dir.path, db.uri, ["--workers", "2"]);
      const answers = await Promise.all(
        Array.from({ length: 20 }, () =>
          json(`${pool.url}/v2/models/iris@live/infer`, "POST", { inputs: [{ name: "float_input", datatype: "FP32", shape: [1, 4], data: [5.1, 3.5, 1.4, 0.2] }] }),
        ),
      );
      expect(answers.map((a) => a.status)).toEqual(Array(20).fill(200));
      const exited = new Promise<number | null>((r) => pool.child.once("exit", (code) => r(code)));
      pool.child.kill("SIGTERM");
      expect(await exited).toBe(0);
    });
  });
}
