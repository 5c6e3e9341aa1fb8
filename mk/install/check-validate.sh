#!/bin/sh
# install-check, second half: the installed cpkit-validate, run from outside the kit's
# tree, gives the verdicts and exit statuses of `make validate`.
#   sh mk/install/check-validate.sh BIN_CPKIT_VALIDATE CHECKOUT CACHE_DIR LOG_DIR
cmd=$1 checkout=$2 cache=$3 logs=$4
fail() { echo "install-check: $*" >&2; exit 1; }
version=$(cat "$checkout/VERSION")
got=$("$cmd" --version) || fail "cpkit-validate --version failed"
[ "$got" = "cpkit-validate $version" ] || fail "cpkit-validate --version says '$got', VERSION is $version"

work=$(mktemp -d "${TMPDIR:-/tmp}/cpkit-install-check.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1
export XDG_CACHE_HOME="$cache"

# expect STATUS NAME LOG [ARGS...]: the status, and a report.json in ./cpkit-report/NAME that says it.
expect() {
    want=$1 name=$2 log=$logs/$3.log
    shift 3
    start=$(date +%s)
    "$cmd" "$@" > "$log" 2>&1
    status=$?
    secs=$(( $(date +%s) - start ))
    [ "$status" -eq "$want" ] || { tail -n 30 "$log" >&2; fail "cpkit-validate $* exited $status, not $want (log: $log)"; }
    rep=cpkit-report/$name/report.json
    python3 - "$rep" "$want" "$version" <<'PY' || fail "$rep does not match (log: $log)"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["exit_status"] == int(sys.argv[2]) and r["kit"]["version"] == sys.argv[3], (r["exit_status"], r["kit"])
PY
    args=$(echo "$*" | sed "s|$checkout/||g")
    echo "install-check: cpkit-validate ${args:-(the reference)} -> $status in ${secs} s ($(tail -n 2 "$log" | head -n 1))"
}

expect 0 reference reference
expect 1 completion_port_slots slots "$checkout/conformance/selftest/impls/slots/completion_port_slots.c" \
    --only CPL_RECV_005
expect 0 completion_port_cpal cpal "$checkout/tools/fixtures/cpal_style/completion_port_cpal.c" \
    --only "CPL_CREATE_001 CPL_CREATE_004 CPL_RECV_001 CPL_SEND_001"
