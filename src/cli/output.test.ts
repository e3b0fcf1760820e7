import { Command, CommanderError } from "commander";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { FlywheelApiError } from "../client/errors.js";
import {
  FlywheelCommand,
  UsageError,
  clientFrom,
  collectKeyValue,
  collectPages,
  formatCompact,
  formatDuration,
  formatFields,
  formatNumber,
  formatTable,
  formatTime,
  io,
  parsePositiveInt,
  runCli,
} from "./output.js";

describe("formatTable", () => {
  it("pads each column to its widest cell and right-aligns numeric columns", () => {
    const out = formatTable(
      ["ID", "NAME", { header: "AUC", align: "right" }],
      [
        ["1", "baseline", "0.9"],
        ["12", "x", "0.91234"],
      ],
    );
    expect(out).toBe(["ID  NAME      AUC", "1   baseline      0.9", "12  x         0.91234", ""].join("\n"));
  });

  it("prints only the header for no rows and trims trailing spaces", () => {
    expect(formatTable(["A", "B"], [])).toBe("A  B\n");
    expect(formatTable(["A", "B"], [["long value", ""]])).toBe("A           B\nlong value\n");
  });

  it("aligns key/value fields", () => {
    expect(formatFields([["Name", "x"], ["Artifact URI", "y"]])).toBe("Name:          x\nArtifact URI:  y\n");
  });
});

describe("value formatting", () => {
  it("formats times, numbers and durations", () => {
    expect(formatTime(1_700_000_000_000)).toBe("2023-11-14T22:13:20.000Z");
    expect(formatTime(undefined)).toBe("-");
    expect(formatTime(0)).toBe("-");
    expect(formatNumber(Number.NaN)).toBe("NaN");
    expect(formatNumber(Number.NEGATIVE_INFINITY)).toBe("-Infinity");
    expect(formatNumber(0.123456789)).toBe("0.123456789");
    expect(formatCompact(0.123456789)).toBe("0.123457");
    expect(formatCompact(1234567)).toBe("1234567");
    expect(formatCompact(Number.POSITIVE_INFINITY)).toBe("Infinity");
    expect(formatDuration(1000, 5200)).toBe("4.2s");
    expect(formatDuration(0, 185_000 + 1)).toBe("-");
    expect(formatDuration(1000, 1000 + 185_000)).toBe("3m05s");
    expect(formatDuration(1000, 1000 + 3_720_000)).toBe("1h02m");
    expect(formatDuration(1000, undefined)).toBe("-");
  });
});

describe("option parsers", () => {
  it("parses positive integers and k=v pairs", () => {
    expect(parsePositiveInt("25")).toBe(25);
    for (const bad of ["0", "-1", "1.5", "x", ""]) expect(() => parsePositiveInt(bad)).toThrow(/positive integer/);
    expect(collectKeyValue("a=b=c", undefined)).toEqual([["a", "b=c"]]);
    expect(collectKeyValue("k=", [["a", "b"]])).toEqual([
      ["a", "b"],
      ["k", ""],
    ]);
    expect(() => collectKeyValue("novalue", undefined)).toThrow(/KEY=VALUE/);
  });

  it("turns a bad tracking URI into a usage error", () => {
    expect(() => clientFrom({ trackingUri: "ftp://x" })).toThrow(UsageError);
    expect(clientFrom({}, { MLFLOW_TRACKING_URI: "http://m:1" }).baseUrl).toBe("http://m:1");
  });
});

describe("collectPages", () => {
  const source = Array.from({ length: 25 }, (_, i) => i);
  const fetchPage = (calls: number[]) => async (max: number, token: string | undefined) => {
    calls.push(max);
    const offset = token === undefined ? 0 : Number(token);
    const end = offset + Math.min(max, 10);
    return { items: source.slice(offset, end), ...(end < source.length ? { next: String(end) } : {}) };
  };

  it("follows pages until the limit", async () => {
    const calls: number[] = [];
    const r = await collectPages(22, fetchPage(calls));
    expect(r.items).toEqual(source.slice(0, 22));
    expect(r.more).toBe(true);
    expect(calls).toEqual([22, 12, 2]);
  });

  it("stops at the last page", async () => {
    const r = await collectPages(100, fetchPage([]));
    expect(r.items).toEqual(source);
    expect(r.more).toBe(false);
    expect(r.nextPageToken).toBeUndefined();
  });
});

describe("runCli and exit codes", () => {
  let err = "";
  const original = { ...io };

  beforeEach(() => {
    err = "";
    io.err = (s) => {
      err += s;
    };
  });

  afterEach(() => {
    Object.assign(io, original);
    process.exitCode = undefined;
  });

  it("prints an API error without a stack trace and exits 1", async () => {
    await runCli(() => {
      throw new FlywheelApiError({ status: 404, errorCode: "RESOURCE_DOES_NOT_EXIST", message: "Run x not found", method: "GET", url: "u" });
    })();
    expect(err).toBe("error: Run x not found\n");
    expect(process.exitCode).toBe(1);
  });

  it("exits 2 for a usage error", async () => {
    await runCli(() => {
      throw new UsageError("bad flag");
    })();
    expect(err).toBe("error: bad flag\n");
    expect(process.exitCode).toBe(2);
  });

  it("makes commander's parse errors exit 2 and keeps other exit codes", async () => {
    const program = new Command().exitOverride().configureOutput({ writeErr: () => undefined, writeOut: () => undefined });
    const sub = new FlywheelCommand("thing");
    sub.copyInheritedSettings(program);
    program.addCommand(sub);
    sub.command("do").argument("<x>").option("--n <n>", "n", parsePositiveInt).action(() => undefined);

    const exitCode = async (args: string[]) =>
      program.parseAsync(["node", "cli", ...args]).then(
        () => 0,
        (e: unknown) => (e instanceof CommanderError ? e.exitCode : -1),
      );
    expect(await exitCode(["thing", "do"])).toBe(2);
    expect(await exitCode(["thing", "do", "a", "--bogus"])).toBe(2);
    expect(await exitCode(["thing", "do", "a", "--n", "zero"])).toBe(2);
    expect(await exitCode(["thing", "nope"])).toBe(2);
    expect(await exitCode(["thing", "do", "a", "--help"])).toBe(0);
    expect(await exitCode(["thing", "do", "a", "--n", "3"])).toBe(0);
  });
});
