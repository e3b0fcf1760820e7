import { describe, expect, it } from "vitest";
import { sortFloat64 } from "./sort.js";

/** Same order as Float64Array.prototype.sort, bit for bit (Object.is tells −0 from +0). */
function expectSameOrder(values: Float64Array): void {
  const want = values.slice().sort();
  const got = sortFloat64(values.slice());
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++) if (!Object.is(got[i], want[i])) expect([i, got[i]]).toEqual([i, want[i]]);
}

describe("sortFloat64", () => {
  it("orders large random samples of mixed sign and magnitude like Float64Array.prototype.sort", () => {
    let seed = 12345;
    const u = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296);
    const a = Float64Array.from({ length: 200_000 }, () => (u() - 0.5) * Math.exp((u() - 0.5) * 80));
    expectSameOrder(a);
  });

  it("handles ties, ±0, subnormals, extremes and already sorted or reversed input", () => {
    const special = [0, -0, 5e-324, -5e-324, 2.2250738585072014e-308, -1.7976931348623157e308, 1.7976931348623157e308, 1, -1, 1, 0, -0];
    const a = Float64Array.from({ length: 10_000 }, (_, i) => special[i % special.length]! + (i % 3 === 0 ? 0 : Math.floor(i / 100)));
    expectSameOrder(a);
    expectSameOrder(Float64Array.from({ length: 9_000 }, (_, i) => i * 0.5));
    expectSameOrder(Float64Array.from({ length: 9_000 }, (_, i) => -i * 0.25));
    expectSameOrder(new Float64Array(8_000).fill(3.25));
  });

  it("sorts small arrays too", () => {
    expectSameOrder(Float64Array.from([3, -1, 2, -0, 0, 2]));
    expectSameOrder(new Float64Array(0));
  });
});
