# LLM Retreat. Quick start: `make run` (the book) and `make test` (what CI runs).
# Every target installs what it needs; a second `make setup` changes nothing and takes seconds.

SHELL := /bin/bash
PYTHON_BASE ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PYTHON := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
NB ?=

# Offline, quiet kernels for every target (read by the HF libraries at import time).
# LLM_RETREAT_HUB=1 lifts the offline flags so that hub ids can be downloaded.
ifneq ($(LLM_RETREAT_HUB),1)
export HF_HUB_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export HF_EVALUATE_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
endif
export HF_HUB_DISABLE_PROGRESS_BARS := 1
export HF_DATASETS_DISABLE_PROGRESS_BARS := 1
export HF_HUB_DISABLE_TELEMETRY := 1
export TRANSFORMERS_VERBOSITY := error
export TOKENIZERS_PARALLELISM := false
export PYTHONHASHSEED := 0

.PHONY: help setup venv run adopt book check-book test browser refresh tag student slides timings lab clean clean-assets

help:
	@echo "make run      execute every notebook in full mode into build/ (HTML book + index.html); NB=03 for one,"
	@echo "              RECORD=1 also stores per-cell times in notebooks/timings.json (maintainers)"
	@echo "make test     setup (smoke stand-ins), unit tests, and every notebook under nbval in smoke mode"
	@echo "make setup    venv + pinned packages, offline kit, stand-ins (idempotent)"
	@echo "make book     the book from the committed notebooks, without executing them (seconds)"
	@echo "make check-book  headless Chromium opens build/index.html and every page (make run ends with it)"
	@echo "make student  learner copies without solutions or outputs in build/student/"
	@echo "make slides   reveal.js slides of every notebook in build/slides/ (offline)"
	@echo "make timings  every cell timed in full and smoke mode; report of the slowest (NB=03 for one, MODE=smoke)"
	@echo "make refresh  maintainers: re-execute notebooks in place in full mode (NB=03 for one)"
	@echo "make adopt    maintainers: after make run, copy the executed notebooks from build/ over notebooks/"
	@echo "make lab      JupyterLab at notebooks/"
	@echo "make clean    remove build/ and caches (keeps .venv and the asset home)"

$(STAMP): requirements.txt pyproject.toml
	test -x $(PYTHON) || $(PYTHON_BASE) -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PYTHON) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

venv: $(STAMP)

setup: $(STAMP)
	$(PYTHON) -m utils.kit fetch
	$(PYTHON) -m utils.standins build

run: export LLM_RETREAT_SMOKE := 0
run: setup browser
	$(PYTHON) -m utils.book run $(NB) $(if $(filter 1,$(RECORD)),--record)
	$(MAKE) --no-print-directory check-book

# The browser test on the book as it is in build/ (make run calls it at its end).
check-book: venv browser
	LLM_RETREAT_BOOK_AS_BUILT=1 $(PYTHON) -m pytest -q tests/test_book_browser.py

adopt: venv
	$(PYTHON) -m utils.book adopt $(NB)

book: venv
	$(PYTHON) -m utils.book build

test: export LLM_RETREAT_SMOKE := 1
test: setup browser
	$(PYTHON) -m pytest -q tests --nbval-lax notebooks

# Headless Chromium + ChromeDriver for the browser test of the book (Debian packages; root needed to install).
browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  echo "installing Debian's chromium and chromium-driver for the browser test"; \
	  (apt-get install -y -q chromium chromium-driver >/dev/null 2>&1 || \
	   (apt-get update -q >/dev/null && apt-get install -y -q chromium chromium-driver >/dev/null)); \
	else echo "note: chromium/chromedriver missing and cannot be installed here: the browser test will be skipped"; fi

student: venv
	$(PYTHON) -m utils.book student

slides: venv
	$(PYTHON) -m utils.book slides

timings: setup
	$(PYTHON) -m utils.book timings $(NB) $(if $(MODE),--mode $(MODE))

tag: venv
	$(PYTHON) -m utils.book tag $(NB)

refresh: export LLM_RETREAT_SMOKE := 0
refresh: setup
	$(PYTHON) -m utils.book refresh $(NB)

lab: setup
	$(PYTHON) -m jupyter lab notebooks/

clean:
	rm -rf build .pytest_cache .hypothesis
	find . -name __pycache__ -not -path './.venv/*' -prune -exec rm -rf {} +

clean-assets:
	rm -rf "$${LLM_RETREAT_HOME:-$$HOME/.cache/llm-retreat}"
