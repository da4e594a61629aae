#!/usr/bin/env bash
# The reader fuzz suite (tests/test_fuzz_readers.py) with a larger budget than CI's 40
# examples per reader and mode: ./benchmarks/fuzz_readers.sh [EXAMPLES, default 2000].
# It prints pytest's summary; a failure shows hypothesis's smallest failing input.
set -euo pipefail
cd "$(dirname "$0")/.."
PMGEN_FUZZ_EXAMPLES="${1:-2000}" exec .venv/bin/python -m pytest -q -p no:cacheprovider \
    tests/test_fuzz_readers.py
