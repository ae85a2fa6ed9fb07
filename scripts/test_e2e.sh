#!/usr/bin/env bash
# End-to-end tests: the real binary driven by real clients (pytest in .venv).
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python -m pytest -v tests "$@"
