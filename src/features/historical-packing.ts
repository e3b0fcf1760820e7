/**
 * Packed ASOF keys for historical retrieval: a view's rows ordered by one BIGINT, so a single ASOF
 * join gives Feast's exact answer (see `Packing`); historical-sql.ts builds the queries around it.
 */
import type { FeatureSourceSpec } from "./historical-types.js";

/** What packing needs of a resolved view (historical-sql.ts's ResolvedView). */
export interface PackableView {
  alias: string;
  spec: { source: FeatureSourceSpec };
  createdColumn: string | undefined;
  strategy: "asof" | "window";
  filterCreated: boolean;
  rowOrder: "file" | "scan";
}

/**
 * (event timestamp, created timestamp, row position) packed into one BIGINT ordered as Feast
 * orders rows (later event, then later created, NULL created first, then later in the source), so
 * one ASOF join on it picks the exact answer with no tie fix. It applies to a single Parquet file
 * whose timestamps are multiples of `grain` microseconds (a second, a millisecond or one), with the
 * event times' span, the created timestamps' distance from their event time (in grains) and the
 * row count fitting in 62 bits together. The span and row count come from the file's statistics,
 * the grain from its first rows; a row that does not fit (a finer event or created time, a created
 * time too far from its event time) stops the query with PACKING_MISS, and the call falls back to
 * the ASOF join on the event timestamp with its tie fix.
 */
export interface Packing {
  /** Earliest event timestamp (epoch microseconds) and the span to the latest, in grains. */
  tsMin: bigint;
  span: bigint;
  grain: bigint;
  /** Bits for the created timestamp's offset from the event time (0: no created column), and for the row position. */
  offBits: number;
  posBits: number;
}

/** The error a row that does not fit its view's packing raises (see Packing). */
export const PACKING_MISS = "__fw_packing_miss";

/**
 * The packing of a view's source whose event timestamps span [tsMin, tsMax] (epoch microseconds)
 * over `rows` rows, all multiples of `grain`; undefined when no packing can fit.
 */
export function packingFor(v: PackableView, tsMin: bigint, tsMax: bigint, rows: bigint, grain: bigint): Packing | undefined {
  if (!packable(v) || rows <= 0n || tsMax < tsMin || grain <= 0n) return undefined;
  const span = (tsMax - tsMin) / grain;
  const posBits = bitLength(rows - 1n);
  const tsBits = bitLength(span);
  const offBits = v.createdColumn === undefined ? 0 : 62 - tsBits - posBits;
  // Created timestamps need room to differ from their event time by more than a little.
  if (tsBits + posBits > 62 || (v.createdColumn !== undefined && offBits < 8)) return undefined;
  return { tsMin, span, grain, offBits, posBits };
}

/** Whether a view could be packed: an `asof` view of one Parquet file with row numbers, not filtering by created timestamp. */
export function packable(v: PackableView): boolean {
  return !v.filterCreated && v.strategy === "asof" && v.rowOrder === "file" && v.spec.source.format === "parquet" && (v.spec.source.appendedParquet ?? []).length === 0;
}

function bitLength(n: bigint): number {
  let bits = 0;
  for (let x = n; x > 0n; x >>= 1n) bits++;
  return Math.max(bits, 1);
}

/**
 * The columns `packedKeySql` reads besides `ts`, `cr` (event and created times in microseconds) and
 * `pr` (the row number): `tq` and `cq`, those times in grains after tsMin. Two divisions a row,
 * checked by multiplying back in `packedKeySql`.
 */
export function packedGrainsSql(v: PackableView, p: Packing): string[] {
  return [`(ts - ${p.tsMin}) // ${p.grain} AS tq`, ...(v.createdColumn === undefined ? [] : [`(cr - ${p.tsMin}) // ${p.grain} AS cq`])];
}

/** A source row's packed key, from the columns of `packedGrainsSql`; PACKING_MISS when it does not fit. */
export function packedKeySql(v: PackableView, p: Packing): string {
  const low = p.offBits + p.posBits;
  const checks = [`tq * ${p.grain} + ${p.tsMin} = ts`];
  let offset = "0";
  if (v.createdColumn !== undefined) {
    const half = 1n << BigInt(p.offBits - 1);
    // NULL created: offset 0, below every created timestamp; others are centred on the event time.
    const off = `cq - tq + ${half}`;
    checks.push(`(cr IS NULL OR (cq * ${p.grain} + ${p.tsMin} = cr AND ${off} BETWEEN 1 AND ${2n * half - 1n}))`);
    offset = `coalesce(${off}, 0)`;
  }
  const key = `(tq << ${low}) | (${offset} << ${p.posBits}) | pr`;
  return `CASE WHEN ${checks.join(" AND ")} THEN ${key} ELSE error('${PACKING_MISS} ${v.alias}') END`;
}

/** The event time (epoch microseconds) of the row whose packed key is `pk`. */
export function packedEventTimeSql(p: Packing, pk: string): string {
  return `(${p.tsMin} + (${pk} >> ${p.offBits + p.posBits}) * ${p.grain})`;
}

/** The entity side of a packed ASOF join: every key of a row at or before the entity timestamp is at most this. */
export function packedProbeSql(p: Packing, ets: string): string {
  const low = p.offBits + p.posBits;
  const mask = (1n << BigInt(low)) - 1n;
  const tsMax = p.tsMin + p.span * p.grain;
  return (
    `CASE WHEN ${ets} < ${p.tsMin} THEN -1 WHEN ${ets} >= ${tsMax} THEN ${(p.span << BigInt(low)) | mask} ` +
    `ELSE (((${ets} - ${p.tsMin}) // ${p.grain}) << ${low}) | ${mask} END`
  );
}
