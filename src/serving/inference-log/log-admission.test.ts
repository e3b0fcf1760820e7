import { describe, expect, test } from "vitest";
import { LogAdmission, type AdmissionTarget } from "./log-admission.js";
import type { InferenceLogEntry } from "./log-record.js";

/** A writer that holds at most `capacity` rows, dropping (and counting) the rest, like the real ones. */
class Target implements AdmissionTarget {
  held: string[] = [];
  heldRows = 0;
  dropped: string[] = [];
  constructor(private readonly capacity: number) {}
  get backlog(): number {
    return this.heldRows;
  }
  offer(e: InferenceLogEntry): boolean {
    const rows = e.inputs.x?.dims[0] as number;
    if (this.heldRows + rows > this.capacity) {
      this.dropped.push(e.requestId);
      return false;
    }
    this.held.push(e.requestId);
    this.heldRows += rows;
    return true;
  }
  /** Writes everything held (frees the room). */
  write(): void {
    this.held = [];
    this.heldRows = 0;
  }
}

const entry = (id: string, rows = 1): InferenceLogEntry => ({
  requestId: id,
  protocol: "v2",
  time: 0,
  latencyMs: 1,
  model: "m",
  version: "1",
  inputs: { x: { type: "float32", dims: [rows, 1], data: new Float32Array(rows) } },
  outputs: [],
});

const turn = () => new Promise((r) => setImmediate(r));

describe("LogAdmission", () => {
  test("entries reach the writer at the end of the turn, all at once; drain() hands them over at once", async () => {
    const target = new Target(100);
    const a = new LogAdmission(target, { policy: "drop", capacity: 100, maxWaitMs: 1000 });
    expect(a.offer(entry("a"))).toBeUndefined();
    expect(a.offer(entry("b", 3))).toBeUndefined();
    expect(target.held).toEqual([]);
    expect(a.backlog).toBe(4);
    await turn();
    expect(target.held).toEqual(["a", "b"]);
    expect(a.backlog).toBe(0);
    void a.offer(entry("c"));
    a.drain();
    expect(target.held).toEqual(["a", "b", "c"]);
  });

  test("drop: a full log never holds a request; the writer drops and counts what does not fit", async () => {
    const target = new Target(2);
    const a = new LogAdmission(target, { policy: "drop", capacity: 2, maxWaitMs: 1000 });
    for (const id of ["a", "b", "c", "d"]) expect(a.offer(entry(id))).toBeUndefined();
    await turn();
    expect(target.held).toEqual(["a", "b"]);
    expect(target.dropped).toEqual(["c", "d"]);
    expect(a.waited).toBe(0);
  });

  test("backpressure: requests wait for room and are let in oldest first as the writer frees it", async () => {
    const target = new Target(3);
    const a = new LogAdmission(target, { policy: "backpressure", capacity: 3, maxWaitMs: 60_000 });
    const admitted: string[] = [];
    const offer = (id: string, rows = 1) => {
      const w = a.offer(entry(id, rows));
      if (w === undefined) admitted.push(id);
      else void w.then(() => admitted.push(id));
    };
    offer("a", 2);
    offer("b");
    offer("c", 2);
    offer("d");
    // Only "a" and "b" fit; "d" would fit by rows but waits behind "c": first come, first served.
    expect(admitted).toEqual(["a", "b"]);
    expect(a.waitingRequests).toBe(2);
    expect(a.waited).toBe(2);
    await turn();
    expect(target.held).toEqual(["a", "b"]);
    a.wake();
    await turn();
    expect(admitted).toEqual(["a", "b"]);
    target.write();
    a.wake();
    await turn();
    expect(admitted).toEqual(["a", "b", "c", "d"]);
    expect(target.held).toEqual(["c", "d"]);
    expect(target.dropped).toEqual([]);
    expect(a.waitingRequests).toBe(0);
  });

  test("backpressure: an entry larger than the whole capacity gets in once nothing else waits (and the writer drops it)", async () => {
    const target = new Target(2);
    const a = new LogAdmission(target, { policy: "backpressure", capacity: 2, maxWaitMs: 60_000 });
    expect(a.offer(entry("small"))).toBeUndefined();
    const big = a.offer(entry("big", 5));
    expect(big).toBeInstanceOf(Promise);
    await turn();
    target.write();
    a.wake();
    await big;
    await turn();
    expect(target.dropped).toEqual(["big"]);
  });

  test("backpressure: a request waits at most maxWaitMs; its entry is then handed on (and dropped when there is still no room)", async () => {
    const target = new Target(1);
    const a = new LogAdmission(target, { policy: "backpressure", capacity: 1, maxWaitMs: 30 });
    expect(a.offer(entry("a"))).toBeUndefined();
    const started = performance.now();
    const w = a.offer(entry("b"));
    expect(w).toBeInstanceOf(Promise);
    await w;
    expect(performance.now() - started).toBeGreaterThanOrEqual(25);
    expect(target.held).toEqual(["a"]);
    expect(target.dropped).toEqual(["b"]);
    expect(a.waitingRequests).toBe(0);
  });

  test("release lets every waiting request go at once (the log is closing)", async () => {
    const target = new Target(1);
    const a = new LogAdmission(target, { policy: "backpressure", capacity: 1, maxWaitMs: 60_000 });
    void a.offer(entry("a"));
    const waits = [a.offer(entry("b")), a.offer(entry("c"))];
    a.release();
    await Promise.all(waits);
    expect(target.held).toEqual(["a"]);
    expect(target.dropped).toEqual(["b", "c"]);
    expect(a.waitingRequests).toBe(0);
  });
});
