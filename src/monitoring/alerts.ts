/**
 * Alert delivery: a JSON POST to each webhook, retried with exponential backoff, and an event on
 * the stream bus when one is configured.
 *
 * Webhooks: an attempt succeeds on any 2xx answer. Network errors, timeouts, 408, 429 and 5xx
 * answers are retried after 0.5 s, 1 s, 2 s, … (doubling, at most 30 s apart) until `attempts`
 * (4 by default) have been made; other 4xx answers are not retried. Each attempt waits at most
 * `timeoutMs` (5 s). Requests carry `content-type: application/json`, `user-agent: flywheel` and
 * `x-flywheel-event` (the event kind), plus the webhook's own headers.
 *
 * Stream: events are published to `flywheel.<project>.monitoring.<kind>s` (alerts, pipeline
 * triggers) in the stream `FLYWHEEL_MONITORING_<project>`, with the event id as msgId.
 */
import type { StreamBus } from "../storage/stream/stream-bus.js";

export interface WebhookTarget {
  readonly url: string;
  readonly headers?: Record<string, string> | undefined;
}

export interface DeliveryPolicy {
  readonly attempts: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  readonly timeoutMs: number;
}

export const DEFAULT_DELIVERY: DeliveryPolicy = { attempts: 4, baseDelayMs: 500, maxDelayMs: 30_000, timeoutMs: 5000 };

export interface AttemptRecord {
  readonly at: number;
  /** HTTP status, or 0 when no answer came. */
  readonly status: number;
  readonly error?: string;
}

export interface WebhookDelivery {
  readonly url: string;
  readonly delivered: boolean;
  readonly attempts: AttemptRecord[];
}

export type FetchLike = (url: string, init: { method: string; headers: Record<string, string>; body: string; signal: AbortSignal }) => Promise<{ status: number; text(): Promise<string> }>;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function retryable(status: number): boolean {
  return status === 0 || status === 408 || status === 429 || status >= 500;
}

/** Backoff before attempt `n` (2, 3, …): base · 2^(n−2), capped. */
export function backoffMs(policy: DeliveryPolicy, attempt: number): number {
  return Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 2));
}

/** POSTs `body` to one webhook until it answers 2xx or the attempts run out. */
export async function deliverWebhook(target: WebhookTarget, kind: string, body: string, policy: DeliveryPolicy, fetcher: FetchLike = fetch as unknown as FetchLike): Promise<WebhookDelivery> {
  const attempts: AttemptRecord[] = [];
  for (let n = 1; n <= policy.attempts; n++) {
    if (n > 1) await sleep(backoffMs(policy, n));
    const at = Date.now();
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), policy.timeoutMs);
    try {
      const res = await fetcher(target.url, {
        method: "POST",
        headers: { "content-type": "application/json", "user-agent": "flywheel", "x-flywheel-event": kind, ...(target.headers ?? {}) },
        body,
        signal: controller.signal,
      });
      await res.text().catch(() => "");
      attempts.push({ at, status: res.status });
      if (res.status >= 200 && res.status < 300) return { url: target.url, delivered: true, attempts };
      if (!retryable(res.status)) break;
    } catch (e) {
      const err = e as Error;
      attempts.push({ at, status: 0, error: err.name === "AbortError" ? `no answer within ${policy.timeoutMs} ms` : ((err.cause as Error | undefined)?.message ?? err.message) });
    } finally {
      clearTimeout(timer);
    }
  }
  return { url: target.url, delivered: false, attempts };
}

export function monitoringStreamNames(project: string): { stream: string; subjectPrefix: string } {
  const token = project.replace(/[^A-Za-z0-9_-]/g, "_");
  return { stream: `FLYWHEEL_MONITORING_${token}`, subjectPrefix: `flywheel.${token}.monitoring` };
}

/** Publishes monitoring events to the stream bus, creating the stream on first use. */
export class EventPublisher {
  private ready: Promise<void> | undefined;

  constructor(
    private readonly bus: StreamBus,
    private readonly project: string,
  ) {}

  /** `kind` "alert" goes to `.alerts`, "pipeline_trigger" to `.pipeline_triggers`. */
  async publish(kind: string, eventId: number, payload: object): Promise<{ subject: string; seq: number }> {
    const { stream, subjectPrefix } = monitoringStreamNames(this.project);
    this.ready ??= this.bus.ensureStream(stream, [`${subjectPrefix}.>`]).catch((e: unknown) => {
      this.ready = undefined;
      throw e;
    });
    await this.ready;
    const subject = `${subjectPrefix}.${kind}s`;
    const ack = await this.bus.publish(subject, payload, { msgId: `monitor-event-${eventId}` });
    return { subject, seq: ack.seq };
  }
}
