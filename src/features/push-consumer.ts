/**
 * Feeds push sources from a stream (NATS JetStream in production): each message on
 * `<subjectPrefix>.<push_source_name>` carries Feast's push body (`{ "df": {column: [values]},
 * "to": "online" | "offline" | "online_and_offline" }`, `to` defaulting to online).
 *
 * Delivery is at-least-once; applying is idempotent:
 * - the consumer records the stream sequence of the last message it applied in the metadata
 *   store and skips anything at or below it, so a redelivered batch is not applied twice;
 * - an offline append is written to a file named by the message's sequence, so a message applied
 *   again after a crash (applied, not yet recorded) replaces its own file rather than adding one;
 * - online writes keep the newer row, so writing the same row twice changes nothing.
 * The batch is acknowledged only after every message in it is applied and recorded, so a restart
 * resumes exactly after the last acknowledged message and loses nothing.
 *
 * A message that can never be applied (not JSON, unknown push source, rows that break the
 * definitions) is counted, reported through `onRejected` and skipped, so it cannot block the
 * stream; transient failures (a store that is down) throw and the batch is redelivered.
 */
import { isFlywheelError } from "../core/errors.js";
import type { FeatureRegistryStore } from "../storage/metadata/feature-registry-store.js";
import type { StreamBus, StreamMessage, Subscription } from "../storage/stream/stream-bus.js";
import type { FeatureStore } from "./feature-store.js";
import { PUSH_TARGETS, type Columns, type PushTarget } from "./push.js";

export interface PushConsumerOptions {
  bus: StreamBus;
  store: FeatureStore;
  /** Where the consumer's applied sequence is recorded. */
  offsets: FeatureRegistryStore;
  /** The JetStream stream holding push messages (created when missing). */
  stream: string;
  /** Messages arrive on `<subjectPrefix>.<push_source_name>`. */
  subjectPrefix: string;
  /** The durable consumer name; one per deployment. */
  durable: string;
  batch?: number;
  retryDelayMs?: number;
  now?: () => number;
  onRejected?: (message: StreamMessage, reason: string) => void;
}

export interface PushConsumerStats {
  applied: number;
  skipped: number;
  rejected: number;
}

/** A message that can never be applied. */
class Rejected extends Error {}

export class PushConsumer {
  readonly stats: PushConsumerStats = { applied: 0, skipped: 0, rejected: 0 };
  private subscription: Subscription | undefined;

  constructor(private readonly options: PushConsumerOptions) {}

  private get consumerKey(): string {
    return `stream:${this.options.stream}:${this.options.durable}`;
  }

  async start(): Promise<void> {
    const { bus, stream, subjectPrefix, durable } = this.options;
    await bus.ensureStream(stream, [`${subjectPrefix}.>`]);
    this.subscription = await bus.consume(
      stream,
      durable,
      { batch: this.options.batch ?? 100, retryDelayMs: this.options.retryDelayMs ?? 1000 },
      (messages) => this.handle(messages),
    );
  }

  async stop(): Promise<void> {
    await this.subscription?.stop();
    this.subscription = undefined;
  }

  /** Applies a batch in order, recording the sequence after each message. */
  async handle(messages: readonly StreamMessage[]): Promise<void> {
    const { store, offsets } = this.options;
    const now = this.options.now ?? Date.now;
    let last = await offsets.streamOffset(store.project, this.consumerKey);
    for (const m of messages) {
      if (m.seq <= last) {
        this.stats.skipped++;
        continue;
      }
      try {
        await this.apply(m);
        this.stats.applied++;
      } catch (e) {
        if (!(e instanceof Rejected) && !(isFlywheelError(e) && e.status < 500)) throw e;
        this.stats.rejected++;
        this.options.onRejected?.(m, e instanceof Error ? e.message : String(e));
      }
      await offsets.setStreamOffset(store.project, this.consumerKey, m.seq, now());
      last = m.seq;
    }
  }

  private async apply(m: StreamMessage): Promise<void> {
    const prefix = `${this.options.subjectPrefix}.`;
    const source = m.subject.startsWith(prefix) ? m.subject.slice(prefix.length) : "";
    if (source === "" || source.includes(".")) throw new Rejected(`subject '${m.subject}' does not name a push source as ${prefix}<push_source_name>`);
    let body: unknown;
    try {
      body = m.json();
    } catch {
      throw new Rejected(`message ${m.seq} is not JSON`);
    }
    if (typeof body !== "object" || body === null || Array.isArray(body)) throw new Rejected(`message ${m.seq} must be a JSON object with 'df'`);
    const { df, to } = body as { df?: unknown; to?: unknown };
    if (to !== undefined && !PUSH_TARGETS.includes(to as PushTarget)) throw new Rejected(`message ${m.seq}: 'to' must be one of ${PUSH_TARGETS.join(", ")}`);
    await this.options.store.push(source, df as Columns, (to ?? "online") as PushTarget, `stream-${String(m.seq).padStart(12, "0")}.parquet`);
  }
}

/** The stream, subject prefix and durable name `flywheel server` uses for a project's pushes. */
export function pushStreamNames(project: string): { stream: string; subjectPrefix: string; durable: string } {
  const token = project.replace(/[^A-Za-z0-9_-]/g, "_");
  return { stream: `FLYWHEEL_PUSH_${token}`, subjectPrefix: `flywheel.${token}.push`, durable: "flywheel-push" };
}
