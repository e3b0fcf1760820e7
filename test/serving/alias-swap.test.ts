/**
 * An alias moved under load: concurrent clients call `name@champion` (JSON and binary requests)
 * while the alias is moved back and forth between two READY versions through the MLflow API.
 * No request may fail, both versions must answer, and a request that started after a move was
 * acknowledged (and ended before the next move began) must be answered by the version moved to.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { inferenceServiceOf } from "../../src/serving/inference-service.js";
import { IRIS_ONNX, irisMlmodel } from "../helpers/model-package.js";
import { binaryBody, fixture, splitAnswer, startServingServer, tensorBytes, tensorValues, type ServingServer } from "./serving-server.js";

const CLIENTS = 8;
/** Moves of the alias, one every MOVE_EVERY_MS while the clients run (about 2 s in all). */
const MOVES = 12;
const MOVE_EVERY_MS = 150;

interface Served {
  start: number;
  end: number;
  status: number;
  version: string | undefined;
  label: unknown;
  error?: string;
}

// With the second ONNX Runtime thread too (flywheel server's default): runs go to the thread's sessions.
for (const runtimeThread of [false, true]) describe(`alias swap under load${runtimeThread ? ", ONNX Runtime thread on" : ""}`, () => {
  let server: ServingServer;
  let versions: [string, string];
  const { expected: fx } = fixture("iris_logreg");
  const rows = fx.inputs.slice(0, 4);
  const labels = (fx.expected.label as number[]).slice(0, 4);

  beforeAll(async () => {
    server = await startServingServer({ runtimeThread });
    const a = await server.register("swap", IRIS_ONNX, irisMlmodel());
    const b = await server.register("swap", fixture("iris_logreg").onnx);
    expect([a.status, b.status]).toEqual(["READY", "READY"]);
    versions = [a.version, b.version];
    await server.setAlias("swap", "champion", a.version);
  });
  afterAll(async () => {
    await server?.close();
  });

  /** One request to swap@champion, as JSON or with binary tensors both ways. */
  const callOnce = async (binary: boolean): Promise<Served> => {
    const start = performance.now();
    try {
      let version: string | undefined;
      let label: unknown;
      let status: number;
      if (binary) {
        const bytes = tensorBytes("FP32", rows.flat());
        const { body, headers } = binaryBody(
          { inputs: [{ name: "float_input", shape: [4, 4], datatype: "FP32", parameters: { binary_data_size: bytes.length } }], outputs: [{ name: "label", parameters: { binary_data: true } }] },
          [bytes],
        );
        const res = await server.send("POST", "/v2/models/swap@champion/infer", body, headers);
        status = res.status;
        if (status === 200) {
          const { json, parts } = splitAnswer(res);
          version = json.model_version;
          label = tensorValues("INT64", parts.label as Buffer).map(Number);
        }
      } else {
        const res = await server.call("POST", "/v2/models/swap%40champion/infer", { inputs: [{ name: "float_input", shape: [4, 4], datatype: "FP32", data: rows }], outputs: [{ name: "label" }] });
        status = res.status;
        version = res.json?.model_version;
        label = res.json?.outputs?.[0]?.data;
      }
      return { start, end: performance.now(), status, version, label };
    } catch (e) {
      return { start, end: performance.now(), status: 0, version: undefined, label: undefined, error: String(e) };
    }
  };

  test(`${CLIENTS} clients while the alias moves ${MOVES} times, every ${MOVE_EVERY_MS} ms`, async () => {
    const served: Served[] = [];
    const moves: { start: number; acked: number; version: string }[] = [];
    const pause = () => new Promise((r) => setTimeout(r, MOVE_EVERY_MS));
    let done = false;
    const client = async (k: number) => {
      while (!done) served.push(await callOnce(k % 2 === 1));
    };
    const mover = async () => {
      for (let i = 0; i < MOVES; i++) {
        await pause();
        const version = versions[(i + 1) % 2] as string;
        const start = performance.now();
        await server.setAlias("swap", "champion", version);
        moves.push({ start, acked: performance.now(), version });
      }
      await pause();
      done = true;
    };
    await Promise.all([...Array.from({ length: CLIENTS }, (_, k) => client(k)), mover()]);

    expect(moves.map((m) => m.version)).toEqual(Array.from({ length: MOVES }, (_, i) => versions[(i + 1) % 2]));
    const failed = served.filter((s) => s.status !== 200 || !labels.every((l, i) => (s.label as unknown[] | undefined)?.[i] === l));
    expect(failed, JSON.stringify(failed.slice(0, 3))).toEqual([]);
    const by = new Map(versions.map((v) => [v, served.filter((s) => s.version === v).length]));
    expect(by.get(versions[0]), JSON.stringify([...by])).toBeGreaterThan(0);
    expect(by.get(versions[1]), JSON.stringify([...by])).toBeGreaterThan(0);
    expect(served.length).toBeGreaterThan(CLIENTS * moves.length);

    // A request inside one move's window (after its ack, before the next move began) saw that move.
    let checked = 0;
    moves.forEach((m, i) => {
      const nextStart = moves[i + 1]?.start ?? Number.POSITIVE_INFINITY;
      for (const s of served) {
        if (s.start > m.acked && s.end < nextStart) {
          checked++;
          if (s.version !== m.version) expect.fail(`a request from ${s.start.toFixed(1)} to ${s.end.toFixed(1)} ms was served by version ${s.version}, but the alias moved to ${m.version} at ${m.acked.toFixed(1)} ms`);
        }
      }
    });
    expect(checked).toBeGreaterThan(0);
    // With the thread on, the swap was exercised on its sessions too.
    const thread = inferenceServiceOf(server.app.server)?.models.thread;
    if (runtimeThread) expect(thread?.offloaded ?? 0).toBeGreaterThan(0);
    else expect(thread).toBeUndefined();
  });
});
