/**
 * Binary logistic regression trained by full-batch gradient descent with L2 regularisation.
 *
 * Features are column-major (`X[j][i]` is feature j of row i), labels are 0/1. The objective
 * minimised is
 *
 *     L(w, b) = (1/n) Σᵢ BCE(yᵢ, σ(w·xᵢ + b)) + (l2 / 2) ‖w‖²
 *
 * with the bias left unregularised. Features should be on comparable scales (standardise
 * them first, see `standardize` in `src/data/csv.ts`) for gradient descent to converge well.
 */

export interface LogisticRegressionModel {
  /** One weight per feature column, in the column order used for training. */
  readonly weights: Float64Array;
  readonly bias: number;
}

export interface EpochStats {
  /** The regularised objective L(w, b) after this epoch's update. */
  readonly loss: number;
}

export interface TrainLogisticRegressionOptions {
  /** Feature columns, each of length n. */
  readonly X: readonly Float64Array[];
  /** Labels (0 or 1), length n. */
  readonly y: ArrayLike<number>;
  /** Gradient-descent step size (> 0). */
  readonly learningRate: number;
  /** Number of full-batch gradient steps (integer ≥ 0). */
  readonly epochs: number;
  /** L2 penalty strength λ in (λ/2)‖w‖² (≥ 0). */
  readonly l2: number;
  /** Called after every epoch with the zero-based epoch index and the objective after it. */
  readonly onEpoch?: (epoch: number, stats: EpochStats) => void;
}

function sigmoid(z: number): number {
  if (z >= 0) return 1 / (1 + Math.exp(-z));
  const e = Math.exp(z);
  return e / (1 + e);
}

/** log(1 + e^x) without overflow. */
function softplus(x: number): number {
  return x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x));
}

function checkFeatures(fn: string, X: readonly Float64Array[], n: number): void {
  X.forEach((col, j) => {
    if (col.length !== n) {
      throw new RangeError(`${fn}: feature column ${j} has ${col.length} rows, expected ${n}`);
    }
  });
}

/**
 * Train a binary logistic regression by full-batch gradient descent starting from zero
 * weights. Throws if the inputs are malformed or if the loss becomes non-finite (learning
 * rate too large).
 */
export function trainLogisticRegression(
  options: TrainLogisticRegressionOptions,
): LogisticRegressionModel {
  const { X, y, learningRate, epochs, l2, onEpoch } = options;
  const fn = "trainLogisticRegression";
  const d = X.length;
  const n = y.length;
  if (n === 0) throw new RangeError(`${fn}: no training rows`);
  checkFeatures(fn, X, n);
  if (!(Number.isFinite(learningRate) && learningRate > 0)) {
    throw new RangeError(`${fn}: learningRate must be a finite number > 0, got ${learningRate}`);
  }
  if (!(Number.isInteger(epochs) && epochs >= 0)) {
    throw new RangeError(`${fn}: epochs must be an integer >= 0, got ${epochs}`);
  }
  if (!(Number.isFinite(l2) && l2 >= 0)) {
    throw new RangeError(`${fn}: l2 must be a finite number >= 0, got ${l2}`);
  }
  const labels = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const v = y[i];
    if (v !== 0 && v !== 1) {
      throw new RangeError(`${fn}: y[${i}] is ${String(v)}; labels must be 0 or 1`);
    }
    labels[i] = v;
  }
  X.forEach((col, j) => {
    for (let i = 0; i < n; i++) {
      if (!Number.isFinite(col[i] as number)) {
        throw new RangeError(`${fn}: X[${j}][${i}] is ${col[i]}; features must be finite`);
      }
    }
  });

  const weights = new Float64Array(d);
  let bias = 0;
  const z = new Float64Array(n);
  // residual[i] = σ(zᵢ) − yᵢ, the derivative of the per-row loss with respect to zᵢ.
  const residual = new Float64Array(n);

  // Forward pass at the current parameters: fills `residual` and returns L(w, b).
  const forward = (): number => {
    z.fill(bias);
    for (let j = 0; j < d; j++) {
      const w = weights[j] as number;
      if (w === 0) continue;
      const col = X[j] as Float64Array;
      for (let i = 0; i < n; i++) z[i] = (z[i] as number) + w * (col[i] as number);
    }
    let dataLoss = 0;
    for (let i = 0; i < n; i++) {
      const zi = z[i] as number;
      const yi = labels[i] as number;
      // BCE(y, σ(z)) = log(1 + e^z) − y·z
      dataLoss += softplus(zi) - yi * zi;
      residual[i] = sigmoid(zi) - yi;
    }
    let penalty = 0;
    for (let j = 0; j < d; j++) penalty += (weights[j] as number) ** 2;
    return dataLoss / n + 0.5 * l2 * penalty;
  };

  forward();
  for (let epoch = 0; epoch < epochs; epoch++) {
    let gradBias = 0;
    for (let i = 0; i < n; i++) gradBias += residual[i] as number;
    for (let j = 0; j < d; j++) {
      const col = X[j] as Float64Array;
      let dot = 0;
      for (let i = 0; i < n; i++) dot += (residual[i] as number) * (col[i] as number);
      const w = weights[j] as number;
      weights[j] = w - learningRate * (dot / n + l2 * w);
    }
    bias -= learningRate * (gradBias / n);
    const loss = forward();
    if (!Number.isFinite(loss)) {
      throw new Error(
        `${fn}: loss became ${loss} at epoch ${epoch}; lower the learning rate (${learningRate})`,
      );
    }
    onEpoch?.(epoch, { loss });
  }
  return { weights, bias };
}

/** The linear score w·x + b of every row of column-major `X`. */
export function decisionFunction(
  model: LogisticRegressionModel,
  X: readonly Float64Array[],
): Float64Array {
  if (X.length !== model.weights.length) {
    throw new RangeError(
      `decisionFunction: model has ${model.weights.length} weights but X has ${X.length} columns`,
    );
  }
  const n = X[0]?.length ?? 0;
  checkFeatures("decisionFunction", X, n);
  const z = new Float64Array(n).fill(model.bias);
  X.forEach((col, j) => {
    const w = model.weights[j] as number;
    for (let i = 0; i < n; i++) z[i] = (z[i] as number) + w * (col[i] as number);
  });
  return z;
}

/** P(y = 1 | x) = σ(w·x + b) for every row of column-major `X`. */
export function predictProba(
  model: LogisticRegressionModel,
  X: readonly Float64Array[],
): Float64Array {
  const z = decisionFunction(model, X);
  for (let i = 0; i < z.length; i++) z[i] = sigmoid(z[i] as number);
  return z;
}

/** Predicted labels: 1 where P(y = 1 | x) ≥ `threshold`, else 0. */
export function predict(
  model: LogisticRegressionModel,
  X: readonly Float64Array[],
  threshold = 0.5,
): Float64Array {
  const p = predictProba(model, X);
  for (let i = 0; i < p.length; i++) p[i] = (p[i] as number) >= threshold ? 1 : 0;
  return p;
}
