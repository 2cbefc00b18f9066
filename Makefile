# Both targets work on a fresh clone with nothing but Python 3.11+: they make .venv and install into it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SOURCES := pyproject.toml $(shell find generator templates site_src -type f -not -name '*.pyc')

.PHONY: demo test clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# A real (non-editable) install, so that the demo and the tests run what a user's `pip install` gets.
$(VENV)/.installed-run: $(BIN)/python $(SOURCES)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check .
	touch $@

$(VENV)/.installed-test: $(BIN)/python $(SOURCES)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check '.[test]'
	touch $@ $(VENV)/.installed-run

demo: $(VENV)/.installed-run
	$(BIN)/evalsite demo -o demo

test: $(VENV)/.installed-test
	$(BIN)/pytest

clean:
	rm -rf $(VENV) demo build *.egg-info
