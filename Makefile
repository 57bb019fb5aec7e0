# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PHANTOM := data/phantom
RUN := runs/demo

.PHONY: demo test install clean

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

## Generate the phantom cohort, build and validate its manifest, run every stage.
demo: $(STAMP)
	$(BIN)/avstroke-phantom --out $(PHANTOM)
	$(BIN)/avstroke manifest --layout neuroface $(PHANTOM) --out data_manifest.csv
	$(BIN)/avstroke run --manifest data_manifest.csv --out $(RUN) --workers 2 \
		--targets group:PS-vs-HC,group:3class,score:score_mean_tot,recovery

## Run the test suite.
test: $(STAMP)
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) data runs
