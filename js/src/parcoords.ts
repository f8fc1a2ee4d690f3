// Parallel coordinates for hpo_widgets: one vertical axis per dim plus the score axis,
// one polyline per finished trial, coloured by score rank, brushable per axis.
//
// Lines are drawn on a <canvas> (thousands of polylines stay fast); axes, ticks, labels
// and brushes are SVG on top, so that tests and users can find them:
//   .hpo-parcoords                root; data-rows (rows held), data-drawn (rows drawn),
//                                 data-selected (rows inside every brush, of all held),
//                                 data-best-id (best row inside the brushes),
//                                 data-synced ("true" once this view has all rows),
//                                 data-complete ("true" once the picture is fully drawn)
//   .hpo-pc-axis[data-dim=NAME]   one per axis (the score axis: data-dim=metric,
//                                 data-score="true"); data-kind (log|linear|int|choice|
//                                 score), data-scale (log|linear|int|choice: how values
//                                 map to height), data-bottom/data-top (data values at
//                                 the axis' ends; numeric axes), data-brushed="true"
//   .hpo-pc-hit                   inside each axis: the drag target, 24 px wide, spanning
//                                 exactly the axis from its top value to its bottom value
//   .hpo-pc-brush                 inside each axis: the brushed range (hidden if none)
//   .hpo-pc-caption               one line under the chart: counts and the drawing rule
//
// Drawing rule (so 100,000 rows stay responsive): the MAX_RECENT most recent rows plus
// the BEST_KEPT best rows (by score) are drawn; of the rows outside the brushes at most
// MAX_GREY (an even sample), first, faint grey; then the others by colour bin from worst
// to best; then the best row inside the brushes, thicker, with a halo. Drawing is
// progressive: a frame draws a slice of lines sized to keep frames short, so input is
// answered between slices whatever the number of rows.

import { BEST_KEPT, RowStore, asFloat64 } from "./rows";
import { rampColour, withAlpha } from "./ramp";
import { Scale, choiceScale, numericScale } from "./scales";
import * as T from "./types";

/** How many of the most recent rows are drawn (plus the BEST_KEPT best of all). */
export const MAX_RECENT = 20000;
/** At most this many rows outside the brushes are drawn (an even sample): context only. */
export const MAX_GREY = 4000;
const FRAME_BUDGET_MS = 30;
const PATH_LINES = 1000; // lines per canvas path: long paths rasterise superlinearly
const BINS = 48; // colour bins: one canvas path (one stroke call) per bin
const MARGIN = { top: 30, bottom: 10, left: 52, right: 60 };
const EDGE_PX = 5; // grab a brush edge within this distance
const CLICK_PX = 3; // a press that moves less than this is a click
const CHAR_PX = 7; // rough width of a title character, to fit titles without measuring
const SVG_NS = "http://www.w3.org/2000/svg";

const CSS = `
.hpo-parcoords {
  --hpo-pc-fg: var(--jp-ui-font-color1, var(--vscode-editor-foreground, rgba(0,0,0,.87)));
  --hpo-pc-fg2: var(--jp-ui-font-color2, var(--vscode-descriptionForeground, rgba(0,0,0,.6)));
  --hpo-pc-fg3: var(--jp-ui-font-color3, rgba(128,128,128,.8));
  --hpo-pc-bg: var(--jp-layout-color0, var(--vscode-editor-background, #fff));
  --hpo-pc-accent: var(--jp-brand-color1, #1976d2);
  display: flex; flex-direction: column; box-sizing: border-box;
  width: 100%; height: 100%; color: var(--hpo-pc-fg);
  font: 11px var(--jp-ui-font-family, system-ui, -apple-system, "Segoe UI", sans-serif);
  user-select: none; -webkit-user-select: none;
}
.hpo-parcoords .hpo-pc-plot { position: relative; flex: 1 1 300px; min-height: 120px; }
.hpo-parcoords canvas, .hpo-parcoords svg.hpo-pc-axes {
  position: absolute; left: 0; top: 0; width: 100%; height: 100%; overflow: visible;
}
.hpo-parcoords .hpo-pc-caption {
  flex: 0 0 auto; color: var(--hpo-pc-fg2); padding: 2px 8px 0;
  white-space: nowrap; overflow: hidden; text-overflow: ellipsis;
}
.hpo-parcoords text { fill: var(--hpo-pc-fg); font-size: 10px; }
.hpo-parcoords .hpo-pc-tick text {
  fill: var(--hpo-pc-fg2); paint-order: stroke; stroke: var(--hpo-pc-bg);
  stroke-width: 3px; stroke-linejoin: round;
}
.hpo-parcoords .hpo-pc-title { font-size: 11px; font-weight: 600; }
.hpo-parcoords .hpo-pc-score .hpo-pc-title { fill: var(--hpo-pc-accent); }
.hpo-parcoords .hpo-pc-base { stroke: var(--hpo-pc-fg3); stroke-width: 1; }
.hpo-parcoords .hpo-pc-range { stroke: var(--hpo-pc-fg2); stroke-width: 3; stroke-linecap: round; }
.hpo-parcoords .hpo-pc-tick line { stroke: var(--hpo-pc-fg3); }
.hpo-parcoords .hpo-pc-brush {
  fill: var(--hpo-pc-accent); fill-opacity: .22; stroke: var(--hpo-pc-accent);
  stroke-width: 1.5; pointer-events: none;
}
.hpo-parcoords .hpo-pc-hit { fill: transparent; cursor: crosshair; pointer-events: all; touch-action: none; }
`;

interface Axis {
  key: string; // dim name, or the metric for the score axis
  title: string;
  score: boolean;
  dim: T.Dim | null;
  col: number; // column in the row store; -1 for the score axis or a dim without data
  scale: Scale;
  x: number;
}

interface AxisView {
  g: SVGGElement;
  base: SVGLineElement;
  range: SVGLineElement;
  ticks: SVGGElement;
  brush: SVGRectElement;
  hit: SVGRectElement;
  title: SVGTextElement;
  titleTip: SVGTitleElement;
  tickKey: string;
}

type Brush = [number, number]; // unit positions, lo < hi

interface Drag {
  key: string;
  mode: "new" | "move" | "top" | "bottom";
  pointerId: number;
  startY: number;
  anchorU: number;
  start: Brush | null;
  moved: boolean;
  live: Brush | null;
}

type RowTest = (r: number) => boolean;

/** Lines stroked together (one path), once per pass (a halo, then the line). */
interface StrokeGroup {
  lines: number[]; // positions in the drawn rows
  passes: { style: string; width: number }[];
}

function el<K extends keyof SVGElementTagNameMap>(tag: K, cls?: string): SVGElementTagNameMap[K] {
  const e = document.createElementNS(SVG_NS, tag);
  if (cls) e.setAttribute("class", cls);
  return e;
}

function hash01(id: number, a: number): number {
  // Deterministic jitter per (row, axis) so a choice band shows its density.
  let h = Math.imul((id | 0) ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(a + 1, 0xc2b2ae35);
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  h ^= h >>> 12;
  return (h >>> 0) / 4294967296;
}

function randomId(): string {
  return Math.random().toString(36).slice(2) + Date.now().toString(36);
}

export class ParcoordsView {
  readonly root: HTMLDivElement;
  private readonly plot: HTMLDivElement;
  private readonly canvas: HTMLCanvasElement;
  private readonly svg: SVGSVGElement;
  private readonly caption: HTMLDivElement;
  private readonly store = new RowStore();
  private readonly axisViews = new Map<string, AxisView>();
  private axes: Axis[] = [];
  private plotTop = MARGIN.top;
  private plotH = 0;
  private synced = false;
  private requestId = "";
  private raf = 0;
  private drag: Drag | null = null;
  private readonly resizeObserver: ResizeObserver;
  // Geometry cache: rebuilt when rows or axes change, not while a brush is dragged.
  private geomKey = "";
  private drawn = new Int32Array(0);
  private ys = new Float32Array(0);
  private bins = new Uint8Array(0);
  private firstRecent = 0; // drawn = [older best rows..., firstRecent .. n-1]
  private olderCount = 0;
  private disposed = false;
  // Progressive drawing: what is left to draw of the current picture.
  private plan: { groups: StrokeGroup[]; group: number; offset: number } | null = null;
  private sliceRaf = 0;
  private sliceLines = 2000;
  private lastSlice = 0;

  constructor(
    private readonly model: T.Model,
    host: HTMLElement,
  ) {
    this.root = document.createElement("div");
    this.root.className = "hpo-parcoords";
    const style = document.createElement("style");
    style.textContent = CSS;
    this.plot = document.createElement("div");
    this.plot.className = "hpo-pc-plot";
    this.canvas = document.createElement("canvas");
    this.svg = el("svg", "hpo-pc-axes");
    this.plot.append(this.canvas, this.svg);
    this.caption = document.createElement("div");
    this.caption.className = "hpo-pc-caption";
    this.root.append(style, this.plot, this.caption);
    this.root.dataset.rows = "0";
    this.root.dataset.drawn = "0";
    this.root.dataset.selected = "0";
    this.root.dataset.synced = "false";
    host.append(this.root);

    this.store.setMinimize(Boolean(model.get(T.TRAIT_MINIMIZE)));
    model.on("msg:custom", this.onMessage);
    model.on(`change:${T.TRAIT_DIMS}`, this.schedule);
    model.on(`change:${T.TRAIT_METRIC}`, this.schedule);
    model.on(`change:${T.TRAIT_SELECTION}`, this.schedule);
    model.on(`change:${T.TRAIT_MINIMIZE}`, this.onMinimize);
    this.resizeObserver = new ResizeObserver(this.schedule);
    this.resizeObserver.observe(this.plot);
    this.requestSync();
    this.schedule();
  }

  dispose(): void {
    this.disposed = true;
    this.model.off("msg:custom", this.onMessage);
    this.model.off(`change:${T.TRAIT_DIMS}`, this.schedule);
    this.model.off(`change:${T.TRAIT_METRIC}`, this.schedule);
    this.model.off(`change:${T.TRAIT_SELECTION}`, this.schedule);
    this.model.off(`change:${T.TRAIT_MINIMIZE}`, this.onMinimize);
    this.resizeObserver.disconnect();
    if (this.raf) cancelAnimationFrame(this.raf);
    if (this.sliceRaf) cancelAnimationFrame(this.sliceRaf);
    this.root.remove();
  }

  // --- rows from the kernel -------------------------------------------------------------
  private requestSync(): void {
    this.synced = false;
    this.root.dataset.synced = "false";
    this.requestId = randomId();
    const msg: T.SyncMsg = { kind: T.MSG_SYNC, request: this.requestId };
    try {
      this.model.send(msg);
    } catch (err) {
      // No kernel behind the model (a saved notebook opened alone): axes, no rows.
      console.warn("hpo-parcoords: could not ask the kernel for rows", err);
    }
  }

  private readonly onMessage = (content: unknown, buffers?: T.Buffer[]): void => {
    const msg = content as T.RowsMsg;
    if (!msg || msg.kind !== T.MSG_ROWS) return;
    // Until our own sync answer arrives, everything else is already in it: skip it.
    // Afterwards, sync answers meant for other views carry nothing new for us.
    if (!this.synced && msg.request !== this.requestId) return;
    if (this.synced && msg.request !== null && msg.request !== undefined && msg.request !== this.requestId) return;
    const n = msg.n;
    const d = msg.columns.length;
    const bufs = buffers ?? [];
    let ids: Float64Array, values: Float64Array, scores: Float64Array;
    try {
      ids = asFloat64(bufs[0], n);
      values = asFloat64(bufs[1], n * d);
      scores = asFloat64(bufs[2], n);
    } catch (err) {
      console.error(err);
      this.requestSync();
      return;
    }
    const sameColumns =
      this.store.columns.length === d && this.store.columns.every((c, j) => c === msg.columns[j]);
    if (msg.mode === T.MODE_RESET || this.store.n === 0) {
      this.store.reset(ids, values, scores, msg.columns);
    } else if (sameColumns) {
      this.store.append(ids, values, scores);
    } else {
      this.requestSync(); // rows in other columns than ours: we missed a reset
      return;
    }
    if (msg.request === this.requestId) {
      this.synced = true;
      this.root.dataset.synced = "true";
    }
    if (this.store.n !== msg.total) {
      this.requestSync(); // we missed rows somewhere: ask for all of them again
    }
    this.root.dataset.rows = String(this.store.n);
    this.schedule();
  };

  private readonly onMinimize = (): void => {
    this.store.setMinimize(Boolean(this.model.get(T.TRAIT_MINIMIZE)));
    this.schedule();
  };

  // --- drawing ----------------------------------------------------------------------------
  readonly schedule = (): void => {
    if (this.raf || this.disposed) return;
    this.raf = requestAnimationFrame(() => {
      this.raf = 0;
      this.render();
    });
  };

  private render(): void {
    const w = this.plot.clientWidth;
    const h = this.plot.clientHeight;
    if (w <= 0 || h <= 0) return; // hidden; the ResizeObserver calls again when shown
    const dpr = window.devicePixelRatio || 1;
    const cw = Math.round(w * dpr);
    const ch = Math.round(h * dpr);
    if (this.canvas.width !== cw || this.canvas.height !== ch) {
      this.canvas.width = cw;
      this.canvas.height = ch;
    }
    this.svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
    this.plotTop = MARGIN.top;
    this.plotH = Math.max(10, h - MARGIN.top - MARGIN.bottom);
    this.axes = this.buildAxes(w);
    this.renderAxes(w);
    const selection = this.currentSelection();
    this.renderBrushes(selection);
    this.drawLines(dpr, selection);
  }

  private buildAxes(w: number): Axis[] {
    const dims = (this.model.get(T.TRAIT_DIMS) ?? []) as T.Dim[];
    const metric = String(this.model.get(T.TRAIT_METRIC) ?? "value");
    const minimize = Boolean(this.model.get(T.TRAIT_MINIMIZE));
    const s = this.store;
    const count = dims.length + 1;
    const span = w - MARGIN.left - MARGIN.right;
    const xAt = (i: number) => (count === 1 ? w / 2 : MARGIN.left + (i * span) / (count - 1));
    const axes: Axis[] = dims.map((dim, i) => {
      const col = s.columns.indexOf(dim.name);
      let scale: Scale;
      if (dim.kind === T.KIND_CHOICE) {
        scale = choiceScale(dim.labels ?? []);
      } else {
        const log = dim.kind === T.KIND_LOG;
        let lo = log && !(dim.min > 0) ? Infinity : dim.min;
        let hi = dim.max;
        if (col >= 0) {
          lo = Math.min(lo, log ? s.colMinPos[col] : s.colMin[col]);
          hi = Math.max(hi, s.colMax[col]);
        }
        if (!Number.isFinite(lo) || !Number.isFinite(hi)) [lo, hi] = log ? [1, 10] : [0, 1];
        scale = numericScale(dim.kind, lo, hi, false);
      }
      return { key: dim.name, title: dim.name, score: false, dim, col, scale, x: xAt(i) };
    });
    let lo = s.scoreMin;
    let hi = s.scoreMax;
    if (!(hi >= lo)) [lo, hi] = [0, 1];
    // Scores spanning many decades (a diverging loss) would squash the rest: log them.
    const logScores = s.scoreMinPos === lo && lo > 0 && hi / lo > 1000;
    axes.push({
      key: metric,
      title: `${metric} (${minimize ? "min" : "max"})`,
      score: true,
      dim: null,
      col: -1,
      // Best on top: when minimising, the low end is at the top.
      scale: numericScale(logScores ? "log" : "linear", lo, hi, minimize),
      x: xAt(dims.length),
    });
    return axes;
  }

  private yOf(u: number): number {
    return this.plotTop + (1 - u) * this.plotH;
  }

  private uOf(y: number): number {
    return Math.min(1, Math.max(0, 1 - (y - this.plotTop) / this.plotH));
  }

  private renderAxes(w: number): void {
    const keep = new Set(this.axes.map((a) => a.key));
    for (const [key, view] of this.axisViews) {
      if (!keep.has(key)) {
        view.g.remove();
        this.axisViews.delete(key);
      }
    }
    const spacing = this.axes.length > 1 ? Math.abs(this.axes[1].x - this.axes[0].x) : 200;
    const maxTicks = Math.max(2, Math.floor(this.plotH / 26));
    const top = this.plotTop;
    const bottom = this.plotTop + this.plotH;
    for (const axis of this.axes) {
      const view = this.axisViews.get(axis.key) ?? this.createAxisView(axis.key);
      const g = view.g;
      g.setAttribute("transform", `translate(${axis.x},0)`);
      g.setAttribute("class", `hpo-pc-axis${axis.score ? " hpo-pc-score" : ""}`);
      g.dataset.kind = axis.score ? "score" : axis.scale.kind;
      if (axis.score) g.dataset.score = "true";
      else delete g.dataset.score;
      if (axis.scale.kind === "choice") {
        delete g.dataset.bottom;
        delete g.dataset.top;
      } else {
        g.dataset.bottom = String(axis.scale.bottom);
        g.dataset.top = String(axis.scale.top);
      }
      g.dataset.scale = axis.scale.kind;
      setAttrs(view.base, { x1: 0, x2: 0, y1: top, y2: bottom });
      // The search range (what new trials sample from) drawn thicker than the axis.
      if (axis.dim && axis.dim.kind !== T.KIND_CHOICE) {
        const ya = this.yOf(clamp01(axis.scale.toUnit(axis.dim.min)));
        const yb = this.yOf(clamp01(axis.scale.toUnit(axis.dim.max)));
        setAttrs(view.range, { x1: 0, x2: 0, y1: ya, y2: yb, visibility: "visible" });
      } else if (axis.dim) {
        setAttrs(view.range, { x1: 0, x2: 0, y1: top, y2: bottom, visibility: "visible" });
      } else {
        view.range.setAttribute("visibility", "hidden");
      }
      setAttrs(view.hit, { x: -12, width: 24, y: top, height: this.plotH });
      const maxChars = Math.max(4, Math.floor((spacing - 8) / CHAR_PX));
      const title = axis.title.length > maxChars ? `${axis.title.slice(0, maxChars - 1)}…` : axis.title;
      view.title.textContent = title;
      view.title.append(view.titleTip);
      view.titleTip.textContent = axis.title;
      // Keep the first and last titles inside the chart: shift them inwards if needed.
      const half = (title.length * CHAR_PX) / 2;
      let anchor = "middle";
      let tx = 0;
      if (axis.x + half > w - 2) {
        anchor = "end";
        tx = Math.max(-axis.x + 2, w - 2 - axis.x);
      } else if (axis.x - half < 2) {
        anchor = "start";
        tx = 2 - axis.x;
      }
      setAttrs(view.title, { x: tx, y: top - 14, "text-anchor": anchor });
      const ticks = axis.scale.ticks(maxTicks);
      const tickKey = `${top}|${this.plotH}|${ticks.map((t) => `${t.u.toFixed(4)}:${t.label}`).join(",")}`;
      if (tickKey !== view.tickKey) {
        view.tickKey = tickKey;
        view.ticks.replaceChildren();
        for (const t of ticks) {
          if (!(t.u >= -1e-6 && t.u <= 1 + 1e-6)) continue;
          const y = this.yOf(t.u);
          const tg = el("g", "hpo-pc-tick");
          const line = el("line");
          setAttrs(line, { x1: -4, x2: 0, y1: y, y2: y });
          const text = el("text");
          setAttrs(text, { x: -6, y, "text-anchor": "end", "dominant-baseline": "middle" });
          const maxLabel = Math.max(4, Math.floor((axis === this.axes[0] ? MARGIN.left : spacing / 2) / 6));
          text.textContent = t.label.length > maxLabel ? `${t.label.slice(0, maxLabel - 1)}…` : t.label;
          tg.append(line, text);
          view.ticks.append(tg);
        }
      }
    }
  }

  private createAxisView(key: string): AxisView {
    const g = el("g", "hpo-pc-axis");
    g.dataset.dim = key;
    const view: AxisView = {
      g,
      base: el("line", "hpo-pc-base"),
      range: el("line", "hpo-pc-range"),
      ticks: el("g", "hpo-pc-ticks"),
      brush: el("rect", "hpo-pc-brush"),
      hit: el("rect", "hpo-pc-hit"),
      title: el("text", "hpo-pc-title"),
      titleTip: el("title"),
      tickKey: "",
    };
    view.brush.setAttribute("visibility", "hidden");
    g.append(view.base, view.range, view.ticks, view.brush, view.title, view.hit);
    view.hit.addEventListener("pointerdown", (e) => this.onPointerDown(key, e));
    view.hit.addEventListener("pointermove", (e) => this.onPointerMove(key, e));
    view.hit.addEventListener("pointerup", (e) => this.onPointerUp(key, e));
    view.hit.addEventListener("pointercancel", (e) => this.onPointerUp(key, e, true));
    this.svg.append(g);
    this.axisViews.set(key, view);
    return view;
  }

  // --- selection and brushes ----------------------------------------------------------
  private savedSelection(): T.Selection {
    const sel = this.model.get(T.TRAIT_SELECTION);
    return sel && typeof sel === "object" ? sel : {};
  }

  /** The saved selection, with the axis being dragged replaced by its live brush. */
  private currentSelection(): T.Selection {
    const sel = { ...this.savedSelection() };
    const drag = this.drag;
    if (drag && drag.moved) {
      const axis = this.axes.find((a) => a.key === drag.key);
      if (axis && drag.live) sel[drag.key] = this.entryFromBrush(axis, drag.live);
      else delete sel[drag.key];
    }
    return sel;
  }

  private entryFromBrush(axis: Axis, [u0, u1]: Brush): [number, number] | string[] {
    if (axis.scale.kind === "choice") {
      const labels = axis.dim?.labels ?? [];
      return labels.filter((_, i) => {
        const u = (i + 0.5) / labels.length;
        return u >= u0 && u <= u1;
      });
    }
    const a = axis.scale.fromUnit(u0);
    const b = axis.scale.fromUnit(u1);
    const round = (v: number) => Number(v.toPrecision(6));
    return [round(Math.min(a, b)), round(Math.max(a, b))];
  }

  private brushFromEntry(axis: Axis, entry: unknown): Brush | null {
    if (!Array.isArray(entry)) return null;
    if (axis.scale.kind === "choice") {
      const labels = axis.dim?.labels ?? [];
      const idx = entry.map((l) => labels.indexOf(String(l))).filter((i) => i >= 0);
      if (!idx.length) return [0, 0];
      const k = labels.length;
      return [Math.min(...idx) / k, (Math.max(...idx) + 1) / k];
    }
    if (entry.length !== 2) return null;
    const ua = axis.scale.toUnit(Number(entry[0]));
    const ub = axis.scale.toUnit(Number(entry[1]));
    if (!Number.isFinite(ua) || !Number.isFinite(ub)) return null;
    return [clamp01(Math.min(ua, ub)), clamp01(Math.max(ua, ub))];
  }

  private brushOf(key: string): Brush | null {
    const drag = this.drag;
    if (drag && drag.key === key && drag.moved) return drag.live;
    const axis = this.axes.find((a) => a.key === key);
    const sel = this.savedSelection();
    if (!axis || !(key in sel)) return null;
    return this.brushFromEntry(axis, sel[key]);
  }

  private renderBrushes(selection: T.Selection): void {
    for (const axis of this.axes) {
      const view = this.axisViews.get(axis.key);
      if (!view) continue;
      const b = this.brushOf(axis.key);
      if (b && axis.key in selection) {
        const y1 = this.yOf(b[1]);
        const y0 = this.yOf(b[0]);
        setAttrs(view.brush, { x: -8, width: 16, y: y1, height: Math.max(1, y0 - y1), visibility: "visible" });
        view.g.dataset.brushed = "true";
      } else {
        view.brush.setAttribute("visibility", "hidden");
        delete view.g.dataset.brushed;
      }
    }
  }

  /** One test per brushed axis; a row is selected when it passes all of them. */
  private rowTests(selection: T.Selection): RowTest[] {
    const s = this.store;
    const d = s.d;
    const tests: RowTest[] = [];
    for (const axis of this.axes) {
      if (!(axis.key in selection)) continue;
      const entry = selection[axis.key];
      if (!Array.isArray(entry)) continue;
      if (axis.score) {
        const [lo, hi] = [Number(entry[0]), Number(entry[1])];
        tests.push((r) => s.scores[r] >= lo && s.scores[r] <= hi);
      } else if (axis.col < 0) {
        tests.push(() => false);
      } else if (axis.scale.kind === "choice") {
        const labels = axis.dim?.labels ?? [];
        const ok = new Set(entry.map((l) => labels.indexOf(String(l))).filter((i) => i >= 0));
        const c = axis.col;
        tests.push((r) => ok.has(Math.round(s.values[r * d + c])));
      } else {
        const [lo, hi] = [Number(entry[0]), Number(entry[1])];
        const c = axis.col;
        tests.push((r) => {
          const v = s.values[r * d + c];
          return v >= lo && v <= hi;
        });
      }
    }
    return tests;
  }

  // --- lines ------------------------------------------------------------------------------
  /** Which rows to draw, their y per axis, and their colour bins; cached by geometry. */
  private updateGeometry(): void {
    const s = this.store;
    const axes = this.axes;
    const key = `${s.version}|${s.minimize}|${this.plotTop}|${this.plotH}|${axes
      .map((a) => `${a.key}:${a.col}:${a.scale.kind}:${a.scale.bottom}:${a.scale.top}:${a.dim?.labels?.length ?? 0}`)
      .join(",")}`;
    if (key === this.geomKey) return;
    this.geomKey = key;
    const n = s.n;
    const firstRecent = Math.max(0, n - MAX_RECENT);
    const older = s.best.filter((i) => i < firstRecent).sort((a, b) => a - b);
    const drawn = new Int32Array(older.length + (n - firstRecent));
    drawn.set(older);
    for (let i = firstRecent, k = older.length; i < n; i++, k++) drawn[k] = i;
    const A = axes.length;
    const d = s.d;
    const ys = new Float32Array(drawn.length * A);
    for (let k = 0; k < drawn.length; k++) {
      const r = drawn[k];
      for (let a = 0; a < A; a++) {
        const axis = axes[a];
        let u: number;
        if (axis.score) {
          u = axis.scale.toUnit(s.scores[r]);
        } else if (axis.col < 0) {
          u = NaN;
        } else {
          const v = s.values[r * d + axis.col];
          u = axis.scale.toUnit(v);
          if (axis.scale.kind === "choice" && Number.isFinite(u)) {
            const k2 = Math.max(1, axis.dim?.labels?.length ?? 1);
            u += (hash01(s.ids[r], a) - 0.5) * (0.5 / k2);
          }
        }
        ys[k * A + a] = Number.isFinite(u) ? this.yOf(u) : NaN;
      }
    }
    // Colour by rank among the drawn rows: robust to outlying scores.
    const finite: number[] = [];
    for (let k = 0; k < drawn.length; k++) if (Number.isFinite(s.scores[drawn[k]])) finite.push(k);
    finite.sort((p, q) => {
      const sp = s.scores[drawn[p]];
      const sq = s.scores[drawn[q]];
      return s.minimize ? sq - sp : sp - sq; // worst first
    });
    const bins = new Uint8Array(drawn.length).fill(255); // 255 = no score
    const m = finite.length;
    for (let i = 0; i < m; i++) bins[finite[i]] = m === 1 ? BINS - 1 : Math.floor((i / (m - 1)) * (BINS - 1));
    this.drawn = drawn;
    this.firstRecent = firstRecent;
    this.olderCount = older.length;
    this.ys = ys;
    this.bins = bins;
  }

  /** Position of row r in `drawn` (every best row is drawn), or -1. */
  private drawnPosition(r: number): number {
    if (r >= this.firstRecent) return this.olderCount + (r - this.firstRecent);
    let lo = 0;
    let hi = this.olderCount;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.drawn[mid] < r) lo = mid + 1;
      else hi = mid;
    }
    return lo < this.olderCount && this.drawn[lo] === r ? lo : -1;
  }

  private drawLines(dpr: number, selection: T.Selection): void {
    this.updateGeometry();
    const s = this.store;
    const drawn = this.drawn;
    const bins = this.bins;
    const tests = this.rowTests(selection);
    const pass = (r: number) => {
      for (const t of tests) if (!t(r)) return false;
      return true;
    };
    const fg = getComputedStyle(this.root).color;

    // Bucket drawn rows: grey (outside a brush, or no score) and one bucket per bin.
    let grey: number[] = [];
    const byBin: number[][] = Array.from({ length: BINS }, () => []);
    let nSelected = 0;
    for (let k = 0; k < drawn.length; k++) {
      const r = drawn[k];
      if (bins[k] === 255 || (tests.length && !pass(r))) grey.push(k);
      else {
        byBin[bins[k]].push(k);
        nSelected++;
      }
    }
    if (grey.length > MAX_GREY) {
      // Context only: an even sample looks the same at this opacity and costs less.
      const step = grey.length / MAX_GREY;
      grey = Array.from({ length: MAX_GREY }, (_, i) => grey[Math.floor(i * step)]);
    }
    const groups: StrokeGroup[] = [];
    // Many lines: one device pixel wide (a hairline, fast to rasterise); few: wider.
    const hairline = 1 / dpr;
    if (grey.length) {
      const a = Math.min(0.15, Math.max(0.015, 1.2 / Math.sqrt(grey.length)));
      groups.push({ lines: grey, passes: [{ style: withAlpha(fg, a), width: grey.length > 1000 ? hairline : 1 }] });
    }
    const alpha = Math.min(0.9, Math.max(0.08, 8 / Math.sqrt(Math.max(1, nSelected))));
    const width = nSelected < 300 ? 1.5 : nSelected > 1000 ? hairline : 1;
    for (let b = 0; b < BINS; b++) {
      if (byBin[b].length) {
        groups.push({ lines: byBin[b], passes: [{ style: rampColour(b / (BINS - 1), alpha), width }] });
      }
    }
    // The best row inside the selection, on top and thicker, with a contrasting halo.
    let bestK = -1;
    for (const r of s.best) {
      if (!tests.length || pass(r)) {
        bestK = this.drawnPosition(r);
        break;
      }
    }
    if (bestK < 0 && tests.length && s.best.length) {
      // None of the best few is selected: look among the drawn selected rows.
      let bestScore = NaN;
      for (let b = BINS - 1; b >= 0 && bestK < 0; b--) {
        for (const k of byBin[b]) {
          const sc = s.scores[drawn[k]];
          if (Number.isNaN(bestScore) || s.better(sc, bestScore)) {
            bestScore = sc;
            bestK = k;
          }
        }
      }
    }
    if (bestK >= 0) {
      groups.push({
        lines: [bestK],
        passes: [
          { style: withAlpha(fg, 0.85), width: 4.5 },
          { style: rampColour(1, 1), width: 2.5 },
        ],
      });
      this.root.dataset.bestId = String(s.ids[drawn[bestK]]);
    } else {
      delete this.root.dataset.bestId;
    }

    // Rows inside every brush, over all rows held (not only those drawn).
    let selectedAll = s.n;
    if (tests.length) {
      selectedAll = 0;
      for (let r = 0; r < s.n; r++) if (pass(r)) selectedAll++;
    }
    this.root.dataset.rows = String(s.n);
    this.root.dataset.drawn = String(drawn.length);
    this.root.dataset.selected = String(selectedAll);
    this.renderCaption(s.n, drawn.length, selectedAll, tests.length > 0);

    const ctx = this.canvas.getContext("2d");
    if (!ctx) return;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, this.canvas.width / dpr, this.canvas.height / dpr);
    ctx.lineJoin = "round";
    if (this.sliceRaf) cancelAnimationFrame(this.sliceRaf);
    this.sliceRaf = 0;
    this.plan = { groups, group: 0, offset: 0 };
    this.lastSlice = 0;
    this.drawSlice();
  }

  /**
   * Draw the next lines of the plan; continue in the next frame until done. Each frame
   * draws about `sliceLines` lines, adapted so a frame stays near FRAME_BUDGET_MS (the
   * canvas rasterises at paint time, so the time between frames is what is measured):
   * the page answers input between slices, however many lines there are.
   */
  private drawSlice(): void {
    this.sliceRaf = 0;
    const plan = this.plan;
    const ctx = this.canvas.getContext("2d");
    if (!plan || !ctx || this.disposed) return;
    const now = performance.now();
    if (this.lastSlice) {
      const frame = now - this.lastSlice;
      if (frame > 2 * FRAME_BUDGET_MS) this.sliceLines = Math.max(250, this.sliceLines / 2);
      else if (frame < FRAME_BUDGET_MS) this.sliceLines = Math.min(4000, this.sliceLines * 1.5);
    }
    this.lastSlice = now;
    const A = this.axes.length;
    const xs = this.axes.map((a) => a.x);
    const ys = this.ys;
    const trace = (k: number) => {
      let down = false;
      const base = k * A;
      for (let a = 0; a < A; a++) {
        const y = ys[base + a];
        if (Number.isNaN(y)) {
          down = false;
        } else if (down) {
          ctx.lineTo(xs[a], y);
        } else {
          ctx.moveTo(xs[a], y);
          down = true;
        }
      }
    };
    let budget = Math.round(this.sliceLines);
    while (budget > 0 && plan.group < plan.groups.length) {
      const g = plan.groups[plan.group];
      const end = Math.min(g.lines.length, plan.offset + budget);
      // Hairlines (width <= 1 device pixel) take a fast path in software rasterisers;
      // wider strokes of a path with many lines get very slow, so they go one by one.
      const wide = g.passes.some((p) => p.width > 1);
      const perPath = wide ? 1 : PATH_LINES;
      for (let i0 = plan.offset; i0 < end; i0 += perPath) {
        ctx.beginPath();
        for (let i = i0; i < Math.min(end, i0 + perPath); i++) trace(g.lines[i]);
        for (const p of g.passes) {
          ctx.strokeStyle = p.style;
          ctx.lineWidth = p.width;
          ctx.stroke();
        }
      }
      budget -= end - plan.offset;
      plan.offset = end;
      if (plan.offset >= g.lines.length) {
        plan.group++;
        plan.offset = 0;
      }
    }
    const done = plan.group >= plan.groups.length;
    this.root.dataset.complete = String(done);
    if (done) {
      this.plan = null;
      this.lastSlice = 0;
    } else {
      this.sliceRaf = requestAnimationFrame(() => this.drawSlice());
    }
  }

  private renderCaption(n: number, drawn: number, selected: number, brushed: boolean): void {
    const metric = String(this.model.get(T.TRAIT_METRIC) ?? "value");
    const parts = [`${INTEGER.format(n)} trial${n === 1 ? "" : "s"}`];
    if (drawn < n) {
      parts.push(`drawing the ${INTEGER.format(MAX_RECENT)} most recent and the ${BEST_KEPT} best`);
    }
    parts.push(`colour: ${metric} rank, bright = best`);
    parts.push(
      brushed
        ? `${INTEGER.format(selected)} in selection · click an axis to clear its brush`
        : "drag along an axis to select a range",
    );
    this.caption.textContent = parts.join(" · ");
  }

  // --- brushing ---------------------------------------------------------------------------
  private localY(e: PointerEvent): number {
    return e.clientY - this.svg.getBoundingClientRect().top;
  }

  private onPointerDown(key: string, e: PointerEvent): void {
    if (e.button !== 0) return;
    e.preventDefault();
    e.stopPropagation();
    const y = this.localY(e);
    const existing = this.brushOf(key);
    let mode: Drag["mode"] = "new";
    if (existing && existing[1] > existing[0]) {
      const yTop = this.yOf(existing[1]);
      const yBottom = this.yOf(existing[0]);
      if (Math.abs(y - yTop) <= EDGE_PX) mode = "top";
      else if (Math.abs(y - yBottom) <= EDGE_PX) mode = "bottom";
      else if (y > yTop && y < yBottom) mode = "move";
    }
    (e.currentTarget as Element).setPointerCapture?.(e.pointerId);
    this.drag = {
      key,
      mode,
      pointerId: e.pointerId,
      startY: y,
      anchorU: this.uOf(y),
      start: existing,
      moved: false,
      live: existing,
    };
  }

  private onPointerMove(key: string, e: PointerEvent): void {
    const drag = this.drag;
    const y = this.localY(e);
    if (!drag || drag.key !== key || drag.pointerId !== e.pointerId) {
      this.setHoverCursor(key, y, e.currentTarget as SVGElement);
      return;
    }
    if (!drag.moved && Math.abs(y - drag.startY) < CLICK_PX) return;
    drag.moved = true;
    const u = this.uOf(y);
    const start = drag.start;
    if (drag.mode === "new" || !start) {
      drag.live = [Math.min(drag.anchorU, u), Math.max(drag.anchorU, u)];
    } else if (drag.mode === "move") {
      const h = start[1] - start[0];
      const lo = Math.min(1 - h, Math.max(0, start[0] + (u - drag.anchorU)));
      drag.live = [lo, lo + h];
    } else {
      // Dragging one edge past the other turns it into the other edge.
      const fixed = drag.mode === "top" ? start[0] : start[1];
      drag.live = [Math.min(fixed, u), Math.max(fixed, u)];
    }
    this.schedule();
  }

  private onPointerUp(key: string, e: PointerEvent, cancelled = false): void {
    const drag = this.drag;
    if (!drag || drag.key !== key || drag.pointerId !== e.pointerId) return;
    this.drag = null;
    (e.currentTarget as Element).releasePointerCapture?.(e.pointerId);
    if (cancelled) {
      this.schedule();
      return;
    }
    const sel = { ...this.savedSelection() };
    const axis = this.axes.find((a) => a.key === key);
    const live = drag.live;
    const tiny = !live || (live[1] - live[0]) * this.plotH < 2;
    if (!drag.moved || !axis || tiny) {
      delete sel[key]; // a click (or a brush too small to see) clears this axis' brush
    } else {
      sel[key] = this.entryFromBrush(axis, live);
    }
    this.model.set(T.TRAIT_SELECTION, sel);
    this.model.save_changes();
    this.schedule();
  }

  private setHoverCursor(key: string, y: number, target: SVGElement): void {
    const b = this.brushOf(key);
    let cursor = "crosshair";
    if (b && b[1] > b[0]) {
      const yTop = this.yOf(b[1]);
      const yBottom = this.yOf(b[0]);
      if (Math.abs(y - yTop) <= EDGE_PX || Math.abs(y - yBottom) <= EDGE_PX) cursor = "ns-resize";
      else if (y > yTop && y < yBottom) cursor = "move";
    }
    target.style.cursor = cursor;
  }
}

const INTEGER = new Intl.NumberFormat("en-US");

function clamp01(u: number): number {
  return Number.isFinite(u) ? Math.min(1, Math.max(0, u)) : 0;
}

function setAttrs(e: Element, attrs: Record<string, string | number>): void {
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
}

function render({ model, el: host }: T.RenderProps): () => void {
  const view = new ParcoordsView(model, host);
  return () => view.dispose();
}

export default { render };
