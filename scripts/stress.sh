#!/usr/bin/env bash
# The whole suite on a busy machine, as `make stress` runs it: every test
# three times at GOMAXPROCS 1 and 2 (-count=3 -cpu 1,2), with the race
# detector, the emulators, and one CPU burner per core running beside it. A
# test that passes only on an idle machine fails here: a timing assumption in
# a test is a bug.
#
# Usage: scripts/stress.sh [go test packages...]   (default ./...)
set -euo pipefail
cd "$(dirname "$0")/.."

burners=()
stop_burners() {
	for pid in "${burners[@]}"; do kill "$pid" 2>/dev/null || true; done
}
trap stop_burners EXIT
n=$(nproc 2>/dev/null || echo 2)
echo "stress: starting $n CPU burners beside the suite (-count=3 -cpu 1,2; this takes several times as long as make test)"
for _ in $(seq "$n"); do
	( while :; do :; done ) &
	burners+=($!)
done

TIDEMARK_TEST_FLAGS="-count=3 -cpu 1,2 -timeout 80m" bash scripts/test.sh "$@"
