// The wire protocol of the parallel-coordinates widget: a mirror of
// hpo_widgets/widgets/_protocol.py, constant for constant (a Python test compares them).
// See that module's docstring for the meaning of each message and field.

export const PROTOCOL_VERSION = 1;

// --- synced traits -------------------------------------------------------------------
export const TRAIT_DIMS = "dims";
export const TRAIT_METRIC = "metric";
export const TRAIT_MINIMIZE = "minimize";
export const TRAIT_SELECTION = "selection";
export const TRAITS = ["dims", "metric", "minimize", "selection"] as const;

// --- keys of one dim dict ------------------------------------------------------------
export const DIM_NAME = "name";
export const DIM_KIND = "kind";
export const DIM_MIN = "min";
export const DIM_MAX = "max";
export const DIM_LABELS = "labels";

export const KIND_LOG = "log";
export const KIND_LINEAR = "linear";
export const KIND_INT = "int";
export const KIND_CHOICE = "choice";
export const DIM_KINDS = ["log", "linear", "int", "choice"] as const;

export type DimKind = typeof KIND_LOG | typeof KIND_LINEAR | typeof KIND_INT | typeof KIND_CHOICE;

/** One axis. `min`/`max` are the search range in real units; `labels` for choice only. */
export interface Dim {
  name: string;
  kind: DimKind;
  min: number;
  max: number;
  labels?: string[];
}

/** `{dim: [lo, hi]}` in data units, or `{dim: [label, ...]}` for a choice dim. */
export type Selection = Record<string, [number, number] | string[]>;

// --- custom messages -----------------------------------------------------------------
export const KEY_KIND = "kind";
export const MSG_SYNC = "sync";
export const MSG_ROWS = "rows";

export const KEY_PROTOCOL = "protocol";
export const KEY_MODE = "mode";
export const KEY_REQUEST = "request";
export const KEY_N = "n";
export const KEY_COLUMNS = "columns";
export const KEY_TOTAL = "total";

export const MODE_APPEND = "append";
export const MODE_RESET = "reset";

/** Order of the binary buffers of a `rows` message; each is little-endian float64. */
export const BUFFERS = ["ids", "values", "scores"] as const;
export const BUFFER_DTYPE = "<f8";

/** Front end -> kernel: "send me every row". */
export interface SyncMsg {
  kind: typeof MSG_SYNC;
  request: string;
}

/** Kernel -> front end: `n` rows; numbers in the buffers named by BUFFERS. */
export interface RowsMsg {
  kind: typeof MSG_ROWS;
  protocol: number;
  mode: typeof MODE_APPEND | typeof MODE_RESET;
  request: string | null;
  n: number;
  columns: string[];
  total: number;
}

// --- the part of anywidget's model that we use ----------------------------------------
// (kept here rather than depending on @anywidget/types: five methods are all we need)

/** Buffers arrive as DataView (JupyterLab) or ArrayBuffer; both are handled. */
export type Buffer = ArrayBuffer | ArrayBufferView;

export interface Traits {
  dims: Dim[];
  metric: string;
  minimize: boolean;
  selection: Selection;
}

export interface Model {
  get<K extends keyof Traits>(name: K): Traits[K];
  set<K extends keyof Traits>(name: K, value: Traits[K]): void;
  save_changes(): void;
  send(content: SyncMsg, callbacks?: unknown, buffers?: Buffer[]): void;
  on(event: string, callback: (...args: any[]) => void): void;
  off(event: string, callback?: (...args: any[]) => void): void;
}

export interface RenderProps {
  model: Model;
  el: HTMLElement;
}
