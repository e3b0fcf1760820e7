/**
 * The consumer loop every backend shares: pull a batch, run the handler while keeping the batch's
 * ack timers alive, then acknowledge it, or on failure ask for a delayed redelivery. Backends
 * supply only the pull/ack/nak primitives, so delivery semantics cannot drift between them.
 */
import type { BatchHandler, StreamMessage, Subscription } from "./stream-bus.js";
import type { ResolvedConsumeOptions } from "./validate.js";

export interface Delivery {
  readonly message: StreamMessage;
}

export interface PullSource<D extends Delivery> {
  /**
   * Waits for up to `max` messages and resolves with those available (never waiting for more
   * once one has arrived), or with none when the wait ends or `signal` aborts.
   */
  pull(max: number, signal: AbortSignal): Promise<D[]>;
  /** Acknowledges the batch; resolves once the broker has recorded it. */
  ack(batch: readonly D[]): Promise<void>;
  /** Hands the batch back for redelivery after `delayMs`. */
  nak(batch: readonly D[], delayMs: number): Promise<void>;
  /** Restarts the ack timers of a batch whose handler is still running. */
  working(batch: readonly D[]): void;
}

export type ErrorReporter = (error: unknown, messages: readonly StreamMessage[]) => void;

const BACKOFF_MIN_MS = 100;
const BACKOFF_MAX_MS = 5000;

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done);
  });
}

/** Runs the loop until `stop()`; `onEnd` runs once it has ended (the bus forgets the subscription). */
export function startConsumeLoop<D extends Delivery>(
  source: PullSource<D>,
  options: ResolvedConsumeOptions,
  handler: BatchHandler,
  onError: ErrorReporter,
  onEnd: () => void,
): Subscription {
  // A throwing error callback must not kill the loop (or surface as an unhandled rejection).
  const report: ErrorReporter = (error, messages) => {
    try {
      onError(error, messages);
    } catch {
      // The callback's own failure has nowhere better to go.
    }
  };
  const abort = new AbortController();
  const keepAliveMs = Math.max(50, Math.floor(options.ackWaitMs / 3));

  async function handle(batch: D[]): Promise<void> {
    const messages = batch.map((d) => d.message);
    const keepAlive = setInterval(() => {
      try {
        source.working(batch);
      } catch (e) {
        report(e, messages);
      }
    }, keepAliveMs);
    let failure: { error: unknown } | undefined;
    try {
      await handler(messages);
    } catch (error) {
      failure = { error };
    } finally {
      clearInterval(keepAlive);
    }
    if (failure === undefined) {
      // An ack that fails leaves the batch to be redelivered after ackWait: at-least-once holds.
      await source.ack(batch).catch((e: unknown) => report(e, messages));
      return;
    }
    report(failure.error, messages);
    await source.nak(batch, options.retryDelayMs).catch((e: unknown) => report(e, messages));
  }

  async function run(): Promise<void> {
    let backoffMs = BACKOFF_MIN_MS;
    while (!abort.signal.aborted) {
      let batch: D[];
      try {
        batch = await source.pull(options.batch, abort.signal);
        backoffMs = BACKOFF_MIN_MS;
      } catch (e) {
        if (abort.signal.aborted) break;
        report(e, []);
        await sleep(backoffMs, abort.signal);
        backoffMs = Math.min(BACKOFF_MAX_MS, backoffMs * 2);
        continue;
      }
      // Messages that arrived while stopping are still handled: stop() drains, it does not drop.
      if (batch.length > 0) await handle(batch);
    }
  }

  const done = run().finally(onEnd);
  return {
    done,
    stop: async () => {
      abort.abort();
      await done;
    },
  };
}
