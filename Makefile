# Every gate of the project. The first two targets are the README's two commands.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
CDK := node_modules/.bin/cdk

# Synth and tests are offline: no credentials (the CLI would look up the account), no
# telemetry, no notices or version check, the EOL banner of node 20 silenced, and XGBoost's
# OpenMP threads told not to spin (spinning threads slow everything else on a busy machine).
OFFLINE := env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN -u AWS_PROFILE \
	-u AWS_CONTAINER_CREDENTIALS_RELATIVE_URI -u AWS_CONTAINER_CREDENTIALS_FULL_URI \
	AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true \
	CDK_DISABLE_CLI_TELEMETRY=true CDK_DISABLE_VERSION_CHECK=1 \
	JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20 OMP_WAIT_POLICY=PASSIVE
CDK_FLAGS := --no-notices --no-lookups

.PHONY: help synth test lint typecheck pytest pipeline pipeline-check instance-types local-run bench snapshots lock clean diff

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 18

synth: $(VENV)/.synth-deps node_modules/.installed ## Install what synth needs, then synthesize every stack into cdk.out/
	$(OFFLINE) $(CDK) synth $(CDK_FLAGS) --quiet
	@ls cdk.out/*.template.json

test: $(VENV)/.dev-deps ## Install everything, then run linters, type checks and the whole test suite
	$(MAKE) --no-print-directory lint typecheck pytest

pytest: $(VENV)/.dev-deps
	$(OFFLINE) $(PY) -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.dev-deps ## ruff lint + format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(VENV)/.dev-deps ## mypy (strict)
	$(VENV)/bin/mypy .

pipeline: $(VENV)/.dev-deps ## Rebuild the pipeline definition templates with the SageMaker SDK
	$(OFFLINE) $(PY) -m pipeline_code.build_definition

pipeline-check: $(VENV)/.dev-deps ## Fail if the committed definition differs from what the SDK builds now
	$(OFFLINE) $(PY) -m pipeline_code.build_definition --check

instance-types: $(VENV)/.dev-deps ## Refresh config/instance_types.json from botocore's SageMaker API model
	$(PY) tools/sagemaker_instance_types.py

local-run: $(VENV)/.dev-deps ## Run preprocess, train and evaluate on this machine (ARGS="--input my.csv")
	$(PY) -m pipeline_code.local_run $(ARGS)

bench: $(VENV)/.dev-deps node_modules/.installed ## Time synth against an empty app, and the test suite (ARGS="--skip-tests --repeats 5")
	$(OFFLINE) $(PY) tools/bench.py $(ARGS)

# The base is synthesized in a temporary git worktree with this checkout's .venv (so a base
# with other pinned dependencies is synthesized with ours); the head is the working tree,
# uncommitted changes included. Both go to temporary directories: cdk.out is left alone.
# The templates are compared by this checkout's pinned @aws-cdk/cloudformation-diff (npm ci).
BASE ?= main
diff: $(VENV)/.synth-deps node_modules/.installed ## Diff every stack against branch BASE, offline (make diff BASE=main)
	@tmp=$$(mktemp -d); \
	trap 'git worktree remove --force "$$tmp/base" >/dev/null 2>&1; rm -rf "$$tmp"' EXIT; \
	git worktree add --detach --quiet "$$tmp/base" "$(BASE)" && \
	echo "Synthesizing $(BASE) and the working tree..." >&2 && \
	(cd "$$tmp/base" && $(OFFLINE) $(abspath $(CDK)) synth $(CDK_FLAGS) --quiet \
		--app "$(abspath $(PY)) app.py" --output "$$tmp/base.out" >/dev/null) && \
	$(OFFLINE) $(CDK) synth $(CDK_FLAGS) --quiet --output "$$tmp/head.out" >/dev/null && \
	$(PY) tools/cdk_diff.py --base-dir "$$tmp/base.out" --head-dir "$$tmp/head.out" \
		--title "cdk diff: $(BASE) → working tree"

snapshots: $(VENV)/.dev-deps ## Rewrite the template snapshots (on purpose only; review the diff)
	$(OFFLINE) $(PY) -m pytest tests/infra --snapshot-update

lock: $(VENV)/.dev-deps ## Re-pin constraints.txt from the current virtual environment
	@{ echo "# Every package version, transitive ones included. Regenerate with \`make lock\` after"; \
	   echo "# changing a requirements*.txt file, then run \`make test\`."; \
	   $(PIP) freeze --exclude-editable; } > constraints.txt

clean: ## Remove build output (keeps .venv and node_modules)
	rm -rf cdk.out .pytest_cache .mypy_cache .ruff_cache .local-run

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.synth-deps: $(VENV)/bin/python requirements.txt constraints.txt
	$(PIP) install --quiet -r requirements.txt -c constraints.txt
	touch $@

$(VENV)/.dev-deps: $(VENV)/.synth-deps requirements-dev.txt requirements-pipeline.txt
	$(PIP) install --quiet -r requirements-dev.txt -r requirements-pipeline.txt -c constraints.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@
