/**
 * The StreamBus port: durable subjects grouped into streams, and durable pull consumers that
 * hand batches to a handler with at-least-once delivery. It carries feature push events, the
 * streaming scorer's input and output, the inference log and monitoring events.
 *
 * The contract follows NATS JetStream (the production backend):
 * - a stream stores every message published to one of its subjects, numbered by a stream
 *   sequence (`seq`) that increases by one per stored message;
 * - `publish` resolves once the message is stored; a `msgId` seen again within the stream's
 *   duplicate window is not stored twice (the answer says `duplicate` and gives the first seq);
 * - a consumer is named by a durable name; its position survives `stop()` and reconnection, so a
 *   restart resumes after the last acknowledged message;
 * - a batch is acknowledged only after the handler resolves; a throwing handler (or a process that
 *   dies mid-batch) gets the batch redelivered, with `deliveryCount` counting the attempts;
 * - with the default `maxAckPending` (one batch) a consumer sees its messages in stream order,
 *   redeliveries included, so per-subject order holds and `seq` can serve as an idempotency key
 *   (record the last applied seq with the effect, skip anything at or below it).
 *
 * Delivery is at-least-once, never exactly-once: a publish that fails with
 * FW_STORAGE_UNAVAILABLE may still have been stored (retry it with the same msgId), and after a
 * broker crash JetStream may redeliver messages whose acks it had not yet written to disk.
 *
 * Backends (chosen by `openStreamBus(uri)`): `memory:` / `memory://<name>` is in-process, shared
 * by every bus opened with the same URI until the process exits; `nats://host:port` is JetStream.
 */
import type { Logger } from "../../core/logger.js";

/** A message body: raw bytes, or any JSON value other than a bare string (sent as UTF-8 JSON). */
export type StreamPayload = Uint8Array | object | number | boolean | null;

export interface PublishOptions {
  /** Deduplication id: a second publish with the same id within the duplicate window is dropped. */
  msgId?: string;
}

export interface PublishAck {
  stream: string;
  /** The stream sequence the message was stored at (the first one's, for a duplicate). */
  seq: number;
  duplicate: boolean;
}

export interface StreamOptions {
  /** How long msgIds are remembered for deduplication (default 120 000 ms, as JetStream). */
  duplicateWindowMs?: number;
  /** Messages older than this are removed (default 0: kept until the stream is deleted). */
  maxAgeMs?: number;
}

/** One delivered message. `data` is the caller's own copy. */
export interface StreamMessage {
  readonly stream: string;
  readonly subject: string;
  /** Stream sequence: unique and increasing within the stream, the same on every redelivery. */
  readonly seq: number;
  readonly data: Uint8Array;
  /** The publisher's msgId, when it gave one. */
  readonly msgId: string | undefined;
  /** 1 on the first delivery, then 2, 3, ... on redeliveries. */
  readonly deliveryCount: number;
  /** When the message was stored, epoch milliseconds. */
  readonly publishedAt: number;
  /** The body decoded as UTF-8 JSON. */
  json<T = unknown>(): T;
  /** The body decoded as UTF-8. */
  text(): string;
}

export interface ConsumeOptions {
  /** Only messages whose subject matches this pattern (`*` one token, `>` the rest); default all. */
  filterSubject?: string;
  /** Most messages handed to the handler at once (default 100). */
  batch?: number;
  /**
   * How long a delivered message may stay unacknowledged before it is redelivered (default
   * 30 000 ms). A running handler keeps its batch alive, so this bounds recovery after a crash,
   * not the handler's duration.
   */
  ackWaitMs?: number;
  /** Deliveries before a message is given up on (default -1: unlimited). */
  maxDeliver?: number;
  /**
   * Messages delivered and not yet acknowledged, across every process sharing the durable
   * (default: `batch`, which keeps stream order; raise it to let several processes share work).
   */
  maxAckPending?: number;
  /** Delay before a batch whose handler threw is redelivered (default 1000 ms). */
  retryDelayMs?: number;
  /**
   * Told about each handler failure (with the batch that will be redelivered, unless a message's
   * `deliveryCount` has reached `maxDeliver`) and each transport failure (with an empty batch).
   * Without it, failures are logged as warnings.
   */
  onError?: (error: unknown, messages: readonly StreamMessage[]) => void;
}

export type BatchHandler = (messages: readonly StreamMessage[]) => Promise<void>;

export interface Subscription {
  /** Stops pulling, lets the batch in flight finish and be acknowledged, then resolves. */
  stop(): Promise<void>;
  /** Resolves when the consumer has stopped (after `stop()` or when the bus closes). */
  readonly done: Promise<void>;
}

export interface ConsumerState {
  /** Every message at or below this seq is acknowledged (or given up on). */
  ackFloorSeq: number;
  /** Messages matching the consumer's filter not yet delivered. */
  numPending: number;
  /** Messages delivered and awaiting acknowledgement (including those waiting for redelivery). */
  numAckPending: number;
}

/** What a backend offers beyond the required contract. */
export interface StreamBusCapabilities {
  /** Processes on several hosts can publish to and consume the same streams. */
  readonly sharedAcrossHosts: boolean;
  /** Streams and consumer positions survive a restart of the process (and of the broker). */
  readonly survivesRestart: boolean;
}

export interface StreamBus {
  readonly scheme: string;
  readonly capabilities: StreamBusCapabilities;
  /** The largest message body the bus accepts, in bytes. */
  readonly maxPayloadBytes: number;
  /**
   * Creates the stream, or updates its subjects and options to these. Subjects may use wildcards;
   * they may not overlap another stream's.
   * @example await bus.ensureStream("FEATURE_PUSH", ["push.>"]);
   */
  ensureStream(name: string, subjects: readonly string[], options?: StreamOptions): Promise<void>;
  /** Deletes the stream, its messages and its consumers; false when it did not exist. */
  deleteStream(name: string): Promise<boolean>;
  /**
   * Stores one message; resolves when it is persisted.
   * @example await bus.publish("push.driver_stats", { driver_id: 1, trips: 3 }, { msgId: "batch-7:row-1" });
   */
  publish(subject: string, payload: StreamPayload, options?: PublishOptions): Promise<PublishAck>;
  /**
   * Starts (or resumes) the durable consumer `durable` on `stream` and feeds batches to `handler`
   * until stopped. Resolves once the consumer exists and pulling has begun.
   * @example const sub = await bus.consume("FEATURE_PUSH", "online-writer", { batch: 500 }, async (msgs) => apply(msgs));
   */
  consume(stream: string, durable: string, options: ConsumeOptions, handler: BatchHandler): Promise<Subscription>;
  /** The consumer's position, or undefined when no such consumer exists. */
  consumerState(stream: string, durable: string): Promise<ConsumerState | undefined>;
  /** Deletes the durable consumer (its position is forgotten); false when it did not exist. */
  deleteConsumer(stream: string, durable: string): Promise<boolean>;
  /** Stops every consumer this bus started (letting batches in flight finish), then disconnects. */
  close(): Promise<void>;
}

export interface StreamBusOptions {
  /** Where consumer failures go when a consumer has no `onError`. */
  logger?: Logger;
}
