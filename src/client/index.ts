/** Public API of the Flywheel client: the MLflow REST client and the tracking SDK. */
export {
  FlywheelClient,
  ExperimentsApi,
  RunsApi,
  USER_HEADER,
  artifactPathSegments,
  encodeArtifactPath,
  normalizeBaseUrl,
  normalizeUser,
  toWireJson,
} from "./http-client.js";
export { RegistryApi } from "./registry.js";
export type { ArtifactBody, FlywheelClientOptions } from "./http-client.js";
export { FlywheelApiError, FlywheelConnectionError, isFlywheelApiError, isNotFound } from "./errors.js";
export {
  ActiveRun,
  DEFAULT_TRACKING_URI,
  Tracking,
  artifactProxyPrefix,
  createTracking,
  gitCommit,
  resolveTrackingUri,
} from "./tracking.js";
export type {
  LoggedModel,
  MetricOptions,
  ParamValue,
  StartRunOptions,
  TerminalStatus,
  TrackingOptions,
} from "./tracking.js";
export {
  LogModelError,
  MlmodelError,
  checkPackage,
  parseMlmodel,
  renderMlmodel,
  signatureFromGraph,
} from "../models/index.js";
export type {
  FlywheelModelMetadata,
  LogModelOptions,
  ModelPackage,
  Signature,
  SignatureColumn,
  SignatureSpec,
  SignatureTensor,
} from "../models/index.js";
export { LOG_BATCH_LIMITS } from "./wire-types.js";
export type * from "./wire-types.js";
