#!/usr/bin/env bash
# Builds the `rados` Python module and runs its pytest suite, with every step of set-up done
# here so it works on a fresh machine: a venv (target/py-venv) with maturin and pytest from
# PyPI, the module built by maturin and installed into it, then pytest on an embedded cluster
# in a temporary directory.
#
#   bash bindings/python/run-tests.sh [PYTEST ARGS...]
#
# Environment:
#   RADOS_PY_PROFILE=release  build optimised (default: cargo's dev profile, which reuses what
#                             `cargo test --workspace` already compiled: seconds, not minutes)
#   RADOS_TEST_CONFFILE=FILE  run the suite against the cluster FILE names instead
#   RADOS_PY_VENV=DIR         the venv (default: target/py-venv)
#   PYTHON=python3            the interpreter the venv is made from (CPython 3.9 or later)
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
venv=${RADOS_PY_VENV:-$root/target/py-venv}
profile=${RADOS_PY_PROFILE:-dev}

step() { printf '\n== %s\n' "$*"; }

if [ ! -x "$venv/bin/python" ]; then
  step "creating the venv $venv"
  "${PYTHON:-python3}" -m venv "$venv"
fi
step "maturin and pytest"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "maturin>=1.9.4,<2" "pytest>=7"

step "building and installing the module (profile $profile)"
(
  cd bindings/python
  VIRTUAL_ENV=$venv PATH="$venv/bin:$PATH" "$venv/bin/maturin" develop --profile "$profile"
)

step "pytest"
basetemp=$(mktemp -d "${TMPDIR:-/tmp}/rados-py-tests.XXXXXX")
trap 'rm -rf "$basetemp"' EXIT
"$venv/bin/python" -m pytest bindings/python/tests -q -p no:cacheprovider \
  --basetemp "$basetemp" "$@"
