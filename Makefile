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

.PHONY: help synth test lint typecheck complexity pytest pipeline pipeline-check instance-types local-run local-run-steps local-predict local-drift local-drift-steps bench bench-data snapshots lock clean diff

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 18

synth: $(VENV)/.synth-deps node_modules/.installed ## Install what synth needs, then synthesize every stack into cdk.out/
	$(OFFLINE) $(CDK) synth $(CDK_FLAGS) --quiet
	@ls cdk.out/*.template.json

test: $(VENV)/.dev-deps ## Install everything, then run linters, type checks and the whole test suite
	$(MAKE) --no-print-directory lint typecheck complexity pytest

# Bytecode caching on even where the machine turns it off (PYTHONDONTWRITEBYTECODE): pytest
# then rewrites the test modules' asserts once, not on every run (about 4 s of each run).
pytest: $(VENV)/.dev-deps
	$(OFFLINE) PYTHONDONTWRITEBYTECODE= $(PY) -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.dev-deps ## ruff lint + format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(VENV)/.dev-deps ## mypy (strict)
	$(VENV)/bin/mypy .

# Every function, method and class of the code that ships (tests excluded) stays at radon rank
# B or better (cyclomatic complexity <= 10), every module at B, the average at A.
COMPLEXITY_EXCLUDE := .venv/*,node_modules/*,cdk.out/*,cdk.out.*/*,tests/*,.local-run/*
complexity: $(VENV)/.dev-deps ## Cyclomatic complexity gate (xenon)
	$(VENV)/bin/xenon --max-absolute B --max-modules B --max-average A --exclude "$(COMPLEXITY_EXCLUDE)" .

pipeline: $(VENV)/.dev-deps ## Rebuild the pipeline definition templates with the SageMaker SDK
	$(OFFLINE) $(PY) -m pipeline_code.build_definition

pipeline-check: $(VENV)/.dev-deps ## Fail if the committed definition differs from what the SDK builds now
	$(OFFLINE) $(PY) -m pipeline_code.build_definition --check

instance-types: $(VENV)/.dev-deps ## Refresh config/instance_types.json from botocore's SageMaker API model
	$(PY) tools/sagemaker_instance_types.py

# make's own exit status is 0, 2 when any recipe fails whatever the recipe's status, or 1
# under -q; so a failed gate (3) and a failed step (1) would both end `make local-run` with 2.
# Only a function loaded into make (GNU make's `load`) can end make with another status: the
# C below, compiled once into LOCAL_RUN_STATE when local-run (or local-drift, whose drift
# verdict is exit 4) is the only goal and recipes run
# (not -n, -q, -t), gives make `$(local-run-exit N)`. The run itself is a prerequisite because
# make expands all lines of a recipe before it runs the first. Without `load` or a C compiler,
# make exits 2 on any failure; the code is then in LOCAL_RUN_STATE/exit-code.
LOCAL_RUN_STATE ?= .local-run
LOCAL_RUN_CODE := $(LOCAL_RUN_STATE)/exit-code
LOCAL_RUN_EXIT := $(LOCAL_RUN_STATE)/local_run_exit
define LOCAL_RUN_EXIT_C
#include <stdlib.h>
int plugin_is_GPL_compatible;
typedef char *(*gmk_func_ptr)(const char *, unsigned int, char **);
void gmk_add_function(const char *, gmk_func_ptr, unsigned int, unsigned int, unsigned int);
static char *local_run_exit(const char *name, unsigned int argc, char **argv)
{
	char *end;
	long code = strtol(argv[0], &end, 10);
	(void)name;
	(void)argc;
	if (end != argv[0] && *end == '\0' && code >= 0 && code <= 255)
		exit((int)code);
	return NULL;
}
int local_run_exit_gmk_setup(void)
{
	gmk_add_function("local-run-exit", local_run_exit, 1, 1, 0);
	return 1;
}
endef
EXIT_CODE_GOALS := local-run local-drift
ifeq ($(words $(filter $(MAKECMDGOALS),$(EXIT_CODE_GOALS)))$(words $(MAKECMDGOALS))$(filter load,$(.FEATURES)),11load)
ifeq ($(strip $(foreach flag,n q t,$(findstring $(flag),$(firstword -$(MAKEFLAGS))))),)
ifneq ($(file <$(LOCAL_RUN_EXIT).c),$(LOCAL_RUN_EXIT_C))
LOCAL_RUN_BUILD := $(shell mkdir -p $(LOCAL_RUN_STATE) && rm -f $(LOCAL_RUN_EXIT).so)
$(file >$(LOCAL_RUN_EXIT).c,$(LOCAL_RUN_EXIT_C))
endif
ifeq ($(wildcard $(LOCAL_RUN_EXIT).so),)
LOCAL_RUN_BUILD := $(shell $(CC) -shared -fPIC -o $(LOCAL_RUN_EXIT).so $(LOCAL_RUN_EXIT).c 2>&1)
endif
# make would try to remake a missing object and stop, even with -load.
ifneq ($(wildcard $(LOCAL_RUN_EXIT).so),)
-load $(LOCAL_RUN_EXIT).so
endif
endif
endif
LOCAL_RUN_EXITS := $(filter $(LOCAL_RUN_EXIT).so,$(.LOADED))

local-run: local-run-steps ## Run preprocess, train and evaluate on this machine (ARGS="--input my.csv")
	@$(if $(LOCAL_RUN_EXITS),$(local-run-exit $(file <$(LOCAL_RUN_CODE))))exit $$(cat $(LOCAL_RUN_CODE))

local-run-steps: $(VENV)/.dev-deps
	@mkdir -p $(LOCAL_RUN_STATE) && rm -f $(LOCAL_RUN_CODE)
	@$(PY) -m pipeline_code.local_run $(ARGS); code=$$?; echo $$code > $(LOCAL_RUN_CODE); \
	case $$code in 0) meaning="success";; 1) meaning="a step failed";; \
		2) meaning="bad arguments";; 3) meaning="the gate would fail";; *) meaning="unexpected";; esac; \
	echo "local-run: exit code $$code ($$meaning)$(if $(LOCAL_RUN_EXITS),,; this make exits 2 \
	on any failure, the code is in $(LOCAL_RUN_CODE))"

# Exit codes: 0 no drift, 4 drift, 1 a file is missing or unusable, 2 bad arguments.
LOCAL_DRIFT_CODE := $(LOCAL_RUN_STATE)/drift-exit-code
local-drift: local-drift-steps ## Compare raw rows with the last local run's baseline (ARGS="--input new.csv"); exit 4 on drift
	@$(if $(LOCAL_RUN_EXITS),$(local-run-exit $(file <$(LOCAL_DRIFT_CODE))))exit $$(cat $(LOCAL_DRIFT_CODE))

local-drift-steps: $(VENV)/.dev-deps
	@mkdir -p $(LOCAL_RUN_STATE) && rm -f $(LOCAL_DRIFT_CODE)
	@$(PY) -m pipeline_code.local_drift $(ARGS); code=$$?; echo $$code > $(LOCAL_DRIFT_CODE); \
	case $$code in 0) meaning="no drift";; 4) meaning="drift";; 1) meaning="a file is missing or unusable";; \
		2) meaning="bad arguments";; *) meaning="unexpected";; esac; \
	echo "local-drift: exit code $$code ($$meaning)$(if $(LOCAL_RUN_EXITS),,; this make exits 2 \
	on any failure, the code is in $(LOCAL_DRIFT_CODE))"

local-predict: $(VENV)/.dev-deps ## Score raw rows with the model of the last local run (ARGS="--input rows.csv")
	$(PY) -m pipeline_code.local_predict $(ARGS)

bench: $(VENV)/.dev-deps node_modules/.installed ## Time synth against an empty app, and the test suite (ARGS="--skip-tests --repeats 5")
	$(OFFLINE) $(PY) tools/bench.py $(ARGS)

# Each step of the local run in its own process at 1M and 4M synthetic rows (minutes; not part
# of `make test`); inputs are kept in .bench/data for later runs.
bench-data: $(VENV)/.dev-deps ## Time and measure each local-run step at 1M and 4M rows (ARGS="--rows 200000")
	$(OFFLINE) $(PY) tools/bench_data.py $(ARGS)

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
	$(OFFLINE) $(PY) -m pytest tests/infra --snapshot-update -n 0

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
