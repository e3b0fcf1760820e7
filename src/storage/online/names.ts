/** Name rules shared by both backends: names become SQL values, Redis fields and object keys. */
import { FlywheelError } from "../../core/errors.js";

// `:` separates view and feature in Redis fields, `{}` delimit the hash tag, and names starting
// with `__` are reserved (`__ts__`, and `__proto__` as an object key).
const NAME_RE = /^(?!__)[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

export function checkName(name: string, what: string): void {
  if (!NAME_RE.test(name) || name.length > 255) {
    throw new FlywheelError(
      "FW_REQUEST_INVALID_FIELD",
      `Invalid ${what} name '${name}': use letters, digits, '_', '.', '-' (not starting with '__', at most 255 characters)`,
    );
  }
}
