# Two commands a new user needs: `make demo` and `make test`. Everything they rely on is
# installed from here (a .venv, the package and its extras, Debian's chromium when root).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
EXTRAS ?= test
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
export PIP_DISABLE_PIP_VERSION_CHECK = 1

.PHONY: demo test lint bench bench-talos env browser clean

env: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -U pip
	$(BIN)/python -m pip install -q -e ".[$(EXTRAS)]"
	@rm -f $(VENV)/.installed-*
	@touch $@

# Browser tests drive Debian's chromium (never a downloaded browser). Installed when
# root; otherwise the browser tests skip themselves and say why.
browser:
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing Debian's chromium for the browser tests"; \
	  DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; \
	else echo "chromium not found and not root: browser tests will be skipped"; fi

test: env browser
	$(BIN)/python -m pytest

lint: env
	$(BIN)/ruff check .

# HEADLESS=1 executes the quickstart notebook and prints the best trial (its toy trials
# shortened to 0.05 s: HPO_DEMO_TRIAL_S, see the notebook's first cell); otherwise
# JupyterLab opens on the quickstart notebook itself (default_url: the URL it prints, and
# the browser it opens where there is one, land on the notebook, not the Launcher).
DEMO_NOTEBOOK := notebooks/quickstart.ipynb
demo: env
ifeq ($(HEADLESS),1)
	HPO_DEMO_TRIAL_S=$${HPO_DEMO_TRIAL_S:-0.05} $(BIN)/python notebooks/run.py $(DEMO_NOTEBOOK)
else
	$(BIN)/jupyter lab --LabApp.default_url=/lab/tree/$(DEMO_NOTEBOOK) \
	  $$( [ "$$(id -u)" = 0 ] && echo --allow-root )
endif

bench: env
	$(BIN)/python -m pip install -q -e ".[bench]"
	$(BIN)/python bench/overhead.py
	$(BIN)/python bench/scale.py
	$(BIN)/python bench/dashboard.py
	$(BIN)/python bench/analyze.py
	OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 $(BIN)/python bench/efficiency.py --seeds 10
	OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 $(BIN)/python bench/tuning.py
	$(BIN)/python bench/pruning.py
	$(BIN)/python bench/honest.py
	$(BIN)/python bench/keras_memory.py
	$(BIN)/python bench/spawn_pool_hang.py

# Talos side by side: Talos pins old packages, so it is installed apart, never in .venv.
bench-talos: env
	$(BIN)/python -m pip install -q --no-deps --target .bench/talos talos polars 'ruamel-yaml<0.19'
	$(BIN)/python bench/talos_side_by_side.py --talos .bench/talos

clean:
	rm -rf $(VENV) hpo_scans tests/artifacts .pytest_cache .bench
