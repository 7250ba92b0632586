#!/usr/bin/env bash
# Run the test suite (after scripts/setup.sh). Extra arguments go to pytest, e.g.
#   ./scripts/test.sh -m "not slow"     # the quick subset
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python -m pytest "$@"
