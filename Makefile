# One entry point for set-up, the course run and the tests. Each target creates the local
# virtual environment (.venv) first if it is missing, so both work on a fresh machine.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup run test lint lab solutions wheel clean chromium

$(STAMP): pyproject.toml constraints.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e ".[dev]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 > /dev/null
	touch $(STAMP)

setup: $(STAMP)

## run: execute every lab headlessly into build/labs/ and print the summary table
run: $(STAMP)
	$(BIN)/i2dl-lab run

## test: lint (package, tests, notebooks), doctests, unit tests, gradient checks, grader suite,
## every lab notebook (nbval), browser check
test: lint $(STAMP) chromium
	$(BIN)/python -m pytest -q --doctest-modules i2dl_lab
	$(BIN)/python -m pytest -q --nbval-lax tests labs

# The browser test drives Debian's Chromium (Playwright's own browser download cannot work
# offline). Installed when missing and we are root; otherwise that one test is skipped
# outside CI and fails inside it.
chromium:
	@command -v chromium > /dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get > /dev/null && \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium > /dev/null) \
	  || echo "note: chromium not installed; the browser test will be skipped"; }

## lint: ruff over the package, the tests, the notebooks, the benchmarks and scripts
lint: $(STAMP)
	$(BIN)/ruff check i2dl_lab tests labs benchmarks scripts

## lab: a student workspace (i2dl-workspace/, made from the release) in JupyterLab
lab: $(STAMP)
	$(BIN)/i2dl-lab lab i2dl-workspace

## solutions: instructors, the solution notebooks in labs/ in JupyterLab
solutions: $(STAMP)
	$(BIN)/i2dl-lab lab --solutions

## wheel: the student artifacts (wheel and sdist: released notebooks, data, no solutions) in dist/
wheel: $(STAMP)
	$(BIN)/pip wheel --quiet --no-deps --no-build-isolation -w dist .
	$(BIN)/python -c "from setuptools import build_meta as b; b.build_sdist('dist')" > /dev/null

clean:
	rm -rf $(VENV) build dist .pytest_cache
