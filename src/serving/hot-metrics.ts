/**
 * Counters and histograms for the inference hot path, registered in a prom-client Registry and
 * rendered by it like its own metrics. prom-client hashes a label object on every `inc` and
 * `observe` (sorting and joining the label values), which measured at several microseconds per
 * request on the model server; here a label set is found through a tree of Maps keyed by its
 * values, and an observation is a few array writes. Buckets are cumulated when scraped.
 */
import type { Registry } from "prom-client";

interface Tree<C> {
  cells: Map<string, Tree<C> | C>;
}

/** Cells by label values, found without building a key. */
class LabelTree<C> {
  private root: Tree<C> = { cells: new Map() };
  /** Every cell with its label values, in creation order (what a scrape lists). */
  private all: { values: readonly string[]; cell: C }[] = [];

  constructor(
    private readonly depth: number,
    private readonly create: () => C,
  ) {}

  get(values: readonly string[]): C {
    let node = this.root;
    const last = this.depth - 1;
    for (let i = 0; i < last; i++) {
      const v = values[i] as string;
      let next = node.cells.get(v) as Tree<C> | undefined;
      if (next === undefined) {
        next = { cells: new Map() };
        node.cells.set(v, next);
      }
      node = next;
    }
    const v = values[last] as string;
    let cell = node.cells.get(v) as C | undefined;
    if (cell === undefined) {
      cell = this.create();
      node.cells.set(v, cell);
      this.all.push({ values: [...values], cell });
    }
    return cell;
  }

  entries(): readonly { values: readonly string[]; cell: C }[] {
    return this.all;
  }

  clear(): void {
    this.root = { cells: new Map() };
    this.all = [];
  }
}

interface MetricValue {
  labels: Record<string, string | number>;
  value: number;
  metricName?: string;
}

const labelsOf = (names: readonly string[], values: readonly string[]): Record<string, string> => {
  const out: Record<string, string> = {};
  names.forEach((n, i) => (out[n] = values[i] as string));
  return out;
};

/** What a prom-client Registry renders: a metric family and its samples. */
interface Rendered {
  name: string;
  help: string;
  type: string;
  aggregator: string;
  values: MetricValue[];
}

/** A labelled metric family registered in a prom-client Registry; cells of type C per label set. */
abstract class HotMetric<C> {
  protected readonly tree: LabelTree<C>;
  readonly aggregator = "sum";
  abstract readonly type: string;

  constructor(
    readonly name: string,
    readonly help: string,
    protected readonly labelNames: readonly string[],
    registry: Registry,
    cell: () => C,
  ) {
    if (labelNames.length === 0) throw new Error(`${name}: a hot metric needs at least one label`);
    this.tree = new LabelTree(labelNames.length, cell);
    registry.registerMetric(this as never);
  }

  protected abstract samples(labels: Record<string, string>, cell: C, out: MetricValue[]): void;

  get(): Rendered {
    const values: MetricValue[] = [];
    for (const { values: v, cell } of this.tree.entries()) this.samples(labelsOf(this.labelNames, v), cell, values);
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    this.tree.clear();
  }
}

/** A counter with labels; `inc(values)` takes the label values in `labelNames` order. */
export class HotCounter extends HotMetric<{ value: number }> {
  readonly type = "counter";

  constructor(name: string, help: string, labelNames: readonly string[], registry: Registry) {
    super(name, help, labelNames, registry, () => ({ value: 0 }));
  }

  inc(values: readonly string[], by = 1): void {
    this.tree.get(values).value += by;
  }

  protected samples(labels: Record<string, string>, cell: { value: number }, out: MetricValue[]): void {
    out.push({ labels, value: cell.value });
  }
}

interface HistogramCell {
  /** Observations per bucket (not cumulated): index i counts values <= bounds[i] and above the bound before; the last index counts the rest. */
  counts: Float64Array;
  sum: number;
  count: number;
}

/** Bucket upper bounds, sorted; refused unless distinct and finite. */
function boundsOf(name: string, buckets: readonly number[]): Float64Array {
  const sorted = [...buckets].sort((a, b) => a - b);
  if (sorted.some((b, i) => !Number.isFinite(b) || (i > 0 && b === sorted[i - 1]))) throw new Error(`${name}: buckets must be distinct finite numbers`);
  return Float64Array.from(sorted);
}

/** A histogram with labels and fixed upper bounds, rendered as prom-client renders its histograms. */
export class HotHistogram extends HotMetric<HistogramCell> {
  readonly type = "histogram";
  private readonly bounds: Float64Array;

  constructor(name: string, help: string, labelNames: readonly string[], buckets: readonly number[], registry: Registry) {
    const bounds = boundsOf(name, buckets);
    super(name, help, labelNames, registry, () => ({ counts: new Float64Array(bounds.length + 1), sum: 0, count: 0 }));
    this.bounds = bounds;
  }

  observe(values: readonly string[], value: number): void {
    const cell = this.tree.get(values);
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > (bounds[i] as number)) i++;
    (cell.counts as Float64Array)[i] = (cell.counts[i] as number) + 1;
    cell.sum += value;
    cell.count++;
  }

  protected samples(labels: Record<string, string>, cell: HistogramCell, out: MetricValue[]): void {
    let cumulative = 0;
    this.bounds.forEach((le, i) => {
      cumulative += cell.counts[i] as number;
      out.push({ labels: { le, ...labels }, value: cumulative, metricName: `${this.name}_bucket` });
    });
    out.push({ labels: { le: "+Inf", ...labels }, value: cell.count, metricName: `${this.name}_bucket` });
    out.push({ labels, value: cell.sum, metricName: `${this.name}_sum` });
    out.push({ labels, value: cell.count, metricName: `${this.name}_count` });
  }
}
