import { describe, expect, test } from "vitest";
import type { InferenceSession } from "onnxruntime-node";
import type { RuntimeThread } from "./runtime-thread.js";
import { sessionRunner, type RunCount } from "./session-runner.js";
import type { TensorValue } from "./tensors.js";

/** A session and a thread that answer when told to, recording where each run went. */
function fakes() {
  const where: string[] = [];
  const release: (() => void)[] = [];
  const answer = (tag: string) =>
    new Promise<Record<string, never>>((resolve) => {
      where.push(tag);
      release.push(() => resolve({}));
    });
  const session = { run: () => answer("inline") } as unknown as InferenceSession;
  const runtime = { canRun: () => true, run: () => answer("thread").then((outputs) => ({ outputs, seconds: 0 })) } as unknown as RuntimeThread;
  return { where, release, session, runtime };
}

const feeds: Record<string, TensorValue> = { x: { type: "float32", dims: [1, 1], data: new Float32Array(1) } };
class FakeTensor {
  constructor(
    readonly type: string,
    readonly data: unknown,
    readonly dims: readonly number[],
  ) {}
}

describe("sessionRunner", () => {
  test("a lone run stays on the serving thread; concurrent runs are shared, two to the thread for one here", async () => {
    const f = fakes();
    const runs: RunCount = { inline: 0, offloaded: 0 };
    const run = sessionRunner({
      what: "model 'm' version 1",
      model: "m",
      session: f.session,
      ort: { Tensor: FakeTensor as never },
      thread: { runtime: f.runtime, session: 1 },
      runs,
      timed: () => undefined,
    });
    const lone = run(feeds, ["y"]);
    expect(f.where).toEqual(["inline"]);
    f.release.splice(0).forEach((r) => r());
    await lone;
    expect(runs).toEqual({ inline: 0, offloaded: 0 });

    f.where.length = 0;
    const burst = Array.from({ length: 9 }, () => run(feeds, ["y"]));
    expect(f.where).toEqual(["inline", "thread", "thread", "inline", "thread", "thread", "inline", "thread", "thread"]);
    expect(runs).toEqual({ inline: 3, offloaded: 6 });
    f.release.splice(0).forEach((r) => r());
    await Promise.all(burst);
    expect(runs).toEqual({ inline: 0, offloaded: 0 });
  });

  test("without a thread every run stays on the serving thread", async () => {
    const f = fakes();
    const runs: RunCount = { inline: 0, offloaded: 0 };
    const run = sessionRunner({ what: "m", model: "m", session: f.session, ort: { Tensor: FakeTensor as never }, thread: undefined, runs, timed: () => undefined });
    const burst = Array.from({ length: 4 }, () => run(feeds, ["y"]));
    expect(f.where).toEqual(["inline", "inline", "inline", "inline"]);
    f.release.splice(0).forEach((r) => r());
    await Promise.all(burst);
    expect(runs).toEqual({ inline: 0, offloaded: 0 });
  });
});
