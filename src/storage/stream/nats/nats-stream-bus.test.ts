/**
 * What only a real broker can show: a process that dies holding unacknowledged messages. The
 * "dead" process is a bare NATS client that pulls and never acknowledges, then disconnects.
 */
import { jetstream } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { natsStreamBackend, streamTitleOf } from "../../../../test/helpers/stream-backends.js";
import { openStreamBus } from "../open.js";
import type { StreamBus, StreamMessage } from "../stream-bus.js";

describe.skipIf(natsStreamBackend.skip !== undefined)(`NATS JetStream bus on ${streamTitleOf(natsStreamBackend)}`, () => {
  let uri: string;
  let prefix: string;
  let drop: () => Promise<void>;
  let bus: StreamBus;

  beforeAll(async () => {
    ({ uri, prefix, drop } = await natsStreamBackend.create());
    bus = await openStreamBus(uri);
  });

  afterAll(async () => {
    await bus?.close();
    await drop?.();
  });

  test("messages held by a process that died are redelivered after ackWait, with deliveryCount 2", async () => {
    const stream = `${prefix}_crash`;
    await bus.ensureStream(stream, [`${prefix}.crash.>`]);
    const options = { batch: 2, maxAckPending: 10, ackWaitMs: 800, retryDelayMs: 0 };
    // Create the durable through the bus, then let the "doomed" process take two messages.
    await (await bus.consume(stream, "worker", options, async () => undefined)).stop();
    for (let i = 1; i <= 3; i++) await bus.publish(`${prefix}.crash.x`, { i });
    const doomed = await connect({ servers: uri.replace(/^nats:\/\//, "") });
    const taken = await (await jetstream(doomed).consumers.get(stream, "worker")).fetch({ max_messages: 2, expires: 2000 });
    const seen: number[] = [];
    for await (const m of taken) seen.push(m.seq);
    expect(seen).toEqual([1, 2]);
    await doomed.close();

    const handled: StreamMessage[] = [];
    const sub = await bus.consume(stream, "worker", options, async (msgs) => {
      handled.push(...msgs);
    });
    const started = Date.now();
    while (handled.length < 3 && Date.now() - started < 10_000) await new Promise((r) => setTimeout(r, 20));
    await sub.stop();
    const bySeq = handled.map((m) => [m.seq, m.deliveryCount]).sort((a, b) => a[0]! - b[0]!);
    expect(bySeq).toEqual([
      [1, 2],
      [2, 2],
      [3, 1],
    ]);
    expect(await bus.consumerState(stream, "worker")).toMatchObject({ ackFloorSeq: 3, numAckPending: 0, numPending: 0 });
  });
});
