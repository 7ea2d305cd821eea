#!/usr/bin/env bash
# The whole test suite, as `make test` runs it: installs the storage emulators
# (built once into the user cache: the first run takes several minutes, later
# runs start in seconds), starts them on loopback ports of their own, runs
# `go test -race` over every package with the emulator suites required (a
# missing emulator fails, never skips), and stops exactly what it started,
# also when the tests fail.
#
# Usage: scripts/test.sh [go test packages...]   (default ./...)
set -euo pipefail
cd "$(dirname "$0")/.."

# Ports and a run folder of its own, so a developer's emulators on the
# standard ports are left alone.
export TIDEMARK_RUN_DIR=${TIDEMARK_RUN_DIR:-$PWD/.run/test}
export TIDEMARK_MINIO_PORT=${TIDEMARK_MINIO_PORT:-19100}
export TIDEMARK_VERSITYGW_PORT=${TIDEMARK_VERSITYGW_PORT:-17170}
export TIDEMARK_GCS_PORT=${TIDEMARK_GCS_PORT:-14543}
export TIDEMARK_AZURITE_PORT=${TIDEMARK_AZURITE_PORT:-20100}
export TIDEMARK_KINESALITE_PORT=${TIDEMARK_KINESALITE_PORT:-14567}

emu=scripts/emulators.sh
start=$(date +%s)
echo "test: installing the emulators (first run only: several minutes of building; cached in ${TIDEMARK_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tidemark})"
bash "$emu" install
echo "test: emulators ready to start after $(( $(date +%s) - start ))s"

trap 'bash "$emu" stop' EXIT
bash "$emu" start
eval "$(bash "$emu" env)"
export TIDEMARK_REQUIRE_EMULATORS=1

if [ $# -eq 0 ]; then set -- ./...; fi
# TIDEMARK_TEST_FLAGS replaces the run flags (make stress: -count=3 -cpu 1,2).
# shellcheck disable=SC2086
go test -race ${TIDEMARK_TEST_FLAGS:--count=1 -timeout 30m} "$@"
