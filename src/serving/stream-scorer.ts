/**
 * The streaming scorer: a durable consumer of a subject carrying feature records (or entity keys)
 * that publishes one prediction message per input message to another subject, through the same
 * prediction path as `POST /api/v1/predict/<model>` (PredictService: features by name, missing
 * ones from the online store in the package's order, class-name labels).
 *
 * Delivery:
 * - each batch is scored with as few model runs as possible (all of its records at once), and
 *   acknowledged only after every output of the batch was stored; a publish that fails throws,
 *   so the batch is redelivered;
 * - outputs are published with msgId `<durable>:<input seq>`, so a redelivered input within the
 *   output stream's duplicate window (two minutes by default) is not stored twice. Past that
 *   window (a scorer down for longer between publishing and acknowledging), a second output can
 *   appear: `source_seq` lets a reader drop it;
 * - a message that can never be scored (not JSON, not a record, a missing or mistyped feature, an
 *   entity absent from the online store) goes to `<output subject>.errors` with the reason and is
 *   acknowledged, so it does not block the stream. Anything else (the model or a store
 *   unavailable, the model's alias gone) fails the batch, which is redelivered after a delay;
 * - the consumer is durable: a restart resumes after the last acknowledged message.
 */
import { createHash } from "node:crypto";
import { isFlywheelError } from "../core/errors.js";
import type { Logger } from "../core/logger.js";
import type { ModelRef } from "../registry/model-uri.js";
import type { ConsumerState, StreamBus, StreamMessage, Subscription } from "../storage/stream/stream-bus.js";
import { patternsOverlap } from "../storage/stream/subjects.js";
import { checkDurableName, checkPattern, checkStreamName, checkSubject } from "../storage/stream/validate.js";
import { ServingError } from "./errors.js";
import type { InferenceService } from "./inference-service.js";
import { MAX_PREDICT_ROWS, type PredictService, type Prediction } from "./predict.js";
import { Unscorable, parseInput, type ParsedInput } from "./stream-input.js";

export interface StreamScorerOptions {
  bus: StreamBus;
  predictor: Pick<PredictService, "predict">;
  /** Checks, before the scorer starts and when a batch is refused, that the model itself can score records. */
  inference: Pick<InferenceService, "withModel">;
  model: ModelRef;
  /** The subject (or pattern) input messages arrive on. */
  inputSubject: string;
  /** Where predictions go; unscorable messages go to `<outputSubject>.errors`. */
  outputSubject: string;
  /** An existing stream holding the input subject, used as it is; default: a stream the scorer creates. */
  inputStream?: string;
  /** An existing stream capturing the output and error subjects; default: a stream the scorer creates. */
  outputStream?: string;
  /** The durable consumer's name; default from the model reference (see `defaultDurable`). */
  durable?: string;
  /** Messages per batch; default 100. */
  batch?: number;
  ackWaitMs?: number;
  /** Delay before a failed batch is redelivered; default 1000 ms. */
  retryDelayMs?: number;
  logger?: Logger;
}

export interface StreamScorerStats {
  /** Input messages handled (acknowledged with an output or an error message). */
  messages: number;
  /** Records scored. */
  records: number;
  /** Messages sent to the error subject. */
  rejected: number;
  /** Batches that failed and were handed back for redelivery. */
  failedBatches: number;
  /** Deliveries of messages seen before (after a failure or a restart). */
  redeliveries: number;
}

type Outcome = { kind: "scored"; modelName: string; modelVersion: string; predictions: Prediction[] } | { kind: "rejected"; reason: string };

const MAX_ERROR_DATA_CHARS = 8192;
const encoder = new TextEncoder();

/** The error subject of an output subject. */
export function errorSubjectOf(outputSubject: string): string {
  return `${outputSubject}.errors`;
}

function hash(text: string, chars: number): string {
  return createHash("sha256").update(text).digest("hex").slice(0, chars);
}

/** A stream or durable name from free text: `[A-Za-z0-9_-]`, at most `max` characters, a hash suffix when the text had to change. */
function safeName(text: string, max: number): string {
  const clean = text.replace(/[^A-Za-z0-9_-]/g, "_");
  if (clean === text && clean.length <= max) return clean;
  const suffix = `_${hash(text, 8)}`;
  return clean.slice(0, max - suffix.length) + suffix;
}

/** The stream the scorer creates for its input subject (or its outputs), when none is named. */
export function defaultStreamName(role: "in" | "out", subject: string): string {
  return `FW_SCORE_${role.toUpperCase()}_${safeName(subject, 64 - 13)}`;
}

/** `score-iris-champion`, `score-iris-v3`, `score-iris-latest`, `score-iris-Production`. */
export function defaultDurable(ref: ModelRef): string {
  const what = ref.kind === "alias" ? ref.alias : ref.kind === "version" ? `v${ref.version}` : ref.kind === "stage" ? ref.stage : "latest";
  return safeName(`score-${ref.name}-${what}`, 64);
}

/** `iris@champion`, `iris/3`, `iris/latest`, `iris/Production`. */
export function refLabel(ref: ModelRef): string {
  switch (ref.kind) {
    case "alias":
      return `${ref.name}@${ref.alias}`;
    case "version":
      return `${ref.name}/${ref.version}`;
    case "stage":
      return `${ref.name}/${ref.stage}`;
    case "latest":
      return `${ref.name}/latest`;
  }
}

/** A failure that is the message's fault (a 4xx other than an unknown model): it will fail again. */
function isMessageFault(e: unknown): boolean {
  if (e instanceof ServingError) return e.status === 400;
  return isFlywheelError(e) && e.status >= 400 && e.status < 500 && e.status !== 404;
}

export class StreamScorer {
  readonly stats: StreamScorerStats = { messages: 0, records: 0, rejected: 0, failedBatches: 0, redeliveries: 0 };
  readonly inputSubject: string;
  readonly outputSubject: string;
  readonly inputStream: string;
  readonly outputStream: string;
  readonly durable: string;
  readonly errorSubject: string;
  private subscription: Subscription | undefined;
  /** The feature list of the version last checked; only used to group messages. */
  private features: readonly string[] | undefined;

  constructor(private readonly options: StreamScorerOptions) {
    const { inputSubject, outputSubject } = options;
    this.inputSubject = inputSubject;
    this.outputSubject = outputSubject;
    checkPattern(inputSubject, "input subject");
    checkSubject(outputSubject);
    this.errorSubject = errorSubjectOf(outputSubject);
    checkSubject(this.errorSubject);
    for (const out of [outputSubject, this.errorSubject]) {
      if (patternsOverlap(inputSubject, out)) {
        throw new ServingError(400, `the output subject '${out}' matches the input subject '${inputSubject}': the scorer would read its own output`);
      }
    }
    this.inputStream = options.inputStream ?? defaultStreamName("in", inputSubject);
    this.outputStream = options.outputStream ?? defaultStreamName("out", outputSubject);
    checkStreamName(this.inputStream, "input stream");
    checkStreamName(this.outputStream, "output stream");
    this.durable = options.durable ?? defaultDurable(options.model);
    checkDurableName(this.durable);
    if (options.batch !== undefined && (!Number.isSafeInteger(options.batch) || options.batch < 1)) {
      throw new ServingError(400, `the batch size must be a whole number >= 1, got ${options.batch}`);
    }
  }

  /**
   * Checks the model, creates the streams the scorer owns, and starts consuming; resolves with
   * the version the reference points at now.
   */
  async start(): Promise<{ name: string; version: string }> {
    if (this.subscription !== undefined) throw new Error("the scorer is already running");
    const model = await this.checkModel();
    const { bus, inputSubject, outputSubject } = this.options;
    if (this.options.inputStream === undefined) await this.ensure(this.inputStream, [inputSubject], "inputStream");
    if (this.options.outputStream === undefined) await this.ensure(this.outputStream, [outputSubject, this.errorSubject], "outputStream");
    const logger = this.options.logger;
    this.subscription = await bus.consume(
      this.inputStream,
      this.durable,
      {
        filterSubject: inputSubject,
        batch: this.options.batch ?? 100,
        ...(this.options.ackWaitMs === undefined ? {} : { ackWaitMs: this.options.ackWaitMs }),
        retryDelayMs: this.options.retryDelayMs ?? 1000,
        onError: (error, messages) => {
          if (messages.length > 0) this.stats.failedBatches++;
          const seqs = messages.length === 0 ? undefined : `${messages[0]?.seq}-${messages.at(-1)?.seq}`;
          logger?.warn({ err: error, stream: this.inputStream, durable: this.durable, seqs }, messages.length > 0 ? "scoring batch failed; it will be redelivered" : "stream consumer failed");
        },
      },
      (messages) => this.handle(messages),
    );
    return model;
  }

  /** Stops pulling; the batch in flight is finished and acknowledged first. */
  async stop(): Promise<void> {
    const sub = this.subscription;
    this.subscription = undefined;
    await sub?.stop();
  }

  /** Resolves when the consumer has stopped. */
  get done(): Promise<void> {
    return this.subscription?.done ?? Promise.resolve();
  }

  /** The durable consumer's position. */
  consumerState(): Promise<ConsumerState | undefined> {
    return this.options.bus.consumerState(this.inputStream, this.durable);
  }

  /** Whether every message on the input subject so far has been handled and acknowledged. */
  async caughtUp(): Promise<boolean> {
    const s = await this.consumerState();
    return s !== undefined && s.numPending === 0 && s.numAckPending === 0;
  }

  private async ensure(stream: string, subjects: string[], option: string): Promise<void> {
    try {
      await this.options.bus.ensureStream(stream, subjects);
    } catch (e) {
      if (!isFlywheelError(e) || e.status >= 500) throw e;
      throw new ServingError(
        400,
        `cannot create stream '${stream}' for [${subjects.join(", ")}]: ${e.message}. If a stream of yours already captures them, name it (${option})`,
        { cause: e },
      );
    }
  }

  /** The model the reference points at can take records by feature name; otherwise it throws (404 or 400). */
  async checkModel(): Promise<{ name: string; version: string }> {
    return this.options.inference.withModel(this.options.model, async (m) => {
      const [input, ...more] = m.signature.inputs;
      if (m.flywheel?.features === undefined || input === undefined || more.length > 0 || input.shape.length !== 2) {
        throw new ServingError(400, `model '${m.name}' version ${m.version} has no feature list (metadata.flywheel.features) for a single 2-D input, so it cannot score records`);
      }
      this.features = m.flywheel.features;
      return { name: m.name, version: m.version };
    });
  }

  /** Scores a batch, publishes one message per input, and resolves once all are stored. */
  async handle(messages: readonly StreamMessage[]): Promise<void> {
    const outcomes = new Map<StreamMessage, Outcome>();
    const inputs = new Map<StreamMessage, ParsedInput>();
    for (const m of messages) {
      if (m.deliveryCount > 1) this.stats.redeliveries++;
      try {
        inputs.set(m, parseInput(m));
      } catch (e) {
        if (!(e instanceof Unscorable)) throw e;
        outcomes.set(m, { kind: "rejected", reason: e.message });
      }
    }
    // Messages whose records carry every feature never touch the online store; scored apart from
    // the others, they cannot be refused for another record's missing entity key.
    const features = this.features;
    const complete = (m: StreamMessage) => features !== undefined && (inputs.get(m) as ParsedInput).rows.every((r) => features.every((f) => r[f] !== undefined && r[f] !== null));
    const scorable = messages.filter((m) => inputs.has(m));
    const checked = { done: false };
    for (const part of [scorable.filter(complete), scorable.filter((m) => !complete(m))]) {
      for (const group of groupsOf(part, inputs)) await this.score(group, inputs, outcomes, checked);
    }

    const { bus, outputSubject } = this.options;
    const publishes: Promise<unknown>[] = [];
    let records = 0;
    let rejected = 0;
    for (const m of messages) {
      const outcome = outcomes.get(m) as Outcome;
      const input = inputs.get(m);
      const id = input?.id ?? m.msgId ?? `${m.stream}:${m.seq}`;
      if (outcome.kind === "scored") {
        const body = {
          id,
          model_name: outcome.modelName,
          model_version: outcome.modelVersion,
          ...(input?.single === true ? { prediction: outcome.predictions[0] } : { predictions: outcome.predictions }),
          source_seq: m.seq,
          source_subject: m.subject,
        };
        const bytes = encoder.encode(JSON.stringify(body));
        if (bytes.byteLength <= bus.maxPayloadBytes) {
          records += outcome.predictions.length;
          publishes.push(bus.publish(outputSubject, bytes, { msgId: `${this.durable}:${m.seq}` }));
          continue;
        }
        const reason = `the predictions for ${outcome.predictions.length} records take ${bytes.byteLength} bytes, more than the bus's largest message (${bus.maxPayloadBytes} bytes); send fewer records per message`;
        outcomes.set(m, { kind: "rejected", reason });
      }
      rejected++;
      publishes.push(bus.publish(this.errorSubject, this.errorBody(m, input, (outcomes.get(m) as { reason: string }).reason), { msgId: `${this.durable}:${m.seq}:error` }));
    }
    // Every publish is issued before any is awaited (one round trip for the batch, stored in order).
    const settled = await Promise.allSettled(publishes);
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === "rejected");
    if (failed !== undefined) throw failed.reason;
    this.stats.messages += messages.length;
    this.stats.records += records;
    this.stats.rejected += rejected;
  }

  private errorBody(m: StreamMessage, input: ParsedInput | undefined, reason: string): object {
    const text = m.text();
    return {
      ...(input?.id === undefined ? {} : { id: input.id }),
      error: reason,
      model: refLabel(this.options.model),
      source_seq: m.seq,
      source_subject: m.subject,
      data: text.length > MAX_ERROR_DATA_CHARS ? text.slice(0, MAX_ERROR_DATA_CHARS) : text,
      ...(text.length > MAX_ERROR_DATA_CHARS ? { data_truncated: true } : {}),
    };
  }

  /**
   * Scores a group of messages with one prediction call. When the call is refused for the
   * input's sake, the group is split in halves until the messages at fault are found alone; the
   * model is checked first, so a model that cannot score at all fails the batch instead.
   */
  private async score(group: StreamMessage[], inputs: Map<StreamMessage, ParsedInput>, outcomes: Map<StreamMessage, Outcome>, checked: { done: boolean }): Promise<void> {
    const rows = group.flatMap((m) => (inputs.get(m) as ParsedInput).rows);
    try {
      const first = group[0] as StreamMessage;
      const answer = await this.options.predictor.predict(this.options.model, { records: rows, id: `${this.durable}:${first.seq}-${(group.at(-1) as StreamMessage).seq}` });
      let at = 0;
      for (const m of group) {
        const n = (inputs.get(m) as ParsedInput).rows.length;
        outcomes.set(m, { kind: "scored", modelName: answer.model_name, modelVersion: answer.model_version, predictions: answer.predictions.slice(at, at + n) });
        at += n;
      }
    } catch (e) {
      if (!isMessageFault(e)) throw e;
      if (!checked.done) {
        await this.checkModel();
        checked.done = true;
      }
      if (group.length === 1) {
        const m = group[0] as StreamMessage;
        const message = e instanceof Error ? e.message : String(e);
        outcomes.set(m, { kind: "rejected", reason: (inputs.get(m) as ParsedInput).single ? message.replaceAll("records[0]", "record") : message });
        return;
      }
      const half = Math.ceil(group.length / 2);
      await this.score(group.slice(0, half), inputs, outcomes, checked);
      await this.score(group.slice(half), inputs, outcomes, checked);
    }
  }
}

/** Consecutive messages grouped so that no group holds more records than one prediction call takes. */
function groupsOf(messages: StreamMessage[], inputs: Map<StreamMessage, ParsedInput>): StreamMessage[][] {
  const groups: StreamMessage[][] = [];
  let current: StreamMessage[] = [];
  let rows = 0;
  for (const m of messages) {
    const n = (inputs.get(m) as ParsedInput).rows.length;
    if (current.length > 0 && rows + n > MAX_PREDICT_ROWS) {
      groups.push(current);
      current = [];
      rows = 0;
    }
    current.push(m);
    rows += n;
  }
  if (current.length > 0) groups.push(current);
  return groups;
}
