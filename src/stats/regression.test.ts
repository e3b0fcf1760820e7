import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  meanAbsoluteError,
  meanAbsolutePercentageError,
  meanSquaredError,
  r2Score,
  rootMeanSquaredError,
} from "./regression.js";

interface GoldenCase {
  name: string;
  y_true: number[];
  y_pred: number[];
  expected: { mae: number; mse: number; rmse: number; mape: number; r2: number };
}

const golden = JSON.parse(
  readFileSync(new URL("./__golden__/regression.json", import.meta.url), "utf8"),
) as { cases: GoldenCase[] };

function expectClose(actual: number, expected: number, what: string): void {
  const err = expected === 0 ? Math.abs(actual) : Math.abs(actual - expected) / Math.abs(expected);
  const limit = expected === 0 ? 1e-300 : 1e-9;
  expect(err, `${what}: got ${actual}, expected ${expected}`).toBeLessThan(limit);
}

describe("regression metrics against golden values (scripts/golden/regression.py)", () => {
  it("has the generated cases", () => {
    expect(golden.cases.length).toBeGreaterThanOrEqual(7);
  });

  for (const c of golden.cases) {
    it(c.name, () => {
      const yTrue = Float64Array.from(c.y_true);
      const yPred = Float64Array.from(c.y_pred);
      expectClose(meanAbsoluteError(yTrue, yPred), c.expected.mae, "mae");
      expectClose(meanSquaredError(yTrue, yPred), c.expected.mse, "mse");
      expectClose(rootMeanSquaredError(yTrue, yPred), c.expected.rmse, "rmse");
      expectClose(meanAbsolutePercentageError(yTrue, yPred), c.expected.mape, "mape");
      expectClose(r2Score(yTrue, yPred), c.expected.r2, "r2");
    });
  }
});

describe("regression metric edge cases", () => {
  it("R² is 1 for a perfect fit of constant data and 0 otherwise", () => {
    expect(r2Score([2, 2, 2], [2, 2, 2])).toBe(1);
    expect(r2Score([2, 2, 2], [2, 2, 3])).toBe(0);
  });

  it("R² of predicting the mean is 0", () => {
    expect(r2Score([1, 2, 3, 4], [2.5, 2.5, 2.5, 2.5])).toBe(0);
  });

  it("MAPE is a fraction, not a percentage", () => {
    expect(meanAbsolutePercentageError([100, 200], [110, 180])).toBeCloseTo(0.1, 15);
  });

  it("rejects mismatched lengths and empty input", () => {
    expect(() => meanAbsoluteError([1, 2], [1])).toThrow(/2 values but yPred has 1/);
    expect(() => rootMeanSquaredError([], [])).toThrow(/no samples/);
    expect(() => r2Score([1], [])).toThrow(RangeError);
  });
});
