#!/usr/bin/env bash
# Install everything the test suite needs on a fresh Debian 12 machine (as root) and run it.
# Usage: scripts/test.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."

export DEBIAN_FRONTEND=noninteractive
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}

# Keep apt from starting system services (a postinst would otherwise start a cluster).
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
fi

if ! dpkg -s postgresql-15 >/dev/null 2>&1; then
  apt-get update -q
  apt-get install -y -q postgresql-15
fi

# MariaDB for the MySQL store tests (a private server started by tests/servers_mysql.py).
if ! dpkg -s mariadb-server >/dev/null 2>&1; then
  apt-get update -q
  apt-get install -y -q mariadb-server
fi

# Safety rails (issue 4): the HTML report is rendered in headless Chromium by tests/test_reports.py.
if ! dpkg -s chromium >/dev/null 2>&1; then
  apt-get update -q
  apt-get install -y -q --no-install-recommends chromium
fi

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
# The supported MLflow range (pyproject.toml): the whole suite runs with its oldest release, the
# store tests again with its newest, each in a venv of its own.
OLDEST_MLFLOW=3.17.2
NEWEST_MLFLOW=3.18.0
NEWEST_VENV=${NEWEST_VENV:-.venv-newest}
NEWEST_TESTS="tests/contract/test_contract_copy.py tests/test_global_tables.py tests/test_old_revisions.py tests/test_mlflow_range.py"
"$VENV/bin/python" -m pip install -q -e '.[test]' "mlflow==$OLDEST_MLFLOW"

# Artifact tests: Azurite (Azure Blob emulator) from npm, into .ci-node/ (git-ignored); once.
# moto (S3) and gcp-storage-emulator (GCS) come with the pip test extra.
NODE_DIR=${NODE_DIR:-.ci-node}
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  apt-get update -q
  apt-get install -y -q nodejs npm
fi
if [ ! -f "$NODE_DIR/node_modules/azurite/dist/src/blob/main.js" ]; then
  mkdir -p "$NODE_DIR"
  [ -f "$NODE_DIR/package.json" ] || echo '{"private": true}' > "$NODE_DIR/package.json"
  (cd "$NODE_DIR" && npm install --no-audit --no-fund --silent azurite@3.37.0)
fi
export AZURITE_MAIN=${AZURITE_MAIN:-$PWD/$NODE_DIR/node_modules/azurite/dist/src/blob/main.js}

"$VENV/bin/ruff" check src tests benchmarks
"$VENV/bin/mypy"
"$VENV/bin/mypy" tests/contract/store_types.py  # every store class against the contract

# two workers, a test file each at a time (a file's fixtures stay in one worker); each worker
# starts the servers it needs on ports of its own
WORKERS=${PYTEST_WORKERS:-2}
status=0
"$VENV/bin/pytest" -q -n "$WORKERS" --dist loadfile "$@" || status=$?
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests; treating that as a failure" >&2
fi
if [ "$#" -eq 0 ]; then  # the whole suite: the store tests again with the newest MLflow
  if [ ! -x "$NEWEST_VENV/bin/python" ]; then
    "$PYTHON" -m venv "$NEWEST_VENV"
  fi
  # mlflow-skinny alone, as a user beside a light MLflow has it (full mlflow 3.18 needs an
  # mlflow-tracing 3.18 the registry lacks; the MongoDB plugin and `mlflow server`, which the
  # REST kind's tests start, need full mlflow)
  "$NEWEST_VENV/bin/python" -m pip install -q -e '.[all]' "mlflow-skinny==$NEWEST_MLFLOW" \
    pytest pytest-timeout pytest-xdist psutil packaging
  echo "store tests with mlflow-skinny $NEWEST_MLFLOW" >&2
  "$NEWEST_VENV/bin/pytest" -q -p no:cacheprovider -n "$WORKERS" --dist loadfile -k "not mongodb and not rest" \
    $NEWEST_TESTS || status=$?
fi
exit "$status"
