/**
 * How a loaded model runs: on the serving thread's session, or, when another run is pending
 * anywhere in the model cache (concurrent traffic), on the ONNX Runtime thread's copy of it (see
 * runtime-thread.ts). A runtime failure either way is a 400 naming the model.
 */
import type * as OnnxRuntime from "onnxruntime-node";
import type { InferenceSession, Tensor } from "onnxruntime-node";
import { ServingError } from "./errors.js";
import { RuntimeRunError, RuntimeThreadLost, type RuntimeThread } from "./runtime-thread.js";
import type { RuntimeTensor, TensorValue } from "./tensors.js";

/** Runs started and not yet finished, shared by every model of a cache. */
export interface RunCount {
  running: number;
}

export interface SessionRunnerDeps {
  /** `model 'name' version N`, for error messages. */
  what: string;
  model: string;
  session: InferenceSession;
  /** The runtime's module (imported when the first model loads). */
  ort: Pick<typeof OnnxRuntime, "Tensor">;
  /** The ONNX Runtime thread and the id of its copy of this session, when there is one. */
  thread: { runtime: RuntimeThread; session: number } | undefined;
  runs: RunCount;
  /** Told the seconds of every run (read at each run: the cache's hook may be set later). */
  timed: () => ((model: string, seconds: number) => void) | undefined;
}

export function sessionRunner(d: SessionRunnerDeps): (feeds: Record<string, TensorValue>, outputs: readonly string[]) => Promise<Record<string, RuntimeTensor>> {
  const failed = (message: string, cause: unknown) => new ServingError(400, `${d.what} could not run on this input: ${message}`, { cause });
  return async (feeds, outputs) => {
    d.runs.running++;
    try {
      const thread = d.thread;
      if (d.runs.running > 1 && thread !== undefined && thread.runtime.canRun(thread.session)) {
        try {
          const done = await thread.runtime.run(thread.session, feeds, outputs);
          d.timed()?.(d.model, done.seconds);
          return done.outputs;
        } catch (e) {
          if (e instanceof RuntimeRunError) {
            d.timed()?.(d.model, e.seconds);
            throw failed(e.message, e);
          }
          // The thread went away: the run is done here.
          if (!(e instanceof RuntimeThreadLost)) throw e;
        }
      }
      const ortFeeds: Record<string, Tensor> = {};
      for (const [name, t] of Object.entries(feeds)) ortFeeds[name] = new d.ort.Tensor(t.type, t.data, t.dims);
      // Timed here, in the model's own run, rather than by wrapping the model: each wrapping
      // layer costs every request a promise and a closure.
      const start = performance.now();
      try {
        return await d.session.run(ortFeeds, [...outputs]);
      } catch (e) {
        throw failed(e instanceof Error ? e.message : String(e), e);
      } finally {
        d.timed()?.(d.model, (performance.now() - start) / 1000);
      }
    } finally {
      d.runs.running--;
    }
  };
}
