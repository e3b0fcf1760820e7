/**
 * Ground-truth labels, posted after the fact by request id (and row, for requests of several
 * rows). Stored like the inference log: durable NDJSON segments rolled into hourly Parquet under
 * `<dataDir>/labels/`. A later label for the same (request id, row) replaces an earlier one:
 * readers keep the one received last (`received_us`, increasing within a process).
 */
export type LabelValue = string | number | boolean;

export interface LabelInput {
  request_id: string;
  /** The row of a multi-row request the label is for; default 0. */
  row?: number | undefined;
  label: LabelValue;
  /** When the ground truth was observed, epoch milliseconds; default: when it was received. */
  timestamp?: number | undefined;
}

/** Parquet (DuckDB) types of a stored label. */
export const LABEL_COLUMNS = {
  request_id: "VARCHAR",
  row: "INTEGER",
  label: "JSON",
  ts: "TIMESTAMPTZ",
  received: "TIMESTAMPTZ",
  received_us: "BIGINT",
} as const;

let lastReceivedUs = 0;

/** Epoch microseconds, strictly increasing within this process (the order "later label wins" follows). */
function receivedUs(): number {
  const now = Math.floor((performance.timeOrigin + performance.now()) * 1000);
  lastReceivedUs = Math.max(now, lastReceivedUs + 1);
  return lastReceivedUs;
}

/** One batch of labels as NDJSON lines, stamped with their arrival. */
export function encodeLabels(labels: readonly LabelInput[]): string {
  let text = "";
  for (const l of labels) {
    const us = receivedUs();
    const received = new Date(Math.floor(us / 1000)).toISOString();
    text +=
      JSON.stringify({
        request_id: l.request_id,
        row: l.row ?? 0,
        label: l.label,
        ts: l.timestamp === undefined ? received : new Date(l.timestamp).toISOString(),
        received,
        received_us: us,
      }) + "\n";
  }
  return text;
}
