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

## Generate the phantom cohort, build and validate its manifest, run every stage with landmarks
## adapted to each subject's manually annotated first-visit frames. No cohort model: the phantom's
## identities are warps of one photo, so subjects held out would not be unseen faces. Two folds,
## 10 starting shapes and 25 trees keep the demo within ten minutes (README, Performance).
demo: $(STAMP)
	$(BIN)/avstroke-phantom --out $(PHANTOM)
	$(BIN)/avstroke manifest --layout neuroface $(PHANTOM) --out data_manifest.csv
	$(BIN)/avstroke run --manifest data_manifest.csv --out $(RUN) --workers 2 \
		--adapt --no-cohort-model --subject-folds 2 --oversampling 10 --trees 25 \
		--targets group:PS-vs-HC,group:3class,score:score_mean_tot,recovery

## Run the test suite.
test: $(STAMP)
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) data runs
