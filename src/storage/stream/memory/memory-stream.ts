/**
 * In-process stream and durable-consumer state, modelled on JetStream's: a stream is an
 * append-only run of sequence-numbered messages; a consumer keeps a cursor over it plus the
 * delivered-but-unacknowledged messages, each with the time it becomes due for redelivery.
 */
import type { ConsumerState, PublishAck } from "../stream-bus.js";
import { subjectMatches } from "../subjects.js";
import type { ResolvedConsumeOptions, ResolvedStreamOptions } from "../validate.js";

export interface StoredMessage {
  readonly seq: number;
  readonly subject: string;
  readonly data: Uint8Array;
  readonly msgId: string | undefined;
  readonly publishedAt: number;
}

export type ConsumerConfig = Pick<ResolvedConsumeOptions, "filterSubject" | "ackWaitMs" | "maxDeliver" | "maxAckPending">;

interface Pending {
  deliveries: number;
  /** When the message becomes due for redelivery unless acknowledged (or kept alive) first. */
  dueAt: number;
}

export interface Taken {
  readonly message: StoredMessage;
  readonly deliveryCount: number;
}

export class MemoryConsumer {
  /** Highest stream seq examined for first delivery. */
  private cursor = 0;
  private readonly pending = new Map<number, Pending>();
  private readonly waiters = new Set<() => void>();
  deleted = false;

  constructor(
    private readonly stream: MemoryStream,
    public config: ConsumerConfig,
  ) {}

  /** Delivers up to `max` messages: due redeliveries first (in seq order), then new ones. */
  take(max: number, now: number): Taken[] {
    const out: Taken[] = [];
    const due = [...this.pending.entries()].filter(([, p]) => p.dueAt <= now).sort((a, b) => a[0] - b[0]);
    for (const [seq, p] of due) {
      if (out.length >= max) break;
      const message = this.stream.get(seq);
      if (message === undefined || (this.config.maxDeliver !== -1 && p.deliveries >= this.config.maxDeliver)) {
        // Aged out of the stream, or given up on after maxDeliver attempts (as JetStream does).
        this.pending.delete(seq);
        continue;
      }
      p.deliveries++;
      p.dueAt = now + this.config.ackWaitMs;
      out.push({ message, deliveryCount: p.deliveries });
    }
    this.cursor = Math.max(this.cursor, this.stream.firstSeq - 1);
    while (out.length < max && this.pending.size < this.config.maxAckPending && this.cursor < this.stream.lastSeq) {
      const message = this.stream.get(++this.cursor);
      if (message === undefined) continue;
      const filter = this.config.filterSubject;
      if (filter !== undefined && !subjectMatches(filter, message.subject)) continue;
      this.pending.set(message.seq, { deliveries: 1, dueAt: now + this.config.ackWaitMs });
      out.push({ message, deliveryCount: 1 });
    }
    return out;
  }

  /** The earliest time a pending message becomes due, or undefined when none is pending. */
  nextDueAt(): number | undefined {
    let min: number | undefined;
    for (const p of this.pending.values()) if (min === undefined || p.dueAt < min) min = p.dueAt;
    return min;
  }

  ack(seqs: readonly number[]): void {
    for (const seq of seqs) this.pending.delete(seq);
    this.notify();
  }

  /** Makes the messages due again `delayMs` from `now` (a nak, or a keep-alive when delay is ackWait). */
  reschedule(seqs: readonly number[], now: number, delayMs: number): void {
    for (const seq of seqs) {
      const p = this.pending.get(seq);
      if (p !== undefined) p.dueAt = now + delayMs;
    }
    this.notify();
  }

  state(): ConsumerState {
    const filter = this.config.filterSubject;
    let numPending = 0;
    for (let seq = Math.max(this.cursor + 1, this.stream.firstSeq); seq <= this.stream.lastSeq; seq++) {
      const m = this.stream.get(seq);
      if (m !== undefined && (filter === undefined || subjectMatches(filter, m.subject))) numPending++;
    }
    let floor = this.cursor;
    for (const seq of this.pending.keys()) floor = Math.min(floor, seq - 1);
    return { ackFloorSeq: floor, numPending, numAckPending: this.pending.size };
  }

  /** Resolves at the next publish, ack, nak or deletion, or after `ms`. */
  wait(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal.aborted) return resolve();
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        signal.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, ms));
      this.waiters.add(done);
      signal.addEventListener("abort", done);
    });
  }

  notify(): void {
    for (const w of [...this.waiters]) w();
  }
}

export class MemoryStream {
  private messages: StoredMessage[] = [];
  /** Sequence of messages[0]; the stream is contiguous because it only ever loses its oldest messages. */
  private headSeq = 1;
  lastSeq = 0;
  private readonly msgIds = new Map<string, { seq: number; at: number }>();
  readonly consumers = new Map<string, MemoryConsumer>();

  constructor(
    readonly name: string,
    public subjects: readonly string[],
    public options: ResolvedStreamOptions,
  ) {}

  get firstSeq(): number {
    return this.headSeq;
  }

  get(seq: number): StoredMessage | undefined {
    return this.messages[seq - this.headSeq];
  }

  captures(subject: string): boolean {
    return this.subjects.some((p) => subjectMatches(p, subject));
  }

  append(subject: string, data: Uint8Array, msgId: string | undefined, now: number): PublishAck {
    this.prune(now);
    if (msgId !== undefined) {
      const seen = this.msgIds.get(msgId);
      if (seen !== undefined) return { stream: this.name, seq: seen.seq, duplicate: true };
    }
    const seq = ++this.lastSeq;
    this.messages.push({ seq, subject, data, msgId, publishedAt: now });
    if (msgId !== undefined) this.msgIds.set(msgId, { seq, at: now });
    for (const c of this.consumers.values()) c.notify();
    return { stream: this.name, seq, duplicate: false };
  }

  /** Forgets msgIds older than the duplicate window and messages older than maxAge. */
  prune(now: number): void {
    // Map iteration follows insertion order, which is publish order.
    for (const [id, seen] of this.msgIds) {
      if (now - seen.at < this.options.duplicateWindowMs) break;
      this.msgIds.delete(id);
    }
    if (this.options.maxAgeMs > 0) {
      let drop = 0;
      while (drop < this.messages.length && now - (this.messages[drop] as StoredMessage).publishedAt >= this.options.maxAgeMs) drop++;
      if (drop > 0) {
        this.messages = this.messages.slice(drop);
        this.headSeq += drop;
      }
    }
  }

  delete(): void {
    for (const c of this.consumers.values()) {
      c.deleted = true;
      c.notify();
    }
    this.consumers.clear();
  }
}
