#!/usr/bin/env bash
# api_test.sh -- the HTTP API suite (tests/api/*.py, pytest) against a real
# `deconflict serve`, as CTest runs it: `bash tests/api/api_test.sh BIN`
# with the repository root as the working directory (extra arguments
# go to pytest, e.g. -k conflicts).  Fails when pytest
# fails (or finds nothing to run).  Needs Debian's python3-pytest and
# python3-requests; writes nothing into the tree (no cache, no bytecode).
set -u
BIN=${1:?usage: api_test.sh path/to/deconflict [pytest args]}
shift
case $BIN in /*) ;; *) BIN=$PWD/$BIN ;; esac
here=$(cd "$(dirname "$0")" && pwd)
export DCF_BIN=$BIN
export PYTHONDONTWRITEBYTECODE=1
cd "$here/../.." || exit 2
# The suite is meant to take under 3 minutes on 2 cores; the limit only
# keeps a hung server from hanging CTest.
timeout -k 10 900 /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/api "$@"
rc=$?
if [ "$rc" -ne 0 ]; then
    echo "api_test.sh: pytest exited $rc" >&2
    exit 1
fi
