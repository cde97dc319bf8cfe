# shellcheck shell=bash
# Helpers for the stress tests (sourced after tests/ramsrv/lib.sh).
#
# STRESS_SECONDS: how long fio runs before the disruption (default 20, the
# CI duration; 'make stress' runs longer).

STRESS_SECONDS=${ZUBLK_STRESS_SECONDS:-20}

# stress_fio DEV: start fio in the background on DEV with both io_uring and
# libaio, iodepth 256, numjobs = CPUs per engine; sets FIO_PID.  fio runs
# far longer than the test waits and stops on the first IO error.
stress_fio() {
	local dev=$1 ncpu
	ncpu=$(nproc)
	fio --output="$TEST_TMP/fio.log" --filename="$dev" --direct=1 \
		--rw=randrw --bs=4k --size=64M --time_based --runtime=3600 \
		--iodepth=256 --numjobs="$ncpu" --group_reporting \
		--name=uring --ioengine=io_uring \
		--name=aio --ioengine=libaio >/dev/null 2>&1 &
	FIO_PID=$!
}

# stress_wait_io DEV SECONDS: wait for fio to have run SECONDS, checking it
# really does IO on DEV (its sectors read+written grow) and did not die.
stress_wait_io() {
	local dev=$1 secs=$2 name before after
	name=$(basename "$dev")
	wait_for 30 grep -q . "/sys/block/$name/stat" || fail "no stats for $dev"
	before=$(awk '{print $3 + $7}' "/sys/block/$name/stat")
	sleep "$secs"	# the load itself is what is being waited for
	kill -0 "$FIO_PID" 2>/dev/null || { tail -n 20 "$TEST_TMP/fio.log" >&2; fail "fio died early"; }
	after=$(awk '{print $3 + $7}' "/sys/block/$name/stat")
	((after > before)) || fail "no IO reached $dev in ${secs}s"
	info "fio ran ${secs}s: $(((after - before) / 2 / 1024)) MiB moved"
}

# stress_fio_gone TIMEOUT: fio must exit within TIMEOUT seconds; sets
# FIO_GONE_AFTER to the seconds it took (tenths).
stress_fio_gone() {
	local timeout=$1 start
	start=$(date +%s%N)
	if ! wait_for "$timeout" test ! -d "/proc/$FIO_PID"; then
		kill -9 "$FIO_PID" 2>/dev/null
		fail "fio still running ${timeout}s after the disruption"
	fi
	wait "$FIO_PID" 2>/dev/null
	FIO_GONE_AFTER=$(awk -v ns=$(($(date +%s%N) - start)) 'BEGIN{printf "%.1f", ns / 1e9}')
}

# driver_unload: the driver behind $ZUBLK_CTRL must unload now.
driver_unload() {
	case $ZUBLK_CTRL in
	/dev/zublk-control) rmmod zublk || fail "rmmod zublk failed after the test" ;;
	*) rmmod ublk_drv || fail "rmmod ublk_drv failed after the test" ;;
	esac
}
