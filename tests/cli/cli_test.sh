#!/usr/bin/env bash
# cli_test.sh -- the CLI suite (tests/cli/*.py, pytest): every `deconflict`
# API command against a real `deconflict serve`, as CTest runs it:
# `bash tests/cli/cli_test.sh BIN [pytest args]` from the repository root.
# The import test loads DCF_CLI_IMPORT_N operations (default 10^4; CTest
# sets 10^5 for the plain build); the measured import rate is printed at
# the end.  Needs
# Debian's python3-pytest and python3-requests; writes nothing into the tree.
set -u
BIN=${1:?usage: cli_test.sh path/to/deconflict [pytest args]}
shift
case $BIN in /*) ;; *) BIN=$PWD/$BIN ;; esac
here=$(cd "$(dirname "$0")" && pwd)
export DCF_BIN=$BIN
export PYTHONDONTWRITEBYTECODE=1
report=$(mktemp); trap 'rm -f "$report"' EXIT
export DCF_CLI_REPORT=$report
cd "$here/../.." || exit 2
timeout -k 10 1800 /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/cli "$@"
rc=$?
cat "$report"
if [ "$rc" -ne 0 ]; then
    echo "cli_test.sh: pytest exited $rc" >&2
    exit 1
fi
