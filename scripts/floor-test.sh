#!/usr/bin/env bash
# Prove the dependency floors in pyproject.toml: a venv of its own with every runtime dependency at
# exactly its `>=` floor (the upper bounds are proven by the normal venv, which holds the newest
# allowed versions), the package installed with --no-deps (so nothing can lift a floor), then the
# S3 tests and the patch fence (tests/integration/test_compat_patches.py) against SeaweedFS and moto.
#
# Environment (all optional):
#   PYTHON       interpreter for the venv (default: python3; needs 3.11+ for tomllib)
#   FLOOR_VENV   venv to create/reuse (default: /var/tmp/async-ingest-floor/venv); re-runs reuse it
#                when the floors have not changed, so they only run the tests
#   FLOOR_TESTS  test files to run (default: the S3 tests below)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PYTHON=${PYTHON:-python3}
FLOOR_VENV=${FLOOR_VENV:-/var/tmp/async-ingest-floor/venv}
FLOOR_TESTS=${FLOOR_TESTS:-tests/unit/test_compat_patches.py tests/integration/test_compat_patches.py \
tests/unit/test_s3_session.py tests/integration/test_second_store_moto.py tests/integration/test_checksums_stored.py \
tests/integration/test_resume.py tests/unit/test_api.py tests/integration/test_api.py tests/integration/test_faults.py}
started=$(date +%s)

# The floors (name==version from every `name>=version` runtime dependency) and the test tools
# (the test extra, minus the linters, which do not run here).
read_pyproject() {
    "$PYTHON" - "$ROOT/pyproject.toml" "$1" <<'EOF'
import re
import sys
import tomllib

project = tomllib.load(open(sys.argv[1], "rb"))["project"]
if sys.argv[2] == "floors":
    for requirement in project["dependencies"]:
        spec = requirement.split(";")[0].split("#")[0]
        match = re.match(r"\s*([A-Za-z0-9_.\-]+)(\[[^\]]*\])?\s*(.*)", spec)
        floor = re.search(r">=\s*([^,\s]+)", match.group(3))
        if floor is None:
            sys.exit(f"floor-test: {match.group(1)} has no >= floor in pyproject.toml")
        print(f"{match.group(1)}=={floor.group(1)}")
else:
    skip = ("ruff", "mypy", "types-")
    for requirement in project["optional-dependencies"]["test"]:
        if not requirement.startswith(skip):
            print(requirement)
EOF
}

# pip's output without the warnings about unreachable local index mirrors of some machines.
pip_quiet() {
    "$FLOOR_VENV/bin/python" -m pip "$@" 2>&1 | { grep -v "^WARNING: Location '" || true; }
    return "${PIPESTATUS[0]}"
}

floors=$(read_pyproject floors)
tools=$(read_pyproject tools)
echo "floor-test: floors:" $floors

stamp="$FLOOR_VENV/.floors"
if [[ ! -x "$FLOOR_VENV/bin/python" || "$(cat "$stamp" 2>/dev/null)" != "$floors"$'\n'"$tools" ]]; then
    rm -rf "$FLOOR_VENV"
    mkdir -p "$(dirname "$FLOOR_VENV")"
    "$PYTHON" -m venv "$FLOOR_VENV"
    pip_quiet install -q --upgrade pip
    constraints="$FLOOR_VENV/floors.txt"
    printf '%s\n' $floors >"$constraints"
    # The floors as constraints too: a test tool (moto needs boto3/botocore) cannot lift them.
    # shellcheck disable=SC2086
    pip_quiet install -q -c "$constraints" $floors ${tools//$'\n'/ } setuptools wheel
    printf '%s\n%s' "$floors" "$tools" >"$stamp"
fi
# The package itself (and its C core) without dependencies: only the floors are installed. Built
# from a copy: an editable build would rewrite the C core's .so in the tree, under any run using it.
src="$FLOOR_VENV/src"
rm -rf "$src" && mkdir -p "$src"
cp -r "$ROOT/pyproject.toml" "$ROOT/setup.py" "$ROOT/README.md" "$ROOT/async_ingest" "$src/"
find "$src" \( -name '*.so' -o -name __pycache__ \) -prune -exec rm -rf {} +
pip_quiet install -q --no-deps --no-build-isolation "$src"
"$FLOOR_VENV/bin/python" -m pip check
"$FLOOR_VENV/bin/python" -m pip list 2>/dev/null | grep -iE '^(aioboto3|aiobotocore|botocore|boto3|aiohttp) '

cd "$ROOT"
# shellcheck disable=SC2086
"$FLOOR_VENV/bin/python" -m pytest $FLOOR_TESTS -q -p no:cacheprovider
echo "floor-test: passed in $(($(date +%s) - started)) s"
