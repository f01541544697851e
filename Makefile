# `make demo` trains the default LT-SNN on the built-in N-Digits events; `make test` runs the tests.
# Both create the virtual environment on first use (CPU PyTorch; no downloads of data or weights).
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python

.PHONY: demo test venv clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "torch==2.13.0"
	$(PY) -m pip install -q -e ".[cli,test,aedat4,detection]"
	touch $@

venv: $(VENV)/.installed

demo: venv
	$(VENV)/bin/ltsnn train configs/ndigits_demo.yaml
	@echo "next: source $(VENV)/bin/activate, then the README's 'Using it' commands (ltsnn --help lists them)"

test: venv
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV) runs
