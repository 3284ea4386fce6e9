# Two commands from a fresh clone: `make test` and `make demo`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-test

.PHONY: test demo venv clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip setuptools wheel

# the library declares version ranges (setup.py); the exact versions tested
# here and in CI are pinned in constraints.txt
$(STAMP): setup.py constraints.txt | $(PY)
	$(PY) -m pip install -c constraints.txt -e ".[test]"
	touch $(STAMP)

venv: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest

# the whole flow on synthetic scenes, offline (CPU, or CUDA when present);
# figures and report.md in demo_output/, reused by a second run
demo: $(STAMP)
	$(PY) -m convml_tt demo --out demo_output

clean:
	rm -rf $(VENV) build *.egg-info
