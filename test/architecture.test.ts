/**
 * The module map holds: arrows point down (a service never imports the server or the CLI; core
 * imports nothing), and no import cycles exist between source files.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, expect, test } from "vitest";

const SRC = resolve(import.meta.dirname, "../src");

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return files(p);
    return p.endsWith(".ts") && !p.endsWith(".test.ts") ? [p] : [];
  });
}

const graph = new Map<string, string[]>();
for (const f of files(SRC)) {
  const text = readFileSync(f, "utf8");
  const deps = [...text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+"(\.[^"]+)"|import\("(\.[^"]+)"\)/g)]
    .map((m) => m[1] ?? m[2])
    .filter((s): s is string => s !== undefined)
    .map((s) => resolve(dirname(f), s.replace(/\.js$/, ".ts")));
  graph.set(f, deps);
}

const area = (f: string) => relative(SRC, f).split("/")[0] as string;

/** Which top-level folders each folder may import (besides itself). */
const ALLOWED: Record<string, string[]> = {
  core: [],
  stats: ["core"],
  data: ["core"],
  training: ["core", "stats"],
  storage: ["core"],
  tracking: ["core", "storage"],
  onnx: ["core"],
  models: ["core", "onnx"],
  registry: ["core", "storage", "tracking", "models", "onnx", "features"],
  serving: ["core", "storage", "registry", "models", "onnx", "features"],
  features: ["core", "storage"],
  monitoring: ["core", "stats", "storage", "data", "serving", "registry", "models"],
  client: ["core", "models", "onnx"],
  server: ["core", "storage", "tracking", "registry", "serving", "features", "monitoring"],
  cli: ["core", "client", "server", "storage", "tracking", "registry", "models", "onnx", "features", "serving", "monitoring", "data"],
  quickstart: ["core", "client", "server", "data", "stats", "training", "onnx", "models", "registry", "features", "storage", "serving", "monitoring"],
};

describe("architecture", () => {
  test("every folder is on the module map", () => {
    const areas = new Set([...graph.keys()].map(area));
    for (const a of areas) expect(Object.keys(ALLOWED), a).toContain(a);
  });

  test("imports point down the module map", () => {
    const bad: string[] = [];
    for (const [f, deps] of graph) {
      for (const d of deps) {
        const from = area(f);
        const to = area(d);
        if (from !== to && !(ALLOWED[from] ?? []).includes(to)) bad.push(`${relative(SRC, f)} -> ${relative(SRC, d)}`);
      }
    }
    expect(bad).toEqual([]);
  });

  test("no import cycles", () => {
    const cycles: string[] = [];
    const state = new Map<string, "visiting" | "done">();
    const stack: string[] = [];
    const visit = (f: string) => {
      if (state.get(f) === "done") return;
      if (state.get(f) === "visiting") {
        cycles.push(stack.slice(stack.indexOf(f)).concat(f).map((x) => relative(SRC, x)).join(" -> "));
        return;
      }
      state.set(f, "visiting");
      stack.push(f);
      for (const d of graph.get(f) ?? []) if (graph.has(d)) visit(d);
      stack.pop();
      state.set(f, "done");
    };
    for (const f of graph.keys()) visit(f);
    expect(cycles).toEqual([]);
  });
});
