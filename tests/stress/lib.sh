# shellcheck shell=bash
# Helpers for the stress tests (sourced after tests/ramsrv/lib.sh; the
# st_*_under_io test bodies also need tests/zublk/lib.sh).
#
# ST_SECONDS: how long fio runs before the disruption (default 20, the
# CI duration; 'make stress' runs longer).

ST_SECONDS=${ZUBLK_STRESS_SECONDS:-20}

# st_fio DEV [light]: start fio in the background on DEV with both io_uring
# and libaio, iodepth 256, numjobs = CPUs per engine (light: one io_uring
# job, which starts and drains in a fraction of the time under TCG); sets
# ST_FIO_PID.  fio runs far longer than the test waits and stops on the
# first IO error.
st_fio() {
	local dev=$1 jobs=(--numjobs="$(nproc)" --name=uring --ioengine=io_uring --name=aio --ioengine=libaio)
	[[ ${2:-} == light ]] && jobs=(--numjobs=1 --name=uring --ioengine=io_uring)
	fio --output="$TEST_TMP/fio.log" --filename="$dev" --direct=1 \
		--rw=randrw --bs=4k --size=64M --time_based --runtime=3600 \
		--iodepth=256 --group_reporting "${jobs[@]}" >/dev/null 2>"$TEST_TMP/fio.err" &
	ST_FIO_PID=$!
}

# st_wait_io DEV SECONDS: wait for fio to have run SECONDS, checking it
# really does IO on DEV (its sectors read+written grow) and did not die.
st_wait_io() {
	local dev=$1 secs=$2 name before after
	name=$(basename "$dev")
	wait_for 30 grep -q . "/sys/block/$name/stat" || fail "no stats for $dev"
	before=$(awk '{print $3 + $7}' "/sys/block/$name/stat")
	sleep "$secs"	# the load itself is what is being waited for
	kill -0 "$ST_FIO_PID" 2>/dev/null || { tail -n 20 "$TEST_TMP/fio.log" >&2; fail "fio died early"; }
	after=$(awk '{print $3 + $7}' "/sys/block/$name/stat")
	((after > before)) || fail "no IO reached $dev in ${secs}s"
	info "fio ran ${secs}s: $(((after - before) / 2 / 1024)) MiB moved"
}

# st_fio_gone TIMEOUT: fio must exit within TIMEOUT seconds; sets
# ST_FIO_GONE_AFTER to the seconds it took (tenths) and ST_FIO_RC to its
# exit status.
st_fio_gone() {
	local timeout=$1 start
	start=$(date +%s%N)
	if ! wait_for "$timeout" test ! -d "/proc/$ST_FIO_PID"; then
		kill -9 "$ST_FIO_PID" 2>/dev/null
		fail "fio still running ${timeout}s after the disruption"
	fi
	ST_FIO_RC=0
	wait "$ST_FIO_PID" 2>/dev/null || ST_FIO_RC=$?
	ST_FIO_GONE_AFTER=$(awk -v ns=$(($(date +%s%N) - start)) 'BEGIN{printf "%.1f", ns / 1e9}')
}

# ---- disruption under IO --------------------------------------------------
# One body per disruption, run short by tests/zublk/012 and 013 (on zublk,
# SECONDS 0: as soon as IO is in flight) and long by tests/stress/001 and
# 002 (on both drivers, SECONDS $ST_SECONDS).

# st_load TARGET QUEUES SECONDS: a 64 MiB TARGET device (RS_ID, RS_DEV),
# --copy classic (io buffers pinned per IO or at FETCH: the pins a dying or
# deleted server must give back), under st_fio.  SECONDS 0: a light fio, whose IO must be in flight;
# else the full one, which must keep moving data for SECONDS (st_wait_io).
st_load() {
	rs_add -t "$1" --size 64M --queues "$2" --depth 128 --copy classic
	if (($3 == 0)); then
		st_fio "$RS_DEV" light
		wait_for 10 zu_fio_running "$RS_DEV" || fail "fio did not start"
	else
		st_fio "$RS_DEV"
		st_wait_io "$RS_DEV" "$3"
	fi
}

# st_io_failed WHEN: fio, gone, exited non-zero and logged an IO error.
st_io_failed() {
	((ST_FIO_RC != 0)) || fail "fio saw no error $1"
	grep -qE 'err=|error' "$TEST_TMP/fio.log" || fail "fio logged no IO error $1"
}

# st_del_gone WHEN: ramsrv del of RS_ID returns; the block and char nodes
# are gone.
st_del_gone() {
	timeout 60 "$RAMSRV" del --id "$RS_ID" || fail "ramsrv del $1 did not finish within 60s"
	[[ ! -b $RS_DEV ]] || fail "$RS_DEV still exists after del"
	wait_for 10 test ! -e "${ZUBLK_CTRL%-control}c$RS_ID" ||
		fail "${ZUBLK_CTRL%-control}c$RS_ID still exists after del"
}

# st_kill_under_io QUEUES SECONDS: kill -9 of the server of a ram device
# under st_load: pending IO fails with EIO within 5 s, the device is DEAD
# and deletes.
st_kill_under_io() {
	local pid bound=5
	st_load ram "$1" "$2"
	pid=$(rs_pid "$RS_ID")
	[[ $pid =~ ^[0-9]+$ ]] || fail "no server pid for device $RS_ID"
	kill -9 "$pid"
	# zublk fails pending IO within 5 s.  The in-tree 6.12 ublk_drv only
	# fails it at the block layer's 30 s request timeout (measured: 30.6 s),
	# so the reference run gets 60 s.
	[[ $ZUBLK_CTRL == /dev/ublk-control ]] && bound=60
	st_fio_gone "${ZUBLK_KILL_FAIL_SECONDS:-$bound}"
	info "fio failed and exited ${ST_FIO_GONE_AFTER}s after kill -9"
	st_io_failed "after the server died"
	cat "$TEST_TMP/fio.log" "$TEST_TMP/fio.err" | grep -q "Input/output error" ||
		fail "fio saw no EIO after the server died"
	# without a recovery flag the device is dead for good, and says so
	wait_for 10 rec_state_is "$RS_ID" DEAD ||
		fail "GET_DEV_INFO state $(rec_state "$RS_ID") after kill -9, want DEAD"
	st_del_gone "after kill -9"
}

# st_del_under_io TARGET QUEUES SECONDS: ramsrv del (STOP_DEV + DEL_DEV)
# of a TARGET device under st_load finishes, and its IO fails.
st_del_under_io() {
	st_load "$@"
	st_del_gone "under IO"
	st_fio_gone 30
	info "fio exited ${ST_FIO_GONE_AFTER}s after the delete"
	st_io_failed "although its device was deleted"
}

# ---- user recovery (tests/progs/recsrv) ------------------------------------

RECSRV=$ZUBLK_ROOT/tests/progs/recsrv

# rec_requires [BIT]: recsrv is built and the driver offers feature BIT
# (default 3, USER_RECOVERY).
rec_requires() {
	local bit=${1:-3}
	require_file "$RECSRV" "$ZUBLK_ROOT/tests/progs/ublk-check" || return 1
	rec_feature "$bit" || { echo "driver behind $ZUBLK_CTRL does not offer feature bit $bit"; return 1; }
}

# rec_no_kill_under_io: skip reason on the in-tree 6.12 ublk_drv, which
# oopses (NULL dereference in io_fallback_tw) when its server is killed
# under IO (see tests/stress/002).
rec_no_kill_under_io() {
	if [[ $ZUBLK_CTRL == /dev/ublk-control && -z ${ZUBLK_STRESS_REFERENCE_KILL:-} ]]; then
		echo "in-tree 6.12 ublk_drv oopses when its server is killed under IO (ZUBLK_STRESS_REFERENCE_KILL=1 runs it anyway)"
		return 1
	fi
}

# rec_feature BIT: the driver behind $ZUBLK_CTRL (loaded if need be)
# reports feature BIT in GET_FEATURES (user recovery: 3, REISSUE: 4,
# FAIL_IO: 9).
rec_feature() {
	local bit=$1 feat
	(ctrl_load) >/dev/null 2>&1 || return 1
	feat=$("$ZUBLK_ROOT/tests/progs/ublk-check" --ctrl "$ZUBLK_CTRL" features) || return 1
	(((feat >> bit) & 1))
}

# rec_add ARGS...: recsrv add; sets REC_ID, REC_DEV and REC_PID.
rec_add() {
	local out
	# to a file, not a pipe: the server it leaves behind never holds it
	timeout 60 "$RECSRV" add --ctrl "$ZUBLK_CTRL" "$@" >"$TEST_TMP/rec.out" ||
		fail "recsrv add $* failed"
	out=$(<"$TEST_TMP/rec.out")
	read -r REC_ID REC_DEV REC_PID <<<"$out"
	[[ $REC_ID =~ ^[0-9]+$ && -b $REC_DEV ]] || fail "recsrv add $* printed '$out'"
	echo "$REC_ID" >>"$TEST_TMP/rec_ids"
}

# rec_recover ID FILE [ARGS...]: a new server takes over device ID;
# sets REC_PID.
rec_recover() {
	local id=$1 file=$2 out
	shift 2
	timeout 60 "$RECSRV" recover --ctrl "$ZUBLK_CTRL" --id "$id" --file "$file" "$@" \
		>"$TEST_TMP/rec.out" || fail "recsrv recover --id $id failed"
	out=$(<"$TEST_TMP/rec.out")
	read -r _ _ REC_PID <<<"$out"
	[[ $REC_PID =~ ^[0-9]+$ ]] || fail "recsrv recover printed '$out'"
}

# rec_state ID: GET_DEV_INFO state (DEAD, LIVE, QUIESCED, FAIL_IO).
rec_state() {
	"$RECSRV" state --ctrl "$ZUBLK_CTRL" --id "$1"
}

# rec_state_is ID STATE: for wait_for.
rec_state_is() {
	[[ $(rec_state "$1") == "$2" ]]
}

# rec_kill PID: kill -9 a server and wait until it is gone.
rec_kill() {
	kill -9 "$1" 2>/dev/null
	wait_for 30 test ! -d "/proc/$1" || fail "server $1 still alive 30 s after kill -9"
}

# rec_sectors DEV: sectors read + written on DEV so far.
rec_sectors() {
	awk '{print $3 + $7}' "/sys/block/${1##*/}/stat"
}

# rec_io_after DEV N: more than N sectors moved on DEV (for wait_for).
rec_io_after() {
	(($(rec_sectors "$1") > $2))
}

# rec_del ID: STOP_DEV + DEL_DEV.
rec_del() {
	timeout 60 "$RECSRV" del --ctrl "$ZUBLK_CTRL" --id "$1" || fail "recsrv del --id $1 failed"
}

# rec_cleanup: delete every device recsrv added in this test (EXIT trap).
rec_cleanup() {
	local id
	pkill -9 -x fio 2>/dev/null
	[[ -r $TEST_TMP/rec_ids ]] || return 0
	while read -r id; do
		timeout 60 "$RECSRV" del --ctrl "$ZUBLK_CTRL" --id "$id" >/dev/null 2>&1
	done <"$TEST_TMP/rec_ids"
	rm -f "$TEST_TMP/rec_ids"
	return 0
}
