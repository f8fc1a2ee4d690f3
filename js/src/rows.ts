// The rows one view holds: typed arrays that grow geometrically, per-column extents
// kept up to date on append, and the indices of the best rows (for the drawing rule).

/** How many of the best rows are always drawn, however old they are. */
export const BEST_KEPT = 200;

export class RowStore {
  n = 0;
  columns: string[] = [];
  ids: Float64Array = new Float64Array(0);
  values: Float64Array = new Float64Array(0); // row-major, stride columns.length
  scores: Float64Array = new Float64Array(0);
  /** Bumped on every change; the view caches what it computed from the rows by it. */
  version = 0;
  /** Row indices of the best finite scores, best first, at most BEST_KEPT. */
  best: number[] = [];
  minimize = true;
  /** Per column: min and max of finite values, and min of positive values (log axes). */
  colMin = new Float64Array(0);
  colMax = new Float64Array(0);
  colMinPos = new Float64Array(0);
  scoreMin = Infinity;
  scoreMax = -Infinity;
  scoreMinPos = Infinity;

  get d(): number {
    return this.columns.length;
  }

  /** Replace every row. */
  reset(ids: Float64Array, values: Float64Array, scores: Float64Array, columns: string[]): void {
    this.n = 0;
    this.columns = columns.slice();
    const d = this.d;
    this.ids = new Float64Array(Math.max(64, ids.length));
    this.values = new Float64Array(Math.max(64, ids.length) * d);
    this.scores = new Float64Array(Math.max(64, ids.length));
    this.colMin = new Float64Array(d).fill(Infinity);
    this.colMax = new Float64Array(d).fill(-Infinity);
    this.colMinPos = new Float64Array(d).fill(Infinity);
    this.scoreMin = Infinity;
    this.scoreMax = -Infinity;
    this.scoreMinPos = Infinity;
    this.best = [];
    this.append(ids, values, scores);
  }

  /** Add rows after those held; the caller checked that the columns match. */
  append(ids: Float64Array, values: Float64Array, scores: Float64Array): void {
    const d = this.d;
    const m = ids.length;
    const need = this.n + m;
    if (need > this.ids.length) {
      const cap = Math.max(need, 2 * this.ids.length, 64);
      this.ids = grow(this.ids, cap);
      this.values = grow(this.values, cap * d);
      this.scores = grow(this.scores, cap);
    }
    const start = this.n;
    this.ids.set(ids, start);
    this.values.set(values, start * d);
    this.scores.set(scores, start);
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < d; j++) {
        const v = values[i * d + j];
        if (!Number.isFinite(v)) continue;
        if (v < this.colMin[j]) this.colMin[j] = v;
        if (v > this.colMax[j]) this.colMax[j] = v;
        if (v > 0 && v < this.colMinPos[j]) this.colMinPos[j] = v;
      }
      const s = scores[i];
      if (Number.isFinite(s)) {
        if (s < this.scoreMin) this.scoreMin = s;
        if (s > this.scoreMax) this.scoreMax = s;
        if (s > 0 && s < this.scoreMinPos) this.scoreMinPos = s;
      }
    }
    this.n = need;
    for (let i = start; i < need; i++) this.offerBest(i);
    this.version++;
  }

  setMinimize(minimize: boolean): void {
    if (minimize === this.minimize) return;
    this.minimize = minimize;
    this.best = [];
    for (let i = 0; i < this.n; i++) this.offerBest(i);
    this.version++;
  }

  /** True when score a is strictly better than score b. */
  better(a: number, b: number): boolean {
    return this.minimize ? a < b : a > b;
  }

  /** Keep `best` sorted best first; ties keep the older row first. O(log K) to reject. */
  private offerBest(i: number): void {
    const s = this.scores[i];
    if (!Number.isFinite(s)) return;
    const best = this.best;
    if (best.length >= BEST_KEPT && !this.better(s, this.scores[best[best.length - 1]])) return;
    let lo = 0;
    let hi = best.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.better(s, this.scores[best[mid]])) hi = mid;
      else lo = mid + 1;
    }
    best.splice(lo, 0, i);
    if (best.length > BEST_KEPT) best.pop();
  }
}

function grow(a: Float64Array, cap: number): Float64Array {
  const b = new Float64Array(cap);
  b.set(a);
  return b;
}

/** A binary buffer as float64 numbers, copying only when it is not 8-byte aligned. */
export function asFloat64(buf: ArrayBuffer | ArrayBufferView | undefined, count: number): Float64Array {
  if (buf === undefined) return new Float64Array(count).fill(NaN);
  const view =
    buf instanceof ArrayBuffer
      ? new Uint8Array(buf)
      : new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  if (view.byteLength < count * 8) {
    throw new Error(`hpo-parcoords: buffer holds ${view.byteLength} bytes, need ${count * 8}`);
  }
  if (view.byteOffset % 8 === 0) {
    return new Float64Array(view.buffer, view.byteOffset, count);
  }
  return new Float64Array(view.slice(0, count * 8).buffer);
}
