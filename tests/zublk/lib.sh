# shellcheck shell=bash
# Helpers for the zublk driver tests (sourced after tests/lib/common.sh).

UBLK_CHECK=$ZUBLK_ROOT/tests/progs/ublk-check

# zu_requires: zublk.ko (for this kernel) and the check program are built.
zu_requires() {
	require_zublk_ko && require_file "$UBLK_CHECK"
}

# zu_fresh [PARAM...]: (re)load zublk.ko with the given parameters.
zu_fresh() {
	zublk_unload
	zublk_load "$@"
}

# zu_cleanup: stop every ramsrv server and unload zublk (EXIT trap).
zu_cleanup() {
	pkill -9 -x fio 2>/dev/null
	if [[ -x $RAMSRV ]]; then
		timeout 30 "$RAMSRV" del --all >/dev/null 2>&1
	fi
	if lsmod | grep -q '^zublk '; then
		wait_for 10 rmmod zublk 2>/dev/null
	fi
	return 0
}

# zu_add ARGS...: ramsrv add on zublk; sets ZU_ID and ZU_DEV.
zu_add() {
	local out
	out=$("$RAMSRV" add --ctrl /dev/zublk-control "$@") || fail "ramsrv add $* failed"
	read -r ZU_ID ZU_DEV <<<"$out"
	[[ $ZU_ID =~ ^[0-9]+$ && -b $ZU_DEV ]] || fail "ramsrv add $* printed '$out'"
}

# zu_server_pid ID: pid of the ramsrv server for zublk device ID (not of a
# ublk_drv device with the same id).
zu_server_pid() {
	"$RAMSRV" list --ctrl /dev/zublk-control --json | sed -n "s/.*\"id\": $1, .*\"pid\": \([0-9]*\),.*/\1/p"
}

# zu_now_ms: a monotonic-enough clock in milliseconds.
zu_now_ms() {
	echo $(($(date +%s%N) / 1000000))
}

# zu_fio_bg FILE ARGS...: fio in the background on FILE (ZU_FIO_PID).
zu_fio_bg() {
	local file=$1
	shift
	fio --name=zu --filename="$file" --ioengine=io_uring --direct=1 \
		--time_based --runtime=60 --output="$TEST_TMP/fio.log" "$@" 2>"$TEST_TMP/fio.err" &
	ZU_FIO_PID=$!
}

# zu_fio_running: fio has reached its IO phase (it writes no progress
# marker we can poll, so wait until the device shows inflight IO).
zu_fio_running() {
	local dev=${1##*/} r w
	read -r r w <"/sys/block/$dev/inflight" || return 1
	((r + w > 0))
}

# zu_exited PID: the (child) process PID has exited (gone or a zombie).
zu_exited() {
	local _pid _comm st
	[[ -r /proc/$1/stat ]] || return 0
	read -r _pid _comm st _ <"/proc/$1/stat" || return 0
	[[ $st == Z ]]
}

# zu_kernel_clean WHAT: the kernel log since the test began has no report.
zu_kernel_clean() {
	local bad
	bad=$(dmesg | grep -E "$DMESG_BAD" | head -n 3)
	[[ -z $bad ]] || fail "$1: kernel reported: $bad"
}
