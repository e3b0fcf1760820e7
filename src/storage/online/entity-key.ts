/**
 * Deterministic entity-key serialization: join keys sorted by name, each value tagged with its
 * type, so `{b: 1, a: "x"}` and `{a: "x", b: 1}` map to one key and `1` never collides with `"1"`.
 * The output contains no `{`, `}`, `&` or `=` inside values, so it is safe inside a Redis hash tag.
 */
import { FlywheelError } from "../../core/errors.js";
import type { EntityKey } from "./online-store.js";
import { checkName } from "./names.js";

/**
 * @example serializeEntityKey({ store: 3, customer: "c 7" }) === "customer=s:c%207&store=n:3"
 */
export function serializeEntityKey(key: EntityKey): string {
  const names = Object.keys(key).sort();
  if (names.length === 0) {
    throw new FlywheelError("FW_REQUEST_INVALID_FIELD", "An entity key needs at least one join key");
  }
  const parts: string[] = [];
  for (const name of names) {
    checkName(name, "join key");
    const value = key[name];
    if (typeof value === "string") {
      parts.push(`${name}=s:${encodeURIComponent(value)}`);
    } else if (typeof value === "number" && Number.isFinite(value)) {
      // `+ 0` folds -0 into 0 so both spell the same key.
      parts.push(`${name}=n:${String(value + 0)}`);
    } else {
      throw new FlywheelError(
        "FW_REQUEST_INVALID_FIELD",
        `Join key '${name}' must be a string or a finite number, got ${value === null ? "null" : typeof value}`,
      );
    }
  }
  return parts.join("&");
}
