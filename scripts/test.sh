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

# Safety rails (issue 4): the HTML report is rendered in headless Chromium by tests/test_reports.py.
if ! dpkg -s chromium >/dev/null 2>&1; then
  apt-get update -q
  apt-get install -y -q --no-install-recommends chromium
fi

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q -e '.[test]'

"$VENV/bin/ruff" check src tests benchmarks
"$VENV/bin/mypy"

status=0
"$VENV/bin/pytest" -q "$@" || status=$?
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests; treating that as a failure" >&2
fi
exit "$status"
