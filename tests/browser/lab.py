"""A throw-away JupyterLab server and Playwright helpers for the browser tests.

Adapted from the shared recipe (../shared/testing): one headless JupyterLab per pytest
session on 127.0.0.1 with a random port and token, every Jupyter directory in a temp
folder (no state leaks in or out), its own process group (stopped by PID), and a
``python3`` kernelspec that runs *this* interpreter so the kernel imports hpo_widgets
from the same .venv.
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
# Playwright adds most of these itself; repeating them keeps the recipe explicit.
# launch() refuses --user-data-dir (Playwright makes a fresh profile).
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
]

# User settings that make the UI deterministic for tests.
LAB_SETTINGS = {
    # no news / update toasts over the notebook
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false", "checkForUpdates": False,
    },
    # every cell in the DOM (the default windowing can leave off-screen outputs unrendered)
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    # no "save changes?" prompts; the test notebooks are throw-away
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
}

KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


def find_chromium() -> str | None:
    env = os.environ.get("HPO_TEST_CHROMIUM")
    if env:
        return env if os.access(env, os.X_OK) else None
    for c in CHROMIUM_CANDIDATES:
        if os.access(c, os.X_OK):
            return c
    return shutil.which("chromium")


def playwright_expect():
    """Playwright's ``expect``; skips the calling test module when playwright is missing."""
    try:
        from playwright.sync_api import expect
    except ImportError:
        import pytest

        pytest.skip("browser test: playwright is not installed (pip install -e '.[test]')",
                    allow_module_level=True)
    return expect


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LabServer:
    proc: subprocess.Popen
    port: int
    token: str
    root_dir: Path
    base_dir: Path
    log_path: Path
    startup_s: float = 0.0
    env: dict = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def notebook7_url(self, path: str) -> str:
        """Notebook 7's page for a notebook (the ``notebook`` package, same server)."""
        return f"{self.url}/notebooks/{path}?token={self.token}"

    def lab_url(self, path: str = "") -> str:
        # the token in the query string makes the server set an auth cookie;
        # `reset` starts from an empty workspace
        p = f"/lab/tree/{path}" if path else "/lab"
        return f"{self.url}{p}?token={self.token}&reset"

    def api(self, path: str, method: str = "GET", body=None):
        req = urllib.request.Request(
            f"{self.url}{path}", method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"token {self.token}",
                     "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=10) as r:
            data = r.read()
            return json.loads(data) if data else None

    def shutdown_kernels(self) -> None:
        """Delete every session and kernel: scan threads of a finished test stop here."""
        try:
            for s in self.api("/api/sessions") or []:
                self.api(f"/api/sessions/{s['id']}", method="DELETE")
            for k in self.api("/api/kernels") or []:
                self.api(f"/api/kernels/{k['id']}", method="DELETE")
        except Exception:  # noqa: BLE001 - best effort; the server may be gone already
            pass

    def log_tail(self, n: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def stop(self, timeout: float = 15) -> None:
        """Stop only the process group we started (the server and its kernels)."""
        if self.proc.poll() is None:
            self.shutdown_kernels()
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(5)


def start_lab(base: Path, ready_timeout: float = 120, extra_args: tuple[str, ...] = ()
              ) -> LabServer:
    """Start ``jupyter lab`` headless in ``base`` (a fresh, empty folder; the server's
    root is ``base/root``); ``extra_args`` are added to its command line."""
    root = base / "root"
    root.mkdir(parents=True, exist_ok=True)
    settings_dir = base / "lab-settings"
    for rel, content in LAB_SETTINGS.items():
        p = settings_dir / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(content))
    # A kernelspec in our own data dir: it comes before the one in sys.prefix (whose
    # argv is a bare "python", i.e. whatever is first on PATH).
    data_dir = base / "data"
    spec_dir = data_dir / "kernels" / "python3"
    spec_dir.mkdir(parents=True, exist_ok=True)
    (spec_dir / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": KERNELSPEC["display_name"], "language": "python",
        "metadata": {"debugger": False},
    }))

    env = dict(os.environ)
    env.update(
        JUPYTER_CONFIG_DIR=str(base / "config"),
        JUPYTER_DATA_DIR=str(data_dir),
        JUPYTER_RUNTIME_DIR=str(base / "runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(settings_dir),
        JUPYTERLAB_WORKSPACES_DIR=str(base / "workspaces"),
        IPYTHONDIR=str(base / "ipython"),
        JUPYTER_PLATFORM_DIRS="1",
        PYDEVD_DISABLE_FILE_VALIDATION="1",
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    env.pop("JUPYTER_PATH", None)
    env.pop("HPO_WIDGETS_STORE", None)
    port = free_port()
    token = secrets.token_hex(16)
    cmd = [
        sys.executable, "-m", "jupyterlab",
        "--no-browser",
        *(["--allow-root"] if os.geteuid() == 0 else []),
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        "--ServerApp.terminals_enabled=False",
        "--LanguageServerManager.autodetect=False",
        "--LabApp.news_url=None",
        *extra_args,
        "--LabApp.expose_app_in_browser=True",  # window.jupyterapp for the helpers below
        # the same in Notebook 7 (/notebooks/...), served by this server when installed
        "--JupyterNotebookApp.expose_app_in_browser=True",
    ]
    log_path = base / "jupyter-lab.log"
    t0 = time.time()
    with open(log_path, "w") as logf:
        proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=logf, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    srv = LabServer(proc, port, token, root, base, log_path, env=env)
    deadline = t0 + ready_timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"jupyter lab exited rc={proc.returncode}:\n{srv.log_tail()}")
        try:
            if srv.api("/api/status") is not None:
                break
        except Exception:  # noqa: BLE001 - not listening yet
            pass
        if time.time() > deadline:
            srv.stop()
            raise TimeoutError(f"jupyter lab not ready in {ready_timeout}s:\n{srv.log_tail()}")
        time.sleep(0.2)
    srv.startup_s = time.time() - t0
    return srv


def write_notebook(path: Path, cells: list[str]) -> Path:
    """A notebook of code cells (sources as given) for the python3 kernel."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    nb = new_notebook(cells=[new_code_cell(src) for src in cells])
    nb.metadata["kernelspec"] = KERNELSPEC
    nb.metadata["language_info"] = {"name": "python"}
    nbformat.validate(nb)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


# -- page helpers (Playwright sync API) ------------------------------------------------

KERNEL_IDLE_JS = """() => {
  const app = window.jupyterapp; if (!app) return false;
  const w = app.shell.currentWidget;
  const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
  return !!k && k.connectionStatus === 'connected' && k.status === 'idle';
}"""

KERNEL_STATUS_JS = """() => {
  const w = window.jupyterapp.shell.currentWidget;
  const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
  return k ? k.status : null;
}"""


def open_notebook(page, server: LabServer, rel_path: str, timeout: float = 120_000) -> float:
    """Open ``/lab/tree/<rel_path>`` and wait for its kernel to be idle; seconds taken."""
    t0 = time.time()
    page.goto(server.lab_url(rel_path))
    page.wait_for_selector(".jp-NotebookPanel .jp-Notebook", timeout=timeout)
    wait_kernel_idle(page, timeout)
    # more room for outputs: close the file browser
    page.evaluate("""() => { const s = window.jupyterapp.shell;
        if (!s.leftCollapsed) return window.jupyterapp.commands.execute(
            'application:toggle-left-area'); }""")
    return time.time() - t0


def wait_kernel_idle(page, timeout: float = 120_000) -> None:
    # The toolbar's execution indicator says "idle" before any kernel exists: wait on the
    # kernel object itself (needs --LabApp.expose_app_in_browser).
    page.wait_for_function(KERNEL_IDLE_JS, timeout=timeout)


def kernel_status(page) -> str | None:
    return page.evaluate(KERNEL_STATUS_JS)


def start_all_cells(page) -> None:
    """Start running every cell and return at once (the command's promise is not awaited:
    it settles only when the last cell has run)."""
    page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")


def run_all_cells(page, timeout: float = 120_000) -> None:
    """Run every cell through the command API; returns when each has a prompt number."""
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    wait_all_cells_ran(page, timeout)


def wait_all_cells_ran(page, timeout: float = 120_000) -> None:
    """Wait until every cell of the notebook has a prompt number."""
    page.wait_for_function(
        """() => { const ps = [...document.querySelectorAll(
                '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputPrompt')];
            return ps.length > 0 && ps.every(p => /\\[\\d+\\]/.test(p.textContent)); }""",
        timeout=timeout,
    )


class CellError(AssertionError):
    pass


EXEC_CELL_JS = """async ([code, timeout]) => {
  const app = window.jupyterapp;
  const nb = app.shell.currentWidget.content;
  nb.activeCellIndex = nb.widgets.length - 1;
  nb.mode = 'command';
  await app.commands.execute('notebook:insert-cell-below');
  const cell = nb.activeCell;
  cell.model.sharedModel.setSource(code);
  const ran = app.commands.execute('notebook:run-cell');  // resolves when the cell has run
  const late = new Promise((_, no) => setTimeout(
      () => no(new Error('cell still running after ' + timeout + ' ms')), timeout));
  await Promise.race([ran, late]);
  nb.mode = 'command';
  return cell.model.outputs.toJSON();
}"""


def exec_cell(page, code: str, timeout: float = 60_000) -> str:
    """Append a cell with ``code``, run it like a user would, return its text output.

    Raises :class:`CellError` if the cell raised.
    """
    outs = page.evaluate(EXEC_CELL_JS, [code, timeout])
    text = []
    for o in outs:
        kind = o.get("output_type")
        if kind == "error":
            raise CellError(f"{o.get('ename')}: {o.get('evalue')}\n(cell: {code!r})")
        if kind == "stream":
            t = o.get("text", "")
            text.append("".join(t) if isinstance(t, list) else t)
        elif kind in ("execute_result", "display_data"):
            t = o.get("data", {}).get("text/plain", "")
            text.append("".join(t) if isinstance(t, list) else t)
    return "".join(text).strip()


def exec_json(page, expr: str, timeout: float = 60_000):
    """Evaluate ``expr`` in the kernel (through a cell in the page) and return it."""
    out = exec_cell(page, f"import json as _j; print(_j.dumps({expr}, default=str))", timeout)
    return json.loads(out.splitlines()[-1])


def widget_errors(page) -> list[str]:
    """Texts of widget placeholders or errors left in output areas."""
    return page.evaluate("""() => [...document.querySelectorAll('.jp-OutputArea-output')]
        .map(e => e.innerText)
        .filter(t => /Loading widget|Error displaying widget|Model not found/i.test(t))""")


def error_outputs(page) -> list[str]:
    """Tracebacks shown in the notebook (cells that raised)."""
    return page.evaluate("""() => [...document.querySelectorAll(
        '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')]
        .map(e => e.innerText).filter(t => /Error|Traceback/.test(t))""")


def progress_fraction(locator) -> float:
    """Fill of an ipywidgets progress bar (0..1), read from the bar's style."""
    w = locator.locator(".progress-bar").first.evaluate(
        "e => e.style.width || e.style.height || '0%'")
    return float(w.rstrip("%") or 0) / 100


def line_point_count(locator) -> int:
    """Vertices in the first bqplot Lines path of a figure (M and L commands)."""
    d = locator.locator("path.line").first.get_attribute("d") or ""
    return len(re.findall(r"[ML]", d))


def color_pixel_count(page, png: bytes, rgb=(255, 0, 0), tol=60) -> int:
    """Pixels close to ``rgb`` in a PNG, decoded by the browser (no Pillow needed)."""
    b64 = base64.b64encode(png).decode()
    return page.evaluate(
        """async ([b64, rgb, tol]) => {
            const img = new Image(); img.src = 'data:image/png;base64,' + b64;
            await img.decode();
            const c = document.createElement('canvas'); c.width = img.width;
            c.height = img.height; const g = c.getContext('2d'); g.drawImage(img, 0, 0);
            const d = g.getImageData(0, 0, c.width, c.height).data; let n = 0;
            for (let i = 0; i < d.length; i += 4)
              if (Math.abs(d[i] - rgb[0]) < tol && Math.abs(d[i + 1] - rgb[1]) < tol
                  && Math.abs(d[i + 2] - rgb[2]) < tol) n++;
            return n; }""",
        [b64, list(rgb), tol],
    )


def drag(page, target, start: tuple[float, float], end: tuple[float, float],
         steps: int = 4, tries: int = 3, within=None) -> None:
    """Drag with the mouse from ``start`` to ``end``, fractions (x, y) of ``target``'s box.

    JupyterLab may scroll the notebook under the pointer (an output grew, a cell got
    focus): before pressing, check that the point is really on ``target`` (or inside
    ``within``, when something of the widget lies over it), else scroll and retry.
    """
    within = within or target
    for attempt in range(tries):
        target.scroll_into_view_if_needed()
        box = target.bounding_box()
        x0, y0 = box["x"] + box["width"] * start[0], box["y"] + box["height"] * start[1]
        on_target = within.evaluate(
            "(e, [x, y]) => { const h = document.elementFromPoint(x, y);"
            " return !!h && (h === e || e.contains(h)); }", [x0, y0])
        if on_target:
            break
        if attempt == tries - 1:
            raise AssertionError(f"cannot reach {target} with the mouse (covered or moving)")
        time.sleep(0.3)
    x1, y1 = box["x"] + box["width"] * end[0], box["y"] + box["height"] * end[1]
    page.mouse.move(x0, y0)
    page.mouse.down()
    for i in range(1, steps + 1):
        page.mouse.move(x0 + (x1 - x0) * i / steps, y0 + (y1 - y0) * i / steps)
    page.mouse.up()


def sample(fn, n: int = 4, every: float = 0.6) -> list:
    """``n`` readings of ``fn()``, ``every`` seconds apart (for watching live updates)."""
    out = []
    for i in range(n):
        if i:
            time.sleep(every)
        out.append(fn())
    return out
