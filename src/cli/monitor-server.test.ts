/** `flywheel monitor create`: a definition file with the command line laid over it. */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { tempDir } from "../../test/helpers/backends.js";
import { definitionFrom } from "./monitor-server.js";

describe("monitor definitions on the command line", () => {
  const dir = tempDir("flywheel-monitor-def-");
  afterAll(() => dir.remove());

  test("flags override the file; checks keep their options from the file; webhooks replace the file's", async () => {
    const file = join(dir.path, "m.yaml");
    writeFileSync(
      file,
      `name: from-file
model: churn@candidate
window: 1h
reference: {target: churned, prediction: pred}
checks:
  drift: {failOn: column, nBins: 20}
  quality: {maxMissingIncrease: 0.2}
alerts: {webhooks: [{url: "https://a.example.com"}], attempts: 2}
`,
    );
    const def = await definitionFrom("cli-name", { file, model: "churn@champion", checks: ["drift", "cbpe"], probability: "proba", webhook: ["https://b.example.com"], driftFailOn: "dataset" });
    expect(def).toEqual({
      name: "cli-name",
      model: "churn@champion",
      window: "1h",
      reference: { target: "churned", prediction: "pred", probability: "proba" },
      checks: { drift: { failOn: "dataset", nBins: 20 }, cbpe: {} },
      alerts: { webhooks: [{ url: "https://b.example.com" }], attempts: 2 },
    });
  });

  test("without a file or --checks, drift and quality run", async () => {
    expect(await definitionFrom("m", { model: "churn", window: "1d", schedule: "1d", pipeline: "retrain" })).toEqual({
      name: "m",
      model: "churn",
      window: "1d",
      schedule: "1d",
      pipeline: "retrain",
      checks: { drift: {}, quality: {} },
    });
  });

  test("--score-reference asks the server to score the reference with the version", async () => {
    expect(await definitionFrom("m", { model: "churn", window: "1h", target: "y", scoreReference: true, checks: ["performance", "cbpe"] })).toEqual({
      name: "m",
      model: "churn",
      window: "1h",
      reference: { target: "y", score: true },
      checks: { performance: {}, cbpe: {} },
    });
  });

  test("an unreadable or malformed file is a usage error naming it", async () => {
    await expect(definitionFrom(undefined, { file: join(dir.path, "none.yaml") })).rejects.toThrow(/none\.yaml: cannot be read/);
    const bad = join(dir.path, "bad.json");
    writeFileSync(bad, "[1, 2]");
    await expect(definitionFrom(undefined, { file: bad })).rejects.toThrow(/bad\.json: a monitor definition is a mapping/);
  });
});
