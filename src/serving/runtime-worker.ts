/**
 * The model server's ONNX Runtime thread (started by RuntimeThread): holds its own session of each
 * model the serving thread hands it, runs the batches of runs it is posted, in order, and answers
 * each batch in one message.
 */
import { parentPort, type MessagePort } from "node:worker_threads";
import type { InferenceSession, Tensor } from "onnxruntime-node";
import type { FromRuntimeThread, RuntimeRunRequest, RuntimeRunResult, ToRuntimeThread } from "./runtime-thread.js";
import type { RuntimeTensor } from "./tensors.js";

const port = parentPort as MessagePort;
const ort = await import("onnxruntime-node");
/** Sessions by the serving thread's id; a pending load is a promise. */
const sessions = new Map<number, Promise<InferenceSession | undefined>>();

const post = (m: FromRuntimeThread) => port.postMessage(m);

/** A tensor as a plain object (ONNX Runtime's Tensor reads its data through a getter, which a message would lose). */
const plain = (t: Tensor): RuntimeTensor => ({ type: t.type, dims: [...t.dims], data: t.data });

async function run(r: RuntimeRunRequest): Promise<RuntimeRunResult> {
  const session = await sessions.get(r.session);
  if (session === undefined) return { id: r.id, error: "the ONNX Runtime thread has no session of this model", seconds: 0 };
  const feeds: Record<string, Tensor> = {};
  for (const [name, t] of Object.entries(r.feeds)) feeds[name] = new ort.Tensor(t.type, t.data, t.dims);
  const start = performance.now();
  try {
    const results = await session.run(feeds, [...r.outputs]);
    const seconds = (performance.now() - start) / 1000;
    const outputs: Record<string, RuntimeTensor> = {};
    for (const name of r.outputs) {
      const t = results[name];
      if (t !== undefined) outputs[name] = plain(t);
    }
    return { id: r.id, outputs, seconds };
  } catch (e) {
    return { id: r.id, error: e instanceof Error ? e.message : String(e), seconds: (performance.now() - start) / 1000 };
  }
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
      // Every run is started now (each waits its turn in ONNX Runtime's queue) and the batch answered together.
      void Promise.all(m.runs.map(run)).then((results) => post({ type: "results", results }));
      return;
  }
});
