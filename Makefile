# LLM Retreat. Quick start: `make run` (the book) and `make test` (what CI runs); `make lab` to learn.
# Every target installs what it needs; a second `make setup` changes nothing and takes seconds.

SHELL := /bin/bash
.DEFAULT_GOAL := help

# Pythons the course supports and is tested with (`make test-pythons`); the first one found is used.
SUPPORTED_PYTHONS := 3.11 3.12 3.13
PYTHON_BASE ?= $(firstword $(foreach v,$(SUPPORTED_PYTHONS),$(shell command -v python$(v) 2>/dev/null)))
VENV ?= .venv
PYTHON := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
LOCK := requirements.lock
DEV_LOCK := requirements-dev.lock
NB ?=

# torch is installed on its own, pinned by version (requirements.txt), from PyTorch's CPU-only package index by
# default: plain PyPI serves Linux x86_64 users a CUDA build (hundreds of MB plus nvidia-* packages).
# TORCH_INDEX= (empty) takes PyPI's default build instead (CUDA on Linux; the same CPU build on macOS/Windows).
TORCH_VERSION := $(shell sed -n 's/^torch==\([^ ]*\).*/\1/p' requirements.txt)
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
PIP_INSTALL := $(PYTHON) -m pip install --quiet --disable-pip-version-check --no-deps

# Kernel environment for every target: utils/environment.py holds the values (one source), the Makefile exports them
# so that kernels, pytest and the build scripts all see them before any Hugging Face import.
# (errors are silenced: an unsupported PYTHON_BASE, say Python 2, is refused by check-python with the fix instead)
ENV_EXPORTS := $(shell LLM_RETREAT_HUB=$(LLM_RETREAT_HUB) $(or $(PYTHON_BASE),python3) utils/environment.py --make 2>/dev/null)
$(foreach assignment,$(ENV_EXPORTS),$(eval export $(assignment)))
# progress lines of long steps appear as they happen, also when the output goes to a pipe or a log file
export PYTHONUNBUFFERED := 1

.PHONY: help check-python venv dev kit standins setup run adopt book check-book test test-fast test-pythons lint lock \
        browser refresh tag student slides timings lab clean clean-assets course-models report-card compile-benchmark

help:
	@echo "make lab      JupyterLab at notebooks/ (installs, fetches the kit; stand-ins build on first use);"
	@echo "              LLM_RETREAT_PRESENT=1 make lab: training cells load the last run's results (instructors)"
	@echo "make run      execute every notebook in full mode into build/ (HTML book + index.html); NB=03 for one,"
	@echo "              RECORD=1 also stores per-cell times in notebooks/timings.json (maintainers);"
	@echo "              JOBS=2 executes two notebooks at a time, one thread each"
	@echo "make test     what CI runs: setup (smoke stand-ins), unit tests, every notebook under nbval in smoke mode"
	@echo "make test-fast  unit tests only (no notebooks, no browser, no assets)"
	@echo "make test-pythons  the fast tier on every supported Python (3.11, 3.12, 3.13) found on this machine"
	@echo "make setup    venv + locked packages, offline kit, stand-ins, course models (idempotent);"
	@echo "              make kit / make standins / make course-models / make report-card for one part"
	@echo "make venv     only the virtual environment in .venv with the locked packages (PYTHON_BASE=python3.12 picks one)"
	@echo "make dev      the maintainer tools (ruff, pre-commit, uv) from requirements-dev.lock into .venv"
	@echo "make lint     ruff on utils/, tests/ and notebooks"
	@echo "make lock     regenerate requirements.lock (hashes) from requirements.txt with uv (maintainers)"
	@echo "make book     the book from the committed notebooks, without executing them (seconds)"
	@echo "make check-book  headless Chromium opens build/index.html and every page (make run ends with it)"
	@echo "make browser  installs Debian's chromium + chromium-driver for the browser test (needs root and apt)"
	@echo "make student  learner copies without solutions or outputs in build/student/"
	@echo "make slides   reveal.js slides of every notebook in build/slides/ (offline)"
	@echo "make compile-benchmark  notebook 24's torch.compile figures (compile time, speed-up; minutes)"
	@echo "make timings  every cell timed in full and smoke mode; report of the slowest (NB=03 for one, MODE=smoke)"
	@echo "make refresh  maintainers: re-execute notebooks in place in full mode (NB=03 for one)"
	@echo "make adopt    maintainers: after make run, copy the executed notebooks from build/ over notebooks/"
	@echo "make tag      maintainers: set cell metadata (slides, solutions, training, cached) without executing"
	@echo "make clean    remove build/ and caches (keeps .venv and the asset home)"
	@echo "make clean-assets  delete the asset home (kit, prepared datasets, stand-ins)"

# A supported Python for the venv, or a message that names the fix. A PYTHON_BASE given while .venv exists is not used:
# say so when it is another version than the venv's.
check-python:
	@if [ -x "$(PYTHON)" ] && [ "$(origin PYTHON_BASE)" != "file" ] && [ -n "$(PYTHON_BASE)" ]; then \
	  have=$$("$(PYTHON)" -c 'import sys; print("%d.%d" % sys.version_info[:2])'); \
	  want=$$("$(PYTHON_BASE)" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || echo unknown); \
	  if [ "$$have" != "$$want" ]; then \
	    echo "note: $(VENV) exists with Python $$have, so PYTHON_BASE=$(PYTHON_BASE) (Python $$want) is not used;" >&2; \
	    echo "  to switch: rm -rf $(VENV), then run the make target again" >&2; fi; fi
	@if [ -x "$(PYTHON)" ]; then py="$(PYTHON)"; where="the existing $(VENV)"; \
	 elif [ -n "$(PYTHON_BASE)" ]; then py="$(PYTHON_BASE)"; where="$(PYTHON_BASE)"; \
	 else echo "error: no supported Python found (need one of $(SUPPORTED_PYTHONS) as python3.X on PATH)." >&2; \
	  echo "  fix: install one (Ubuntu: sudo apt install python3.12-venv; macOS: brew install python@3.12;" >&2; \
	  echo "  any OS: pyenv install 3.11), or name it: make setup PYTHON_BASE=/path/to/python3.12" >&2; exit 1; fi; \
	 version=$$("$$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])'); \
	 case " $(SUPPORTED_PYTHONS) " in *" $$version "*) ;; \
	  *) echo "error: $$where is Python $$version; the course supports $(SUPPORTED_PYTHONS)." >&2; \
	     echo "  fix: make setup PYTHON_BASE=python3.11 (or 3.12, 3.13); if $(VENV) was made with it, rm -rf $(VENV) first" >&2; \
	     exit 1;; esac

$(STAMP): $(LOCK) requirements.txt pyproject.toml
	@$(MAKE) --no-print-directory check-python
	test -x $(PYTHON) || $(PYTHON_BASE) -m venv $(VENV)
	@echo "installing torch $(TORCH_VERSION) ($(if $(TORCH_INDEX),CPU build from $(TORCH_INDEX),PyPI's default build))"
	$(if $(TORCH_INDEX),$(PIP_INSTALL) --index-url $(TORCH_INDEX) --extra-index-url https://pypi.org/simple,\
	  $(PYTHON) -m pip install --quiet --disable-pip-version-check) "torch==$(TORCH_VERSION)"
	@echo "installing the locked packages ($(LOCK), every file checked against its sha256)"
	$(PIP_INSTALL) --require-hashes -r $(LOCK)
	$(PIP_INSTALL) -e .
	$(PYTHON) -m pip check --disable-pip-version-check
	touch $@

venv: $(STAMP)

# Maintainer tools (ruff, pre-commit, mutmut): a separate lock, not needed by the notebooks.
$(VENV)/.dev-stamp: $(STAMP) $(DEV_LOCK)
	$(PIP_INSTALL) --require-hashes -r $(DEV_LOCK)
	touch $@

dev: $(VENV)/.dev-stamp

kit: venv
	$(PYTHON) -m utils.course kit

standins: kit
	$(PYTHON) -m utils.course standins

# the models notebooks train and later notebooks load by name (notebook 20's SFT, 21's GRPO): utils/course/course_models.py
# They need only the kit (SmolLM2 and the prepared data), not the stand-ins. Building the two at once (`make -j2`, one
# thread each) was measured no faster than one after the other with two threads (smoke: 159 s against 155 s).
# Then the course runs (utils/course/course_runs.py): results of training longer than a notebook can (notebook 19's
# scaling study, notebook 21's reward hacking), kept as numbers, not models.
course-models: kit
	$(PYTHON) -m utils.course course-models
	$(PYTHON) -m utils.course course-runs

# notebook 22's report card of the course models (utils/report_card.py): <asset home>/report_card/, shown in notebook 22
report-card: course-models
	$(PYTHON) -m utils.course.report_card

setup: kit standins course-models report-card

# notebook 24's torch.compile figures (minutes on one thread; not part of setup): <asset home>/runs/24/compile-static.json
compile-benchmark: kit
	$(PYTHON) -m utils.compile_benchmark "$$($(PYTHON) -c 'from utils import checkpoint; print(checkpoint("smollm2"))' | tail -1)"

# Each target that needs a mode runs setup in a sub-make with that mode, so `make run test` builds both.
run: venv browser
	@$(MAKE) --no-print-directory setup LLM_RETREAT_SMOKE=0
	LLM_RETREAT_SMOKE=0 $(PYTHON) -m utils.book run $(NB) $(if $(filter 1,$(RECORD)),--record) --jobs $(or $(JOBS),1)
	@$(MAKE) --no-print-directory check-book

# The browser test on the book as it is in build/ (make run calls it at its end).
check-book: venv browser
	LLM_RETREAT_BOOK_AS_BUILT=1 $(PYTHON) -m pytest -q -m browser tests/test_book_browser.py

adopt: venv
	$(PYTHON) -m utils.book adopt $(NB)

book: venv
	$(PYTHON) -m utils.book build

# Two passes over the notebooks: the first meets caches as they are (empty in CI: every first-run code path), the
# second meets the caches the first filled, in present mode (README): its training cells load the runs the first pass
# saved. Both compare every NBVAL_CHECK_OUTPUT cell with the committed output, so together they prove that no checked
# output depends on the cache state, and that present mode reproduces what training gave. The second pass runs the
# notebooks that present mode or a cache changes (PRESENT_NOTEBOOKS: they save runs with utils.present or have a
# `# cached:` cell); the others would run the same code on the same inputs a second time.
# TEST_WORKERS pytest workers (pytest-xdist) share the work, a whole notebook each at a time (--dist loadfile keeps
# its cells in order in one kernel), each with one torch thread so that the workers do not fight over the cores.
TEST_WORKERS ?= 2
PRESENT_NOTEBOOKS = $(shell $(PYTHON) -m utils.book present-list)
PYTEST_PARALLEL := OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(PYTHON) -m pytest -q -n $(TEST_WORKERS) --dist loadfile
# The tests' temporary files (kernels stopped with SIGKILL leave their scratch folders; pytest's own tmp_path) go to a
# folder of this run, removed at its end, so that repeated runs never fill the disk.
# Each phase prints its wall time (the figures of the README's CI paragraph).
test: venv browser
	@set -e; start=$$(date +%s); $(MAKE) --no-print-directory setup LLM_RETREAT_SMOKE=1; \
	echo "phase time: setup (smoke) $$(( $$(date +%s) - start )) s"
	@set -e; export TMPDIR="$$(mktemp -d -t llm-retreat-test.XXXXXX)"; trap 'rm -rf "$$TMPDIR"' EXIT; \
	echo "temporary files of this run: $$TMPDIR (removed at its end)"; \
	echo "LLM_RETREAT_SMOKE=1 $(PYTEST_PARALLEL) tests --nbval-lax notebooks"; start=$$(date +%s); \
	LLM_RETREAT_SMOKE=1 $(PYTEST_PARALLEL) tests --nbval-lax notebooks; \
	echo "phase time: first pass $$(( $$(date +%s) - start )) s"; start=$$(date +%s); \
	echo "second pass, in present mode on the caches the first pass filled: the notebooks that save runs or caches"; \
	LLM_RETREAT_SMOKE=1 LLM_RETREAT_PRESENT=1 $(PYTEST_PARALLEL) --nbval-lax $(PRESENT_NOTEBOOKS); \
	echo "phase time: present-mode pass $$(( $$(date +%s) - start )) s"

test-fast: venv
	LLM_RETREAT_SMOKE=1 $(PYTHON) -m pytest -q -m "not notebooks and not browser and not assets" tests

# The fast tier on each supported Python, each in its own venv (.venv-3.12 ...); missing Pythons are reported.
test-pythons:
	@for v in $(SUPPORTED_PYTHONS); do \
	  if command -v python$$v >/dev/null; then \
	    echo "== Python $$v"; \
	    $(MAKE) --no-print-directory test-fast VENV=.venv-$$v PYTHON_BASE=$$(command -v python$$v) || exit 1; \
	  else echo "== Python $$v: not found on this machine (skipped)"; fi; done

lint: dev
	$(VENV)/bin/ruff check utils tests notebooks
	$(VENV)/bin/ruff format --check utils tests notebooks

# torch's dependencies that only a CUDA build needs (what PyPI's Linux torch pulls in).
CUDA_ONLY_PACKAGES := triton cuda-bindings cuda-pathfinder cuda-toolkit nvidia-cublas nvidia-cuda-cupti nvidia-cuda-nvrtc \
  nvidia-cuda-runtime nvidia-cudnn-cu13 nvidia-cufft nvidia-cufile nvidia-curand nvidia-cusolver nvidia-cusparse \
  nvidia-cusparselt-cu13 nvidia-nccl-cu13 nvidia-nvjitlink nvidia-nvshmem-cu13 nvidia-nvtx

# Regenerate the locks after editing requirements*.txt: uv resolves for Python 3.11-3.13 on every platform.
# torch and its CUDA-only packages are left out: torch is installed on its own (see TORCH_INDEX above).
# Needs only a Python with pip (a fresh clone has no .venv yet): uv is installed into .venv, made here if missing.
lock: check-python
	test -x $(PYTHON) || $(PYTHON_BASE) -m venv $(VENV)
	$(PIP_INSTALL) "uv==0.13.9"
	$(VENV)/bin/uv pip compile requirements.txt --universal --python-version 3.11 --generate-hashes --quiet \
	  $(foreach p,torch $(CUDA_ONLY_PACKAGES),--no-emit-package $(p)) -o $(LOCK)
	$(VENV)/bin/uv pip compile requirements-dev.txt --universal --python-version 3.11 --generate-hashes --quiet \
	  -c $(LOCK) -o $(DEV_LOCK)

# Headless Chromium + ChromeDriver for the browser test of the book (Debian packages; root needed to install).
browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  echo "installing Debian's chromium and chromium-driver (about 300 MB) for the browser test of the book"; \
	  (apt-get install -y -q chromium chromium-driver >/dev/null 2>&1 || \
	   (apt-get update -q >/dev/null && apt-get install -y -q chromium chromium-driver >/dev/null)); \
	else echo "note: chromium and chromedriver are missing and cannot be installed here (needs root and apt):"; \
	  echo "  the browser test of the book will be skipped. To run it: sudo apt-get install chromium chromium-driver"; \
	  echo "  (Debian/Ubuntu), or put any chromium + matching chromedriver on PATH."; fi

student: venv
	$(PYTHON) -m utils.book student

slides: venv
	$(PYTHON) -m utils.book slides

timings: venv
	@$(MAKE) --no-print-directory setup LLM_RETREAT_SMOKE=0
	@$(MAKE) --no-print-directory setup LLM_RETREAT_SMOKE=1
	$(PYTHON) -m utils.book timings $(NB) $(if $(MODE),--mode $(MODE))

tag: venv
	$(PYTHON) -m utils.book tag $(NB)

refresh: venv
	@$(MAKE) --no-print-directory setup LLM_RETREAT_SMOKE=0
	LLM_RETREAT_SMOKE=0 $(PYTHON) -m utils.book refresh $(NB)

# JupyterLab as soon as the packages and the kit are there; a stand-in model is trained the first time a notebook
# asks for it (a progress bar says how long), or ahead of time with `make standins`.
lab: kit
	@echo "Stand-ins not built yet are trained on first use (under 2 minutes each on an idle 2-core machine with bf16, qa about 5); 'make standins' builds them all now."
	$(PYTHON) -m jupyter lab notebooks/

clean:
	rm -rf build .pytest_cache .hypothesis
	find . -name __pycache__ -not -path './.venv*' -prune -exec rm -rf {} +

clean-assets:
	rm -rf "$${LLM_RETREAT_HOME:-$$HOME/.cache/llm-retreat}"
