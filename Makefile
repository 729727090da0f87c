# The two commands of the README: `make run` (the main job) and `make test` (the whole suite).
# Both start from nothing: `make setup` creates .venv, installs the pinned requirements and builds
# the workspace with colcon; it is idempotent and takes seconds when nothing changed.

SHELL := /bin/bash
ENV := source tools/env.sh &&

.PHONY: setup run test lint format clean

setup:
	@bash tools/setup_workspace.sh

run: setup
	@$(ENV) python tools/workspace_check.py

test: setup
	@$(ENV) ruff check . && ruff format --check .
	@$(ENV) python -m pytest $(PYTEST_ARGS)

lint: setup
	@$(ENV) ruff check . && ruff format --check .

format: setup
	@$(ENV) ruff check --fix . && ruff format .

clean:
	rm -rf build install log .setup-stamps
