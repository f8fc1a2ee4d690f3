"""The magics in real JupyterLab (issue 6): a ``%%hpo`` cell's live dashboard, and
``%hpo panel NAME`` docking that dashboard in the right sidebar (through ipylab).

Kernel state is read in the kernel, through cells run from the page (``exec_json``).
"""

from __future__ import annotations

import time

from .lab import (
    exec_cell,
    exec_json,
    kernel_status,
    open_notebook,
    playwright_expect,
    progress_fraction,
    run_all_cells,
    sample,
    widget_errors,
)

expect = playwright_expect()

LOAD = "%load_ext hpo_widgets"

# a slow-ish pure-Python toy: 0.1 s a trial, 300 trials (far more than a test watches)
CELL = """\
%%hpo --metric loss --trials 300 --name toy --seed 0
import math, time
lr = 1e-2          # hpo: log(1e-4, 1e-1)
units = 64         # hpo: int(16, 512)
act = "relu"       # hpo: ["relu", "gelu"]
time.sleep(0.1)
loss = (math.log10(lr) + 2) ** 2 + units / 1000 + (0.1 if act == "gelu" else 0.0)
"""

# in the kernel: wait (up to 20 s) for one more finished trial, or the scan's end
WAIT_FOR_A_TRIAL = """\
import time as _time
_n0, _t0 = toy.n_done, _time.time()
while toy.n_done == _n0 and toy.status == "running" and _time.time() - _t0 < 20:
    _time.sleep(0.05)
"""

TAB = "HPO: toy"   # the title hpo_widgets.lab.dock gives the panel


def dots(fig) -> int:
    return fig.locator("path.dot").count()


RUNNING_CELLS_JS = """() => [...document.querySelectorAll(
    '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputPrompt')]
    .filter(p => p.textContent.includes('[*]')).length"""


def quiet(page) -> str:
    """The kernel's status, or "cell running" while a cell of the notebook executes."""
    return "cell running" if page.evaluate(RUNNING_CELLS_JS) else kernel_status(page)


def watch_live(dash, page, n: int = 4, every: float = 0.8) -> list:
    """Readings of (progress fill, history points, kernel status) while no cell runs."""
    bar, history = dash.locator(".hpo-progress"), dash.locator(".hpo-chart-history")
    return sample(lambda: (progress_fraction(bar), dots(history), quiet(page)),
                  n=n, every=every)


def assert_growing(readings: list, what: tuple[int, ...] = (0, 1)) -> None:
    for i in what:
        seq = [r[i] for r in readings]
        assert seq == sorted(seq) and seq[-1] > seq[0], readings
    # no cell runs; the kernel may be "busy" for a moment on a comm message (a widget
    # view syncing its state), but it is mostly idle
    states = [r[2] for r in readings]
    assert set(states) <= {"idle", "busy"} and states.count("idle") >= len(states) - 1, \
        readings


# parts of a dashboard view whose right edge passes the view's own right edge
FITS_JS = """el => {
    const box = el.getBoundingClientRect();
    const parts = el.querySelectorAll('.hpo-header, .hpo-controls, .hpo-space, .hpo-param,'
        + ' .hpo-chart-history svg.svg-figure, .hpo-param-box, .hpo-chart-curves svg.svg-figure,'
        + ' .hpo-table-box, .hpo-chart-parcoords');
    const over = [...parts].filter(p => p.getBoundingClientRect().right > box.right + 1)
        .map(p => p.className.baseVal ?? p.className);
    return {width: box.width, over: over};
}"""


def open_scan(page, lab_server, make_notebook):
    open_notebook(page, lab_server, make_notebook([LOAD, CELL]))
    run_all_cells(page)
    dash = page.locator(".jp-NotebookPanel .hpo-dashboard")
    expect(dash).to_be_visible()
    expect(dash.locator(".hpo-status")).to_contain_text("running")
    expect(dash.locator(".hpo-chart-history path.dot").nth(2)).to_be_attached()
    return dash


def test_hpo_cell_runs_and_dashboard_updates_live(lab_page, make_notebook, lab_server, shot):
    page = lab_page
    t0 = time.time()
    dash = open_scan(page, lab_server, make_notebook)
    assert widget_errors(page) == []
    expect(dash.locator(".hpo-chart-history svg.svg-figure")).to_be_visible()
    # the annotated names are the space's parameters (one slider row each)
    for p in ("lr", "units", "act"):
        expect(dash.locator(f".hpo-space .hpo-param-{p}")).to_be_visible()

    assert_growing(watch_live(dash, page))
    shot(dash, "magics_cell_running")

    state = exec_json(page, "{'same': toy is _hpo, 'name': toy.name, 'status': toy.status, "
                            "'metric': toy.metric, 'mode': toy.mode, 'n_done': toy.n_done, "
                            "'params': sorted(toy.space), 'max': toy.max_trials, "
                            "'user_lr': 'lr' in globals()}")
    assert state["same"] and state["name"] == "toy", state
    assert state["status"] == "running" and state["n_done"] > 0, state
    assert state["metric"] == "loss" and state["mode"] == "min", state
    assert state["params"] == ["act", "lr", "units"] and state["max"] == 300, state
    assert not state["user_lr"], "a trial's assignment leaked into the user's namespace"
    assert widget_errors(page) == []
    print(f"timing: test {time.time() - t0:.1f}s")


def test_hpo_panel_docks_dashboard_in_right_sidebar(lab_page, make_notebook, lab_server, shot,
                                                    artifacts):
    page = lab_page
    t0 = time.time()
    open_scan(page, lab_server, make_notebook)
    exec_cell(page, "%hpo panel toy")
    assert widget_errors(page) == []

    # the panel is added to the right sidebar and brought to the front
    tab = page.get_by_role("tab", name=TAB, exact=True)
    expect(tab).to_have_count(1)
    side = page.locator(".hpo-side-panel")
    expect(tab).to_have_attribute("aria-selected", "true")
    expect(side).to_be_visible()
    pane = side.locator(".hpo-dashboard")
    expect(pane).to_have_count(1)
    expect(pane.locator(".hpo-progress")).to_be_visible()
    expect(pane.locator(".hpo-chart-history svg.svg-figure")).to_be_visible()
    assert_growing(watch_live(pane, page), what=(0,))
    assert widget_errors(page) == []
    # the sidebar is narrow: the panel's view stacks and shrinks (nothing cut off on
    # the right), while the notebook's view of the same dashboard stays side by side
    expect(pane.locator(".hpo-chart-history svg.svg-figure")).to_be_visible()
    time.sleep(1.0)   # let bqplot re-lay out its figures at the new width
    fit = pane.evaluate(FITS_JS)
    assert fit["width"] < 640 and fit["over"] == [], fit
    wide = page.locator(".jp-NotebookPanel .hpo-dashboard .hpo-space").bounding_box()
    assert wide is not None and wide["width"] > 400, wide
    shot(side, "magics_panel_side")
    page.mouse.move(0, 0)
    page.screenshot(path=artifacts / "magics_panel_page.png")

    # closing the tab closes the view, not the scan (sidebar tabs hide their close
    # icon; a middle click is Lumino's close request, which ipylab turns into close())
    tab.click(button="middle")
    expect(tab).to_have_count(0)
    expect(side).to_have_count(0)
    exec_cell(page, WAIT_FOR_A_TRIAL, timeout=40_000)
    after = exec_json(page, "[toy.status, _n0, toy.n_done]")
    assert after[0] in ("running", "finished"), after
    assert after[0] == "finished" or after[2] > after[1], f"no trial after closing: {after}"

    print(f"timing: test {time.time() - t0:.1f}s before reopening")

    # the panel comes back on request, in front (no click on its tab needed)
    exec_cell(page, "%hpo panel toy")
    expect(tab).to_have_count(1)
    expect(tab).to_have_attribute("aria-selected", "true")
    expect(side.locator(".hpo-dashboard .hpo-progress")).to_be_visible()
    print(f"timing: test {time.time() - t0:.1f}s")
