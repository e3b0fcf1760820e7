/**
 * The model server's ONNX Runtime thread (started by RuntimeThread): holds its own session of each
 * model the serving thread hands it, runs the batches of runs it is posted, in order, and answers
 * each batch in one message.
 */
import { parentPort, type MessagePort } from "node:worker_threads";
import type { InferenceSession, Tensor } from "onnxruntime-node";
import type { FromRuntimeThread, RuntimeRunRequest, RuntimeRunResult, ToRuntimeThread } from "./runtime-thread.js";
import { packTensors, unpackTensors, type PackedTensors } from "./tensor-pack.js";
import type { RuntimeTensor } from "./tensors.js";

const port = parentPort as MessagePort;
const ort = await import("onnxruntime-node");
/** Sessions by the serving thread's id; a pending load is a promise. */
const sessions = new Map<number, Promise<InferenceSession | undefined>>();

const post = (m: FromRuntimeThread, transfer: ArrayBuffer[] = []) => port.postMessage(m, transfer);

/** A run's result and its output tensors, in the order of the result's names. */
type Ran = { result: RuntimeRunResult; tensors: RuntimeTensor[] };

async function run(r: RuntimeRunRequest, inputs: readonly RuntimeTensor[]): Promise<Ran> {
  const session = await sessions.get(r.session);
  if (session === undefined) return { result: { id: r.id, error: "the ONNX Runtime thread has no session of this model", seconds: 0 }, tensors: [] };
  const feeds: Record<string, Tensor> = {};
  r.feeds.forEach((name, i) => {
    const t = inputs[i] as RuntimeTensor;
    feeds[name] = new ort.Tensor(t.type as Tensor.Type, t.data as Tensor.DataType, t.dims);
  });
  const start = performance.now();
  try {
    const results = await session.run(feeds, [...r.outputs]);
    const seconds = (performance.now() - start) / 1000;
    const names: string[] = [];
    const tensors: RuntimeTensor[] = [];
    for (const name of r.outputs) {
      const t = results[name];
      if (t === undefined) continue;
      names.push(name);
      tensors.push({ type: t.type, dims: t.dims, data: t.data });
    }
    return { result: { id: r.id, outputs: names, seconds }, tensors };
  } catch (e) {
    return { result: { id: r.id, error: e instanceof Error ? e.message : String(e), seconds: (performance.now() - start) / 1000 }, tensors: [] };
  }
}

/** Runs a batch in order (each waits its turn in ONNX Runtime's queue) and answers it in one message. */
async function runAll(runs: readonly RuntimeRunRequest[], packed: PackedTensors): Promise<void> {
  const inputs = unpackTensors(packed);
  let at = 0;
  const ran = await Promise.all(
    runs.map((r) => {
      const mine = inputs.slice(at, at + r.feeds.length);
      at += r.feeds.length;
      return run(r, mine);
    }),
  );
  let tensors: PackedTensors;
  try {
    tensors = packTensors(ran.flatMap((x) => x.tensors));
  } catch (e) {
    // An output the pack does not carry: the serving thread runs the batch again itself.
    const error = `the ONNX Runtime thread could not return the outputs: ${e instanceof Error ? e.message : String(e)}`;
    post({ type: "results", results: ran.map((x) => ({ id: x.result.id, error, seconds: x.result.seconds, runHere: true as const })), tensors: packTensors([]) });
    return;
  }
  post({ type: "results", results: ran.map((x) => x.result), tensors }, [tensors.buffer]);
}

port.on("message", (m: ToRuntimeThread) => {
  switch (m.type) {
    case "load": {
      const loading = ort.InferenceSession.create(m.bytes, {
        intraOpNumThreads: m.options.intraOpNumThreads,
        interOpNumThreads: 1,
        executionMode: "sequential",
        graphOptimizationLevel: "all",
      }).then(
        (s) => {
          post({ type: "loaded", session: m.session });
          return s;
        },
        (e: unknown) => {
          sessions.delete(m.session);
          post({ type: "load_failed", session: m.session, error: e instanceof Error ? e.message : String(e) });
          return undefined;
        },
      );
      sessions.set(m.session, loading);
      return;
    }
    case "release": {
      const s = sessions.get(m.session);
      sessions.delete(m.session);
      // The serving thread releases a session only once none of its runs is pending here.
      void s?.then((x) => x?.release()).catch(() => undefined);
      return;
    }
    case "runs":
      void runAll(m.runs, m.tensors);
      return;
  }
});
