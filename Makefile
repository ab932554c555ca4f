# Set-up and the two main commands. Every target bootstraps .venv first (idempotent:
# a second run installs nothing and never rebuilds a cached mmcv wheel).
PY := .venv/bin/python
METHODS ?= sop,unimatch
SPLIT ?= 1_8
SEEDS ?= 0

.PHONY: bootstrap run test lint clean-venv

bootstrap:
	bash scripts/bootstrap.sh

run: bootstrap
	$(PY) -m benchmark run --methods $(METHODS) --split $(SPLIT) --seeds $(SEEDS)

test: bootstrap
	$(PY) -m pytest -q

lint: bootstrap
	$(PY) -m ruff check benchmark methods tests

clean-venv:
	rm -rf .venv
