# Two entry points for a fresh machine with Python 3.11: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
LOCALES := src/tipline/locales

.PHONY: run test install catalogs extract bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

catalogs: $(VENV)/.installed
	$(BIN)/pybabel -q compile -d $(LOCALES) -D tipline

install: $(VENV)/.installed catalogs

run: install
	$(BIN)/python -m bot

test: install
	$(BIN)/ruff check src bot tests bench
	$(BIN)/mypy src/tipline bot
	$(BIN)/python -m pytest

# Re-extract user-facing strings into the template and merge them into each language's catalog.
extract: $(VENV)/.installed
	$(BIN)/pybabel -q extract -F babel.cfg -k N_ -k ngettext:1,2 -c TRANSLATORS: --no-location --sort-output -o $(LOCALES)/tipline.pot src bot
	$(BIN)/pybabel -q update -i $(LOCALES)/tipline.pot -d $(LOCALES) -D tipline --no-fuzzy-matching --ignore-obsolete

bench: install
	$(BIN)/python bench/intake.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
