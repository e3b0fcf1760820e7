/**
 * The one table of error codes used by every API and the CLI. Each code carries its HTTP
 * status and the MLflow `error_code` the MLflow-compatible API answers with.
 */

/** MLflow's error codes (databricks.proto `ErrorCode`) that Flywheel answers with. */
export type MlflowErrorCode =
  | "INTERNAL_ERROR"
  | "TEMPORARILY_UNAVAILABLE"
  | "BAD_REQUEST"
  | "MALFORMED_REQUEST"
  | "INVALID_PARAMETER_VALUE"
  | "ENDPOINT_NOT_FOUND"
  | "RESOURCE_DOES_NOT_EXIST"
  | "RESOURCE_ALREADY_EXISTS"
  | "INVALID_STATE"
  | "FEATURE_DISABLED"
  | "PERMISSION_DENIED";

export interface ErrorSpec {
  readonly status: number;
  readonly mlflow: MlflowErrorCode;
  readonly description: string;
}

const table = {
  FW_REQUEST_MALFORMED_JSON: {
    status: 400,
    mlflow: "MALFORMED_REQUEST",
    description: "The request body is not valid JSON.",
  },
  FW_REQUEST_INVALID_FIELD: {
    status: 400,
    mlflow: "INVALID_PARAMETER_VALUE",
    description: "A field is missing, has the wrong type, or breaks a rule; the message names it.",
  },
  FW_REQUEST_TOO_LARGE: {
    status: 400,
    mlflow: "BAD_REQUEST",
    description: "The request body is larger than the configured body limit.",
  },
  FW_REQUEST_UNSUPPORTED_MEDIA_TYPE: {
    status: 400,
    mlflow: "BAD_REQUEST",
    description: "The request's Content-Type is not accepted by this endpoint.",
  },
  FW_ROUTE_NOT_FOUND: {
    status: 404,
    mlflow: "ENDPOINT_NOT_FOUND",
    description: "No endpoint answers this method and path.",
  },
  FW_TRACKING_EXPERIMENT_NOT_FOUND: {
    status: 404,
    mlflow: "RESOURCE_DOES_NOT_EXIST",
    description: "No experiment has the given id or name.",
  },
  FW_TRACKING_EXPERIMENT_EXISTS: {
    status: 400,
    mlflow: "RESOURCE_ALREADY_EXISTS",
    description: "An experiment with that name already exists (possibly deleted).",
  },
  FW_TRACKING_EXPERIMENT_NOT_ACTIVE: {
    status: 400,
    mlflow: "INVALID_PARAMETER_VALUE",
    description: "The experiment is deleted (or not deleted, for restore).",
  },
  FW_TRACKING_RUN_NOT_FOUND: {
    status: 404,
    mlflow: "RESOURCE_DOES_NOT_EXIST",
    description: "No run has the given id.",
  },
  FW_TRACKING_LOGGED_MODEL_NOT_FOUND: {
    status: 404,
    mlflow: "RESOURCE_DOES_NOT_EXIST",
    description: "No logged model (MLflow 3's LoggedModel) has the given id, or it is deleted.",
  },
  FW_TRACKING_RUN_NOT_ACTIVE: {
    status: 400,
    mlflow: "INVALID_PARAMETER_VALUE",
    description: "The run is deleted and cannot be written to.",
  },
  FW_TRACKING_PARAM_CHANGED: {
    status: 400,
    mlflow: "INVALID_PARAMETER_VALUE",
    description: "A param was logged again with a different value.",
  },
  FW_TRACKING_METRIC_NOT_FOUND: {
    status: 404,
    mlflow: "RESOURCE_DOES_NOT_EXIST",
    description: "The run has no metric with that key.",
  },
  FW_TRACKING_TAG_NOT_FOUND: {
    status: 404,
    mlflow: "RESOURCE_DOES_NOT_EXIST",
    description: "The run or experiment has no tag with that key.",
  },
  FW_REGISTRY_MODEL_NOT_FOUND: {
    status: 404,
    mlflow: "RESOURCE_DOES_NOT_EXIST",
    description: "No registered model has that name.",
  },
  FW_REGISTRY_MODEL_EXISTS: {
    status: 400,
    mlflow: "RESOURCE_ALREADY_EXISTS",
    description: "A registered model with that name already exists.",
  },
  FW_REGISTRY_VERSION_NOT_FOUND: {
    status: 404,
    mlflow: "RESOURCE_DOES_NOT_EXIST",
    description: "The registered model has no such version.",
  },
  FW_REGISTRY_ALIAS_NOT_FOUND: {
    status: 404,
    mlflow: "RESOURCE_DOES_NOT_EXIST",
    description: "The registered model has no such alias.",
  },
  FW_REGISTRY_INVALID_SOURCE: {
    status: 400,
    mlflow: "INVALID_PARAMETER_VALUE",
    description: "A model version's source is not inside the artifact store or not inside its run's artifacts.",
  },
  FW_REGISTRY_INVALID_MODEL_URI: {
    status: 400,
    mlflow: "INVALID_PARAMETER_VALUE",
    description: "A models:/ URI does not parse or names nothing.",
  },
  FW_GOVERNANCE_GATE_FAILED: {
    status: 409,
    mlflow: "INVALID_STATE",
    description: "A promotion was refused because a gate of the model's policy failed; the message names it.",
  },
  FW_GOVERNANCE_APPROVAL_REQUIRED: {
    status: 403,
    mlflow: "PERMISSION_DENIED",
    description: "A promotion needs an approval recorded by a different user than the requester.",
  },
  FW_SEARCH_INVALID_FILTER: {
    status: 400,
    mlflow: "INVALID_PARAMETER_VALUE",
    description: "The search filter or order_by clause does not parse; the message names the token.",
  },
  FW_SEARCH_INVALID_PAGE_TOKEN: {
    status: 400,
    mlflow: "INVALID_PARAMETER_VALUE",
    description: "The page token was not issued by this server for this query.",
  },
  FW_ARTIFACT_UNSAFE_PATH: {
    status: 400,
    mlflow: "INVALID_PARAMETER_VALUE",
    description: "An artifact path escapes its root or contains a forbidden character.",
  },
  FW_ARTIFACT_NOT_FOUND: {
    status: 404,
    mlflow: "RESOURCE_DOES_NOT_EXIST",
    description: "No artifact exists at that path.",
  },
  FW_ARTIFACT_IS_DIRECTORY: {
    status: 400,
    mlflow: "INVALID_PARAMETER_VALUE",
    description: "The path names a directory where a file was expected (or the reverse).",
  },
  FW_ARTIFACT_UNSUPPORTED_URI: {
    status: 400,
    mlflow: "INVALID_PARAMETER_VALUE",
    description: "The artifact location's scheme is not served by this server.",
  },
  FW_STORAGE_UNSUPPORTED_URI: {
    status: 400,
    mlflow: "INVALID_PARAMETER_VALUE",
    description: "A store URI has a scheme no backend is registered for.",
  },
  FW_STORAGE_UNAVAILABLE: {
    status: 503,
    mlflow: "TEMPORARILY_UNAVAILABLE",
    description: "A backing store could not be reached.",
  },
  FW_FEATURES_DEFINITION_INVALID: {
    status: 400,
    mlflow: "INVALID_PARAMETER_VALUE",
    description: "A feature-store definition breaks a rule; the message names the object and the field.",
  },
  FW_FEATURES_CONFLICT: {
    status: 409,
    mlflow: "INVALID_STATE",
    description: "Another apply changed the feature definitions first; plan and apply again.",
  },
  FW_MONITOR_NOT_FOUND: {
    status: 404,
    mlflow: "RESOURCE_DOES_NOT_EXIST",
    description: "No monitor has that name.",
  },
  FW_MONITOR_EXISTS: {
    status: 400,
    mlflow: "RESOURCE_ALREADY_EXISTS",
    description: "A monitor with that name already exists.",
  },
  FW_MONITOR_REFERENCE_UNAVAILABLE: {
    status: 409,
    mlflow: "INVALID_STATE",
    description: "A monitor's reference data cannot be found or read (no training dataset on the model version, or an unreadable file); the message says where it looked.",
  },
  FW_CONFIG_INVALID: {
    status: 400,
    mlflow: "INVALID_PARAMETER_VALUE",
    description: "A configuration value (flag, environment variable or flywheel.yaml) is invalid.",
  },
  FW_INTERNAL: {
    status: 500,
    mlflow: "INTERNAL_ERROR",
    description: "An unexpected failure; the server log has the details.",
  },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof table;
export const ERROR_CODES: Readonly<Record<ErrorCode, ErrorSpec>> = table;

/** The error every layer throws; converted to an HTTP body at one boundary in the server. */
export class FlywheelError extends Error {
  readonly code: ErrorCode;
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    options?: { cause?: unknown; details?: Record<string, unknown> },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "FlywheelError";
    this.code = code;
    this.details = options?.details;
  }

  get status(): number {
    return ERROR_CODES[this.code].status;
  }

  get mlflowCode(): MlflowErrorCode {
    return ERROR_CODES[this.code].mlflow;
  }
}

export function isFlywheelError(e: unknown): e is FlywheelError {
  return e instanceof FlywheelError;
}

/** Shorthand for the most common failure: a field that breaks a rule. */
export function invalidField(field: string, rule: string): FlywheelError {
  return new FlywheelError("FW_REQUEST_INVALID_FIELD", `Invalid value for '${field}': ${rule}`, {
    details: { field },
  });
}

/** Wraps anything thrown into a FlywheelError, keeping the original as `cause`. */
export function toFlywheelError(e: unknown): FlywheelError {
  if (e instanceof FlywheelError) return e;
  const message = e instanceof Error ? e.message : String(e);
  return new FlywheelError("FW_INTERNAL", `Internal error: ${message}`, { cause: e });
}
