/**
 * Raising a monitor's alert: the alert event (and, when the monitor names a pipeline, a pipeline
 * trigger event) is stored first, then delivered in the background — POSTed to each webhook with
 * retries and published on the stream bus — and how delivery went is written back to the event.
 */
import type { Clock } from "../core/clock.js";
import type { Logger } from "../core/logger.js";
import type { MonitoringStore } from "../storage/metadata/monitoring-store.js";
import type { StreamBus } from "../storage/stream/stream-bus.js";
import { EventPublisher, deliverWebhook, type DeliveryPolicy, type FetchLike, type WebhookDelivery } from "./alerts.js";
import type { RunOutcome } from "./monitor-run.js";
import type { MonitorSpec } from "./monitor-spec.js";

export interface NotifierDeps {
  store: MonitoringStore;
  clock: Clock;
  project: string;
  policy: DeliveryPolicy;
  bus?: () => StreamBus | undefined;
  fetch?: FetchLike;
  logger?: Logger;
}

export class Notifier {
  private readonly deliveries = new Set<Promise<void>>();
  private publisher: { bus: StreamBus; publisher: EventPublisher } | undefined;

  constructor(private readonly deps: NotifierDeps) {}

  /** Stores the alert (and the pipeline trigger) and starts delivering them in the background. */
  async raise(spec: MonitorSpec, runId: number, outcome: RunOutcome): Promise<{ id: number; kind: string }[]> {
    const time = new Date(this.deps.clock.now()).toISOString();
    const windows = outcome.windows
      .map((w) => ({
        start: new Date(w.start).toISOString(),
        end: new Date(w.end).toISOString(),
        rows: w.rows,
        failed: outcome.failed.filter((f) => f.start === w.start).map(({ check, summary }) => ({ check, summary })),
      }))
      .filter((w) => w.failed.length > 0);
    const alert = {
      event: "flywheel.monitor.alert",
      monitor: spec.name,
      model_ref: spec.model,
      model: outcome.model,
      version: outcome.version,
      run_id: runId,
      time,
      windows,
      ...(spec.pipeline === undefined ? {} : { pipeline: spec.pipeline }),
    };
    const alertId = await this.deps.store.addEvent({ monitor: spec.name, runId, kind: "alert", time: this.deps.clock.now(), payload: JSON.stringify(alert), delivery: "{}" });
    const events = [{ id: alertId, kind: "alert" }];
    this.track(this.deliver(spec, alertId, "alert", { ...alert, event_id: alertId }, true));
    if (spec.pipeline !== undefined) {
      const trigger = {
        event: "flywheel.monitor.pipeline_trigger",
        monitor: spec.name,
        pipeline: spec.pipeline,
        model: outcome.model,
        version: outcome.version,
        run_id: runId,
        alert_event_id: alertId,
        time,
        status: "recorded",
        note: "no pipeline runner is available: the trigger is recorded and published for one to act on",
      };
      const id = await this.deps.store.addEvent({ monitor: spec.name, runId, kind: "pipeline_trigger", time: this.deps.clock.now(), payload: JSON.stringify(trigger), delivery: "{}" });
      events.push({ id, kind: "pipeline_trigger" });
      this.track(this.deliver(spec, id, "pipeline_trigger", { ...trigger, event_id: id }, false));
    }
    return events;
  }

  private track(p: Promise<void>): void {
    const done = p.catch((e: unknown) => this.deps.logger?.warn({ err: e }, "monitor event delivery failed")).finally(() => this.deliveries.delete(done));
    this.deliveries.add(done);
  }

  private async deliver(spec: MonitorSpec, eventId: number, kind: string, payload: object, webhooks: boolean): Promise<void> {
    const body = JSON.stringify(payload);
    const policy = { ...this.deps.policy, ...(spec.alerts?.attempts === undefined ? {} : { attempts: spec.alerts.attempts }) };
    const targets = webhooks ? (spec.alerts?.webhooks ?? []) : [];
    const [hooks, stream] = await Promise.all([Promise.all(targets.map((t) => deliverWebhook(t, kind, body, policy, this.deps.fetch))), this.publish(kind, eventId, payload)]);
    await this.deps.store.setEventDelivery(eventId, JSON.stringify({ webhooks: hooks satisfies WebhookDelivery[], stream }));
  }

  private async publish(kind: string, eventId: number, payload: object): Promise<unknown> {
    const bus = this.deps.bus?.();
    if (bus === undefined) return null;
    if (this.publisher?.bus !== bus) this.publisher = { bus, publisher: new EventPublisher(bus, this.deps.project) };
    try {
      return await this.publisher.publisher.publish(kind, eventId, payload);
    } catch (e) {
      return { error: (e as Error).message };
    }
  }

  /** Resolves once every alert delivery started so far has finished (all attempts made). */
  async settled(): Promise<void> {
    while (this.deliveries.size > 0) await Promise.all([...this.deliveries]);
  }
}
