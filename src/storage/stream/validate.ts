/**
 * Argument rules shared by every StreamBus backend, checked before a backend is called, so a bad
 * name fails the same way (FW_REQUEST_INVALID_FIELD naming the field and the rule) on all of them.
 */
import { FlywheelError } from "../../core/errors.js";
import type { ConsumeOptions, StreamOptions, StreamPayload } from "./stream-bus.js";

// JetStream forbids '.', '*', '>', whitespace and path separators in stream and consumer names.
const NAME_RE = /^[A-Za-z0-9_-]{1,64}$/;
// Tokens are kept to a portable set; '$' would reach NATS system subjects ($JS, $SYS).
const TOKEN_RE = /^[A-Za-z0-9_\-:@=+~]+$/;
const MAX_SUBJECT_LENGTH = 255;
const MAX_MSG_ID_LENGTH = 256;

function invalid(message: string): FlywheelError {
  return new FlywheelError("FW_REQUEST_INVALID_FIELD", message);
}

export function checkStreamName(name: string, field = "stream"): void {
  if (typeof name !== "string" || !NAME_RE.test(name)) {
    throw invalid(`Invalid ${field} name '${String(name)}': use 1 to 64 letters, digits, '_' or '-'`);
  }
}

export function checkDurableName(name: string): void {
  checkStreamName(name, "durable");
}

function checkTokens(value: string, field: string, wildcards: boolean): void {
  const rule = wildcards
    ? "dot-separated tokens of letters, digits and _-:@=+~, where a token may be '*' and the last may be '>'"
    : "dot-separated tokens of letters, digits and _-:@=+~ (no wildcards)";
  const bad = () => invalid(`Invalid ${field} '${String(value)}': use ${rule}, at most ${MAX_SUBJECT_LENGTH} characters`);
  if (typeof value !== "string" || value.length === 0 || value.length > MAX_SUBJECT_LENGTH) throw bad();
  const tokens = value.split(".");
  tokens.forEach((t, i) => {
    if (wildcards && (t === "*" || (t === ">" && i === tokens.length - 1))) return;
    if (!TOKEN_RE.test(t)) throw bad();
  });
}

/** A subject to publish to: literal tokens only. */
export function checkSubject(subject: string): void {
  checkTokens(subject, "subject", false);
}

/** A subject pattern (stream subjects, consumer filter): wildcards allowed. */
export function checkPattern(pattern: string, field: string): void {
  checkTokens(pattern, field, true);
}

export function checkStreamSubjects(subjects: readonly string[]): void {
  if (!Array.isArray(subjects) || subjects.length === 0) {
    throw invalid("Invalid subjects: give at least one subject pattern for the stream");
  }
  for (const s of subjects) checkPattern(s, "subjects");
  if (new Set(subjects).size !== subjects.length) throw invalid("Invalid subjects: a pattern is listed twice");
}

export function checkMsgId(msgId: string | undefined): void {
  if (msgId === undefined) return;
  if (typeof msgId !== "string" || msgId.length === 0 || msgId.length > MAX_MSG_ID_LENGTH || /[\r\n]/.test(msgId)) {
    throw invalid(`Invalid msgId '${String(msgId)}': use 1 to ${MAX_MSG_ID_LENGTH} characters without line breaks`);
  }
}

function checkInt(value: number | undefined, field: string, min: number, rule: string): void {
  if (value === undefined) return;
  if (!Number.isSafeInteger(value) || value < min) throw invalid(`Invalid ${field} ${String(value)}: ${rule}`);
}

export interface ResolvedStreamOptions {
  duplicateWindowMs: number;
  maxAgeMs: number;
}

export function resolveStreamOptions(options: StreamOptions = {}): ResolvedStreamOptions {
  checkInt(options.duplicateWindowMs, "duplicateWindowMs", 1, "must be a whole number of milliseconds >= 1");
  checkInt(options.maxAgeMs, "maxAgeMs", 0, "must be a whole number of milliseconds >= 0 (0: no limit)");
  const duplicateWindowMs = options.duplicateWindowMs ?? 120_000;
  const maxAgeMs = options.maxAgeMs ?? 0;
  if (maxAgeMs > 0 && duplicateWindowMs > maxAgeMs) {
    throw invalid(`Invalid duplicateWindowMs ${duplicateWindowMs}: must not exceed maxAgeMs (${maxAgeMs})`);
  }
  return { duplicateWindowMs, maxAgeMs };
}

export interface ResolvedConsumeOptions {
  filterSubject: string | undefined;
  batch: number;
  ackWaitMs: number;
  maxDeliver: number;
  maxAckPending: number;
  retryDelayMs: number;
  onError: ConsumeOptions["onError"];
}

export function resolveConsumeOptions(options: ConsumeOptions): ResolvedConsumeOptions {
  if (options.filterSubject !== undefined) checkPattern(options.filterSubject, "filterSubject");
  checkInt(options.batch, "batch", 1, "must be a whole number >= 1");
  checkInt(options.ackWaitMs, "ackWaitMs", 100, "must be a whole number of milliseconds >= 100");
  checkInt(options.maxAckPending, "maxAckPending", 1, "must be a whole number >= 1");
  checkInt(options.retryDelayMs, "retryDelayMs", 0, "must be a whole number of milliseconds >= 0");
  const maxDeliver = options.maxDeliver ?? -1;
  if (!Number.isSafeInteger(maxDeliver) || (maxDeliver < 1 && maxDeliver !== -1)) {
    throw invalid(`Invalid maxDeliver ${String(maxDeliver)}: must be a whole number >= 1, or -1 for unlimited`);
  }
  const batch = options.batch ?? 100;
  const maxAckPending = options.maxAckPending ?? batch;
  if (maxAckPending < batch) {
    throw invalid(`Invalid maxAckPending ${maxAckPending}: must be at least batch (${batch})`);
  }
  return {
    filterSubject: options.filterSubject,
    batch,
    ackWaitMs: options.ackWaitMs ?? 30_000,
    maxDeliver,
    maxAckPending,
    retryDelayMs: options.retryDelayMs ?? 1000,
    onError: options.onError,
  };
}

/**
 * A durable keeps the filter it was created with: what its position means depends on it (and
 * JetStream before 2.10 cannot change it). Use another durable name, or delete the consumer.
 */
export function checkSameFilter(stream: string, durable: string, current: string | undefined, wanted: string | undefined): void {
  const norm = (f: string | undefined) => (f === undefined || f === "" ? undefined : f);
  if (norm(current) === norm(wanted)) return;
  const show = (f: string | undefined) => (norm(f) === undefined ? "no filter" : `'${f}'`);
  throw invalid(
    `Invalid filterSubject ${show(wanted)}: durable '${durable}' on stream '${stream}' was created with ${show(current)}; ` +
      "use another durable name, or delete the consumer first",
  );
}

/** The bytes of a payload: Uint8Array as is, anything else as UTF-8 JSON. */
export function encodePayload(payload: StreamPayload, maxBytes: number): Uint8Array {
  let bytes: Uint8Array;
  if (payload instanceof Uint8Array) {
    bytes = payload;
  } else {
    if (typeof payload === "string") {
      throw invalid("Invalid payload: a bare string is ambiguous; send an object, or bytes (new TextEncoder().encode(s))");
    }
    let text: string | undefined;
    try {
      text = JSON.stringify(payload);
    } catch (e) {
      throw new FlywheelError("FW_REQUEST_INVALID_FIELD", `Invalid payload: not serializable as JSON (${(e as Error).message})`, {
        cause: e,
      });
    }
    if (text === undefined) throw invalid(`Invalid payload: a ${typeof payload} is not serializable as JSON`);
    bytes = new TextEncoder().encode(text);
  }
  if (bytes.byteLength > maxBytes) {
    throw invalid(`Invalid payload: ${bytes.byteLength} bytes exceeds the bus's limit of ${maxBytes} bytes`);
  }
  return bytes;
}
