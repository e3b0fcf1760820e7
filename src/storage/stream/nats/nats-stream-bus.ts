/**
 * The NATS JetStream StreamBus (`nats://`). Streams use file storage and limits retention;
 * consumers are durable pull consumers with explicit acks that start at the stream's first
 * message, so a new durable sees the whole stream and an old one resumes after its ack floor.
 */
import {
  AckPolicy,
  DeliverPolicy,
  JetStreamApiCodes,
  jetstreamManager,
  StorageType,
  type JetStreamClient,
  type JetStreamManager,
} from "@nats-io/jetstream";
import { connect, nanos, type NatsConnection } from "@nats-io/transport-node";
import { FlywheelError } from "../../../core/errors.js";
import type { Logger } from "../../../core/logger.js";
import { startConsumeLoop } from "../consume-loop.js";
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
  type ResolvedConsumeOptions,
} from "../validate.js";
import { consumerNotFound, isApiError, streamNotFound, wrapNatsError } from "./nats-errors.js";
import { NatsPullSource } from "./nats-pull.js";
import { parseNatsUri } from "./nats-uri.js";

const CONNECT_TIMEOUT_MS = 5000;
const PUBLISH_TIMEOUT_MS = 5000;
const SUBJECTS_OVERLAP = 10065;

export class NatsStreamBus implements StreamBus {
  readonly scheme = "nats";
  readonly capabilities: StreamBusCapabilities = { sharedAcrossHosts: true, survivesRestart: true };
  readonly maxPayloadBytes: number;
  private readonly js: JetStreamClient;
  private readonly subscriptions = new Set<Subscription>();
  private readonly reconnectListeners = new Set<() => void>();
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    private readonly server: string,
    private readonly logger: Logger | undefined,
  ) {
    this.js = jsm.jetstream();
    this.maxPayloadBytes = nc.info?.max_payload ?? 1024 * 1024;
    // A connection closed for good (not by close()) ends the consumers instead of leaving them retrying.
    void nc.closed().then(() => Promise.all([...this.subscriptions].map((s) => s.stop())));
    // Pulls waiting on the old connection are gone with it: re-issue them at once rather than
    // after their client-side timeout.
    void (async () => {
      for await (const status of nc.status()) {
        if (status.type === "reconnect") for (const listener of [...this.reconnectListeners]) listener();
      }
    })();
  }

  private onReconnect(listener: () => void): () => void {
    this.reconnectListeners.add(listener);
    return () => this.reconnectListeners.delete(listener);
  }

  /** Connects to the servers a `nats://` URI names and checks that JetStream answers. */
  static async open(uri: string, logger?: Logger): Promise<NatsStreamBus> {
    const target = parseNatsUri(uri);
    let nc: NatsConnection;
    try {
      nc = await connect({
        servers: target.servers,
        name: "flywheel",
        timeout: CONNECT_TIMEOUT_MS,
        maxReconnectAttempts: -1,
        ...(target.user === undefined ? {} : { user: target.user, pass: target.pass }),
        ...(target.token === undefined ? {} : { token: target.token }),
      });
    } catch (e) {
      const reason = e instanceof Error ? `${e.message}${e.cause instanceof Error ? ` (${e.cause.message})` : ""}` : String(e);
      throw new FlywheelError("FW_STORAGE_UNAVAILABLE", `Cannot reach NATS at '${target.display}': ${reason}`, { cause: e });
    }
    try {
      const jsm = await jetstreamManager(nc, { timeout: CONNECT_TIMEOUT_MS });
      return new NatsStreamBus(nc, jsm, target.display, logger);
    } catch (e) {
      await nc.close().catch(() => undefined);
      throw new FlywheelError(
        "FW_STORAGE_UNAVAILABLE",
        `NATS at '${target.display}' does not answer JetStream requests (is the server started with -js?): ${(e as Error).message}`,
        { cause: e },
      );
    }
  }

  private checkOpen(): void {
    if (this.closing !== undefined || this.nc.isClosed()) {
      throw new FlywheelError("FW_STORAGE_UNAVAILABLE", `The stream bus connection to NATS at '${this.server}' is closed`);
    }
  }

  async ensureStream(name: string, subjects: readonly string[], options?: StreamOptions): Promise<void> {
    checkStreamName(name);
    checkStreamSubjects(subjects);
    const resolved = resolveStreamOptions(options);
    this.checkOpen();
    const wanted = {
      subjects: [...subjects],
      duplicate_window: nanos(resolved.duplicateWindowMs),
      max_age: nanos(resolved.maxAgeMs),
    };
    try {
      let current;
      try {
        current = (await this.jsm.streams.info(name)).config;
      } catch (e) {
        if (!isApiError(e, JetStreamApiCodes.StreamNotFound)) throw e;
        await this.jsm.streams.add({ name, storage: StorageType.File, ...wanted });
        return;
      }
      const same =
        current.subjects.length === subjects.length &&
        current.subjects.every((s, i) => s === subjects[i]) &&
        current.duplicate_window === wanted.duplicate_window &&
        current.max_age === wanted.max_age;
      if (!same) await this.jsm.streams.update(name, wanted);
    } catch (e) {
      if (isApiError(e, SUBJECTS_OVERLAP)) {
        throw new FlywheelError(
          "FW_REQUEST_INVALID_FIELD",
          `Invalid subjects: [${subjects.join(", ")}] overlap the subjects of another stream (a subject may belong to one stream only)`,
          { cause: e },
        );
      }
      throw wrapNatsError(e, this.server, `create or update stream '${name}'`, "stream");
    }
  }

  async deleteStream(name: string): Promise<boolean> {
    checkStreamName(name);
    this.checkOpen();
    try {
      return await this.jsm.streams.delete(name);
    } catch (e) {
      if (isApiError(e, JetStreamApiCodes.StreamNotFound)) return false;
      throw wrapNatsError(e, this.server, `delete stream '${name}'`, "stream");
    }
  }

  async publish(subject: string, payload: StreamPayload, options: PublishOptions = {}): Promise<PublishAck> {
    checkSubject(subject);
    checkMsgId(options.msgId);
    const data = encodePayload(payload, this.maxPayloadBytes);
    this.checkOpen();
    try {
      const ack = await this.js.publish(subject, data, {
        timeout: PUBLISH_TIMEOUT_MS,
        ...(options.msgId === undefined ? {} : { msgID: options.msgId }),
      });
      return { stream: ack.stream, seq: ack.seq, duplicate: ack.duplicate };
    } catch (e) {
      throw await this.explainPublishFailure(subject, e);
    }
  }

  /** No responder to a publish means no stream captures the subject, unless JetStream itself is gone. */
  private async explainPublishFailure(subject: string, e: unknown): Promise<FlywheelError> {
    const failure = wrapNatsError(e, this.server, `store a message on '${subject}'`, "subject");
    if (failure.code !== "FW_STORAGE_UNAVAILABLE" || this.nc.isClosed()) return failure;
    try {
      await this.jsm.streams.find(subject);
    } catch (lookup) {
      if (isApiError(lookup, JetStreamApiCodes.StreamNotFound) || /no stream matches subject/i.test(String(lookup))) {
        return new FlywheelError(
          "FW_REQUEST_INVALID_FIELD",
          `Invalid subject '${subject}': no stream captures it (create one with ensureStream)`,
          { cause: e },
        );
      }
    }
    return failure;
  }

  async consume(stream: string, durable: string, options: ConsumeOptions, handler: BatchHandler): Promise<Subscription> {
    checkStreamName(stream);
    checkDurableName(durable);
    const resolved = resolveConsumeOptions(options);
    this.checkOpen();
    await this.ensureConsumer(stream, durable, resolved);
    const source = new NatsPullSource(this.nc, stream, durable, this.server, {
      explainSilence: () => this.explainSilence(stream, durable),
      onReconnect: (listener) => this.onReconnect(listener),
    });
    const report = resolved.onError ?? reportTo(this.logger, stream, durable);
    const sub = startConsumeLoop(source, resolved, handler, report, () => this.subscriptions.delete(sub));
    this.subscriptions.add(sub);
    return sub;
  }

  private async ensureConsumer(stream: string, durable: string, o: ResolvedConsumeOptions): Promise<void> {
    const wanted = { ack_wait: nanos(o.ackWaitMs), max_deliver: o.maxDeliver, max_ack_pending: o.maxAckPending };
    try {
      let current;
      try {
        current = (await this.jsm.consumers.info(stream, durable)).config;
      } catch (e) {
        if (!isApiError(e, JetStreamApiCodes.ConsumerNotFound)) throw e;
        await this.jsm.consumers.add(stream, {
          durable_name: durable,
          ack_policy: AckPolicy.Explicit,
          deliver_policy: DeliverPolicy.All,
          ...wanted,
          // An empty filter would become a trailing '.' in the create subject: leave it out.
          ...(o.filterSubject === undefined ? {} : { filter_subject: o.filterSubject }),
        });
        return;
      }
      checkSameFilter(stream, durable, current.filter_subject, o.filterSubject);
      const same =
        current.ack_wait === wanted.ack_wait &&
        current.max_deliver === wanted.max_deliver &&
        current.max_ack_pending === wanted.max_ack_pending;
      if (!same) await this.jsm.consumers.update(stream, durable, wanted);
    } catch (e) {
      if (isApiError(e, JetStreamApiCodes.StreamNotFound)) throw streamNotFound(stream);
      throw wrapNatsError(e, this.server, `create or update consumer '${durable}' on stream '${stream}'`, "durable");
    }
  }

  /** Why a pull got no answer at all: the consumer is gone, or the server is unreachable. */
  private async explainSilence(stream: string, durable: string): Promise<never> {
    try {
      await this.jsm.consumers.info(stream, durable);
    } catch (e) {
      if (isApiError(e, JetStreamApiCodes.StreamNotFound)) throw streamNotFound(stream);
      if (isApiError(e, JetStreamApiCodes.ConsumerNotFound)) throw consumerNotFound(stream, durable);
      throw wrapNatsError(e, this.server, `answer a pull from consumer '${durable}' on stream '${stream}'`);
    }
    throw new FlywheelError(
      "FW_STORAGE_UNAVAILABLE",
      `NATS JetStream at '${this.server}' did not answer a pull from consumer '${durable}' on stream '${stream}'`,
    );
  }

  async consumerState(stream: string, durable: string): Promise<ConsumerState | undefined> {
    checkStreamName(stream);
    checkDurableName(durable);
    this.checkOpen();
    try {
      const info = await this.jsm.consumers.info(stream, durable);
      return { ackFloorSeq: info.ack_floor.stream_seq, numPending: info.num_pending, numAckPending: info.num_ack_pending };
    } catch (e) {
      if (isApiError(e, JetStreamApiCodes.StreamNotFound) || isApiError(e, JetStreamApiCodes.ConsumerNotFound)) return undefined;
      throw wrapNatsError(e, this.server, `read consumer '${durable}' on stream '${stream}'`);
    }
  }

  async deleteConsumer(stream: string, durable: string): Promise<boolean> {
    checkStreamName(stream);
    checkDurableName(durable);
    this.checkOpen();
    try {
      return await this.jsm.consumers.delete(stream, durable);
    } catch (e) {
      if (isApiError(e, JetStreamApiCodes.StreamNotFound)) throw streamNotFound(stream);
      if (isApiError(e, JetStreamApiCodes.ConsumerNotFound)) return false;
      throw wrapNatsError(e, this.server, `delete consumer '${durable}' on stream '${stream}'`);
    }
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      await Promise.all([...this.subscriptions].map((s) => s.stop()));
      await this.nc.close();
    })();
    return this.closing;
  }
}
