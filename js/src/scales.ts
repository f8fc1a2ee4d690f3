// Axis scales: data value <-> unit position (0 = bottom, 1 = top), ticks and labels.

export type ScaleKind = "log" | "linear" | "int" | "choice";

export interface Tick {
  u: number; // unit position
  label: string;
}

export interface Scale {
  kind: ScaleKind;
  /** Unit position of a data value (a label index for choice); NaN when it has none. */
  toUnit(v: number): number;
  /** Data value at a unit position (not meaningful for choice). */
  fromUnit(u: number): number;
  ticks(maxTicks: number): Tick[];
  /** Data values at the bottom and the top of the axis (choice: NaN). */
  bottom: number;
  top: number;
}

/** A numeric scale over [lo, hi] (real values); `flip` puts lo at the top. */
export function numericScale(kind: "log" | "linear" | "int", lo: number, hi: number, flip: boolean): Scale {
  const log = kind === "log";
  let a = log ? Math.log10(lo) : lo;
  let b = log ? Math.log10(hi) : hi;
  if (!(b > a)) {
    // One value only: give it some room so it sits mid-axis.
    const pad = log ? 0.5 : kind === "int" ? 1 : a === 0 ? 1 : Math.abs(a) * 0.1;
    a -= pad;
    b += pad;
  }
  const span = b - a;
  const toT = log ? (v: number) => (v > 0 ? Math.log10(v) : NaN) : (v: number) => v;
  const fromT = log ? (t: number) => Math.pow(10, t) : (t: number) => t;
  const scale: Scale = {
    kind,
    toUnit(v) {
      const u = (toT(v) - a) / span;
      return flip ? 1 - u : u;
    },
    fromUnit(u) {
      return fromT(a + (flip ? 1 - u : u) * span);
    },
    ticks(maxTicks) {
      const values = log ? logTicks(a, b, maxTicks) : linearTicks(a, b, maxTicks, kind === "int");
      return values.map(({ v, label }) => ({ u: scale.toUnit(v), label }));
    },
    bottom: fromT(flip ? b : a),
    top: fromT(flip ? a : b),
  };
  return scale;
}

/** A categorical scale: label i is the band [i/k, (i+1)/k], its centre is its tick. */
export function choiceScale(labels: string[]): Scale {
  const k = Math.max(1, labels.length);
  return {
    kind: "choice",
    toUnit(v) {
      return Number.isFinite(v) && v >= 0 && v < k ? (Math.round(v) + 0.5) / k : NaN;
    },
    fromUnit(u) {
      return Math.min(k - 1, Math.max(0, Math.floor(u * k)));
    },
    ticks(maxTicks) {
      const every = Math.max(1, Math.ceil(labels.length / Math.max(1, maxTicks)));
      const out: Tick[] = [];
      for (let i = 0; i < labels.length; i += every) out.push({ u: (i + 0.5) / k, label: labels[i] });
      return out;
    },
    bottom: NaN,
    top: NaN,
  };
}

interface TickValue {
  v: number;
  label: string;
}

function niceStep(span: number, maxTicks: number): number {
  const raw = span / Math.max(1, maxTicks);
  const p = Math.pow(10, Math.floor(Math.log10(raw)));
  const f = raw / p;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
}

function linearTicks(a: number, b: number, maxTicks: number, integer: boolean): TickValue[] {
  let step = niceStep(b - a, maxTicks);
  if (integer) step = Math.max(1, Math.round(step));
  const digits = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  const out: TickValue[] = [];
  for (let v = Math.ceil(a / step - 1e-9) * step; v <= b + step * 1e-9; v += step) {
    const r = Math.abs(v) < step * 1e-9 ? 0 : v;
    out.push({ v: r, label: formatNumber(r, digits) });
    if (out.length > 100) break;
  }
  return out;
}

function logTicks(a: number, b: number, maxTicks: number): TickValue[] {
  const decades = b - a;
  if (decades < 1) {
    // Less than a decade: nice real values, placed in log space.
    return linearTicks(Math.pow(10, a), Math.pow(10, b), Math.min(maxTicks, 5), false).filter((t) => t.v > 0);
  }
  const mults = decades <= maxTicks / 3 ? [1, 2, 5] : [1];
  const every = Math.max(1, Math.ceil((decades + 1) / Math.max(1, maxTicks)));
  const out: TickValue[] = [];
  for (let e = Math.floor(a); e <= Math.ceil(b); e++) {
    if (mults.length === 1 && ((e % every) + every) % every !== 0) continue;
    for (const m of mults) {
      const t = e + Math.log10(m);
      if (t < a - 1e-9 || t > b + 1e-9) continue;
      out.push({ v: m * Math.pow(10, e), label: formatNumber(m * Math.pow(10, e)) });
    }
  }
  return out;
}

/** Short labels: 0.001, 0.25, 12, 3.5e-5, 2e6. With `digits`, fixed decimals. */
export function formatNumber(v: number, digits?: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) {
    const [m, e] = v.toExponential(2).split("e");
    return `${trimZeros(m)}e${e.replace("+", "")}`;
  }
  if (digits !== undefined && digits <= 6) return v.toFixed(digits);
  return trimZeros(v.toPrecision(3));
}

function trimZeros(s: string): string {
  return s.includes(".") ? s.replace(/\.?0+$/, "") : s;
}
