/**
 * Inference-log rows reported durable survive SIGKILL: clients stream V2 requests at a real
 * `flywheel server` process, which is killed mid-stream; a torn line is then appended to its
 * segment, as a write cut short would leave it. After a restart on the same data directory every
 * row counted in `flywheel_inference_log_records_written_total` before the kill is there, each
 * client's logged requests are a prefix of what it sent (the log is written in order), the torn
 * line is skipped, and nothing is duplicated, before and after the dead writer's segment is
 * rolled into Parquet. Runs the built CLI (`npm test` builds first).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { appendFileSync, existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { tempDir } from "../helpers/backends.js";
import { IRIS_ONNX, irisMlmodel, uploadToRun } from "../helpers/model-package.js";

const CLI = new URL("../../dist/src/cli/main.js", import.meta.url).pathname;
const CLIENTS = 4;
const API = "/api/2.0/mlflow";
const ROW = [5.1, 3.5, 1.4, 0.2];

function startServer(dataDir: string): Promise<{ child: ChildProcess; url: string }> {
  const args = [CLI, "server", "--port", "0", "--data-dir", dataDir, "--log-level", "warn"];
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, FLYWHEEL_CONFIG: `${dataDir}/none.yaml` } });
  return new Promise((resolve, reject) => {
    let out = "";
    let err = "";
    const timer = setTimeout(() => reject(new Error(`server did not start: ${out}${err}`)), 20_000);
    child.stderr?.on("data", (d: Buffer) => (err += d.toString()));
    child.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m?.[1] !== undefined) {
        clearTimeout(timer);
        resolve({ child, url: m[1] });
      }
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}: ${err}`));
    });
  });
}

async function call(url: string, method: string, path: string, body?: unknown): Promise<any> {
  const res = await fetch(`${url}${path}`, { method, ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { "content-type": "application/json" } }) });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return JSON.parse(text);
}

async function writtenTotal(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Number(/^flywheel_inference_log_records_written_total (\d+)/m.exec(text)?.[1] ?? 0);
}

async function loggedIds(url: string): Promise<string[]> {
  const body = await call(url, "GET", "/api/v1/inference-log?model=iris&limit=10000");
  return (body.records as { request_id: string; row: number }[]).map((r) => `${r.request_id}/${r.row}`);
}

describe("inference log durability under SIGKILL", () => {
  const dir = tempDir("flywheel-ilog-kill-");
  let child: ChildProcess | undefined;
  afterAll(() => {
    child?.kill("SIGKILL");
    dir.remove();
  });

  test("rows counted as written before a SIGKILL survive it, in order, once; a torn tail is skipped", async () => {
    expect(existsSync(CLI), `${CLI} is missing: run \`npm run build\` (npm test does)`).toBe(true);
    const first = await startServer(dir.path);
    child = first.child;
    const exp = await call(first.url, "POST", `${API}/experiments/create`, { name: "kill" });
    const run = await call(first.url, "POST", `${API}/runs/create`, { experiment_id: exp.experiment_id });
    await uploadToRun(first.url, run.run.info.artifact_uri, { "model/MLmodel": irisMlmodel(), "model/model.onnx": IRIS_ONNX });
    await call(first.url, "POST", `${API}/registered-models/create`, { name: "iris" });
    await call(first.url, "POST", `${API}/model-versions/create`, { name: "iris", source: `${run.run.info.artifact_uri}/model`, run_id: run.run.info.run_id });

    const sent: number[] = Array.from({ length: CLIENTS }, () => 0);
    let answered = 0;
    let stop = false;
    const clients = Array.from({ length: CLIENTS }, async (_, c) => {
      for (let j = 0; !stop; j++) {
        sent[c] = j + 1;
        try {
          const res = await fetch(`${first.url}/v2/models/iris/infer`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ id: `c${c}-${j}`, inputs: [{ name: "float_input", datatype: "FP32", shape: [1, 4], data: ROW }] }),
          });
          if (res.status !== 200) throw new Error(`status ${res.status}`);
          await res.arrayBuffer();
          answered++;
        } catch {
          return;
        }
      }
    });
    // Let requests stream, read what the log reports durable, and kill the server without warning.
    while (answered < 400) await new Promise((r) => setTimeout(r, 10));
    const durable = await writtenTotal(first.url);
    first.child.kill("SIGKILL");
    await new Promise((r) => first.child.once("exit", r));
    stop = true;
    await Promise.all(clients);
    expect(durable).toBeGreaterThan(0);

    // A write cut short leaves half a line at the end of the segment.
    const segments = join(dir.path, "inference-log", "segments");
    const [segment] = readdirSync(segments).filter((f) => f.endsWith(".ndjson"));
    expect(segment).toBeDefined();
    appendFileSync(join(segments, segment as string), '{"request_id":"torn","row":0,"ts":"20');

    const second = await startServer(dir.path);
    child = second.child;
    const check = (ids: string[]) => {
      expect(new Set(ids).size, "no row twice").toBe(ids.length);
      expect(ids.length).toBeGreaterThanOrEqual(durable);
      for (let c = 0; c < CLIENTS; c++) {
        const mine = ids.filter((id) => id.startsWith(`c${c}-`)).map((id) => Number(id.slice(`c${c}-`.length, -"/0".length)));
        const n = mine.length;
        // In order: a client's request j+1 was logged after its request j.
        expect(mine.sort((a, b) => a - b), `client ${c}`).toEqual(Array.from({ length: n }, (_, j) => j));
        expect(n).toBeLessThanOrEqual(sent[c] as number);
      }
    };
    const afterRestart = await loggedIds(second.url);
    check(afterRestart);
    // The dead writer's segment is rolled into Parquet (at start, in the background; again at shutdown).
    const stopped = new Promise((r) => second.child.once("exit", r));
    second.child.kill("SIGTERM");
    await stopped;
    expect(readdirSync(segments).filter((f) => f.endsWith(".ndjson"))).toEqual([]);
    const third = await startServer(dir.path);
    child = third.child;
    const afterRoll = await loggedIds(third.url);
    check(afterRoll);
    expect(afterRoll.sort()).toEqual(afterRestart.sort());
    third.child.kill("SIGTERM");
    await new Promise((r) => third.child.once("exit", r));
    child = undefined;
  });
});
