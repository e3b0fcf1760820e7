/**
 * Comparing two datasets directly (as Evidently users compare two dataframes), or a dataset
 * against a stored reference profile: plan the columns from the reference and the mapping, make
 * each column the kind the plan says, prepare both sides and build the drift report.
 */
import { FlywheelError } from "../core/errors.js";
import type { ColumnMapping, DriftOptions } from "./column-mapping.js";
import { conform, conformDataset, skippedOf } from "./conform.js";
import type { Dataset } from "./dataset.js";
import { driftReport, prepareDataset, type DriftReport } from "./drift.js";
import { profileColumns, type ReferenceProfile } from "./profile.js";

/** Drift of `current` against `reference`, both datasets. */
export function compareDatasets(reference: Dataset, current: Dataset, mapping: ColumnMapping = {}): DriftReport {
  const { plan, data, skipped } = conformDataset(reference, mapping);
  const cur = conform(current, plan);
  return driftReport(plan, prepareDataset(data), prepareDataset(cur), mapping.drift ?? {}, { reference: reference.rows, current: current.rows }, [
    ...skipped,
    ...skippedOf(current).filter((s) => plan.some((p) => p.name === s.column)),
  ]);
}

/** Drift of `current` against a stored reference profile; the profile fixes the columns and kinds. */
export function compareWithProfile(profile: ReferenceProfile, current: Dataset, options: DriftOptions = {}): DriftReport {
  const { plan, columns } = profileColumns(profile);
  if (plan.length === 0) throw new FlywheelError("FW_REQUEST_INVALID_FIELD", "reference profile: it has no columns to compare");
  const cur = conform(current, plan);
  return driftReport(plan, columns, prepareDataset(cur), options, { reference: profile.rows, current: current.rows }, profile.skipped);
}
