import { describe, expect, test } from "vitest";
import { patternsOverlap, subjectMatches } from "./subjects.js";

describe("subjectMatches", () => {
  test.each([
    ["push.driver", "push.driver", true],
    ["push.*", "push.driver", true],
    ["push.*", "push.driver.x", false],
    ["push.>", "push.driver.x", true],
    ["push.>", "push", false],
    [">", "a", true],
    ["*.b.*", "a.b.c", true],
    ["*.b.*", "a.x.c", false],
    ["push.driver", "push", false],
  ])("%s ~ %s → %s", (pattern, subject, expected) => {
    expect(subjectMatches(pattern, subject)).toBe(expected);
  });
});

describe("patternsOverlap", () => {
  test.each([
    ["a.>", "a.b", true],
    ["a.>", "a", false],
    ["a.*", "a.b.c", false],
    ["a.*", "*.b", true],
    ["a.b", "a.c", false],
    [">", "x.y.z", true],
    ["a.*.c", "a.b.>", true],
    ["a.*.c", "a.b.d", false],
  ])("%s ∩ %s → %s", (a, b, expected) => {
    expect(patternsOverlap(a, b)).toBe(expected);
    expect(patternsOverlap(b, a)).toBe(expected);
  });
});
