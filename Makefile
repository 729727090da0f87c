# The two commands of the README: `make run` (the main job) and `make test` (the whole suite).
# Both start from nothing: `make setup` creates .venv, installs the pinned requirements and builds
# the workspace with colcon; it is idempotent and takes seconds when nothing changed.

SHELL := /bin/bash
ENV := source tools/env.sh &&

.PHONY: setup run train test lint format clean

setup:
	@bash tools/setup_workspace.sh

# The main job: the simulated SO-100 driven through ROS by the shipped reach policy (sim node and
# policy node as separate processes, configured from the launch files' own declarations). TASK=pick
# runs the shipped pick-and-lift checkpoint of src/fpo_policy/checkpoints/ instead. Prints the success
# rate and the loop's timing; saves an image strip and the logs under runs/.
RUN_EPISODES ?= 10
TASK ?= reach
run: setup
	@$(ENV) fpo-bringup sim --task $(TASK) --episodes $(RUN_EPISODES) --camera --seconds 600

# FPO on the simulated reach task with fpo-train, as the shipped checkpoint was trained
# (src/fpo_policy/checkpoints/README.md): progress bar, then TRAIN_OUT/metrics.csv, curve.png and
# checkpoints/latest.safetensors. `make train TRAIN_STEPS=20000` for a short look.
TRAIN_STEPS ?= 300000
TRAIN_OUT ?= runs/reach_fpo
train: setup
	@$(ENV) fpo-train --env fpo_sim.envs:SO100Reach-v1 --total-steps $(TRAIN_STEPS) --num-envs 8 --seed 1 \
		--fpo.gamma 0.95 --eval-every 25000 --eval-episodes 20 --out $(TRAIN_OUT)

test: setup
	@$(ENV) ruff check . && ruff format --check .
	@$(ENV) python -m pytest $(PYTEST_ARGS)

lint: setup
	@$(ENV) ruff check . && ruff format --check .

format: setup
	@$(ENV) ruff check --fix . && ruff format .

clean:
	rm -rf build install log .setup-stamps
