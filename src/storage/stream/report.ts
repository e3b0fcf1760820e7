/** Where consumer failures go when the caller gave no `onError`: a warning in the log. */
import { createLogger, type Logger } from "../../core/logger.js";
import type { ErrorReporter } from "./consume-loop.js";

let fallback: Logger | undefined;

export function reportTo(logger: Logger | undefined, stream: string, durable: string): ErrorReporter {
  return (error, messages) => {
    const log = logger ?? (fallback ??= createLogger("info", "flywheel.stream"));
    const seqs = messages.map((m) => m.seq);
    const what =
      messages.length === 0
        ? "the consumer could not pull; retrying"
        : `the handler failed on ${messages.length} message(s); they will be redelivered unless maxDeliver is reached`;
    log.warn({ err: error, stream, durable, seqs }, `stream consumer '${durable}' on '${stream}': ${what}`);
  };
}
