/** The wire shapes shared by the tracking (wire-types.ts) and the registry (registry-wire-types.ts) APIs. */

/** A `{key, value}` pair: a tag of an experiment, run, model or version, or a run's param. */
export interface WireTag {
  key: string;
  value: string;
}
