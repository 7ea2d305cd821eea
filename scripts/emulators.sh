#!/usr/bin/env bash
# emulators.sh: install, start and stop the storage and Kinesis emulators natively (no Docker).
#
# Usage: scripts/emulators.sh COMMAND [NAME...]
#   install [NAME...]  build/install pinned versions into the user cache (once per version)
#   start   [NAME...]  start on 127.0.0.1 (installs first if needed), wait until ready
#   stop    [NAME...]  stop the processes recorded in the PID files (idempotent)
#   status  [NAME...]  show which are installed / running
#   env                print the export lines the tests read:  eval "$(scripts/emulators.sh env)"
# NAME: minio, versitygw, fake-gcs-server, azurite, kinesalite (default: all five).
# Every start begins with empty storage. Emulators listen on 127.0.0.1 only and are
# stopped by the PIDs recorded at start, never by name.
#
# Environment:
#   TIDEMARK_TOOLS_DIR      install root (default ${XDG_CACHE_HOME:-$HOME/.cache}/tidemark)
#   TIDEMARK_RUN_DIR        data dirs, logs, PID files (default <repo>/.run)
#   TIDEMARK_MINIO_PORT     default 9000 (console on TIDEMARK_MINIO_CONSOLE_PORT, default port+1)
#   TIDEMARK_VERSITYGW_PORT default 7070
#   TIDEMARK_GCS_PORT       default 4443
#   TIDEMARK_AZURITE_PORT   default 10000
#   TIDEMARK_KINESALITE_PORT default 4567 (Kinesis)
#   TIDEMARK_EMULATOR_TIMEOUT  readiness timeout in seconds (default 60)
#   TIDEMARK_EMULATOR_VERBOSE=1  keep per-request logs (fake-gcs-server, Azurite --debug)
set -euo pipefail

readonly ALL_NAMES=(minio versitygw fake-gcs-server azurite kinesalite)

readonly MINIO_PKG=github.com/minio/minio
readonly MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
readonly VERSITYGW_PKG=github.com/versity/versitygw/cmd/versitygw
readonly VERSITYGW_VERSION=v1.8.0
readonly GCS_PKG=github.com/fsouza/fake-gcs-server
readonly GCS_VERSION=v1.56.1
readonly AZURITE_PKG=azurite
readonly AZURITE_VERSION=3.35.0
readonly KINESALITE_PKG=kinesalite
readonly KINESALITE_VERSION=3.3.3

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$SCRIPT_DIR/.." && pwd)
TOOLS_DIR=${TIDEMARK_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tidemark}
RUN_DIR=${TIDEMARK_RUN_DIR:-$REPO_DIR/.run}

MINIO_PORT=${TIDEMARK_MINIO_PORT:-9000}
MINIO_CONSOLE_PORT=${TIDEMARK_MINIO_CONSOLE_PORT:-$((MINIO_PORT + 1))}
VERSITYGW_PORT=${TIDEMARK_VERSITYGW_PORT:-7070}
GCS_PORT=${TIDEMARK_GCS_PORT:-4443}
AZURITE_PORT=${TIDEMARK_AZURITE_PORT:-10000}
KINESALITE_PORT=${TIDEMARK_KINESALITE_PORT:-4567}
READY_TIMEOUT=${TIDEMARK_EMULATOR_TIMEOUT:-60}
VERBOSE=${TIDEMARK_EMULATOR_VERBOSE:-0}

log() { printf 'emulators: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# ---------------------------------------------------------------- per-emulator facts

version_of() {
	case $1 in
	minio) echo "$MINIO_VERSION" ;;
	versitygw) echo "$VERSITYGW_VERSION" ;;
	fake-gcs-server) echo "$GCS_VERSION" ;;
	azurite) echo "$AZURITE_VERSION" ;;
	kinesalite) echo "$KINESALITE_VERSION" ;;
	*) die "unknown emulator '$1' (want one of: ${ALL_NAMES[*]})" ;;
	esac
}

# Rough first-build durations measured on a 2-core machine.
build_estimate() {
	case $1 in
	minio) echo "about 4 minutes" ;;
	versitygw) echo "about 2 minutes" ;;
	fake-gcs-server) echo "about 3-4 minutes" ;;
	azurite) echo "about 40 seconds" ;;
	kinesalite) echo "about 10 seconds" ;;
	esac
}

install_dir() { echo "$TOOLS_DIR/$1-$(version_of "$1")"; }

# Path of the executable relative to the install directory.
binary_rel() {
	case $1 in
	minio | versitygw | fake-gcs-server) echo "bin/$1" ;;
	azurite) echo "node_modules/.bin/azurite-blob" ;;
	kinesalite) echo "node_modules/.bin/kinesalite" ;;
	esac
}

binary_of() { echo "$(install_dir "$1")/$(binary_rel "$1")"; }

port_of() {
	case $1 in
	minio) echo "$MINIO_PORT" ;;
	versitygw) echo "$VERSITYGW_PORT" ;;
	fake-gcs-server) echo "$GCS_PORT" ;;
	azurite) echo "$AZURITE_PORT" ;;
	kinesalite) echo "$KINESALITE_PORT" ;;
	esac
}

is_installed() { [[ -f "$(install_dir "$1")/.installed" && -x "$(binary_of "$1")" ]]; }

# Sets NAMES to the requested emulators (all when none given), validating each.
NAMES=()
resolve_names() {
	local n
	NAMES=()
	if (($# == 0)); then
		NAMES=("${ALL_NAMES[@]}")
		return
	fi
	for n in "$@"; do
		case $n in
		minio | versitygw | fake-gcs-server | azurite | kinesalite) NAMES+=("$n") ;;
		*) die "unknown emulator '$n' (want one of: ${ALL_NAMES[*]})" ;;
		esac
	done
}

# ---------------------------------------------------------------- install

# build_into NAME TMPDIR: installs NAME into TMPDIR (which becomes install_dir on success).
build_into() {
	local name=$1 tmp=$2
	case $name in
	minio | versitygw | fake-gcs-server)
		command -v go >/dev/null || die "go is not on PATH (needed to build $name)"
		local pkg
		case $name in
		minio) pkg=$MINIO_PKG ;;
		versitygw) pkg=$VERSITYGW_PKG ;;
		fake-gcs-server) pkg=$GCS_PKG ;;
		esac
		# Run outside the repo so its go.mod/go.work play no part; GOFLAGS from the
		# environment (e.g. -buildvcs=false) is passed through untouched.
		(cd "$tmp" && GOBIN="$tmp/bin" GOWORK=off go install "$pkg@$(version_of "$name")")
		;;
	azurite | kinesalite)
		command -v npm >/dev/null || die "npm is not on PATH (needed to install $name)"
		local pkg
		case $name in
		azurite) pkg=$AZURITE_PKG ;;
		kinesalite) pkg=$KINESALITE_PKG ;;
		esac
		(cd "$tmp" && npm install --prefix "$tmp" --no-audit --no-fund --loglevel=error \
			--no-save "$pkg@$(version_of "$name")" >&2)
		;;
	esac
}

# Build directory of an install in progress, removed if the script exits early.
BUILD_TMP=
trap '[[ -z $BUILD_TMP ]] || rm -rf "$BUILD_TMP"' EXIT

install_one() {
	local name=$1 dir lock tmp start
	dir=$(install_dir "$name")
	if is_installed "$name"; then
		log "$name $(version_of "$name") already installed in $dir"
		return 0
	fi
	mkdir -p "$TOOLS_DIR"
	lock="$TOOLS_DIR/.$name-$(version_of "$name").lock"
	# Serialise concurrent installs of the same emulator; the loser finds it installed.
	exec {lock_fd}>"$lock"
	if ! flock -n "$lock_fd"; then
		log "another install of $name is running; waiting for it..."
		flock "$lock_fd"
	fi
	if is_installed "$name"; then
		log "$name $(version_of "$name") already installed in $dir"
		exec {lock_fd}>&-
		return 0
	fi
	log "building $name $(version_of "$name") (first run only, $(build_estimate "$name"))..."
	start=$SECONDS
	tmp=$(mktemp -d "$TOOLS_DIR/.tmp-$name.XXXXXX")
	BUILD_TMP=$tmp
	if ! build_into "$name" "$tmp"; then
		rm -rf "$tmp"
		exec {lock_fd}>&-
		die "installing $name failed (see the output above)"
	fi
	[[ -x "$tmp/$(binary_rel "$name")" ]] ||
		{ rm -rf "$tmp"; exec {lock_fd}>&-; die "install of $name produced no binary"; }
	chmod 755 "$tmp"
	date -u +%FT%TZ >"$tmp/.installed"
	rm -rf "$dir" # a stale, incomplete directory (no marker) from an older layout
	mv "$tmp" "$dir"
	BUILD_TMP=
	exec {lock_fd}>&-
	log "$name installed in $((SECONDS - start))s ($dir)"
}

cmd_install() {
	local name
	resolve_names "$@"
	for name in "${NAMES[@]}"; do
		install_one "$name"
	done
}

# ---------------------------------------------------------------- start / stop

pid_file() { echo "$RUN_DIR/$1.pid"; }
log_file() { echo "$RUN_DIR/$1.log"; }
data_dir() { echo "$RUN_DIR/$1"; }

# True while the session/process group led by PID (we start each emulator with setsid)
# has a live member; zombies waiting to be reaped do not count.
group_alive() {
	local st
	if st=$(ps -o stat= -s "$1" 2>/dev/null); then
		grep -qv '^Z' <<<"$st"
	else
		kill -0 -- "-$1" 2>/dev/null
	fi
}

# True when something accepts TCP connections on 127.0.0.1:PORT.
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Prints the PID recorded for NAME if that process group is still alive and its
# leader (when alive) is the binary we started; otherwise prints nothing.
running_pid() {
	local f pid bin args
	f=$(pid_file "$1")
	[[ -f $f ]] || return 0
	{ read -r pid && read -r bin; } <"$f" || true
	[[ ${pid:-} =~ ^[0-9]+$ ]] || return 0
	group_alive "$pid" || return 0
	if args=$(ps -o args= -p "$pid" 2>/dev/null); then
		[[ -n ${bin:-} && $args == *"$bin"* ]] || return 0
	fi
	echo "$pid"
}

# HTTP status of GET URL ("000" when nothing answers).
http_code() {
	curl --noproxy '*' -s -o /dev/null -m 2 -w '%{http_code}' "$1" 2>/dev/null || true
}

is_ready() {
	local port code
	port=$(port_of "$1")
	case $1 in
	minio) code=$(http_code "http://127.0.0.1:$port/minio/health/ready") ;;
	versitygw) code=$(http_code "http://127.0.0.1:$port/health") ;;
	fake-gcs-server) code=$(http_code "http://127.0.0.1:$port/_internal/healthcheck") ;;
	azurite)
		code=$(http_code "http://127.0.0.1:$port/")
		[[ $code != 000 ]] && code=200
		;;
	kinesalite)
		# A real API call: ListStreams answers 200 {"StreamNames":[...],...}. kinesalite
		# wants an Authorization header of the right shape and a date, not a valid signature.
		local body
		code=000
		body=$(curl --noproxy '*' -sf -m 2 -X POST \
			-H 'X-Amz-Target: Kinesis_20131202.ListStreams' \
			-H 'Content-Type: application/x-amz-json-1.1' \
			-H 'X-Amz-Date: 20260101T000000Z' \
			-H 'Authorization: AWS4-HMAC-SHA256 Credential=tidemark/20260101/us-east-1/kinesis/aws4_request, SignedHeaders=host, Signature=abc' \
			--data '{}' "http://127.0.0.1:$port/" 2>/dev/null) || body=
		[[ $body == *'"StreamNames"'* ]] && code=200
		;;
	esac
	[[ $code == 200 ]]
}

# launch_args NAME ARRAY: sets ARRAY (by name) to the emulator's command line.
launch_args() {
	local name=$1 port dir
	local -n out=$2
	port=$(port_of "$name")
	dir=$(data_dir "$name")
	case $name in
	minio)
		out=(env MINIO_ROOT_USER=minioadmin MINIO_ROOT_PASSWORD=minioadmin MINIO_BROWSER=off
			"$(binary_of minio)" server "$dir/data"
			--address "127.0.0.1:$port" --console-address "127.0.0.1:$MINIO_CONSOLE_PORT" --quiet)
		;;
	versitygw)
		out=(env ROOT_ACCESS_KEY_ID=tidemark ROOT_SECRET_ACCESS_KEY=tidemarksecret
			"$(binary_of versitygw)" --port "127.0.0.1:$port" --health /health posix "$dir/data")
		;;
	fake-gcs-server)
		out=("$(binary_of fake-gcs-server)" -scheme http -host 127.0.0.1 -port "$port"
			-backend memory -data "$dir/data" -filesystem-root "$dir/fs"
			-public-host "127.0.0.1:$port" -external-url "http://127.0.0.1:$port")
		# it logs every request at info level (tens of MB per test run)
		[[ $VERBOSE == 1 ]] || out+=(-log-level warn)
		;;
	azurite)
		# Azurite's blob garbage collection runs every 10 minutes and pins a
		# core for minutes on a loaded machine, stalling every request (seen
		# in make stress). A test instance lives for one run and keeps its
		# data in memory: the launcher starts it with that pass once a day.
		local main
		main=$(install_dir azurite)/node_modules/azurite/dist/src/blob/main.js
		cat >"$dir/launch.js" <<-JS
			// Written by scripts/emulators.sh: Azurite without its 10-minute GC pass.
			require("$(dirname "$main")/utils/constants.js").DEFAULT_GC_INTERVAL_MS = 24 * 3600 * 1000;
			require("$main");
		JS
		out=(node "$dir/launch.js" --blobHost 127.0.0.1 --blobPort "$port"
			--inMemoryPersistence --skipApiVersionCheck --loose --disableTelemetry)
		# Azurite rejects --location together with --inMemoryPersistence; it runs with its
		# run dir as working directory instead, so nothing lands in the repository.
		if [[ $VERBOSE == 1 ]]; then
			out+=(--debug "$dir/debug.log")
		else
			out+=(--silent) # no per-request access log
		fi
		;;
	kinesalite)
		# kinesalite's CLI has no host option and listens on every interface; the
		# launcher does what its cli.js does (same options, parsed by the same
		# minimist) but listens on 127.0.0.1. No --path: the store is in memory.
		local mod
		mod=$(install_dir kinesalite)/node_modules/kinesalite
		# kinesalite throws from a request's 'error' event (index.js: req.on('error',
		# function(err) { throw err })), so one client that aborts a request while its
		# body is still being read (a cancelled context, seen under make stress) kills
		# the whole emulator. The launcher survives exactly that error and no other.
		cat >"$dir/launch.js" <<-JS
			// Written by scripts/emulators.sh: kinesalite's cli.js, listening on 127.0.0.1 only,
			// surviving clients that abort a request (kinesalite rethrows their ECONNRESET).
			process.on("uncaughtException", function (err) {
			  if (err && err.code === "ECONNRESET") {
			    console.error("kinesalite: a client aborted a request (" + err.message + "); going on");
			    return;
			  }
			  console.error(err && err.stack || err);
			  process.exit(1);
			});
			var mod = "$mod";
			var argv = require(require.resolve("minimist", { paths: [mod] }))(process.argv.slice(2));
			var server = require(mod)(argv).listen(argv.port || 4567, "127.0.0.1", function () {
			  var a = server.address();
			  console.log("Listening at http://%s:%s", a.address, a.port);
			});
		JS
		out=(node "$dir/launch.js" --port "$port"
			--createStreamMs 0 --deleteStreamMs 0 --updateStreamMs 0 --shardLimit 1000)
		;;
	esac
}

# stop_pid NAME PID: TERM the process group, KILL it if still there after 5 s.
stop_pid() {
	local name=$1 pid=$2 i
	kill -TERM -- "-$pid" 2>/dev/null || true
	for ((i = 0; i < 50; i++)); do
		group_alive "$pid" || break
		sleep 0.1
	done
	if group_alive "$pid"; then
		log "$name (pid $pid) ignored SIGTERM for 5s; sending SIGKILL"
		kill -KILL -- "-$pid" 2>/dev/null || true
		for ((i = 0; i < 20; i++)); do
			group_alive "$pid" || break
			sleep 0.1
		done
	fi
}

start_one() {
	local name=$1 port pid f logf dir bin i deadline
	local -a args=()
	port=$(port_of "$name")
	f=$(pid_file "$name")
	logf=$(log_file "$name")
	dir=$(data_dir "$name")
	bin=$(binary_of "$name")

	pid=$(running_pid "$name")
	if [[ -n $pid ]]; then
		if is_ready "$name"; then
			log "$name already running (pid $pid) on 127.0.0.1:$port"
			return 0
		fi
		log "$name (pid $pid) is recorded as running but not ready; restarting it"
		stop_pid "$name" "$pid"
	fi
	rm -f "$f"

	# (MinIO's console port is not checked: with MINIO_BROWSER=off it is never bound.)
	if port_in_use "$port"; then
		die "cannot start $name: 127.0.0.1:$port is already in use by a process this script did not start (see: ss -ltnp 'sport = :$port'). Stop it, or choose another port with $(port_env "$name")=NNNN"
	fi

	# Each start begins with empty storage, like the in-memory emulators.
	rm -rf "$dir"
	mkdir -p "$dir/data"
	launch_args "$name" args
	# What the PID file records to recognise the process later: its command
	# line must contain it. Azurite and kinesalite run through their launchers.
	[[ $name == azurite || $name == kinesalite ]] && bin=$dir/launch.js

	log "starting $name on 127.0.0.1:$port (log: $logf)"
	# setsid gives the emulator its own session and process group; the inner shell
	# records its own PID (the group leader) before exec'ing the emulator.
	# shellcheck disable=SC2016 # expanded by the inner shell
	(
		[[ -n $run_lock_fd ]] && exec {run_lock_fd}>&-
		cd "$dir" && exec setsid bash -c 'printf "%s\n%s\n" "$$" "$1" >"$0.tmp" && mv "$0.tmp" "$0" && shift && exec "$@"' \
			"$f" "$bin" "${args[@]}" </dev/null >"$logf" 2>&1
	) &

	deadline=$((SECONDS + READY_TIMEOUT))
	for ((i = 0; i < 50; i++)); do
		[[ -f $f ]] && break
		sleep 0.1
	done
	[[ -f $f ]] || { start_failed "$name" "" "it did not record a PID"; }
	pid=$(head -n1 "$f")
	while ((SECONDS < deadline)); do
		if is_ready "$name"; then
			log "$name ready on http://127.0.0.1:$port (pid $pid)"
			return 0
		fi
		if ! group_alive "$pid"; then
			start_failed "$name" "" "it exited during startup"
		fi
		sleep 0.2
	done
	start_failed "$name" "$pid" "it was not ready within ${READY_TIMEOUT}s"
}

# start_failed NAME PID REASON: print the log tail, stop what we started, exit 1.
start_failed() {
	local name=$1 pid=$2 reason=$3
	log "$name failed to start: $reason. Last lines of $(log_file "$name"):"
	tail -n 30 "$(log_file "$name")" >&2 || true
	[[ -n $pid ]] && stop_pid "$name" "$pid"
	rm -f "$(pid_file "$name")"
	exit 1
}

port_env() {
	case $1 in
	minio) echo TIDEMARK_MINIO_PORT ;;
	versitygw) echo TIDEMARK_VERSITYGW_PORT ;;
	fake-gcs-server) echo TIDEMARK_GCS_PORT ;;
	azurite) echo TIDEMARK_AZURITE_PORT ;;
	kinesalite) echo TIDEMARK_KINESALITE_PORT ;;
	esac
}

# Serialises start/stop against concurrent invocations sharing the run dir. The fd is
# closed in every emulator we launch, so the lock ends with this script.
run_lock_fd=
lock_run_dir() {
	mkdir -p "$RUN_DIR"
	exec {run_lock_fd}>"$RUN_DIR/.emulators.lock"
	if ! flock -n "$run_lock_fd"; then
		log "another start/stop is using $RUN_DIR; waiting (up to 5 minutes)..."
		flock -w 300 "$run_lock_fd" || die "timed out waiting for the lock on $RUN_DIR/.emulators.lock"
	fi
}

cmd_start() {
	local name
	resolve_names "$@"
	command -v curl >/dev/null || die "curl is required (readiness checks)"
	command -v setsid >/dev/null || die "setsid (util-linux) is required"
	for name in "${NAMES[@]}"; do
		is_installed "$name" || install_one "$name"
	done
	lock_run_dir
	for name in "${NAMES[@]}"; do
		start_one "$name"
	done
}

cmd_stop() {
	local name pid f
	resolve_names "$@"
	[[ -d $RUN_DIR ]] || return 0
	lock_run_dir
	for name in "${NAMES[@]}"; do
		f=$(pid_file "$name")
		[[ -f $f ]] || continue
		pid=$(running_pid "$name")
		if [[ -n $pid ]]; then
			log "stopping $name (pid $pid)"
			stop_pid "$name" "$pid"
		else
			log "$name was not running (removing stale PID file)"
		fi
		rm -f "$f"
	done
}

cmd_status() {
	local name pid state inst
	resolve_names "$@"
	printf '%-16s %-40s %s\n' NAME INSTALLED RUNNING
	for name in "${NAMES[@]}"; do
		if is_installed "$name"; then inst=$(version_of "$name"); else inst="no ($(version_of "$name"))"; fi
		pid=$(running_pid "$name")
		if [[ -n $pid ]]; then
			state="pid $pid, 127.0.0.1:$(port_of "$name")"
			is_ready "$name" || state+=" (not answering)"
		elif [[ -f $(pid_file "$name") ]]; then
			state="no (stale PID file)"
		else
			state=no
		fi
		printf '%-16s %-40s %s\n' "$name" "$inst" "$state"
	done
	printf 'tools: %s\nrun:   %s\n' "$TOOLS_DIR" "$RUN_DIR"
}

cmd_env() {
	local key='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='
	cat <<ENV
export TIDEMARK_MINIO_ENDPOINT=http://127.0.0.1:$MINIO_PORT
export TIDEMARK_MINIO_ACCESS_KEY=minioadmin
export TIDEMARK_MINIO_SECRET_KEY=minioadmin
export TIDEMARK_VERSITYGW_ENDPOINT=http://127.0.0.1:$VERSITYGW_PORT
export TIDEMARK_VERSITYGW_ACCESS_KEY=tidemark
export TIDEMARK_VERSITYGW_SECRET_KEY=tidemarksecret
export STORAGE_EMULATOR_HOST=127.0.0.1:$GCS_PORT
export TIDEMARK_AZURITE_CONNECTION_STRING='DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=$key;BlobEndpoint=http://127.0.0.1:$AZURITE_PORT/devstoreaccount1;'
export TIDEMARK_KINESIS_ENDPOINT=http://127.0.0.1:$KINESALITE_PORT
ENV
}

# ---------------------------------------------------------------- main

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}" >&2; }

main() {
	local cmd=${1:-}
	(($# > 0)) && shift
	case $cmd in
	install) cmd_install "$@" ;;
	start) cmd_start "$@" ;;
	stop) cmd_stop "$@" ;;
	status) cmd_status "$@" ;;
	env) cmd_env ;;
	-h | --help | help) usage ;;
	*)
		usage
		exit 2
		;;
	esac
}

main "$@"; exit
