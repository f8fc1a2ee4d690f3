"""Browser tests: real JupyterLab + headless Debian chromium, driven by pytest-playwright.

One JupyterLab server per pytest session, started only when a browser test is actually
run (the ``lab_server`` fixture is lazy), stopped at the end; every kernel is shut down
after each test. Each test writes its own notebook (``make_notebook([...cells])``) into
a folder of the server's throw-away root, so scans there use ``store="hpo_scans"``
next to the notebook. Screenshots go to tests/artifacts/browser/.

Without chromium or playwright these tests are skipped and say why.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import tempfile
from pathlib import Path

import pytest

from .lab import CHROMIUM_ARGS, find_chromium, start_lab

HERE = Path(__file__).parent
ARTIFACTS = HERE.parent / "artifacts" / "browser"


def _missing() -> str | None:
    """Why the browser tests cannot run here (None when they can)."""
    if importlib.util.find_spec("playwright") is None:
        return "playwright is not installed (pip install -e '.[test]')"
    if importlib.util.find_spec("pytest_playwright") is None:
        return "pytest-playwright is not installed (pip install -e '.[test]')"
    if find_chromium() is None:
        return ("chromium not found (as root: apt-get install chromium, or `make browser`; "
                "never `playwright install`)")
    for mod in ("jupyterlab", "ipywidgets", "bqplot", "nbformat"):
        if importlib.util.find_spec(mod) is None:
            return f"{mod} is not installed"
    return None


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "browser: runs in real JupyterLab + headless chromium (tests/browser)")
    # pytest-playwright 0.10's base_url fixture under pytest 9; not ours
    config.addinivalue_line(
        "filterwarnings", "ignore:Session-scoped fixtures defined as instance methods")


def pytest_collection_modifyitems(config, items):
    mine = [it for it in items if HERE in Path(str(it.path)).parents]
    if not mine:
        return
    why = _missing()
    for it in mine:
        it.add_marker(pytest.mark.browser)
        if why:
            it.add_marker(pytest.mark.skip(reason=f"browser test: {why}"))


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)


# -- the server -------------------------------------------------------------------------

@pytest.fixture(scope="session")
def lab_server():
    """One throw-away JupyterLab for the whole session (lazy: only browser tests ask)."""
    for stale in [*ARTIFACTS.glob("FAILED-*.png"), *ARTIFACTS.glob("console-*.txt")]:
        stale.unlink(missing_ok=True)   # from an earlier run
    base = Path(tempfile.mkdtemp(prefix="hpo-jlab-"))
    srv = start_lab(base)
    print(f"\nJupyterLab ready in {srv.startup_s:.1f}s on port {srv.port}")
    yield srv
    srv.stop()
    if os.environ.get("HPO_TEST_KEEP_LAB"):
        print(f"kept {base}")
    else:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(autouse=True)
def _fresh_kernels(request):
    """Shut every kernel down after each browser test: scan threads keep running else."""
    yield
    if "lab_server" in request.fixturenames:
        request.getfixturevalue("lab_server").shutdown_kernels()


# -- pytest-playwright on Debian's chromium ----------------------------------------------

@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {**browser_type_launch_args, "executable_path": find_chromium(),
            "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    # a fresh context per test; a fixed viewport for comparable screenshots
    return {**browser_context_args, "viewport": {"width": 1500, "height": 1000}}


@pytest.fixture(scope="session", autouse=True)
def _expect_timeouts():
    if importlib.util.find_spec("playwright") is None:
        return
    from playwright.sync_api import expect

    expect.set_options(timeout=30_000)  # 2 shared cores: be generous


@pytest.fixture
def lab_page(page, lab_server, request):
    """pytest-playwright's ``page`` with generous timeouts and console errors collected."""
    page.set_default_timeout(60_000)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.console_errors = errors
    yield page
    name = _safe(request.node.name)
    log = ARTIFACTS / f"console-{name}.txt"
    if errors:  # kept for a look, not failed on: a page can log unrelated errors
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        log.write_text("\n".join(errors) + "\n")
        print(f"\nbrowser console errors ({len(errors)}), see {log}: {errors[:3]}")
    else:
        log.unlink(missing_ok=True)
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        try:
            page.screenshot(path=ARTIFACTS / f"FAILED-{name}.png", full_page=True)
        except Exception:  # noqa: BLE001 - the page may be gone
            pass
        print("server log tail:\n", lab_server.log_tail(2000))


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:80]


@pytest.fixture
def make_notebook(lab_server, request):
    """``make_notebook([cell, ...], name="test.ipynb")`` -> path to open in the lab.

    The notebook goes to its own folder of the server root (the kernel's working
    directory), so ``store="hpo_scans"`` is per test and thrown away with the server.
    """
    from .lab import write_notebook

    folder = lab_server.root_dir / _safe(request.node.name)

    def make(cells: list[str], name: str = "test.ipynb") -> str:
        write_notebook(folder / name, cells)
        return f"{folder.name}/{name}"

    make.folder = folder
    return make


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def shot(artifacts):
    """``shot(locator, "name")`` saves an element screenshot as artifacts/browser/name.png.

    The notebook scrolls inside its own panel, so an element taller than that panel
    would come out clipped (with the status bar over it): the viewport grows for the
    picture, then goes back.
    """

    def take(locator, name: str) -> Path:
        page = locator.page
        path = artifacts / f"{name}.png"
        page.mouse.move(0, 0)   # no hover effects (bqplot's toolbar) in the picture
        size = page.viewport_size
        panel = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-WindowedPanel-outer,"
                             ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook").first
        box, room = locator.bounding_box(), panel.bounding_box()
        grow = 0
        if size and box and room and box["height"] > room["height"] - 20:
            grow = int(box["height"] - room["height"]) + 60
            page.set_viewport_size({"width": size["width"], "height": size["height"] + grow})
        try:
            locator.scroll_into_view_if_needed()
            locator.screenshot(path=path, animations="disabled")
        finally:
            if grow:
                page.set_viewport_size(size)
        return path

    return take
