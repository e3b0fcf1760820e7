/**
 * Pull, ack and nak for one durable JetStream consumer, on the raw pull protocol
 * (`$JS.API.CONSUMER.MSG.NEXT`). A pull asks for `batch` messages with `no_wait` and `expires`
 * together, which JetStream answers as soon as at least one message is available (with what is
 * available, up to the batch) or after `expires` with none. The client library's fetch() waits
 * for a full batch and its consume() prefetches messages the handler is not yet working on, whose
 * ack timers would run out; this way the handler gets what exists now, and nothing is held that
 * is not being processed. Each pull has its own inbox, drained (not dropped) when a pull is
 * abandoned, so no delivered message is stranded until its ack timer expires.
 */
import type { Msg, NatsConnection, Subscription as NatsSub } from "@nats-io/transport-node";
import { createInbox, nanos } from "@nats-io/transport-node";
import { FlywheelError } from "../../../core/errors.js";
import type { Delivery, PullSource } from "../consume-loop.js";
import { DeliveredMessage } from "../message.js";
import { wrapNatsError } from "./nats-errors.js";

/** How long one pull waits on the server for a first message before it is re-issued. */
const PULL_EXPIRES_MS = 5000;
/** Extra client-side wait for the server's end-of-pull status before the pull counts as lost. */
const PULL_GRACE_MS = 3000;
const ACK_TIMEOUT_MS = 5000;
const DRAIN_TIMEOUT_MS = 2000;

export interface NatsDelivery extends Delivery {
  readonly reply: string;
}

/**
 * Reads the ack subject JetStream gives each delivery: `$JS.ACK.<stream>.<consumer>.<delivered>.
 * <stream seq>.<consumer seq>.<timestamp ns>.<pending>`, with a domain and account hash after
 * `$JS.ACK` in the newer 12-token form.
 */
export function parseAckSubject(reply: string): { deliveryCount: number; seq: number; publishedAt: number } | undefined {
  const t = reply.split(".");
  if (t[0] !== "$JS" || t[1] !== "ACK") return undefined;
  const base = t.length === 9 ? 2 : t.length >= 11 ? 4 : -1;
  if (base < 0) return undefined;
  const deliveryCount = Number(t[base + 2]);
  const seq = Number(t[base + 3]);
  const tsText = t[base + 5] ?? "";
  if (!Number.isSafeInteger(deliveryCount) || !Number.isSafeInteger(seq) || !/^\d+$/.test(tsText)) return undefined;
  return { deliveryCount, seq, publishedAt: Number(BigInt(tsText) / 1_000_000n) };
}

export interface PullHooks {
  /** Explains a pull that got no answer at all (e.g. the consumer was deleted); always throws. */
  explainSilence(): Promise<never>;
  /** Registers a listener for reconnections; returns its removal. */
  onReconnect(listener: () => void): () => void;
}

export class NatsPullSource implements PullSource<NatsDelivery> {
  constructor(
    private readonly nc: NatsConnection,
    private readonly stream: string,
    private readonly durable: string,
    private readonly server: string,
    private readonly hooks: PullHooks,
  ) {}

  pull(max: number, signal: AbortSignal): Promise<NatsDelivery[]> {
    if (signal.aborted) return Promise.resolve([]);
    const got: NatsDelivery[] = [];
    return new Promise<NatsDelivery[]>((resolve, reject) => {
      let settled = false;
      let sub: NatsSub | undefined;
      const finish = (error?: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal.removeEventListener("abort", onAbort);
        stopListening();
        sub?.unsubscribe();
        if (error !== undefined && got.length === 0) reject(error);
        else resolve(got);
      };
      const onAbort = () => {
        if (settled || sub === undefined) return finish();
        // Drain rather than drop: whatever the server sent before it saw the unsubscribe is
        // delivered to us and handled, instead of waiting out its ack timer.
        const draining = sub;
        const cap = setTimeout(() => finish(), DRAIN_TIMEOUT_MS);
        draining
          .drain()
          .catch(() => undefined)
          .finally(() => {
            clearTimeout(cap);
            finish();
          });
      };
      const timer = setTimeout(() => {
        if (got.length > 0) return finish();
        this.hooks.explainSilence().catch((e: unknown) => finish(e));
      }, PULL_EXPIRES_MS + PULL_GRACE_MS);
      // The server forgot this pull with the old connection: end it (with what it got) and pull anew.
      const stopListening = this.hooks.onReconnect(() => finish());
      try {
        const inbox = createInbox();
        sub = this.nc.subscribe(inbox, { callback: (err, msg) => (err ? finish(err) : this.onMessage(msg, got, max, finish)) });
        const request = { batch: max, no_wait: true, expires: nanos(PULL_EXPIRES_MS) };
        this.nc.publish(`$JS.API.CONSUMER.MSG.NEXT.${this.stream}.${this.durable}`, JSON.stringify(request), { reply: inbox });
      } catch (e) {
        finish(wrapNatsError(e, this.server, `pull from consumer '${this.durable}' on stream '${this.stream}'`));
        return;
      }
      signal.addEventListener("abort", onAbort);
    });
  }

  private onMessage(msg: Msg, got: NatsDelivery[], max: number, finish: (error?: unknown) => void): void {
    const reply = msg.reply ?? "";
    const info = parseAckSubject(reply);
    if (info === undefined) {
      const code = msg.headers?.code ?? 0;
      const description = msg.headers?.description ?? "";
      if (code === 100) return; // idle heartbeat
      if (code === 404 || code === 408) return finish(); // the pull ended: nothing (more) now
      if (code === 409 && /consumer deleted/i.test(description)) {
        return finish(
          new FlywheelError("FW_REQUEST_INVALID_FIELD", `Invalid durable '${this.durable}': the consumer was deleted while consuming`),
        );
      }
      return finish(
        new FlywheelError(
          "FW_STORAGE_UNAVAILABLE",
          `NATS JetStream at '${this.server}' ended a pull from consumer '${this.durable}' on stream '${this.stream}': ${code} ${description}`,
        ),
      );
    }
    const msgId = msg.headers?.get("Nats-Msg-Id");
    const message = new DeliveredMessage(
      this.stream,
      msg.subject,
      info.seq,
      msg.data.slice(),
      msgId === undefined || msgId === "" ? undefined : msgId,
      info.deliveryCount,
      info.publishedAt,
    );
    got.push({ reply, message });
    if (got.length >= max) finish();
  }

  /** Acks with a reply (`AckAck`), so the position is on the server before the loop moves on. */
  async ack(batch: readonly NatsDelivery[]): Promise<void> {
    await this.replyAll(batch, "+ACK", "acknowledge");
  }

  async nak(batch: readonly NatsDelivery[], delayMs: number): Promise<void> {
    await this.replyAll(batch, delayMs > 0 ? `-NAK ${JSON.stringify({ delay: nanos(delayMs) })}` : "-NAK", "hand back");
  }

  working(batch: readonly NatsDelivery[]): void {
    if (this.nc.isClosed()) return;
    for (const d of batch) this.nc.publish(d.reply, "+WPI");
  }

  /**
   * Sends `body` for every message but waits for the server's reply to the last one only: the
   * consumer handles one connection's acks in the order sent, so that reply means all are recorded.
   * One round trip per batch instead of one per message.
   */
  private async replyAll(batch: readonly NatsDelivery[], body: string, what: string): Promise<void> {
    const last = batch[batch.length - 1];
    if (last === undefined) return;
    try {
      for (let i = 0; i < batch.length - 1; i++) this.nc.publish((batch[i] as NatsDelivery).reply, body);
      await this.nc.request(last.reply, body, { timeout: ACK_TIMEOUT_MS });
    } catch (e) {
      const seqs = batch.map((d) => d.message.seq).join(", ");
      throw wrapNatsError(e, this.server, `${what} messages ${seqs} of stream '${this.stream}' (consumer '${this.durable}')`);
    }
  }
}
