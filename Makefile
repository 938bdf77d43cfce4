# The two fresh-machine commands of the README: `make demo` and `make test`.
# `.venv` is built once per pyproject.toml change; system packages arrive via .ci/system-packages.
PY := .venv/bin/python
STAMP := .venv/.installed
AXE := tests/browser/node_modules/.installed

.PHONY: demo test setup lint bench

$(STAMP): pyproject.toml
	bash .ci/system-packages
	python3 -m venv .venv
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# axe-core for the browser tests, from the npm registry as its lock file pins it
$(AXE): tests/browser/package-lock.json
	npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error
	touch $(AXE)

setup: $(STAMP) $(AXE)

demo: $(STAMP)
	.venv/bin/vaxel demo

test: $(STAMP) $(AXE)
	.venv/bin/ruff check .
	.venv/bin/mypy
	.venv/bin/lint-imports
	.venv/bin/pytest

bench: $(STAMP)
	$(PY) bench/bench_router.py
	$(PY) bench/bench_simulator.py
	$(PY) bench/bench_ami.py
	$(PY) bench/bench_controller.py
	$(PY) bench/bench_overload.py
	$(PY) bench/bench_recorded_load.py
	$(PY) bench/bench_mqtt.py
	$(PY) bench/bench_store.py
