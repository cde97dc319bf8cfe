# shellcheck shell=bash
# Shared helpers for zublk tests (blktests-like).
#
# A test is an executable bash file tests/<group>/NNN that sources this file
# and defines:
#   DESCRIPTION="one line"
#   requires()  optional; prints a reason and returns 1 to skip the test
#   test_main() the test; returns 0 on pass, non-zero (or calls fail) on fail
# The runner (tests/lib/guest-run) runs each test in its own bash process,
# in $TEST_TMP (the repository is read-only in the guest; use $ZUBLK_ROOT
# for its files), and checks dmesg after it.
#
# Environment set by the runner:
#   ZUBLK_ROOT   repository root
#   ZUBLK_CTRL   control node the ramsrv tests use (/dev/ublk-control or
#                /dev/zublk-control); the group is run once per driver
#   TEST_TMP     a fresh scratch directory on tmpfs, removed afterwards

ZUBLK_ROOT=${ZUBLK_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
RAMSRV=$ZUBLK_ROOT/ramsrv/ramsrv
# The module the tests load: tests/run sets it per kernel (build/<release>/drv/
# for a kernel built with 'make KVER=...').
ZUBLK_KO=${ZUBLK_KO:-$ZUBLK_ROOT/drv/zublk.ko}
# The drop-in build (make -C drv DROPIN=1): the same module named ublk_drv.
ZUBLK_DROPIN_KO=$ZUBLK_ROOT/drv/dropin/ublk_drv.ko

# fail MSG: print why the test failed and stop it.
fail() {
	echo "    fail: $*" >&2
	exit 1
}

# info MSG: a progress line, indented under the test's name.
info() {
	echo "    $*"
}

# Requirement helpers: each prints a reason and returns 1 when unmet.
require_cmd() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || { echo "needs command $c"; return 1; }
	done
}

require_module() {
	local m
	for m in "$@"; do
		modinfo "$m" >/dev/null 2>&1 || { echo "kernel has no module $m"; return 1; }
	done
}

require_file() {
	local f
	for f in "$@"; do
		[[ -e $f ]] || { echo "needs $f (not built?)"; return 1; }
	done
}

# require_zublk_ko [RELEASE]: $ZUBLK_KO is built, for RELEASE (default:
# the running kernel).  Under another kernel than the one it was built for
# the tests that load it skip rather than fail.
require_zublk_ko() {
	require_built_ko "$ZUBLK_KO" "$@"
}

# require_built_ko KO [RELEASE]: the module file KO exists, built for
# RELEASE (default: the running kernel).
require_built_ko() {
	local ko=$1 rel=${2:-$(uname -r)} vermagic
	require_file "$ko" || return 1
	vermagic=$(modinfo -F vermagic "$ko" 2>/dev/null)
	vermagic=${vermagic%% *}
	[[ $vermagic == "$rel" ]] || {
		echo "${ko#"$ZUBLK_ROOT"/} is built for ${vermagic:-an unknown kernel}, not $rel"
		return 1
	}
}

# kernel_config: the running kernel's .config (/boot/config-<release>, or
# /lib/modules/<release>/config where Debian's 7.x packages put it), or
# nothing.
kernel_config() {
	local f
	for f in "/boot/config-$(uname -r)" "/lib/modules/$(uname -r)/config"; do
		[[ -f $f ]] && { echo "$f"; return 0; }
	done
	return 1
}

# wait_for TIMEOUT_S CMD...: poll CMD every 0.1 s until it succeeds.
wait_for() {
	local timeout=$1 i
	shift
	for ((i = 0; i < timeout * 10; i++)); do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}

# Load / unload $ZUBLK_KO.
zublk_load() {
	local why
	lsmod | grep -q '^zublk ' && return 0
	# A test without zu_requires still skips under another kernel.
	if [[ -f $ZUBLK_KO ]] && ! why=$(require_zublk_ko); then
		echo "SKIP-REASON: $why"
		exit 77
	fi
	insmod "$ZUBLK_KO" "$@" || fail "insmod zublk.ko $*"
	wait_for 5 test -c /dev/zublk-control || fail "/dev/zublk-control did not appear"
}

zublk_unload() {
	lsmod | grep -q '^zublk ' || return 0
	rmmod zublk || fail "rmmod zublk"
}

# Load the control node's driver for the ramsrv tests.
ctrl_load() {
	case $ZUBLK_CTRL in
	/dev/zublk-control) zublk_load ;;
	*) modprobe ublk_drv || fail "modprobe ublk_drv"
	   wait_for 5 test -c "$ZUBLK_CTRL" || fail "$ZUBLK_CTRL did not appear" ;;
	esac
}

# ctrl_unload: the driver behind $ZUBLK_CTRL must unload now (after a test).
ctrl_unload() {
	case $ZUBLK_CTRL in
	/dev/zublk-control) rmmod zublk || fail "rmmod zublk failed after the test" ;;
	*) rmmod ublk_drv || fail "rmmod ublk_drv failed after the test" ;;
	esac
}

# fio_run ARGS...: fio with output to $TEST_TMP/fio.log, shown on failure.
fio_run() {
	if ! fio --output="$TEST_TMP/fio.log" "$@"; then
		tail -20 "$TEST_TMP/fio.log" >&2
		return 1
	fi
}

# Regex of kernel log lines that fail any test.
DMESG_BAD='(BUG:|WARNING:|Oops|KASAN|INFO: task .* blocked for more than|hung task|possible recursive locking|possible circular locking|inconsistent lock state|lockdep|general protection fault|Kernel panic|UBSAN)'
