# shellcheck shell=bash
# Helpers for the stress tests (sourced after tests/ramsrv/lib.sh).
#
# ST_SECONDS: how long fio runs before the disruption (default 20, the
# CI duration; 'make stress' runs longer).

ST_SECONDS=${ZUBLK_STRESS_SECONDS:-20}

# st_fio DEV: start fio in the background on DEV with both io_uring and
# libaio, iodepth 256, numjobs = CPUs per engine; sets ST_FIO_PID.  fio runs
# far longer than the test waits and stops on the first IO error.
st_fio() {
	local dev=$1 ncpu
	ncpu=$(nproc)
	fio --output="$TEST_TMP/fio.log" --filename="$dev" --direct=1 \
		--rw=randrw --bs=4k --size=64M --time_based --runtime=3600 \
		--iodepth=256 --numjobs="$ncpu" --group_reporting \
		--name=uring --ioengine=io_uring \
		--name=aio --ioengine=libaio >/dev/null 2>&1 &
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
# ST_FIO_GONE_AFTER to the seconds it took (tenths).
st_fio_gone() {
	local timeout=$1 start
	start=$(date +%s%N)
	if ! wait_for "$timeout" test ! -d "/proc/$ST_FIO_PID"; then
		kill -9 "$ST_FIO_PID" 2>/dev/null
		fail "fio still running ${timeout}s after the disruption"
	fi
	wait "$ST_FIO_PID" 2>/dev/null
	ST_FIO_GONE_AFTER=$(awk -v ns=$(($(date +%s%N) - start)) 'BEGIN{printf "%.1f", ns / 1e9}')
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
