# Every target works on a fresh clone with nothing but Python 3.11+: they make .venv and install into it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SOURCES := pyproject.toml $(shell find generator templates site_src -type f -not -name '*.pyc')

.PHONY: demo test fuzz docs docs-serve clean

# setuptools builds in build/lib and reuses what it finds there: clear it, so that a module deleted from
# generator/ is not installed from an earlier build.
INSTALL := rm -rf build/lib build/bdist.* && $(BIN)/python -m pip install --quiet --disable-pip-version-check

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# A real (non-editable) install, so that the demo and the tests run what a user's `pip install` gets.
$(VENV)/.installed-run: $(BIN)/python $(SOURCES)
	$(INSTALL) .
	touch $@

# The tests build the documentation too (tests/test_docs_site.py), so they get the docs extra.
$(VENV)/.installed-test: $(BIN)/python $(SOURCES)
	$(INSTALL) '.[test,docs]'
	touch $@ $(VENV)/.installed-run $(VENV)/.installed-docs

$(VENV)/.installed-docs: $(BIN)/python $(SOURCES)
	$(INSTALL) '.[docs]'
	touch $@ $(VENV)/.installed-run

demo: $(VENV)/.installed-run
	$(BIN)/evalsite demo -o demo

test: $(VENV)/.installed-test
	$(BIN)/pytest

# The fuzz suite's long profile: thousands of mutated inputs per reader (the test command runs a few; see
# tests/fuzzing.py and docs/development.md). EVALSITE_FUZZ_EXAMPLES=N sets the number per test.
fuzz: $(VENV)/.installed-test
	EVALSITE_FUZZ=long $(BIN)/pytest tests/test_fuzz_detection.py tests/test_fuzz_classification.py \
		tests/test_fuzz_documents.py

# The documentation (mkdocs.yml, docs/) as a static site in build/docs-site/; open build/docs-site/index.html.
# The Python API page is generated from the docstrings of the installed package.
docs: $(VENV)/.installed-docs
	$(BIN)/python -m mkdocs build --strict -f mkdocs.yml -d build/docs-site

# The same, served with live reload at http://127.0.0.1:8000/ while you edit docs/.
docs-serve: $(VENV)/.installed-docs
	$(BIN)/python -m mkdocs serve -f mkdocs.yml

clean:
	rm -rf $(VENV) demo build *.egg-info
