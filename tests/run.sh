#!/usr/bin/env bash
# The README's test command: installs what the tests need (idempotent), then runs the whole suite: tests/
# and the docstring examples of heart_geo/ (testpaths and --doctest-modules in pyproject.toml).
#   bash tests/run.sh [pytest args...]
# Real-data tests read HEART_GEO_DATA (default: ../shared/data beside the checkout).
# Browser tests use Debian's chromium (installed here with apt when missing and when root).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
cd "$here"

if ! command -v chromium >/dev/null 2>&1 && [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "== installing Debian chromium for the browser tests"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends chromium fonts-liberation >/dev/null
  else
    echo "== chromium not found and cannot apt-get install it: browser tests will be skipped"
  fi
fi

echo "== installing heart-geo with its app, notebook and test dependencies"
python -m pip install --quiet --disable-pip-version-check -e ".[dev]"
python -m ipykernel install --user --name python3 >/dev/null 2>&1 || true

if [ -z "${HEART_GEO_DATA:-}" ] && [ -d "$here/../shared/data" ]; then
  export HEART_GEO_DATA="$(cd "$here/../shared/data" && pwd)"
fi
echo "== data folder: ${HEART_GEO_DATA:-(none: real-data tests will be skipped)}"
# derived-data cache kept apart from the user's, fresh for each run
export HEART_GEO_CACHE="${HEART_GEO_CACHE:-$(mktemp -d)/heart-geo-cache}"

python -m pytest "$@"
