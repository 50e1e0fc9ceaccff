# TAP-like reporting for the shell tests (tests/e2e, tests/packaging), sourced by them, and the end
# of a run: a scratch directory $T that is cleaned up and removed on exit, then the summary.
#
# Output: "ok - what"; "not ok - what" followed by "#   detail" lines; "# comment" lines; last
# "# elapsed Ns" and "N passed, M failed". Exit status: 0 every check passed, 1 one failed or the
# run broke, 77 the test cannot run here (then only "SKIP: reason", no summary).

START_TS=$(date +%s)
PASSED=0 FAILED=0
DETAIL=""            # explains the next check if it fails
T=""                 # the scratch directory, once make_temp_dir has made it
TEMP_DIR_CLEANUP=""  # the function make_temp_dir was given
WATCHDOG=""          # the watchdog's PID
WAIT_FOR_STEP=0.25   # seconds between wait_for's tries

log()  { printf '# %s\n' "$*"; }
skip() { printf 'SKIP: %s\n' "$*"; exit 77; }
pass() { PASSED=$((PASSED + 1)); printf 'ok - %s\n' "$1"; }
fail() {   # fail "what" [detail...]
    FAILED=$((FAILED + 1))
    printf 'not ok - %s\n' "$1"
    shift
    local l
    for l in "$@"; do printf '%s\n' "$l" | sed 's/^/#   /'; done
}
# check "what" command...: passes when the command succeeds; $DETAIL explains a failure and is
# cleared, so that it never explains the next check.
check() {
    local what=$1; shift
    if "$@"; then pass "$what"; else fail "$what" "${DETAIL:-}"; fi
    DETAIL=""
}
# wait_for SECONDS COMMAND...: runs COMMAND every WAIT_FOR_STEP seconds until it succeeds, for up
# to SECONDS, then once more; COMMAND's last exit status.
wait_for() {
    local end=$((SECONDS + $1)); shift
    while (( SECONDS < end )); do "$@" && return 0; sleep "$WAIT_FOR_STEP"; done
    "$@"
}
# run_failed STATUS: the run ending with exit status STATUS failed a check or broke (77 is a skip)
run_failed() { (( FAILED > 0 || $1 != 0 )) && (( $1 != 77 )); }
# log_section TITLE: standard input as detail lines under "# ---- TITLE ----" (logs on failure)
log_section() {
    echo "# ---- $1 ----"
    sed 's/^/#   /'
}

# make_temp_dir NAME [CLEANUP]: T=/tmp/NAME.XXXXXX. On exit, also by INT, TERM or the watchdog,
# the function CLEANUP runs first (given the exit status), then T is removed (kept when
# KEEP_TEMP_DIR is 1) and the summary is printed last.
make_temp_dir() {
    TEMP_DIR_CLEANUP=${2:-}
    trap finish_run EXIT
    trap 'exit 1' INT TERM
    T=$(mktemp -d "/tmp/$1.XXXXXX") || { fail "harness: mktemp failed"; exit 1; }
}

finish_run() {
    local rc=$?
    trap - EXIT INT TERM
    set +e
    stop_watchdog
    if [[ -n $T && -d $T ]]; then
        [[ -n $TEMP_DIR_CLEANUP ]] && "$TEMP_DIR_CLEANUP" "$rc"
        if [[ ${KEEP_TEMP_DIR:-0} == 1 ]]; then echo "# kept $T"; else rm -rf --one-file-system "$T"; fi
    fi
    if (( rc != 77 )); then
        (( rc != 0 && FAILED == 0 )) && fail "harness: run aborted (exit $rc)"
        echo "# elapsed $(( $(date +%s) - START_TS ))s"
        echo "$PASSED passed, $FAILED failed"
        (( FAILED > 0 && rc == 0 )) && rc=1
    fi
    exit "$rc"
}

# start_watchdog SECONDS: ends the run like a TERM after SECONDS, so that cleanup still runs.
start_watchdog() {
    local seconds=$1
    (
        trap 'kill "$sp" 2>/dev/null; exit 0' TERM
        sleep "$seconds" & sp=$!
        wait "$sp"
        echo "# watchdog: run exceeded ${seconds}s, aborting"
        kill -TERM $$
    ) &
    WATCHDOG=$!
}
stop_watchdog() {
    [[ -n $WATCHDOG ]] || return 0
    # Wait only for a watchdog still there: bash may have reaped one that fired during a `wait`
    # builtin, and would then wait for it forever.
    kill -TERM "$WATCHDOG" 2>/dev/null && wait "$WATCHDOG" 2>/dev/null
    WATCHDOG=""
}
