/**
 * The inference log's stream sink: every logged row is also published to the stream bus as
 * `flywheel.<project>.inference.<model>` (the production sink, NATS JetStream), with the row's
 * `<request id>:<row>` as msgId so a republished row is stored once. Publishing has its own
 * bounded queue and never holds up the local log: when the bus is slow or down, rows beyond the
 * queue are dropped and counted (they are still in the local segments).
 */
import type { Logger } from "../../core/logger.js";
import type { StreamBus } from "../../storage/stream/stream-bus.js";

export interface InferenceStreamNames {
  stream: string;
  /** Subjects are `<subjectPrefix>.<model token>`. */
  subjectPrefix: string;
}

export function inferenceStreamNames(project: string): InferenceStreamNames {
  const token = project.replace(/[^A-Za-z0-9_-]/g, "_");
  return { stream: `FLYWHEEL_INFERENCE_${token}`, subjectPrefix: `flywheel.${token}.inference` };
}

/**
 * A model name as one subject token: letters, digits, '_' and '-' kept, every other UTF-8 byte as
 * `~XX`, so '.', '*', '>' and spaces never split or widen a subject.
 * @example modelSubjectToken("churn.v2") // "churn~2Ev2"
 */
export function modelSubjectToken(model: string): string {
  let out = "";
  for (const byte of Buffer.from(model, "utf8")) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9_-]/.test(c) ? c : `~${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

export interface SinkRecord {
  model: string;
  msgId: string;
  /** The row's JSON line (no newline). */
  line: string;
}

export interface StreamSinkOptions {
  /** Rows waiting to be published; default 100 000. */
  capacity?: number;
  /** Publishes in flight at once; default 256. */
  concurrency?: number;
  onPublished?: (n: number) => void;
  onDropped?: (n: number) => void;
  logger?: Logger;
}

export class StreamSink {
  private readonly queue: SinkRecord[] = [];
  private head = 0;
  private inFlight = 0;
  private idle: (() => void)[] = [];
  private warned = false;
  published = 0;
  dropped = 0;
  private readonly capacity: number;
  private readonly concurrency: number;

  private constructor(
    private readonly bus: StreamBus,
    private readonly names: InferenceStreamNames,
    private readonly options: StreamSinkOptions,
  ) {
    this.capacity = options.capacity ?? 100_000;
    this.concurrency = options.concurrency ?? 256;
  }

  /** Ensures the stream (`<prefix>.>`) exists, then returns a sink publishing to it. */
  static async open(bus: StreamBus, names: InferenceStreamNames, options: StreamSinkOptions = {}): Promise<StreamSink> {
    await bus.ensureStream(names.stream, [`${names.subjectPrefix}.>`]);
    return new StreamSink(bus, names, options);
  }

  get backlog(): number {
    return this.queue.length - this.head + this.inFlight;
  }

  offer(records: readonly SinkRecord[]): void {
    const room = this.capacity - (this.queue.length - this.head);
    const take = Math.max(0, Math.min(room, records.length));
    for (let i = 0; i < take; i++) this.queue.push(records[i] as SinkRecord);
    if (take < records.length) this.drop(records.length - take);
    this.pump();
  }

  /** Resolves when every queued row has been published (or dropped). */
  async flush(): Promise<void> {
    if (this.backlog === 0) return;
    await new Promise<void>((resolve) => this.idle.push(resolve));
  }

  private drop(n: number): void {
    this.dropped += n;
    this.options.onDropped?.(n);
  }

  private pump(): void {
    while (this.inFlight < this.concurrency && this.head < this.queue.length) {
      const r = this.queue[this.head++] as SinkRecord;
      this.inFlight++;
      const subject = `${this.names.subjectPrefix}.${modelSubjectToken(r.model)}`;
      this.bus
        .publish(subject, Buffer.from(r.line, "utf8"), { msgId: r.msgId.length <= 256 ? r.msgId : undefined })
        .then(
          () => {
            this.published++;
            this.options.onPublished?.(1);
          },
          (e: unknown) => {
            this.drop(1);
            if (!this.warned) {
              this.warned = true;
              this.options.logger?.warn({ err: e, subject }, "inference log: publishing to the stream failed; rows are dropped from the stream (the local log keeps them)");
            }
          },
        )
        .finally(() => {
          this.inFlight--;
          this.pump();
        });
    }
    if (this.head > 4096 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
    if (this.backlog === 0) {
      const waiters = this.idle;
      this.idle = [];
      for (const w of waiters) w();
    }
  }
}
