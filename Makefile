# patchcompliance: generate, lint and test the CloudFormation templates.
# The first target that needs Python creates .venv and installs the package with its dev extras.

PYTHON_BOOTSTRAP ?= python3
VENV      := .venv
PY        := $(VENV)/bin/python
STAMP     := $(VENV)/.installed
TEMPLATES := templates/patch-compliance.yaml templates/patch-compliance-member.yaml
LINT_REGIONS := us-east-1 eu-west-1 ap-southeast-2 ap-northeast-3 eu-south-1 ap-east-2 ca-west-1

.DEFAULT_GOAL := help
.PHONY: help venv templates check lint test bench clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON_BOOTSTRAP) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

venv: $(STAMP) ## Create the virtualenv and install the package with its dev extras

templates: $(STAMP) ## Write templates/ and the generated tables in README.md and docs/reference.md
	$(PY) generate.py --output-dir templates --docs

check: $(STAMP) ## Fail if templates/ differs from fresh generator output
	$(PY) generate.py --output-dir templates --check

lint: $(STAMP) ## cfn-lint (several regions, informational rules too), checkov and ruff
	$(VENV)/bin/cfn-lint --regions $(LINT_REGIONS) --include-checks I -- $(TEMPLATES)
	CKV_SKIP_PACKAGE_UPDATE_CHECK=true $(VENV)/bin/checkov --quiet --compact --framework cloudformation --skip-download $(addprefix -f ,$(TEMPLATES))
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: $(STAMP) ## Run the whole test suite
	$(PY) -m pytest -n 2

bench: $(STAMP) ## Run every bench/bench_*.py; record each one's output in bench/README.md
	$(PY) bench/report.py

clean: ## Remove the virtualenv and caches (templates/ is committed and kept)
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
