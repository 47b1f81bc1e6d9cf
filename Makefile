# Two commands for users: `make book` and `make test`. Both create .venv when missing.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))
NOTEBOOK_SOURCES := $(NOTEBOOKS:.ipynb=.md)
PRESET ?= paper
# cache folder of training runs, relative to the notebooks (their `cache_dir` parameter)
CACHE_DIR ?= _cache

.PHONY: help setup test unit nbval notebooks notebook-sources notebook-inputs equations book sweep browser clean clean-cache

help:
	@echo "make book   - set up .venv, execute every notebook at the $(PRESET) preset, build the HTML book"
	@echo "make test   - set up .venv, run the unit tests and nbval on the committed notebooks"
	@echo "make equations - regenerate book/equations.md (the equation index) from the docstrings (make book does)"
	@echo "make notebook-sources - rewrite each notebooks/NN_x.md (the source as text) from its .ipynb"
	@echo "make notebook-inputs  - copy the edited .md sources into the .ipynb files (outputs kept)"
	@echo "make sweep  - run a papermill parameter sweep (GRID=grids/csi_error.yaml)"
	@echo "make browser - install Chromium for the browser test when missing (needs root and apt-get)"

$(STAMP): pyproject.toml Makefile
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,cluster]'
	@touch $@

setup: $(STAMP)

# Test processes (pytest-xdist): a file's tests, and a notebook's cells, stay on one worker.
WORKERS ?= 2
XDIST := -n $(WORKERS) --dist loadfile

unit: setup
	$(BIN)/python -m pytest $(XDIST) tests

nbval: setup
	$(BIN)/python -m pytest --nbval --nbval-current-env -p no:cacheprovider $(NOTEBOOKS)

test: setup
	$(BIN)/python -m pytest $(XDIST) tests --nbval --nbval-current-env $(NOTEBOOKS)

notebooks: setup
	$(BIN)/python -m cfmimo.notebooks --preset $(PRESET) --cache-dir $(CACHE_DIR) $(NOTEBOOKS)

# Notebook sources as text (jupytext): notebooks/NN_x.md holds the source of notebooks/NN_x.ipynb
# as MyST Markdown; the .ipynb keeps the executed outputs (nbval and the book read it).
# tests/test_notebook_sources.py fails when a pair differs. Each target names its direction
# (jupytext --sync would take whichever file is newer, which a merge or checkout can fool).
# notebook-sources also (re)pairs each .ipynb, reading only the .ipynb: one command after a merge.
notebook-sources: setup
	@for nb in $(NOTEBOOKS); do \
		$(BIN)/jupytext --quiet --update-metadata '{"jupytext": {"formats": "ipynb,md:myst"}}' --to ipynb "$$nb" -o "$$nb" && \
		$(BIN)/jupytext --quiet --to md:myst "$$nb" || exit 1; \
	done

notebook-inputs: setup
	$(BIN)/jupytext --quiet --to ipynb --update $(NOTEBOOK_SOURCES)

# The equation index (book/equations.md) is generated from the docstrings' References sections.
equations: setup
	$(BIN)/python -m cfmimo.equations --errata book/errata.md --output book/equations.md

book: notebooks equations
	$(BIN)/jupyter-book build . -W -n --keep-going

GRID ?= grids/csi_error.yaml
sweep: setup
	$(BIN)/python -m cfmimo.sweep $(GRID)

# The browser test (tests/test_book_browser.py) needs Chromium. As root on Debian/Ubuntu this
# installs it; elsewhere it says what to do. With CI=true a missing Chromium fails `make test`.
browser:
	@if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then \
		echo "Chromium found: $$(command -v chromium || command -v chromium-browser)"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; \
	else \
		echo "Chromium is missing and cannot be installed here (needs root and apt-get)."; \
		echo "Install it yourself (Debian/Ubuntu: sudo apt-get install chromium) to run the browser test."; \
	fi

clean:
	rm -rf _build

clean-cache:
	rm -rf notebooks/$(CACHE_DIR)
