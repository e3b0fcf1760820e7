/**
 * Tabular data helpers for small numeric datasets: reading a numeric CSV into column-major
 * typed arrays, a seeded train/test split, and standardisation fitted on the training rows.
 *
 * Layout convention used throughout `src/data`, `src/stats` and `src/training`: a feature
 * matrix is `Float64Array[]`, one array per column, every array the same length (the rows).
 */
import { readFile } from "node:fs/promises";

/** A numeric table: column names in header order and one `Float64Array` per column. */
export interface NumericTable {
  readonly columns: string[];
  readonly data: Float64Array[];
}

/** Raised for malformed CSV input. `line` and `column` are 1-based; `column` is 0 when the
 * problem concerns the whole line (for example a wrong number of fields). */
export class CsvParseError extends Error {
  override readonly name = "CsvParseError";
  constructor(
    message: string,
    readonly line: number,
    readonly column: number,
  ) {
    super(message);
  }
}

export interface ParseCsvOptions {
  /** Name of the input (such as a file path) used in error messages. */
  readonly source?: string;
}

// A plain decimal or scientific-notation number. Deliberately stricter than `Number()`,
// which would accept "", "0x1f", "Infinity" and " ".
const NUMBER_RE = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

function unquote(field: string): string {
  const t = field.trim();
  if (t.length >= 2 && t.startsWith('"') && t.endsWith('"')) {
    return t.slice(1, -1).replaceAll('""', '"');
  }
  return t;
}

/**
 * Parse the text of a numeric CSV whose first line is a header. Every cell below the header
 * must be a finite decimal number (surrounding whitespace allowed). Blank lines are skipped;
 * `\n` and `\r\n` line endings and a leading byte-order mark are accepted. Quoted header
 * names are unquoted; fields cannot contain commas.
 */
export function parseNumericCsv(text: string, options: ParseCsvOptions = {}): NumericTable {
  const where = options.source === undefined ? "" : `${options.source}: `;
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const lines = body.split("\n");

  let lineIndex = 0;
  let headerLine: string | undefined;
  for (; lineIndex < lines.length; lineIndex++) {
    const raw = stripCr(lines[lineIndex] ?? "");
    if (raw.trim() !== "") {
      headerLine = raw;
      break;
    }
  }
  if (headerLine === undefined) {
    throw new CsvParseError(`${where}the CSV is empty (no header line)`, 1, 0);
  }
  const headerLineNo = lineIndex + 1;
  const columns = headerLine.split(",").map(unquote);
  const seen = new Map<string, number>();
  columns.forEach((name, i) => {
    if (name === "") {
      throw new CsvParseError(
        `${where}line ${headerLineNo}, column ${i + 1}: empty column name in header`,
        headerLineNo,
        i + 1,
      );
    }
    const first = seen.get(name);
    if (first !== undefined) {
      throw new CsvParseError(
        `${where}line ${headerLineNo}, column ${i + 1}: ` +
          `duplicate column name "${name}" (also column ${first + 1})`,
        headerLineNo,
        i + 1,
      );
    }
    seen.set(name, i);
  });

  const width = columns.length;
  const values: number[][] = columns.map(() => []);
  for (lineIndex += 1; lineIndex < lines.length; lineIndex++) {
    const raw = stripCr(lines[lineIndex] ?? "");
    if (raw.trim() === "") continue;
    const lineNo = lineIndex + 1;
    const fields = raw.split(",");
    if (fields.length !== width) {
      throw new CsvParseError(
        `${where}line ${lineNo}: expected ${width} fields as in the header, found ${fields.length}`,
        lineNo,
        0,
      );
    }
    for (let c = 0; c < width; c++) {
      const cell = (fields[c] ?? "").trim();
      if (!NUMBER_RE.test(cell)) {
        throw new CsvParseError(
          `${where}line ${lineNo}, column ${c + 1} ("${columns[c] ?? ""}"): ` +
            `${cell === "" ? "empty cell" : `non-numeric value ${JSON.stringify(cell)}`}`,
          lineNo,
          c + 1,
        );
      }
      const v = Number(cell);
      if (!Number.isFinite(v)) {
        throw new CsvParseError(
          `${where}line ${lineNo}, column ${c + 1} ("${columns[c] ?? ""}"): ` +
            `value ${cell} is out of range`,
          lineNo,
          c + 1,
        );
      }
      (values[c] as number[]).push(v);
    }
  }

  return { columns, data: values.map((col) => Float64Array.from(col)) };
}

function stripCr(line: string): string {
  return line.endsWith("\r") ? line.slice(0, -1) : line;
}

/** Read and parse a numeric CSV file (see {@link parseNumericCsv}). */
export async function readNumericCsv(path: string | URL): Promise<NumericTable> {
  const text = await readFile(path, "utf8");
  const source = typeof path === "string" ? path : path.pathname;
  return parseNumericCsv(text, { source });
}

/** The column called `name`; throws if the table has no such column. */
export function getColumn(table: NumericTable, name: string): Float64Array {
  const i = table.columns.indexOf(name);
  const col = i < 0 ? undefined : table.data[i];
  if (col === undefined) {
    throw new Error(`no column named "${name}" (columns: ${table.columns.join(", ")})`);
  }
  return col;
}

/** Split a table into feature columns (every column except `target`, in order) and the target. */
export function splitFeaturesTarget(
  table: NumericTable,
  target: string,
): { featureNames: string[]; X: Float64Array[]; y: Float64Array } {
  const y = getColumn(table, target);
  const featureNames: string[] = [];
  const X: Float64Array[] = [];
  table.columns.forEach((name, i) => {
    const col = table.data[i];
    if (name !== target && col !== undefined) {
      featureNames.push(name);
      X.push(col);
    }
  });
  return { featureNames, X, y };
}

/** Number of rows of a column-major matrix; throws if the columns differ in length. */
export function rowCount(X: readonly Float64Array[]): number {
  const first = X[0];
  if (first === undefined) return 0;
  for (let j = 1; j < X.length; j++) {
    const len = (X[j] as Float64Array).length;
    if (len !== first.length) {
      throw new Error(`column ${j} has ${len} rows but column 0 has ${first.length}`);
    }
  }
  return first.length;
}

/**
 * mulberry32: a small, fast 32-bit seeded PRNG. Returns a function yielding floats in [0, 1).
 * The seed is reduced to an unsigned 32-bit integer.
 */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A uniformly shuffled permutation of 0..n-1 (Fisher–Yates driven by `random`). */
export function permutation(n: number, random: () => number): Uint32Array {
  const idx = new Uint32Array(n);
  for (let i = 0; i < n; i++) idx[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const tmp = idx[i] as number;
    idx[i] = idx[j] as number;
    idx[j] = tmp;
  }
  return idx;
}

export interface TrainTestSplit {
  /** Row indices of the training set, in shuffled order. */
  readonly train: Uint32Array;
  /** Row indices of the test set, in shuffled order. */
  readonly test: Uint32Array;
}

/**
 * Deterministically split row indices 0..n-1 into train and test sets. The rows are shuffled
 * with Fisher–Yates driven by mulberry32(`seed`); the first ceil(n·testFraction) shuffled
 * indices form the test set (as scikit-learn sizes it) and the rest the training set.
 * The same (n, testFraction, seed) always gives the same split.
 */
export function trainTestSplit(n: number, testFraction: number, seed: number): TrainTestSplit {
  if (!Number.isInteger(n) || n < 2) {
    throw new RangeError(`trainTestSplit: n must be an integer >= 2, got ${n}`);
  }
  if (!(testFraction > 0 && testFraction < 1)) {
    throw new RangeError(`trainTestSplit: testFraction must be in (0, 1), got ${testFraction}`);
  }
  if (!Number.isInteger(seed)) {
    throw new RangeError(`trainTestSplit: seed must be an integer, got ${seed}`);
  }
  const nTest = Math.ceil(n * testFraction);
  if (nTest >= n) {
    throw new RangeError(
      `trainTestSplit: testFraction ${testFraction} of ${n} rows leaves no training rows`,
    );
  }
  const perm = permutation(n, mulberry32(seed));
  return { test: perm.slice(0, nTest), train: perm.slice(nTest) };
}

/** The values of `column` at `indices`, in index order. */
export function take(column: Float64Array, indices: ArrayLike<number>): Float64Array {
  const out = new Float64Array(indices.length);
  for (let i = 0; i < indices.length; i++) {
    const r = indices[i] as number;
    if (r >= column.length || r < 0) {
      throw new RangeError(`row index ${r} is out of range for ${column.length} rows`);
    }
    out[i] = column[r] as number;
  }
  return out;
}

/** The rows `indices` of a column-major matrix, as a new column-major matrix. */
export function takeRows(X: readonly Float64Array[], indices: ArrayLike<number>): Float64Array[] {
  return X.map((col) => take(col, indices));
}

/** Per-column mean and population standard deviation fitted on training data. */
export interface Standardizer {
  readonly mean: Float64Array;
  /** Population standard deviation (ddof 0); exactly 0 for a constant column. */
  readonly std: Float64Array;
}

/** Fit per-column mean and population standard deviation of a column-major matrix. */
export function fitStandardizer(X: readonly Float64Array[]): Standardizer {
  const n = rowCount(X);
  if (n === 0) throw new Error("fitStandardizer: no rows to fit on");
  const mean = new Float64Array(X.length);
  const std = new Float64Array(X.length);
  X.forEach((col, j) => {
    let sum = 0;
    let min = Infinity;
    let max = -Infinity;
    for (let i = 0; i < n; i++) {
      const v = col[i] as number;
      sum += v;
      if (v < min) min = v;
      if (v > max) max = v;
    }
    const m = sum / n;
    mean[j] = m;
    if (min === max) {
      // Constant column: report an exact 0 rather than rounding noise in the mean.
      mean[j] = min;
      std[j] = 0;
      return;
    }
    let ss = 0;
    for (let i = 0; i < n; i++) {
      const d = (col[i] as number) - m;
      ss += d * d;
    }
    std[j] = Math.sqrt(ss / n);
  });
  return { mean, std };
}

/** Apply a fitted standardizer, (x − mean) / std per column; a std-0 column is only centred. */
export function applyStandardizer(s: Standardizer, X: readonly Float64Array[]): Float64Array[] {
  if (X.length !== s.mean.length) {
    throw new Error(
      `applyStandardizer: fitted on ${s.mean.length} columns but given ${X.length}`,
    );
  }
  return X.map((col, j) => {
    const m = s.mean[j] as number;
    const sd = s.std[j] as number;
    const scale = sd === 0 ? 1 : sd;
    const out = new Float64Array(col.length);
    for (let i = 0; i < col.length; i++) out[i] = ((col[i] as number) - m) / scale;
    return out;
  });
}

/**
 * Fit mean/std on `train` and apply them to both `train` and `test`. Columns with zero
 * standard deviation in the training data are centred but not scaled.
 */
export function standardize(
  train: readonly Float64Array[],
  test: readonly Float64Array[],
): { train: Float64Array[]; test: Float64Array[]; standardizer: Standardizer } {
  const standardizer = fitStandardizer(train);
  return {
    train: applyStandardizer(standardizer, train),
    test: applyStandardizer(standardizer, test),
    standardizer,
  };
}
