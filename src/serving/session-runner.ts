/**
 * How a loaded model runs: on the serving thread's session, or on the ONNX Runtime thread's copy
 * of it (see runtime-thread.ts). A run with nothing else pending anywhere in the model cache (one
 * request at a time) stays on the serving thread: a hand-off would cost it two cross-thread
 * wake-ups. Under concurrent traffic the runs are shared: a run goes to the thread while fewer
 * than twice as many runs wait there as on the serving thread (which also reads and answers every
 * request, so takes the smaller share), and neither thread idles while the other has a backlog.
 * Sending every concurrent run to the thread left the serving thread waiting for its answers about
 * a quarter of the time; on bench:serving at 32 connections (iris) the shares 1:1, 2:1 and 3:1
 * measured 0.82-0.89, 0.86-0.90 and 0.83-0.88 of the floor, against 0.78-0.79 for all on the thread.
 * A runtime failure either way is a 400 naming the model.
 */
import type * as OnnxRuntime from "onnxruntime-node";
import type { InferenceSession, Tensor } from "onnxruntime-node";
import { ServingError } from "./errors.js";
import { RuntimeRunError, RuntimeThreadLost, type RuntimeThread } from "./runtime-thread.js";
import type { RuntimeTensor, TensorValue } from "./tensors.js";

/** Runs started and not yet finished, on each thread, shared by every model of a cache. */
export interface RunCount {
  inline: number;
  offloaded: number;
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
  const runs = d.runs;
  return async (feeds, outputs) => {
    const thread = d.thread;
    if (runs.offloaded < 2 * runs.inline && thread !== undefined && thread.runtime.canRun(thread.session)) {
      runs.offloaded++;
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
      } finally {
        runs.offloaded--;
      }
    }
    runs.inline++;
    try {
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
      runs.inline--;
    }
  };
}
