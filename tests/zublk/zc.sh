# shellcheck shell=bash
# Helpers for the PIN_BUF / STORE / counter tests (tests/zublk/020-029),
# sourced after tests/lib/common.sh and tests/zublk/lib.sh.  They drive
# tests/progs/zublk-zc, a one-queue server whose copies and pins are known.

ZC=$ZUBLK_ROOT/tests/progs/zublk-zc

# zc_requires: zublk.ko, zublk-zc and a mounted debugfs.
zc_requires() {
	zu_requires && require_file "$ZC" || return 1
	grep -qw debugfs /proc/mounts || { echo "needs debugfs mounted"; return 1; }
}

# zc_serve ARGS...: start "zublk-zc serve ARGS" in the background; sets
# ZC_PID, ZC_ID and ZC_DEV once the device is started.
zc_serve() {
	: >"$TEST_TMP/zc.id"
	"$ZC" serve "$@" >"$TEST_TMP/zc.id" 2>"$TEST_TMP/zc.err" &
	ZC_PID=$!
	if ! wait_for 30 test -s "$TEST_TMP/zc.id"; then
		cat "$TEST_TMP/zc.err" >&2
		fail "zublk-zc serve $* did not start"
	fi
	ZC_ID=$(<"$TEST_TMP/zc.id")
	ZC_DEV=/dev/zublkb$ZC_ID
	[[ -b $ZC_DEV ]] || fail "zublk-zc serve $*: no block device $ZC_DEV"
}

# zc_stop: DEL_DEV the served device; returns the server's exit status.
zc_stop() {
	local rc=0
	timeout 30 "$ZC" del "$ZC_ID" || fail "DEL_DEV $ZC_ID"
	wait "$ZC_PID" || rc=$?
	ZC_PID=
	cat "$TEST_TMP/zc.err" >&2
	return "$rc"
}

# zc_stat NAME: counter NAME of queue 0 of the served device.
zc_stat() {
	local v
	v=$(sed -n "s/^$1 //p" "/sys/kernel/debug/zublk/zublkc$ZC_ID/queue0")
	[[ $v =~ ^[0-9]+$ ]] || fail "no counter $1 for device $ZC_ID"
	echo "$v"
}

# zc_pins_held: FOLL_PIN pins held system-wide (acquired - released).
zc_pins_held() {
	local acq rel
	echo 1 >/proc/sys/vm/stat_refresh
	acq=$(sed -n 's/^nr_foll_pin_acquired //p' /proc/vmstat)
	rel=$(sed -n 's/^nr_foll_pin_released //p' /proc/vmstat)
	echo $((acq - rel))
}

# zc_write N [DD-ARGS...]: N 4 KiB O_DIRECT writes to the served device.
zc_write() {
	local n=$1
	shift
	dd if=/dev/zero of="$ZC_DEV" bs=4k count="$n" oflag=direct status=none "$@" ||
		fail "dd: $n writes to $ZC_DEV"
}

# zc_read N: N 4 KiB O_DIRECT reads of the served device.
zc_read() {
	dd if="$ZC_DEV" of=/dev/null bs=4k count="$1" iflag=direct status=none ||
		fail "dd: $1 reads of $ZC_DEV"
}

# zc_free_huge: free 2 MiB hugepages.
zc_free_huge() {
	sed -n 's/^HugePages_Free: *//p' /proc/meminfo
}

# zc_cleanup: kill the server, delete what is left, unload (EXIT trap).
zc_cleanup() {
	local c
	[[ -n ${ZC_PID:-} ]] && kill -9 "$ZC_PID" 2>/dev/null && wait "$ZC_PID" 2>/dev/null
	for c in /dev/zublkc*; do
		[[ -e $c ]] && timeout 30 "$ZC" del "${c#/dev/zublkc}" 2>/dev/null
	done
	zu_cleanup
}
