/**
 * What the streaming scorer reads: an input message parsed into records, or refused with a reason
 * that goes to the error subject.
 */
import type { StreamMessage } from "../storage/stream/stream-bus.js";
import { MAX_PREDICT_ROWS } from "./predict.js";

/** What an input message carries once parsed. */
export interface ParsedInput {
  id: unknown;
  rows: Record<string, unknown>[];
  /** `record` or a bare record (answered with `prediction`), or `records` (answered with `predictions`). */
  single: boolean;
}

/** A message that can never be scored; the reason goes to the error subject. */
export class Unscorable extends Error {}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * An input message: `{"id"?: ..., "record": {...}}`, `{"id"?: ..., "records": [{...}, ...]}`, or a
 * bare record object (every field a feature or an entity key; use an envelope to give an id).
 */
export function parseInput(m: StreamMessage): ParsedInput {
  let body: unknown;
  try {
    body = JSON.parse(m.text());
  } catch (e) {
    throw new Unscorable(`not valid JSON: ${(e as Error).message}`);
  }
  if (!isRecord(body)) throw new Unscorable(`expected a JSON object (a record, {"record": {...}} or {"records": [...]}), got ${Array.isArray(body) ? "an array" : body === null ? "null" : typeof body}`);
  if (!("record" in body) && !("records" in body)) return { id: undefined, rows: [body], single: true };
  const extra = Object.keys(body).filter((k) => k !== "id" && k !== "record" && k !== "records");
  if (extra.length > 0) throw new Unscorable(`unknown field '${extra[0] as string}': an envelope has 'id' and 'record' or 'records'`);
  const { id } = body;
  if (id !== undefined && typeof id !== "string" && !(typeof id === "number" && Number.isFinite(id))) throw new Unscorable("'id' must be a string or a number");
  if ("record" in body && "records" in body) throw new Unscorable("give either 'record' or 'records', not both");
  if ("record" in body) {
    if (!isRecord(body.record)) throw new Unscorable("'record' must be an object of feature values or entity keys");
    return { id, rows: [body.record], single: true };
  }
  const { records } = body;
  if (!Array.isArray(records) || records.length === 0) throw new Unscorable("'records' must be a non-empty list of objects");
  if (records.length > MAX_PREDICT_ROWS) throw new Unscorable(`at most ${MAX_PREDICT_ROWS} records per message (got ${records.length})`);
  const bad = records.findIndex((r) => !isRecord(r));
  if (bad !== -1) throw new Unscorable(`records[${bad}] must be an object of feature values or entity keys`);
  return { id, rows: records as Record<string, unknown>[], single: false };
}
