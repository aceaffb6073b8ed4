# The README's two commands: `make demo` and `make test`. Each creates .venv when it is
# missing and installs the project with pinned versions (constraints.txt) first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test test-timm docs lint typecheck pytest bench clean browser

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check \
		-c constraints.txt -e ".[dev,jax,flax,ray,docs,data]"
	# mup (the reference muP package the tests compare with) declares torchvision and
	# seaborn, which it does not need and the pinned CPU torch cannot take: no deps
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps \
		-c constraints.txt mup==1.0.0
	touch $(STAMP)

# The main job on its built-in default: Glorot & Bengio's 5 x 1000 tanh network under
# their standard and normalized inits, diagnosed, with an HTML report per init. Exit
# status 1 means "problems found", which the standard init is there to show; any other
# status, or a report missing (a crash also exits 1), fails.
demo: $(STAMP)
	$(BIN)/initscope diagnose --out reports/glorot-bengio.html; test $$? -le 1
	test -s reports/glorot-bengio-standard.html && test -s reports/glorot-bengio-normalized.html

test: lint typecheck pytest

# The guide: run every example (docs/examples -> docs/generated), then build the site
# offline into site/ in strict mode (a broken link or reference fails the build).
docs: $(STAMP)
	$(BIN)/python docs/run_examples.py
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet
	@echo "built site/index.html"

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks docs

typecheck: $(STAMP)
	$(BIN)/mypy

# The HTML report is tested in a real browser: Debian's chromium, installed when missing
# and we are root (CI); otherwise the browser tests skip (and fail under CI=true).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else echo "chromium missing and not root: browser tests will be skipped"; fi; }

pytest: $(STAMP) browser
	$(BIN)/python -m pytest

# timm's models, in an environment of their own (constraints-timm.txt says why): CI runs
# it after `make test`.
TIMM_VENV ?= .venv-timm
TIMM_STAMP := $(TIMM_VENV)/.installed-stamp

$(TIMM_STAMP): pyproject.toml constraints-timm.txt
	test -x $(TIMM_VENV)/bin/python || $(PYTHON) -m venv $(TIMM_VENV)
	$(TIMM_VENV)/bin/python -m pip install --quiet --disable-pip-version-check \
		-c constraints-timm.txt torch torchvision timm numpy scipy rich matplotlib pytest \
		hypothesis
	$(TIMM_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(TIMM_STAMP)

test-timm: $(TIMM_STAMP)
	INITSCOPE_TIMM=1 $(TIMM_VENV)/bin/python -m pytest -p no:cacheprovider tests/test_timm.py

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_init.py
	$(BIN)/python benchmarks/bench_model.py
	$(BIN)/python benchmarks/bench_theory.py
	$(BIN)/python benchmarks/bench_diagnose.py
	$(BIN)/python benchmarks/bench_distributed.py
	$(BIN)/python benchmarks/bench_real_models.py

clean:
	rm -rf $(VENV) $(TIMM_VENV) .pytest_cache .mypy_cache .ruff_cache site docs/generated
