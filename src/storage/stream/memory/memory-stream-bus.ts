/**
 * The in-process StreamBus (`memory:`), for tests and the embedded single-machine mode. Buses
 * opened with the same URI share one broker for the life of the process, so closing a bus and
 * opening it again resumes every durable consumer where it stopped; nothing survives the process.
 */
import { FlywheelError } from "../../../core/errors.js";
import type { Logger } from "../../../core/logger.js";
import { startConsumeLoop, type Delivery, type PullSource } from "../consume-loop.js";
import { DeliveredMessage } from "../message.js";
import { reportTo } from "../report.js";
import type {
  BatchHandler,
  ConsumeOptions,
  ConsumerState,
  PublishAck,
  PublishOptions,
  StreamBus,
  StreamBusCapabilities,
  StreamOptions,
  StreamPayload,
  Subscription,
} from "../stream-bus.js";
import { patternsOverlap } from "../subjects.js";
import {
  checkDurableName,
  checkSameFilter,
  checkMsgId,
  checkStreamName,
  checkStreamSubjects,
  checkSubject,
  encodePayload,
  resolveConsumeOptions,
  resolveStreamOptions,
} from "../validate.js";
import { MemoryConsumer, MemoryStream, type Taken } from "./memory-stream.js";

/** JetStream's default max_payload, so code tested in-process fits the production bus. */
const MAX_PAYLOAD_BYTES = 1024 * 1024;
/** How long an idle pull waits before the loop looks again (it wakes earlier on any activity). */
const IDLE_WAIT_MS = 5000;

type Broker = Map<string, MemoryStream>;
const brokers = new Map<string, Broker>();

/** Forgets a named in-process broker and everything in it (tests use one broker per run). */
export function discardMemoryBroker(name: string): void {
  const broker = brokers.get(name);
  if (broker === undefined) return;
  for (const s of broker.values()) s.delete();
  brokers.delete(name);
}

/** `memory:` is the process-wide default broker; `memory://<name>` or `memory:<name>` a named one. */
export function memoryBrokerName(uri: string): string {
  const name = uri.replace(/^memory:(\/\/)?/i, "").replace(/\/+$/, "");
  if (name === "") return "default";
  if (!/^[A-Za-z0-9_.-]{1,128}$/.test(name)) {
    throw new FlywheelError(
      "FW_REQUEST_INVALID_FIELD",
      `Invalid stream bus URI '${uri}': a memory broker name uses letters, digits, '_', '.', '-' (memory://<name>)`,
    );
  }
  return name;
}

interface MemoryDelivery extends Delivery {
  readonly seq: number;
}

function toDelivery(stream: string, t: Taken): MemoryDelivery {
  const m = t.message;
  return {
    seq: m.seq,
    // Each delivery gets its own copy, as a network client would: handlers may mutate it.
    message: new DeliveredMessage(stream, m.subject, m.seq, m.data.slice(), m.msgId, t.deliveryCount, m.publishedAt),
  };
}

export class MemoryStreamBus implements StreamBus {
  readonly scheme = "memory";
  readonly capabilities: StreamBusCapabilities = { sharedAcrossHosts: false, survivesRestart: false };
  readonly maxPayloadBytes = MAX_PAYLOAD_BYTES;
  private readonly subscriptions = new Set<Subscription>();
  private closed = false;

  private constructor(
    private readonly broker: Broker,
    private readonly logger: Logger | undefined,
  ) {}

  static open(uri: string, logger?: Logger): MemoryStreamBus {
    const name = memoryBrokerName(uri);
    let broker = brokers.get(name);
    if (broker === undefined) {
      broker = new Map();
      brokers.set(name, broker);
    }
    return new MemoryStreamBus(broker, logger);
  }

  private checkOpen(): void {
    if (this.closed) throw new FlywheelError("FW_STORAGE_UNAVAILABLE", "The in-process stream bus is closed");
  }

  private stream(name: string): MemoryStream {
    const s = this.broker.get(name);
    if (s === undefined) {
      throw new FlywheelError("FW_REQUEST_INVALID_FIELD", `Invalid stream '${name}': no such stream (create it with ensureStream)`);
    }
    return s;
  }

  async ensureStream(name: string, subjects: readonly string[], options?: StreamOptions): Promise<void> {
    checkStreamName(name);
    checkStreamSubjects(subjects);
    const resolved = resolveStreamOptions(options);
    this.checkOpen();
    for (const other of this.broker.values()) {
      if (other.name === name) continue;
      for (const a of subjects) {
        const b = other.subjects.find((p) => patternsOverlap(a, p));
        if (b !== undefined) {
          throw new FlywheelError(
            "FW_REQUEST_INVALID_FIELD",
            `Invalid subjects: '${a}' overlaps '${b}' of stream '${other.name}' (a subject may belong to one stream only)`,
          );
        }
      }
    }
    const existing = this.broker.get(name);
    if (existing === undefined) {
      this.broker.set(name, new MemoryStream(name, [...subjects], resolved));
    } else {
      existing.subjects = [...subjects];
      existing.options = resolved;
    }
  }

  async deleteStream(name: string): Promise<boolean> {
    checkStreamName(name);
    this.checkOpen();
    const s = this.broker.get(name);
    if (s === undefined) return false;
    s.delete();
    this.broker.delete(name);
    return true;
  }

  async publish(subject: string, payload: StreamPayload, options: PublishOptions = {}): Promise<PublishAck> {
    checkSubject(subject);
    checkMsgId(options.msgId);
    const data = encodePayload(payload, this.maxPayloadBytes);
    this.checkOpen();
    const stream = [...this.broker.values()].find((s) => s.captures(subject));
    if (stream === undefined) {
      throw new FlywheelError(
        "FW_REQUEST_INVALID_FIELD",
        `Invalid subject '${subject}': no stream captures it (create one with ensureStream)`,
      );
    }
    // Copied so the caller may reuse its buffer once publish returns.
    return stream.append(subject, data === payload ? data.slice() : data, options.msgId, Date.now());
  }

  async consume(stream: string, durable: string, options: ConsumeOptions, handler: BatchHandler): Promise<Subscription> {
    checkStreamName(stream);
    checkDurableName(durable);
    const resolved = resolveConsumeOptions(options);
    this.checkOpen();
    const s = this.stream(stream);
    const config = {
      filterSubject: resolved.filterSubject,
      ackWaitMs: resolved.ackWaitMs,
      maxDeliver: resolved.maxDeliver,
      maxAckPending: resolved.maxAckPending,
    };
    let consumer = s.consumers.get(durable);
    if (consumer === undefined) {
      consumer = new MemoryConsumer(s, config);
      s.consumers.set(durable, consumer);
    } else {
      checkSameFilter(stream, durable, consumer.config.filterSubject, config.filterSubject);
      consumer.config = config;
    }
    const source = memorySource(s, consumer, durable);
    const report = resolved.onError ?? reportTo(this.logger, stream, durable);
    const sub = startConsumeLoop(source, resolved, handler, report, () => this.subscriptions.delete(sub));
    this.subscriptions.add(sub);
    return sub;
  }

  async consumerState(stream: string, durable: string): Promise<ConsumerState | undefined> {
    checkStreamName(stream);
    checkDurableName(durable);
    this.checkOpen();
    return this.broker.get(stream)?.consumers.get(durable)?.state();
  }

  async deleteConsumer(stream: string, durable: string): Promise<boolean> {
    checkStreamName(stream);
    checkDurableName(durable);
    this.checkOpen();
    const s = this.stream(stream);
    const consumer = s.consumers.get(durable);
    if (consumer === undefined) return false;
    consumer.deleted = true;
    consumer.notify();
    s.consumers.delete(durable);
    return true;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await Promise.all([...this.subscriptions].map((s) => s.stop()));
    this.closed = true;
  }
}

function memorySource(stream: MemoryStream, consumer: MemoryConsumer, durable: string): PullSource<MemoryDelivery> {
  const seqs = (batch: readonly MemoryDelivery[]) => batch.map((d) => d.seq);
  return {
    async pull(max, signal) {
      for (;;) {
        if (consumer.deleted) {
          throw new FlywheelError(
            "FW_REQUEST_INVALID_FIELD",
            `Invalid durable '${durable}': the consumer (or stream '${stream.name}') was deleted while consuming`,
          );
        }
        const now = Date.now();
        stream.prune(now);
        const taken = consumer.take(max, now);
        if (taken.length > 0) return taken.map((t) => toDelivery(stream.name, t));
        if (signal.aborted) return [];
        const due = consumer.nextDueAt();
        await consumer.wait(Math.min(IDLE_WAIT_MS, due === undefined ? IDLE_WAIT_MS : due - now), signal);
      }
    },
    async ack(batch) {
      consumer.ack(seqs(batch));
    },
    async nak(batch, delayMs) {
      consumer.reschedule(seqs(batch), Date.now(), delayMs);
    },
    working(batch) {
      consumer.reschedule(seqs(batch), Date.now(), consumer.config.ackWaitMs);
    },
  };
}
