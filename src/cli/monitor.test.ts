import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Command, CommanderError } from "commander";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OfflineDb, quoteLiteral } from "../storage/offline/duckdb.js";
import { registerMonitorCommand } from "./monitor.js";
import { io } from "./output.js";

/** Runs `flywheel monitor …` in-process; answers stdout, stderr and the exit code. */
async function flywheel(...args: string[]): Promise<{ stdout: string; stderr: string; exitCode: number }> {
  const original = { ...io };
  let stdout = "";
  let stderr = "";
  io.out = (s) => void (stdout += s);
  io.err = (s) => void (stderr += s);
  const program = new Command()
    .name("flywheel")
    .exitOverride()
    .configureOutput({ writeOut: (s) => void (stdout += s), writeErr: (s) => void (stderr += s) });
  registerMonitorCommand(program);
  process.exitCode = undefined;
  let exitCode: number;
  try {
    await program.parseAsync(["node", "flywheel", ...args]);
    exitCode = Number(process.exitCode ?? 0);
  } catch (e) {
    if (!(e instanceof CommanderError)) throw e;
    exitCode = e.exitCode;
  } finally {
    process.exitCode = undefined;
    Object.assign(io, original);
  }
  return { stdout, stderr, exitCode };
}

/** Deterministic pseudo-normal values from a seed (sum of 12 uniforms from an LCG). */
function values(n: number, seed: number, mean: number, sd: number): number[] {
  let s = seed >>> 0;
  const u = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
  return Array.from({ length: n }, () => {
    let t = -6;
    for (let k = 0; k < 12; k++) t += u();
    return mean + sd * t;
  });
}

function csv(n: number, seed: number, shift: number): string {
  const x = values(n, seed, shift, 1);
  const y = values(n, seed + 1, 5, 2);
  const z = values(n, seed + 2, 0, 1 + shift);
  const lines = ["x,y,z,plan,label,day"];
  for (let i = 0; i < n; i++) {
    const plan = ["basic", "pro", "team"][(i * 7 + (shift > 0 && i % 3 === 0 ? 1 : 0)) % 3];
    const xv = i % 50 === 0 ? "" : x[i]!.toFixed(5);
    lines.push(`${xv},${y[i]!.toFixed(5)},${z[i]!.toFixed(5)},${plan},${i % 4 === 0 ? 1 : 0},2024-01-${String((i % 28) + 1).padStart(2, "0")}`);
  }
  return lines.join("\n") + "\n";
}

describe("flywheel monitor", () => {
  let dir: string;
  let refCsv: string;
  let refParquet: string;
  let curParquet: string;
  let sameParquet: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "flywheel-monitor-"));
    refCsv = join(dir, "ref.csv");
    refParquet = join(dir, "ref.parquet");
    curParquet = join(dir, "cur.parquet");
    sameParquet = join(dir, "same.parquet");
    writeFileSync(refCsv, csv(3000, 1, 0));
    writeFileSync(join(dir, "cur.csv"), csv(2500, 11, 0.5));
    writeFileSync(join(dir, "same.csv"), csv(2500, 21, 0));
    const db = await OfflineDb.open({ threads: 1 });
    for (const [from, to] of [
      [refCsv, refParquet],
      [join(dir, "cur.csv"), curParquet],
      [join(dir, "same.csv"), sameParquet],
    ] as const) {
      await db.run(`COPY (SELECT * FROM read_csv(${quoteLiteral(from)}, header = true)) TO ${quoteLiteral(to)} (FORMAT parquet)`);
    }
    db.close();
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("prints the per-column test, score, threshold and verdict, and the dataset verdict; exit code 0 with drift", async () => {
    const r = await flywheel("monitor", "drift", "--reference", refParquet, "--current", curParquet);
    expect(r.stderr).toBe("");
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/COLUMN\s+ROLE\s+TYPE\s+TEST\s+STATISTIC\s+P-VALUE\/DISTANCE\s+THRESHOLD\s+VERDICT\s+MISSING/);
    expect(r.stdout).toMatch(/^x\s+feature\s+numerical\s+wasserstein\s+-\s+d=\S+\s+0\.1\s+DRIFT\s+2\.0% → 2\.0%$/m);
    expect(r.stdout).toMatch(/^y\s+feature\s+numerical\s+wasserstein\s+.*\s+ok\s/m);
    expect(r.stdout).toMatch(/^plan\s+feature\s+categorical\s+jensenshannon\s/m);
    expect(r.stdout).toMatch(/Dataset drift: YES — \d of 5 tested columns drifted/);
    expect(r.stdout).toMatch(/skipped day: unsupported type DATE/);
  });

  it("--json answers the report; CSV and Parquet give the same numbers", async () => {
    const a = await flywheel("monitor", "drift", "--reference", refParquet, "--current", curParquet, "--json");
    const b = await flywheel("monitor", "drift", "--reference", refCsv, "--current", curParquet, "--json");
    expect(a.exitCode).toBe(0);
    const ja = JSON.parse(a.stdout) as { columns: { column: string; result: { score: number } }[]; dataset: { drift: boolean } };
    const jb = JSON.parse(b.stdout) as typeof ja;
    expect(ja.columns.map((c) => c.column)).toEqual(["x", "y", "z", "plan", "label"]);
    expect(jb.columns.map((c) => c.result.score)).toEqual(ja.columns.map((c) => c.result.score));
    expect(ja.dataset.drift).toBe(true);
    const same = JSON.parse((await flywheel("monitor", "drift", "--reference", refParquet, "--current", sameParquet, "--json")).stdout) as typeof ja;
    expect(same.dataset.drift).toBe(false);
  });

  it("applies a YAML column mapping: roles, forced categories, per-column tests and thresholds", async () => {
    const mapping = join(dir, "mapping.yaml");
    writeFileSync(
      mapping,
      ["target: label", "task: classification", "categorical_features: [plan]", "ignore: [z]", "drift:", "  per_column:", "    x: {stattest: ks, stattest_threshold: 0.01}", "  extra_tests: [psi]"].join("\n"),
    );
    const r = await flywheel("monitor", "drift", "--reference", refParquet, "--current", curParquet, "--column-mapping", mapping, "--json");
    expect(r.exitCode).toBe(0);
    const j = JSON.parse(r.stdout) as { columns: { column: string; role: string; kind: string; result: { test: string; threshold: number }; extra: { test: string }[] }[] };
    expect(j.columns.map((c) => [c.column, c.role, c.kind, c.result.test])).toEqual([
      ["x", "feature", "numerical", "ks"],
      ["y", "feature", "numerical", "wasserstein"],
      ["plan", "feature", "categorical", "jensenshannon"],
      ["label", "target", "categorical", "jensenshannon"],
    ]);
    expect(j.columns[0]!.result.threshold).toBe(0.01);
    expect(j.columns[0]!.extra.map((t) => t.test)).toEqual(["psi"]);
  });

  it("--html writes a self-contained page with an inline SVG per column and no rows", async () => {
    const html = join(dir, "report.html");
    const r = await flywheel("monitor", "drift", "--reference", refParquet, "--current", curParquet, "--html", html);
    expect(r.exitCode).toBe(0);
    expect(r.stderr).toContain(`HTML report: ${html}`);
    const page = readFileSync(html, "utf8");
    expect(page.startsWith("<!doctype html>")).toBe(true);
    expect((page.match(/<svg /g) ?? []).length).toBe(5);
    expect(page).not.toMatch(/<script|<link|@import|url\(|src=/i);
    expect(page.replace(/xmlns="http:\/\/www\.w3\.org\/2000\/svg"/g, "")).not.toMatch(/https?:/);
    // A value from the data (x of the first reference row) must not appear: only bins are embedded.
    const firstX = readFileSync(refCsv, "utf8").split("\n")[2]!.split(",")[0]!;
    expect(page).not.toContain(firstX);
    expect(page.length).toBeLessThan(120_000);
  });

  it("stores a reference profile once and compares against it with the same results", async () => {
    const profile = join(dir, "profile.json");
    const p = await flywheel("monitor", "profile", "--reference", refParquet, "--out", profile);
    expect(p.exitCode).toBe(0);
    expect(p.stdout).toMatch(/Wrote the reference profile of 5 columns \(3,000 rows/);
    const direct = JSON.parse((await flywheel("monitor", "drift", "--reference", refParquet, "--current", curParquet, "--json")).stdout) as {
      columns: { result: unknown }[];
    };
    const viaProfile = JSON.parse((await flywheel("monitor", "drift", "--reference", profile, "--current", curParquet, "--json")).stdout) as typeof direct;
    expect(viaProfile.columns.map((c) => c.result)).toEqual(direct.columns.map((c) => c.result));
  });

  it("exits 2 on bad usage: missing file, unknown test, bad mapping, unknown file type, missing option", async () => {
    const missing = await flywheel("monitor", "drift", "--reference", join(dir, "nope.parquet"), "--current", curParquet);
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toMatch(/nope\.parquet: no such file/);
    expect((await flywheel("monitor", "drift", "--reference", refParquet, "--current", curParquet, "--test", "nope")).exitCode).toBe(2);
    const badMapping = join(dir, "bad.json");
    writeFileSync(badMapping, JSON.stringify({ drift: { driftShare: 3 } }));
    const bad = await flywheel("monitor", "drift", "--reference", refParquet, "--current", curParquet, "--column-mapping", badMapping);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toMatch(/drift\.driftShare/);
    const wrongTest = await flywheel("monitor", "drift", "--reference", refParquet, "--current", curParquet, "--column-mapping", writeMapping(dir, { drift: { perColumn: { plan: { test: "ks" } } } }));
    expect(wrongTest.exitCode).toBe(2);
    expect(wrongTest.stderr).toMatch(/'ks' does not apply to categorical column 'plan'/);
    expect((await flywheel("monitor", "drift", "--reference", join(dir, "x.xlsx"), "--current", curParquet)).exitCode).toBe(2);
    expect((await flywheel("monitor", "drift", "--reference", refParquet)).exitCode).toBe(2);
    expect(existsSync(join(dir, "nope.parquet"))).toBe(false);
  });
});

function writeMapping(dir: string, mapping: unknown): string {
  const p = join(dir, `mapping-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(p, JSON.stringify(mapping));
  return p;
}
