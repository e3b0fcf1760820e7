/**
 * The StreamBus contract, run once against every backend (in-process always, NATS JetStream when
 * FLYWHEEL_TEST_NATS_URL is set). Every stream is named under a per-run prefix, deleted afterwards.
 */
import { createServer } from "node:net";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { streamBackends, streamTitleOf } from "../../../test/helpers/stream-backends.js";
import { openStreamBus } from "./open.js";
import type { ConsumeOptions, StreamBus, StreamMessage, Subscription } from "./stream-bus.js";

async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function gate(): { promise: Promise<void>; open(): void } {
  let open!: () => void;
  const promise = new Promise<void>((r) => (open = r));
  return { promise, open };
}

test("openStreamBus lists the supported schemes for an unknown one", async () => {
  await expect(openStreamBus("kafka://localhost:9092")).rejects.toMatchObject({
    code: "FW_STORAGE_UNSUPPORTED_URI",
    message: expect.stringMatching(/'memory:', 'nats:'/),
  });
});

test("an unreachable NATS server is FW_STORAGE_UNAVAILABLE naming the address", async () => {
  // A port that was free a moment ago: nothing listens there.
  const port = await new Promise<number>((resolve) => {
    const srv = createServer().listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
  const err = await openStreamBus(`nats://user:secret@127.0.0.1:${port}`).catch((e: unknown) => e);
  expect(err).toMatchObject({ code: "FW_STORAGE_UNAVAILABLE" });
  expect((err as Error).message).toContain(`Cannot reach NATS at 'nats://127.0.0.1:${port}'`);
  expect((err as Error).message).toMatch(/refused/i);
  expect((err as Error).message).not.toContain("secret");
});

test("a malformed nats URI names the rule", async () => {
  await expect(openStreamBus("nats://")).rejects.toMatchObject({
    code: "FW_REQUEST_INVALID_FIELD",
    message: expect.stringMatching(/expected nats:\/\/host:port/),
  });
});

for (const backend of streamBackends) {
  describe.skipIf(backend.skip !== undefined)(`StreamBus on ${streamTitleOf(backend)}`, () => {
    let uri: string;
    let prefix: string;
    let drop: () => Promise<void>;
    let bus: StreamBus;
    let seq = 0;
    const subs: Subscription[] = [];

    /** A fresh stream capturing `<prefix>.<n>.>`; returns its name and a subject maker. */
    async function freshStream(options?: { duplicateWindowMs?: number; maxAgeMs?: number }) {
      const n = ++seq;
      const name = `${prefix}_${n}`;
      const base = `${prefix}.${n}`;
      await bus.ensureStream(name, [`${base}.>`], options);
      return { name, base, subject: (s: string) => `${base}.${s}` };
    }

    /** Starts a consumer that records every batch it is given; errors go to `errors`. */
    async function record(
      stream: string,
      durable: string,
      options: ConsumeOptions = {},
      handler: (msgs: readonly StreamMessage[]) => Promise<void> = async () => undefined,
      on: StreamBus = bus,
    ) {
      const batches: StreamMessage[][] = [];
      const handled: StreamMessage[] = [];
      const errors: { error: unknown; seqs: number[] }[] = [];
      const sub = await on.consume(
        stream,
        durable,
        { retryDelayMs: 20, onError: (error, msgs) => errors.push({ error, seqs: msgs.map((m) => m.seq) }), ...options },
        async (msgs) => {
          batches.push([...msgs]);
          await handler(msgs);
          handled.push(...msgs);
        },
      );
      subs.push(sub);
      return { sub, batches, handled, errors };
    }

    beforeAll(async () => {
      const made = await backend.create();
      uri = made.uri;
      prefix = made.prefix;
      drop = made.drop;
      bus = await openStreamBus(uri);
    });

    afterAll(async () => {
      await Promise.all(subs.map((s) => s.stop()));
      await bus?.close();
      await drop?.();
    });

    test("advertises its capabilities", () => {
      expect(bus.scheme).toBe(backend.name);
      expect(bus.capabilities.sharedAcrossHosts).toBe(backend.name === "nats");
      expect(bus.capabilities.survivesRestart).toBe(backend.name === "nats");
      expect(bus.maxPayloadBytes).toBeGreaterThanOrEqual(64 * 1024);
    });

    test("publish resolves with the stream sequence; a consumer gets JSON and bytes with their metadata", async () => {
      const s = await freshStream();
      const before = Date.now();
      const a = await bus.publish(s.subject("json"), { driver_id: 1, trips: [3, 4] }, { msgId: "m-1" });
      const b = await bus.publish(s.subject("bytes"), new Uint8Array([0, 255, 7]));
      const after = Date.now();
      expect(a).toEqual({ stream: s.name, seq: 1, duplicate: false });
      expect(b).toEqual({ stream: s.name, seq: 2, duplicate: false });

      const r = await record(s.name, "reader");
      await waitFor("two messages", () => r.handled.length === 2);
      const [m1, m2] = r.handled as [StreamMessage, StreamMessage];
      expect(m1).toMatchObject({ stream: s.name, subject: s.subject("json"), seq: 1, msgId: "m-1", deliveryCount: 1 });
      expect(m1.json()).toEqual({ driver_id: 1, trips: [3, 4] });
      expect(m1.publishedAt).toBeGreaterThanOrEqual(before - 1000);
      expect(m1.publishedAt).toBeLessThanOrEqual(after + 1000);
      expect(m2).toMatchObject({ subject: s.subject("bytes"), seq: 2, msgId: undefined, deliveryCount: 1 });
      expect([...m2.data]).toEqual([0, 255, 7]);
      expect(() => m2.json()).toThrow(expect.objectContaining({ code: "FW_REQUEST_INVALID_FIELD" }));
      await r.sub.stop();
    });

    test("a batch is acknowledged only after its handler resolves", async () => {
      const s = await freshStream();
      for (let i = 0; i < 3; i++) await bus.publish(s.subject("x"), { i });
      const g = gate();
      let entered = false;
      const r = await record(s.name, "slow", { batch: 10 }, async () => {
        entered = true;
        await g.promise;
      });
      await waitFor("the handler to start", () => entered);
      await sleep(200);
      expect(await bus.consumerState(s.name, "slow")).toMatchObject({ ackFloorSeq: 0, numAckPending: 3 });
      g.open();
      await waitFor("the acks", async () => (await bus.consumerState(s.name, "slow"))?.ackFloorSeq === 3);
      expect(await bus.consumerState(s.name, "slow")).toEqual({ ackFloorSeq: 3, numPending: 0, numAckPending: 0 });
      await r.sub.stop();
    });

    test("a throwing handler gets its batch redelivered, before later messages, with deliveryCount 2", async () => {
      const s = await freshStream();
      for (let i = 1; i <= 10; i++) await bus.publish(s.subject("x"), { i });
      let failed = false;
      const r = await record(s.name, "flaky", { batch: 5 }, async (msgs) => {
        if (!failed && msgs.some((m) => m.seq === 3)) {
          failed = true;
          throw new Error("downstream write failed");
        }
      });
      await waitFor("all ten handled", () => r.handled.length === 10);
      expect(r.handled.map((m) => m.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      expect(r.handled.slice(0, 5).map((m) => m.deliveryCount)).toEqual([2, 2, 2, 2, 2]);
      expect(r.handled.slice(5).map((m) => m.deliveryCount)).toEqual([1, 1, 1, 1, 1]);
      expect(r.errors).toHaveLength(1);
      expect(r.errors[0]).toMatchObject({ error: expect.objectContaining({ message: "downstream write failed" }), seqs: [1, 2, 3, 4, 5] });
      await r.sub.stop();
    });

    test("after maxDeliver failed attempts a message is given up on and the consumer moves on", async () => {
      const s = await freshStream();
      await bus.publish(s.subject("x"), { poison: true });
      await bus.publish(s.subject("x"), { poison: false });
      const r = await record(s.name, "poison", { batch: 1, maxDeliver: 2 }, async (msgs) => {
        if (msgs[0]!.json<{ poison: boolean }>().poison) throw new Error("cannot apply");
      });
      await waitFor("the good message", () => r.handled.length === 1);
      expect(r.handled[0]!.seq).toBe(2);
      expect(r.batches.filter((b) => b[0]!.seq === 1).map((b) => b[0]!.deliveryCount)).toEqual([1, 2]);
      expect(r.errors.map((e) => e.seqs)).toEqual([[1], [1]]);
      await r.sub.stop();
    });

    test("a msgId published twice is stored once", async () => {
      const s = await freshStream();
      const first = await bus.publish(s.subject("x"), { v: "first" }, { msgId: "row-17" });
      const again = await bus.publish(s.subject("x"), { v: "again" }, { msgId: "row-17" });
      const other = await bus.publish(s.subject("x"), { v: "other" }, { msgId: "row-18" });
      expect(again).toEqual({ stream: s.name, seq: first.seq, duplicate: true });
      expect(other).toMatchObject({ seq: first.seq + 1, duplicate: false });
      const r = await record(s.name, "dedupe");
      await waitFor("two messages", () => r.handled.length === 2);
      await sleep(200);
      expect(r.handled.map((m) => m.json())).toEqual([{ v: "first" }, { v: "other" }]);
      await r.sub.stop();
    });

    test("a msgId is forgotten after the duplicate window", async () => {
      const s = await freshStream({ duplicateWindowMs: 300 });
      await bus.publish(s.subject("x"), { n: 1 }, { msgId: "k" });
      await sleep(700);
      expect(await bus.publish(s.subject("x"), { n: 2 }, { msgId: "k" })).toMatchObject({ seq: 2, duplicate: false });
    });

    test("a restarted consumer resumes after its last acknowledged message, also over a new connection", async () => {
      const s = await freshStream();
      for (let i = 1; i <= 10; i++) await bus.publish(s.subject("x"), { i });
      const first = await record(s.name, "resume", { batch: 3 });
      await waitFor("a few handled", () => first.handled.length >= 4);
      await first.sub.stop();
      const second = await record(s.name, "resume", { batch: 3 });
      await waitFor("the rest", () => first.handled.length + second.handled.length === 10);
      await sleep(200);
      expect([...first.handled, ...second.handled].map((m) => m.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      await second.sub.stop();

      // Close the connection, publish from a new one, and resume from a third.
      await bus.close();
      bus = await openStreamBus(uri);
      for (let i = 11; i <= 15; i++) await bus.publish(s.subject("x"), { i });
      await bus.close();
      bus = await openStreamBus(uri);
      const third = await record(s.name, "resume", { batch: 3 });
      await waitFor("the new five", () => third.handled.length === 5);
      await sleep(200);
      expect(third.handled.map((m) => m.seq)).toEqual([11, 12, 13, 14, 15]);
      expect(third.handled.every((m) => m.deliveryCount === 1)).toBe(true);
      await third.sub.stop();
    });

    test("messages of a subject arrive in publish order, concurrent publishes included", async () => {
      const s = await freshStream();
      const acks = await Promise.all(
        Array.from({ length: 60 }, (_, i) => bus.publish(s.subject(`k${i % 3}`), { k: i % 3, n: Math.floor(i / 3) })),
      );
      expect(acks.map((a) => a.seq)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
      const r = await record(s.name, "order", { batch: 7 });
      await waitFor("sixty", () => r.handled.length === 60);
      expect(r.batches.every((b) => b.length <= 7)).toBe(true);
      for (let k = 0; k < 3; k++) {
        const ns = r.handled.filter((m) => m.subject === s.subject(`k${k}`)).map((m) => m.json<{ n: number }>().n);
        expect(ns).toEqual(Array.from({ length: 20 }, (_, i) => i));
      }
      await r.sub.stop();
    });

    test("stop() lets the batch in flight finish and be acknowledged, then nothing more is handled", async () => {
      const s = await freshStream();
      for (let i = 0; i < 4; i++) await bus.publish(s.subject("x"), { i });
      const g = gate();
      const r = await record(s.name, "drain", { batch: 4 }, () => g.promise);
      await waitFor("the handler to start", () => r.batches.length === 1);
      let stopped = false;
      const stopping = r.sub.stop().then(() => (stopped = true));
      await sleep(150);
      expect(stopped).toBe(false);
      g.open();
      await stopping;
      expect(r.handled).toHaveLength(4);
      expect(await bus.consumerState(s.name, "drain")).toMatchObject({ ackFloorSeq: 4, numAckPending: 0 });
      await bus.publish(s.subject("x"), { late: true });
      await sleep(300);
      expect(r.batches).toHaveLength(1);
      await r.sub.done;
    });

    test("a handler running longer than ackWait keeps its batch (no redelivery to a second process)", async () => {
      const s = await freshStream();
      await bus.publish(s.subject("x"), { i: 1 });
      await bus.publish(s.subject("x"), { i: 2 });
      const options = { batch: 2, maxAckPending: 4, ackWaitMs: 300 };
      let slow = true;
      const a = await record(s.name, "shared", options, async () => {
        if (slow) {
          slow = false;
          await sleep(1200);
        }
      });
      await waitFor("the first batch", () => a.batches.length === 1);
      const b = await record(s.name, "shared", options);
      await waitFor("the slow batch to finish", () => a.handled.length === 2);
      await sleep(400);
      expect([...a.batches, ...b.batches].flat().map((m) => [m.seq, m.deliveryCount])).toEqual([
        [1, 1],
        [2, 1],
      ]);
      await Promise.all([a.sub.stop(), b.sub.stop()]);
    });

    test("a filter subject limits what a consumer gets; durables are independent", async () => {
      const s = await freshStream();
      await bus.publish(s.subject("a"), { n: 1 });
      await bus.publish(s.subject("b"), { n: 2 });
      await bus.publish(s.subject("a"), { n: 3 });
      const onlyA = await record(s.name, "only-a", { filterSubject: s.subject("a") });
      const all = await record(s.name, "all");
      await waitFor("both", () => onlyA.handled.length === 2 && all.handled.length === 3);
      expect(onlyA.handled.map((m) => m.seq)).toEqual([1, 3]);
      expect(all.handled.map((m) => m.seq)).toEqual([1, 2, 3]);
      await Promise.all([onlyA.sub.stop(), all.sub.stop()]);
      expect(await bus.consumerState(s.name, "only-a")).toMatchObject({ numPending: 0, numAckPending: 0 });
      await bus.publish(s.subject("b"), { n: 4 });
      await bus.publish(s.subject("a"), { n: 5 });
      expect(await bus.consumerState(s.name, "only-a")).toMatchObject({ numPending: 1 });
      expect(await bus.consumerState(s.name, "all")).toMatchObject({ numPending: 2 });
    });

    test("a durable keeps its filter subject", async () => {
      const s = await freshStream();
      const r = await record(s.name, "filtered", { filterSubject: s.subject("a") });
      await r.sub.stop();
      const handler = async () => undefined;
      const changed = expect.objectContaining({
        code: "FW_REQUEST_INVALID_FIELD",
        message: expect.stringMatching(/filterSubject.*durable 'filtered'.*was created with/),
      });
      await expect(bus.consume(s.name, "filtered", { filterSubject: s.subject("b") }, handler)).rejects.toEqual(changed);
      await expect(bus.consume(s.name, "filtered", {}, handler)).rejects.toEqual(changed);
      const again = await record(s.name, "filtered", { filterSubject: s.subject("a"), ackWaitMs: 5000 });
      await again.sub.stop();
    });

    test("deleting a consumer forgets its position; deleting what does not exist says false", async () => {
      const s = await freshStream();
      await bus.publish(s.subject("x"), { n: 1 });
      const r = await record(s.name, "forget");
      await waitFor("one", () => r.handled.length === 1);
      await r.sub.stop();
      expect(await bus.deleteConsumer(s.name, "forget")).toBe(true);
      expect(await bus.consumerState(s.name, "forget")).toBeUndefined();
      expect(await bus.deleteConsumer(s.name, "forget")).toBe(false);
      const again = await record(s.name, "forget");
      await waitFor("the same message again", () => again.handled.length === 1);
      expect(again.handled[0]!.seq).toBe(1);
      await again.sub.stop();
      expect(await bus.deleteStream(`${prefix}_never`)).toBe(false);
      expect(await bus.consumerState(`${prefix}_never`, "x")).toBeUndefined();
    });

    test("ensureStream is idempotent and updates the subjects", async () => {
      const s = await freshStream();
      await bus.ensureStream(s.name, [`${s.base}.>`]);
      await expect(bus.publish(`${prefix}.extra_${seq}`, { n: 1 })).rejects.toMatchObject({ code: "FW_REQUEST_INVALID_FIELD" });
      await bus.ensureStream(s.name, [`${s.base}.>`, `${prefix}.extra_${seq}`]);
      expect(await bus.publish(`${prefix}.extra_${seq}`, { n: 1 })).toMatchObject({ stream: s.name, seq: 1 });
    });

    test("messages older than maxAge are removed", async () => {
      const s = await freshStream({ maxAgeMs: 400, duplicateWindowMs: 200 });
      await bus.publish(s.subject("x"), { old: 1 });
      await bus.publish(s.subject("x"), { old: 2 });
      await sleep(1200);
      await bus.publish(s.subject("x"), { fresh: true });
      const r = await record(s.name, "aged");
      await waitFor("one", () => r.handled.length >= 1);
      await sleep(200);
      expect(r.handled.map((m) => m.seq)).toEqual([3]);
      await r.sub.stop();
    });

    test("bad names and values are FW_REQUEST_INVALID_FIELD naming the field", async () => {
      const s = await freshStream();
      const invalid = (field: RegExp) => expect.objectContaining({ code: "FW_REQUEST_INVALID_FIELD", message: expect.stringMatching(field) });
      const handler = async () => undefined;
      await expect(bus.ensureStream("bad name", ["x.>"])).rejects.toEqual(invalid(/stream name 'bad name'/));
      await expect(bus.ensureStream("a.b", ["x.>"])).rejects.toEqual(invalid(/stream name/));
      await expect(bus.ensureStream(`${prefix}_ok`, [])).rejects.toEqual(invalid(/subjects/));
      await expect(bus.ensureStream(`${prefix}_ok`, ["a..b"])).rejects.toEqual(invalid(/subjects 'a\.\.b'/));
      await expect(bus.ensureStream(`${prefix}_ok`, ["a.>.b"])).rejects.toEqual(invalid(/subjects/));
      await expect(bus.ensureStream(`${prefix}_ok`, ["x"], { duplicateWindowMs: 0 })).rejects.toEqual(invalid(/duplicateWindowMs/));
      await expect(bus.publish("a.*", { n: 1 })).rejects.toEqual(invalid(/subject 'a\.\*'.*no wildcards/));
      await expect(bus.publish("$JS.API.INFO", { n: 1 })).rejects.toEqual(invalid(/subject/));
      await expect(bus.publish(s.subject("x"), { n: 1 }, { msgId: "" })).rejects.toEqual(invalid(/msgId/));
      await expect(bus.publish(s.subject("x"), "text" as unknown as object)).rejects.toEqual(invalid(/payload.*bare string/));
      await expect(bus.publish(s.subject("x"), { big: 1n } as unknown as object)).rejects.toEqual(invalid(/payload.*JSON/));
      await expect(bus.publish(s.subject("x"), new Uint8Array(bus.maxPayloadBytes + 1))).rejects.toEqual(invalid(/payload.*exceeds/));
      await expect(bus.publish(`${prefix}.nowhere`, { n: 1 })).rejects.toEqual(invalid(/subject '.*nowhere': no stream captures it/));
      await expect(bus.consume(s.name, "bad.durable", {}, handler)).rejects.toEqual(invalid(/durable name/));
      await expect(bus.consume(s.name, "d", { batch: 0 }, handler)).rejects.toEqual(invalid(/batch 0/));
      await expect(bus.consume(s.name, "d", { maxDeliver: 0 }, handler)).rejects.toEqual(invalid(/maxDeliver/));
      await expect(bus.consume(s.name, "d", { batch: 10, maxAckPending: 5 }, handler)).rejects.toEqual(invalid(/maxAckPending/));
      await expect(bus.consume(s.name, "d", { filterSubject: "a b" }, handler)).rejects.toEqual(invalid(/filterSubject/));
      await expect(bus.consume(`${prefix}_missing`, "d", {}, handler)).rejects.toEqual(invalid(/stream '.*_missing': no such stream/));
      // Nothing was stored by the refused publishes.
      expect(await bus.consumerState(s.name, "d")).toBeUndefined();
    });

    test("a stream's subjects may not overlap another stream's", async () => {
      const s = await freshStream();
      await expect(bus.ensureStream(`${prefix}_overlap`, [`${s.base}.*`])).rejects.toMatchObject({
        code: "FW_REQUEST_INVALID_FIELD",
        message: expect.stringMatching(/subjects.*overlap/),
      });
    });

    test("a stream deleted under a running consumer is reported, and stop() still returns", async () => {
      const s = await freshStream();
      const r = await record(s.name, "orphan");
      expect(await bus.deleteStream(s.name)).toBe(true);
      await waitFor("the failure to be reported", () => r.errors.length > 0);
      expect(r.errors[0]).toMatchObject({
        error: expect.objectContaining({ code: "FW_REQUEST_INVALID_FIELD", message: expect.stringMatching(/deleted|no such/) }),
        seqs: [],
      });
      await r.sub.stop();
    });

    test("a closed bus refuses work with FW_STORAGE_UNAVAILABLE and ends its consumers", async () => {
      const s = await freshStream();
      const other = await openStreamBus(uri);
      const r = await record(s.name, "closing", {}, undefined, other);
      await other.close();
      await r.sub.done;
      await expect(other.publish(s.subject("x"), { n: 1 })).rejects.toMatchObject({ code: "FW_STORAGE_UNAVAILABLE" });
    });
  });
}
