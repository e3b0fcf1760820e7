import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import {
  applyStandardizer,
  CsvParseError,
  fitStandardizer,
  getColumn,
  mulberry32,
  parseNumericCsv,
  permutation,
  readNumericCsv,
  rowCount,
  splitFeaturesTarget,
  standardize,
  take,
  takeRows,
  trainTestSplit,
} from "./csv.js";

const BREAST_CANCER = new URL("../../examples/data/breast_cancer.csv", import.meta.url);

function parseError(text: string): CsvParseError {
  try {
    parseNumericCsv(text, { source: "test.csv" });
  } catch (err) {
    if (err instanceof CsvParseError) return err;
    throw err;
  }
  throw new Error("expected a CsvParseError");
}

describe("parseNumericCsv", () => {
  it("reads a header and column-major Float64Arrays", () => {
    const t = parseNumericCsv("a,b,c\n1,2.5,-3\n4,5e-3,+6\n");
    expect(t.columns).toEqual(["a", "b", "c"]);
    expect(t.data.every((c) => c instanceof Float64Array)).toBe(true);
    expect(t.data.map((c) => Array.from(c))).toEqual([
      [1, 4],
      [2.5, 0.005],
      [-3, 6],
    ]);
  });

  it("accepts CRLF, a BOM, blank lines, surrounding spaces and quoted header names", () => {
    const t = parseNumericCsv('\uFEFF"x", y \r\n 1 , .5\r\n\r\n2,3.\r\n\r\n');
    expect(t.columns).toEqual(["x", "y"]);
    expect(t.data.map((c) => Array.from(c))).toEqual([
      [1, 2],
      [0.5, 3],
    ]);
  });

  it("gives an empty table for a header without rows", () => {
    const t = parseNumericCsv("a,b\n");
    expect(t.columns).toEqual(["a", "b"]);
    expect(t.data.map((c) => c.length)).toEqual([0, 0]);
  });

  it("names the line and column of a non-numeric cell", () => {
    const err = parseError("a,b,c\n1,2,3\n4,oops,6\n");
    expect(err.line).toBe(3);
    expect(err.column).toBe(2);
    expect(err.message).toBe('test.csv: line 3, column 2 ("b"): non-numeric value "oops"');
  });

  it("counts skipped blank lines in line numbers", () => {
    const err = parseError("a,b\n\n1,2\n\n3,\n");
    expect(err.line).toBe(5);
    expect(err.column).toBe(2);
    expect(err.message).toMatch(/line 5, column 2 \("b"\): empty cell/);
  });

  it.each(["0x10", "Infinity", "NaN", "1,5e", "--1", "1e400"])("rejects %s", (cell) => {
    const err = parseError(`a\n${cell}\n`);
    expect(err.line).toBe(2);
    if (cell === "1,5e") {
      expect(err.message).toMatch(/expected 1 fields as in the header, found 2/);
    } else {
      expect(err.column).toBe(1);
    }
  });

  it("rejects a row with the wrong number of fields", () => {
    const err = parseError("a,b,c\n1,2,3\n1,2\n");
    expect(err.line).toBe(3);
    expect(err.column).toBe(0);
    expect(err.message).toMatch(/line 3: expected 3 fields as in the header, found 2/);
  });

  it("rejects empty input, empty and duplicate header names", () => {
    expect(parseError("\n\n").message).toMatch(/empty/);
    expect(parseError("a,,c\n1,2,3\n").message).toMatch(/line 1, column 2: empty column name/);
    expect(parseError("a,b,a\n1,2,3\n").message).toMatch(
      /line 1, column 3: duplicate column name "a" \(also column 1\)/,
    );
  });
});

describe("readNumericCsv on examples/data/breast_cancer.csv", () => {
  it("reads 569 rows of 30 features plus a 0/1 target", async () => {
    const t = await readNumericCsv(BREAST_CANCER);
    expect(t.columns).toHaveLength(31);
    expect(t.columns[0]).toBe("mean_radius");
    expect(t.columns[30]).toBe("target");
    expect(rowCount(t.data)).toBe(569);
    expect(getColumn(t, "mean_radius")[0]).toBe(17.99);
    const target = getColumn(t, "target");
    expect(new Set(target)).toEqual(new Set([0, 1]));
    expect(target.reduce((a, b) => a + b, 0)).toBe(357);
  });

  it("accepts a string path and names the file in errors", async () => {
    const t = await readNumericCsv(fileURLToPath(BREAST_CANCER));
    expect(t.data[0]?.length).toBe(569);
    await expect(readNumericCsv("/nonexistent/x.csv")).rejects.toThrow(/ENOENT/);
  });
});

describe("column helpers", () => {
  const t = parseNumericCsv("f1,target,f2\n1,0,10\n2,1,20\n3,1,30\n");

  it("splitFeaturesTarget separates the target column", () => {
    const { featureNames, X, y } = splitFeaturesTarget(t, "target");
    expect(featureNames).toEqual(["f1", "f2"]);
    expect(X.map((c) => Array.from(c))).toEqual([
      [1, 2, 3],
      [10, 20, 30],
    ]);
    expect(Array.from(y)).toEqual([0, 1, 1]);
    expect(() => splitFeaturesTarget(t, "label")).toThrow(/no column named "label"/);
  });

  it("take/takeRows select rows in index order", () => {
    expect(Array.from(take(t.data[0] as Float64Array, [2, 0]))).toEqual([3, 1]);
    expect(takeRows(t.data, Uint32Array.from([1])).map((c) => Array.from(c))).toEqual([
      [2],
      [1],
      [20],
    ]);
    expect(() => take(new Float64Array(2), [2])).toThrow(/out of range/);
  });

  it("rowCount rejects ragged matrices", () => {
    expect(rowCount([])).toBe(0);
    expect(() => rowCount([new Float64Array(2), new Float64Array(3)])).toThrow(/column 1/);
  });
});

describe("mulberry32 and trainTestSplit", () => {
  it("mulberry32 is the reference generator", () => {
    const r = mulberry32(42);
    expect([r(), r(), r(), r()]).toEqual([
      0.6011037519201636, 0.44829055899754167, 0.8524657934904099, 0.6697340414393693,
    ]);
    const s = mulberry32(7);
    for (let i = 0; i < 10_000; i++) {
      const v = s();
      expect(v >= 0 && v < 1).toBe(true);
    }
  });

  it("permutation shuffles every index exactly once", () => {
    const p = permutation(1000, mulberry32(1));
    expect(Array.from(p).sort((a, b) => a - b)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect(Array.from(p.slice(0, 10))).not.toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it("is deterministic, disjoint and complete, with ceil(n·testFraction) test rows", () => {
    const a = trainTestSplit(569, 0.2, 42);
    const b = trainTestSplit(569, 0.2, 42);
    expect(a.test).toEqual(b.test);
    expect(a.train).toEqual(b.train);
    expect(a.test.length).toBe(114);
    expect(a.train.length).toBe(455);
    const all = [...a.train, ...a.test].sort((x, y) => x - y);
    expect(all).toEqual(Array.from({ length: 569 }, (_, i) => i));
    // Pinned so that results built on this split (the quickstart) stay reproducible.
    expect(Array.from(a.test.slice(0, 8))).toEqual([259, 560, 417, 460, 288, 503, 168, 524]);
  });

  it("gives different splits for different seeds", () => {
    expect(trainTestSplit(100, 0.3, 1).test).not.toEqual(trainTestSplit(100, 0.3, 2).test);
  });

  it("validates its arguments", () => {
    expect(() => trainTestSplit(1, 0.5, 0)).toThrow(/n must be/);
    expect(() => trainTestSplit(10, 0, 0)).toThrow(/testFraction/);
    expect(() => trainTestSplit(10, 1, 0)).toThrow(/testFraction/);
    expect(() => trainTestSplit(10, 0.99, 0)).toThrow(/no training rows/);
    expect(() => trainTestSplit(10, 0.2, 1.5)).toThrow(/seed/);
  });
});

describe("standardize", () => {
  it("fits on train only and applies the same transform to test", () => {
    const train = [Float64Array.from([1, 2, 3, 4]), Float64Array.from([10, 10, 30, 30])];
    const test = [Float64Array.from([5, 0]), Float64Array.from([20, 40])];
    const s = standardize(train, test);
    expect(Array.from(s.standardizer.mean)).toEqual([2.5, 20]);
    expect(s.standardizer.std[0]).toBeCloseTo(Math.sqrt(1.25), 15);
    expect(s.standardizer.std[1]).toBe(10);
    for (const col of s.train) {
      const mean = col.reduce((a, b) => a + b, 0) / col.length;
      const variance = col.reduce((a, b) => a + (b - mean) ** 2, 0) / col.length;
      expect(mean).toBeCloseTo(0, 14);
      expect(variance).toBeCloseTo(1, 14);
    }
    expect(s.test[0]?.[0]).toBeCloseTo(2.5 / Math.sqrt(1.25), 14);
    expect(Array.from(s.test[1] ?? [])).toEqual([0, 2]);
  });

  it("centres a constant column without scaling it", () => {
    const train = [Float64Array.from([0.1, 0.1, 0.1]), Float64Array.from([1, 2, 3])];
    const test = [Float64Array.from([0.1, 0.6]), Float64Array.from([2, 2])];
    const s = standardize(train, test);
    expect(s.standardizer.std[0]).toBe(0);
    expect(Array.from(s.train[0] ?? [])).toEqual([0, 0, 0]);
    expect(s.test[0]?.[0]).toBe(0);
    expect(s.test[0]?.[1]).toBeCloseTo(0.5, 15);
  });

  it("checks shapes", () => {
    expect(() => fitStandardizer([new Float64Array(0)])).toThrow(/no rows/);
    const fitted = fitStandardizer([Float64Array.from([1, 2])]);
    expect(() => applyStandardizer(fitted, [])).toThrow(/fitted on 1 columns but given 0/);
  });
});
