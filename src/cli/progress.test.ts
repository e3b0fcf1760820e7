/** The progress line of `flywheel predict`: its text, its throttle and its phases. */
import { describe, expect, it } from "vitest";
import { ProgressLine, describeProgress } from "./progress.js";

describe("describeProgress", () => {
  it("shows a bar, rows of the total and the rate when the total is known", () => {
    expect(describeProgress({ phase: "score", rows: 75_000, totalRows: 150_000 }, 2000)).toBe(
      "scoring [############............]  50%  75,000/150,000 rows  37,500 rows/s",
    );
    expect(describeProgress({ phase: "score", rows: 150_000, totalRows: 150_000 }, 3000)).toBe(
      "scoring [########################] 100%  150,000/150,000 rows  50,000 rows/s",
    );
  });

  it("shows rows and rate alone when the total is unknown, and the write with or without DuckDB's estimate", () => {
    expect(describeProgress({ phase: "score", rows: 1234, totalRows: undefined }, 500)).toBe("scoring 1,234 rows  2,468 rows/s");
    expect(describeProgress({ phase: "score", rows: 0, totalRows: undefined }, 0)).toBe("scoring 0 rows");
    expect(describeProgress({ phase: "write", percent: 25 }, 0)).toBe("writing [######..................]  25%");
    expect(describeProgress({ phase: "write", percent: undefined }, 0)).toBe("writing");
  });
});

describe("ProgressLine", () => {
  it("redraws in place at most every interval, and ends each phase on its own line", () => {
    let t = 0;
    let out = "";
    const line = new ProgressLine((s) => (out += s), () => t, 100);
    line.update({ phase: "score", rows: 10, totalRows: undefined });
    t = 50;
    line.update({ phase: "score", rows: 20, totalRows: undefined }); // too soon: kept, not drawn
    expect(out).toBe("\rscoring 10 rows");
    t = 1000;
    line.update({ phase: "score", rows: 1000, totalRows: undefined });
    expect(out).toBe("\rscoring 10 rows\rscoring 1,000 rows  1,000 rows/s");
    t = 1010;
    line.update({ phase: "score", rows: 1010, totalRows: undefined });
    line.update({ phase: "write", percent: 0 });
    line.end();
    expect(out.split("\n")).toEqual([
      "\rscoring 10 rows\rscoring 1,000 rows  1,000 rows/s\rscoring 1,010 rows  1,000 rows/s",
      "\rwriting [........................]   0%\rwriting [........................]   0%",
      "",
    ]);
  });

  it("draws nothing when nothing was reported", () => {
    let out = "";
    new ProgressLine((s) => (out += s)).end();
    expect(out).toBe("");
  });
});
