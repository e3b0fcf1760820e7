/** The share of a model's requests the inference log keeps, from its registered-model tags. */

/** Registered-model tag: a number from 0 (log nothing) to 1 (log every request, the default). */
export const LOG_SAMPLE_RATE_TAG = "flywheel.log.sample_rate";

/**
 * The sample rate a model's tags ask for. A missing tag, or a value that is not a number from 0
 * to 1, leaves the default (1.0): like the batching tags, a bad tag never fails requests, and it
 * errs towards logging rather than silently losing records.
 */
export function logSampleRateOf(tags: readonly { key: string; value: string }[]): number {
  const raw = tags.find((t) => t.key === LOG_SAMPLE_RATE_TAG)?.value.trim();
  if (raw === undefined || !/^(\d+(\.\d*)?|\.\d+)(e-?\d+)?$/i.test(raw)) return 1;
  const rate = Number(raw);
  return Number.isFinite(rate) && rate >= 0 && rate <= 1 ? rate : 1;
}

/** Whether one request is kept at `rate` (1 always, 0 never). */
export function sampled(rate: number): boolean {
  return rate >= 1 || (rate > 0 && Math.random() < rate);
}
