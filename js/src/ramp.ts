// A perceptually uniform colour ramp (viridis: dark purple -> yellow), sampled at nine
// stops and interpolated in between. Position 1 is the bright end (= the best score).

const STOPS: [number, number, number][] = [
  [68, 1, 84],
  [71, 44, 122],
  [59, 82, 139],
  [44, 114, 142],
  [33, 145, 140],
  [40, 174, 128],
  [94, 201, 98],
  [173, 220, 48],
  [253, 231, 37],
];

/** "rgba(r,g,b,alpha)" at position t in [0, 1]. */
export function rampColour(t: number, alpha = 1): string {
  const x = Math.min(1, Math.max(0, t)) * (STOPS.length - 1);
  const i = Math.min(STOPS.length - 2, Math.floor(x));
  const f = x - i;
  const [r0, g0, b0] = STOPS[i];
  const [r1, g1, b1] = STOPS[i + 1];
  const r = Math.round(r0 + (r1 - r0) * f);
  const g = Math.round(g0 + (g1 - g0) * f);
  const b = Math.round(b0 + (b1 - b0) * f);
  return `rgba(${r},${g},${b},${alpha})`;
}

/** A CSS colour string from getComputedStyle ("rgb(...)"/"rgba(...)") with a new alpha. */
export function withAlpha(css: string, alpha: number): string {
  const m = css.match(/rgba?\(\s*([\d.]+)[ ,]+([\d.]+)[ ,]+([\d.]+)/);
  if (!m) return `rgba(128,128,128,${alpha})`;
  return `rgba(${m[1]},${m[2]},${m[3]},${alpha})`;
}
