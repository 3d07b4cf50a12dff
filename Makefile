# Two commands: `make run` (dev server) and `make test` (lint, types, tests).
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP_RUN := $(VENV)/.installed-run
STAMP_DEV := $(VENV)/.installed-dev

.PHONY: run test lint typecheck pytest bench bench-pki bench-ssh bench-secrets clean system-deps

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP_RUN): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(STAMP_DEV): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(STAMP_RUN)

run: $(STAMP_RUN)
	$(BIN)/tessera server --dev --data-dir $${TESSERA_DATA_DIR:-.tessera-dev}

lint: $(STAMP_DEV)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP_DEV)
	$(BIN)/mypy --strict src

# Debian tools the tests drive as real clients (command:package); installed when absent
# (CI runs as root).
SYSTEM_TOOLS := openssl:openssl ssh-keygen:openssh-client /usr/sbin/sshd:openssh-server git:git /usr/sbin/nginx:nginx
system-deps:
	@for pair in $(SYSTEM_TOOLS); do \
	  command -v $${pair%%:*} >/dev/null || missing="$$missing $${pair##*:}"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get install -y -qq $$missing || { $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq $$missing; }; \
	fi

pytest: $(STAMP_DEV) system-deps
	$(BIN)/pytest -q $(PYTEST_ARGS)

test: lint typecheck pytest

bench: $(STAMP_DEV)
	$(BIN)/python bench/run.py

bench-pki: $(STAMP_DEV)
	$(BIN)/python bench/pki/run.py

bench-ssh: $(STAMP_DEV)
	$(BIN)/python bench/ssh/run.py

bench-secrets: $(STAMP_DEV)
	$(BIN)/python bench/secrets/kv.py
	$(BIN)/python bench/secrets/dbcreds.py
	$(BIN)/python bench/secrets/dbcreds.py --storage postgres

clean:
	rm -rf $(VENV) .tessera-dev .pytest_cache .mypy_cache .ruff_cache
