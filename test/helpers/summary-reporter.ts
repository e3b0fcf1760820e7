/** Prints one plain closing line, `N passed, N failed, N skipped`, as the very last output. */
import type { Reporter, TestModule } from "vitest/node";
import { BACKEND_SUITES } from "./backends.js";

export default class SummaryReporter implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>): void {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    for (const m of modules) {
      for (const t of m.children.allTests()) {
        const state = t.result().state;
        if (state === "passed") passed++;
        else if (state === "failed") failed++;
        else skipped++;
      }
      if (m.state() === "failed" && [...m.children.allTests()].length === 0) failed++;
    }
    const reasons = BACKEND_SUITES.filter((b) => !process.env[b.env]).map(
      (b) => `skipped: the ${b.what} suites, because ${b.env} is not set (.ci/run sets it)\n`,
    );
    // Printed at exit so it is the run's closing line, after Vitest's own summary.
    process.once("exit", () => process.stdout.write(`\n${reasons.join("")}${passed} passed, ${failed} failed, ${skipped} skipped\n`));
  }
}
