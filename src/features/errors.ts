/** The error the feature store throws for a request it cannot serve; `field` names the culprit. */
import { FlywheelError } from "../core/errors.js";

export class FeatureStoreError extends FlywheelError {
  /** The request field at fault, e.g. `entities.timestampField` or `views.driver.joinKeys`. */
  readonly field: string;

  constructor(field: string, message: string, options?: { cause?: unknown }) {
    super("FW_REQUEST_INVALID_FIELD", message, { cause: options?.cause, details: { field } });
    this.name = "FeatureStoreError";
    this.field = field;
  }
}

export function isFeatureStoreError(e: unknown): e is FeatureStoreError {
  return e instanceof FeatureStoreError;
}
