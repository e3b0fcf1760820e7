/**
 * A second ONNX Runtime thread for the model server. `session.run()` runs synchronously on the
 * calling thread (about 15-30 us for a small tabular model), so a server whose one event loop does
 * both HTTP and inference leaves the machine's other core to the load. With this thread, a run
 * that starts while another is still pending (concurrent traffic) goes to a session of the same
 * model held by the thread, and the serving thread goes back to HTTP; a run with nothing else
 * pending (one request at a time) stays on the serving thread, where it answers soonest.
 *
 * Runs are posted in one message per event-loop turn and answered in one per batch, so a busy
 * server pays for a message per turn rather than per request. Should the thread die, its pending
 * runs are run again on the serving thread and every later run stays there: no request fails.
 */
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import type { Logger } from "../core/logger.js";
import { packTensors, unpackTensors, type PackedTensors } from "./tensor-pack.js";
import type { RuntimeTensor, TensorValue } from "./tensors.js";

/** Session options the thread creates its sessions with (the serving thread's own). */
export interface RuntimeSessionOptions {
  intraOpNumThreads: number;
}

/** A run the thread is asked for: its feeds' names (their tensors are packed with the message's, in order) and the outputs wanted. */
export interface RuntimeRunRequest {
  id: number;
  session: number;
  feeds: string[];
  outputs: readonly string[];
}

/** The runs asked for in one turn of the serving thread's event loop, their feeds packed together. */
export type ToRuntimeThread =
  | { type: "load"; session: number; bytes: Uint8Array; options: RuntimeSessionOptions }
  | { type: "release"; session: number }
  | { type: "runs"; runs: RuntimeRunRequest[]; tensors: PackedTensors };

/** A run's output names (their tensors are packed with the message's, in order) and how long ONNX Runtime took, or why it failed. */
export type RuntimeRunResult = { id: number; outputs: string[]; seconds: number } | { id: number; error: string; seconds: number; runHere?: true };

export type FromRuntimeThread =
  | { type: "loaded"; session: number }
  | { type: "load_failed"; session: number; error: string }
  | { type: "results"; results: RuntimeRunResult[]; tensors: PackedTensors };

/** The thread failed or went away: the run is to be done on the serving thread. */
export class RuntimeThreadLost extends Error {}

/** A run the thread could not do: ONNX Runtime refused the input (the message is ONNX Runtime's). */
export class RuntimeRunError extends Error {
  constructor(
    message: string,
    readonly seconds: number,
  ) {
    super(message);
  }
}

/** Runs posted and not yet answered, at most; more than that run on the serving thread. */
const MAX_PENDING = 256;

/** The compiled thread script next to this module (from the sources, under vitest: the build's). */
function workerScript(): string | undefined {
  const here = fileURLToPath(import.meta.url);
  const script = here.endsWith(".ts") ? here.replace(/([\\/])src([\\/]serving[\\/])runtime-thread\.ts$/, "$1dist$1src$2runtime-worker.js") : join(dirname(here), "runtime-worker.js");
  return script !== here && existsSync(script) ? script : undefined;
}

interface Pending {
  resolve: (r: { outputs: Record<string, RuntimeTensor>; seconds: number }) => void;
  reject: (e: unknown) => void;
}

/** A run waiting for this turn's message. */
interface Queued {
  id: number;
  session: number;
  feeds: Record<string, TensorValue>;
  outputs: readonly string[];
}

export class RuntimeThread {
  /** Sessions the thread has loaded (runs of others stay on the serving thread). */
  private readonly ready = new Set<number>();
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private queue: Queued[] = [];
  private flushScheduled = false;
  private lost = false;
  private closed = false;
  /** Runs done by the thread so far (tests read it). */
  offloaded = 0;

  private constructor(
    private readonly worker: Worker,
    private readonly logger: Logger | undefined,
  ) {
    worker.on("message", (m: FromRuntimeThread) => this.received(m));
    worker.on("error", (e) => this.gone(e));
    worker.on("exit", (code) => this.gone(new Error(`the ONNX Runtime thread exited with code ${code}`)));
    // A server with no traffic does not stay alive for this thread.
    worker.unref();
  }

  /** Starts the thread; undefined when it cannot run here (its script is not built). */
  static start(logger?: Logger): RuntimeThread | undefined {
    const script = workerScript();
    if (script === undefined) return undefined;
    return new RuntimeThread(new Worker(script, { name: "flywheel-onnxruntime" }), logger);
  }

  /** Whether runs of `session` can go to the thread now. */
  canRun(session: number): boolean {
    return !this.lost && !this.closed && this.ready.has(session) && this.pending.size < MAX_PENDING;
  }

  /** Whether the thread is running (false once it died or was closed). */
  get alive(): boolean {
    return !this.lost && !this.closed;
  }

  /** Has the thread create its own session of the model (`bytes`, the ONNX file); runs of it may go there once it has. */
  load(session: number, bytes: Uint8Array, options: RuntimeSessionOptions): void {
    if (!this.alive) return;
    this.worker.postMessage({ type: "load", session, bytes, options } satisfies ToRuntimeThread);
  }

  /** Has the thread drop its session (the serving thread released its own). */
  release(session: number): void {
    this.ready.delete(session);
    if (!this.alive) return;
    this.worker.postMessage({ type: "release", session } satisfies ToRuntimeThread);
  }

  /**
   * Runs the session on the thread. Rejects with RuntimeRunError when ONNX Runtime refused the
   * input, and with RuntimeThreadLost when the thread went away first (the caller runs it itself).
   */
  run(session: number, feeds: Record<string, TensorValue>, outputs: readonly string[]): Promise<{ outputs: Record<string, RuntimeTensor>; seconds: number }> {
    if (!this.alive) return Promise.reject(new RuntimeThreadLost("the ONNX Runtime thread is not running"));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.queue.push({ id, session, feeds, outputs });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        // Every run asked for in this turn of the event loop goes in one message.
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.flushScheduled = false;
    const runs = this.queue;
    this.queue = [];
    if (runs.length === 0) return;
    if (!this.alive) {
      for (const r of runs) this.settleLost(r.id);
      return;
    }
    const tensors: TensorValue[] = [];
    const requests = runs.map((r): RuntimeRunRequest => {
      const names = Object.keys(r.feeds);
      for (const name of names) tensors.push(r.feeds[name] as TensorValue);
      return { id: r.id, session: r.session, feeds: names, outputs: r.outputs };
    });
    let packed: PackedTensors;
    try {
      packed = packTensors(tensors);
    } catch {
      // Data the pack does not carry: these runs are done on the serving thread.
      for (const r of runs) this.settleLost(r.id);
      return;
    }
    this.worker.postMessage({ type: "runs", runs: requests, tensors: packed } satisfies ToRuntimeThread, [packed.buffer]);
  }

  private received(m: FromRuntimeThread): void {
    switch (m.type) {
      case "loaded":
        this.ready.add(m.session);
        return;
      case "load_failed":
        // The serving thread has its own session: its runs stay there.
        this.logger?.warn({ session: m.session, error: m.error }, "ONNX Runtime thread: could not load the model; its runs stay on the serving thread");
        return;
      case "results": {
        const tensors = unpackTensors(m.tensors);
        let t = 0;
        for (const r of m.results) {
          const p = this.pending.get(r.id);
          this.pending.delete(r.id);
          if ("error" in r) {
            // `runHere`: the thread could not hand the outputs back; the serving thread runs it again.
            p?.reject(r.runHere === true ? new RuntimeThreadLost(r.error) : new RuntimeRunError(r.error, r.seconds));
            continue;
          }
          const outputs: Record<string, RuntimeTensor> = {};
          for (const name of r.outputs) outputs[name] = tensors[t++] as RuntimeTensor;
          if (p === undefined) continue;
          this.offloaded++;
          p.resolve({ outputs, seconds: r.seconds });
        }
        return;
      }
    }
  }

  private settleLost(id: number): void {
    const p = this.pending.get(id);
    this.pending.delete(id);
    p?.reject(new RuntimeThreadLost("the ONNX Runtime thread stopped"));
  }

  /** The thread died: its pending runs go back to their callers, which run them on the serving thread. */
  private gone(e: unknown): void {
    if (this.lost) return;
    this.lost = true;
    this.ready.clear();
    if (!this.closed) this.logger?.error({ err: e }, "ONNX Runtime thread stopped; runs continue on the serving thread");
    for (const id of [...this.pending.keys()]) this.settleLost(id);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.ready.clear();
    for (const id of [...this.pending.keys()]) this.settleLost(id);
    await this.worker.terminate();
  }

  /** Ends the thread as a crash would (tests: pending runs must still be answered). */
  async kill(): Promise<void> {
    await this.worker.terminate();
  }
}
