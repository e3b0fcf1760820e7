import { Counter, Histogram, Registry } from "prom-client";
import { describe, expect, test } from "vitest";
import { HotCounter, HotHistogram } from "./hot-metrics.js";

const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/** A deterministic stream of numbers in [0, 1). */
function random(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x / 2 ** 32;
  };
}

describe("hot metrics", () => {
  test("render exactly what prom-client's Counter and Histogram render for the same observations", async () => {
    const hot = new Registry();
    const prom = new Registry();
    const hotCounter = new HotCounter("c_total", "a counter", ["model", "status"], hot);
    const promCounter = new Counter({ name: "c_total", help: "a counter", labelNames: ["model", "status"], registers: [prom] });
    const hotHistogram = new HotHistogram("h_seconds", "a histogram", ["model", "protocol"], BUCKETS, hot);
    const promHistogram = new Histogram({ name: "h_seconds", help: "a histogram", labelNames: ["model", "protocol"], buckets: BUCKETS, registers: [prom] });
    const next = random(7);
    const models = ["iris", "rf", 'we"ird\\name'];
    for (let i = 0; i < 5000; i++) {
      const model = models[Math.floor(next() * models.length)] as string;
      const status = next() < 0.9 ? "200" : "400";
      const protocol = next() < 0.5 ? "v1" : "v2";
      // Values on bucket bounds, between them, above the last, and zero.
      const r = next();
      const value = r < 0.1 ? (BUCKETS[Math.floor(next() * BUCKETS.length)] as number) : r < 0.15 ? 0 : r < 0.2 ? 3 + next() : next() * next() * 0.3;
      hotCounter.inc([model, status]);
      promCounter.inc({ model, status });
      hotHistogram.observe([model, protocol], value);
      promHistogram.observe({ model, protocol }, value);
    }
    hotCounter.inc(["iris", "200"], 5);
    promCounter.inc({ model: "iris", status: "200" }, 5);
    // prom-client lists label sets in first-seen order too; compare line sets, and the text sorted.
    const lines = (text: string) => text.split("\n").sort();
    const hotText = await hot.metrics();
    const promText = await prom.metrics();
    expect(lines(hotText)).toEqual(lines(promText));
    expect(hotText).toContain('h_seconds_bucket{le="+Inf",model="iris",protocol="v2"}');
    hot.resetMetrics();
    expect((await hot.metrics()).split("\n").filter((l) => !l.startsWith("#") && l !== "")).toEqual([]);
  });

  test("refuses bad definitions", () => {
    const r = new Registry();
    expect(() => new HotCounter("x_total", "x", [], r)).toThrow(/at least one label/);
    expect(() => new HotHistogram("y", "y", ["a"], [1, 1], r)).toThrow(/distinct finite/);
    expect(() => new HotHistogram("z", "z", ["a"], [1, Number.NaN], r)).toThrow(/distinct finite/);
  });
});
