# shellcheck shell=bash
# Helpers for the ramsrv tests (sourced after tests/lib/common.sh).

ZUBLK_CTRL=${ZUBLK_CTRL:-/dev/ublk-control}
TEST_TMP=${TEST_TMP:-/tmp}

# rs_requires: the common requirements of every ramsrv test.
rs_requires() {
	require_file "$RAMSRV" || return 1
	case $ZUBLK_CTRL in
	/dev/zublk-control) require_zublk_ko || return 1 ;;
	*) require_module ublk_drv || return 1 ;;
	esac
}

# rs_cleanup: delete every ramsrv device (tests call it from an EXIT trap).
rs_cleanup() {
	"$RAMSRV" del --all >/dev/null 2>&1 || true
}

# rs_setup: load the driver and arrange for cleanup.
rs_setup() {
	ctrl_load
	rs_cleanup
	trap rs_cleanup EXIT
}

# rs_add ARGS...: create a device; sets RS_ID and RS_DEV.
rs_add() {
	local out
	out=$("$RAMSRV" add --ctrl "$ZUBLK_CTRL" "$@") || fail "ramsrv add $* failed"
	read -r RS_ID RS_DEV <<<"$out"
	[[ $RS_ID =~ ^[0-9]+$ && -b $RS_DEV ]] || fail "ramsrv add $* printed '$out'"
}

# rs_del ID: delete a device and check that it is gone.
rs_del() {
	local id=$1 dev
	dev=$(rs_bdev "$id")
	"$RAMSRV" del --ctrl "$ZUBLK_CTRL" --id "$id" || fail "ramsrv del --id $id failed"
	[[ ! -b $dev ]] || fail "$dev still exists after del"
	[[ ! -e $(rs_state_dir "$id") ]] || fail "$(rs_state_dir "$id") still exists after del"
}

# rs_state_dir ID: the server's state directory for ID under $ZUBLK_CTRL.
rs_state_dir() {
	echo "/run/ramsrv/$(basename "$ZUBLK_CTRL")/$1"
}

# rs_state_left: print the state directories of every driver's devices
# (none after a clean run; also catches the pre-namespace /run/ramsrv/ID).
rs_state_left() {
	find /run/ramsrv -mindepth 1 -maxdepth 2 2>/dev/null | sort | tr '\n' ' '
}

# rs_bdev ID: block device path for ID under $ZUBLK_CTRL.
rs_bdev() {
	local prefix=${ZUBLK_CTRL%-control}
	echo "${prefix}b$1"
}

# rs_pid ID: the server's pid (device ID under $ZUBLK_CTRL).
rs_pid() {
	"$RAMSRV" list --ctrl "$ZUBLK_CTRL" --json | sed -n "s/.*\"id\": $1, .*\"pid\": \([0-9]*\),.*/\1/p"
}

# rs_free_huge: free 2 MiB hugepages right now.
rs_free_huge() {
	cat /sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages
}

# rs_verify DEV BS DEPTH SIZE [EXTRA...]: fio write + crc32c verify pass.
rs_verify() {
	local dev=$1 bs=$2 depth=$3 size=$4
	shift 4
	fio_run --name=verify --filename="$dev" --direct=1 --ioengine=io_uring \
		--rw=randwrite --bs="$bs" --iodepth="$depth" --size="$size" \
		--verify=crc32c --verify_fatal=1 --do_verify=1 \
		--randrepeat=0 "$@"
}

# rs_stats_json ID: `ramsrv stats --json` of device ID under $ZUBLK_CTRL.
rs_stats_json() {
	"$RAMSRV" stats --ctrl "$ZUBLK_CTRL" --id "$1" --json
}

# rs_sum JSON FIELD...: the server's FIELDs, each summed over the queues of
# a `ramsrv stats --json` output (the driver's own figures left out), on one
# line in FIELD order.  One awk for every field: each process started costs
# a lot in a TCG guest.  The sums print with %.0f, exact up to 2^53: mawk
# prints a sum of 2^31 or more as 2.14748e+09 with print and as 2147483647
# with %d.
rs_sum() {
	local json=$1
	shift
	awk -v fields="$*" '
		BEGIN { nf = split(fields, f, " ") }
		{
			gsub(/"driver": \{[^}]*\}/, "")
			for (i = 1; i <= nf; i++) {
				s = $0
				while (match(s, "\"" f[i] "\": [0-9]+")) {
					d[i] += substr(s, RSTART + length(f[i]) + 4, RLENGTH - length(f[i]) - 4)
					s = substr(s, RSTART + RLENGTH)
				}
			}
		}
		END { for (i = 1; i <= nf; i++) printf "%s%.0f", (i > 1 ? " " : ""), d[i]; print "" }' <<<"$json"
}

# rs_dsum JSON FIELD: the driver's FIELD (zublk debugfs) summed over the
# queues; empty when the driver reports no figures.  Exact as rs_sum.
rs_dsum() {
	grep -o '"driver": {[^}]*}' <<<"$1" | grep -o "\"$2\": [0-9]*" |
		awk '{s += $2; n++} END {if (n) printf "%.0f\n", s}'
}

# rs_per_queue ID FIELD: the server's FIELD of each of device ID's queues,
# in queue order, on one line ("12 30 ").
rs_per_queue() {
	rs_stats_json "$1" | awk '{gsub(/"driver": \{[^}]*\}/, ""); print}' |
		grep -o "\"$2\": [0-9]*" | awk '{ printf "%s ", $2 }'
}

# rs_fio_spread Q: fio options running Q jobs one per CPU (blk-mq sends a
# CPU's IO to the queue mapped to it), none for one job.
rs_fio_spread() {
	(($1 > 1)) && echo "--numjobs=$1 --cpus_allowed=0-$(($1 - 1)) --cpus_allowed_policy=split"
	return 0
}

# rs_queues_served ID WANT: device ID runs WANT queues and each served
# requests.  ublk_drv grants no more queues than CPUs: on a guest with
# fewer, only that the granted ones served.
rs_queues_served() {
	local reqs n r
	reqs=$(rs_per_queue "$1" requests)
	n=$(wc -w <<<"$reqs")
	info "queues $2: granted $n, requests per queue: $reqs($(nproc) CPUs)"
	if (($2 <= $(nproc))); then
		((n == $2)) || fail "device $1 asked for $2 queues on $(nproc) CPUs, got $n"
	fi
	for r in $reqs; do
		((r > 0)) || fail "a queue of device $1 served no request: $reqs"
	done
}

# rs_stat ID FIELD: rs_sum of device ID's current stats.
rs_stat() {
	rs_sum "$(rs_stats_json "$1")" "$2"
}

# rs_ops ID RW N DEPTH FIELD...: run N direct 4k RW IOs at DEPTH on device
# ID and print how much each of the server's FIELDs (as rs_sum: over its
# queues, or its threads when the tags spread over them) grew, on one line.
# At DEPTH 1 no two requests merge; above, rs_no_merges the device first.
rs_ops() {
	local id=$1 rw=$2 n=$3 depth=$4 s0 s1 i out=
	shift 4
	read -ra s0 <<<"$(rs_sum "$(rs_stats_json "$id")" "$@")"
	fio_run --name=n --filename="$(rs_bdev "$id")" --direct=1 --ioengine=io_uring \
		--rw="$rw" --bs=4k --iodepth="$depth" --size=$((n * 4096)) --randrepeat=0 ||
		fail "fio $rw on device $id"
	read -ra s1 <<<"$(rs_sum "$(rs_stats_json "$id")" "$@")"
	for ((i = 0; i < $#; i++)); do
		out+="$((s1[i] - s0[i])) "
	done
	echo "$out"
}

# rs_no_merges DEV: the block layer passes every IO on to the driver as is,
# for tests that count requests per IO: it merges adjacent ones otherwise
# (mq-deadline, ublk_drv's default on one queue, does when the server lags
# behind, as it does on one vCPU).
rs_no_merges() {
	echo 2 >"/sys/block/${1#/dev/}/queue/nomerges" || fail "cannot turn off merges on $1"
}

# rs_settle ID: wait until the device's request count stops moving (the
# kernel's partition scan and udev's probes read a new device for a while).
rs_settle() {
	local a b i
	a=$(rs_stat "$1" requests)
	for ((i = 0; i < 50; i++)); do
		sleep 0.3
		b=$(rs_stat "$1" requests)
		[[ $a == "$b" ]] && return 0
		a=$b
	done
	fail "device $1 never went idle"
}

# rs_copy_path ID: how ID's copy mode runs (buf, pinned, ucopy, store).
rs_copy_path() {
	rs_field "$1" copy_path
}

# rs_copy_mode ID: the copy mode `ramsrv list --json` shows for ID.
rs_copy_mode() {
	"$RAMSRV" list --ctrl "$ZUBLK_CTRL" --json | sed -n "s/.*\"id\": $1, .*\"copy_mode\": \"\([a-z-]*\)\".*/\1/p"
}

# rs_auto_path TARGET: the MODE/PATH `ramsrv add -t TARGET` without --copy
# takes on the driver of $ZUBLK_CTRL (ramsrv's copy_auto, with io buffers
# on normal pages): zublk's STORE, upstream's zc (AUTO_BUF_REG; ram only),
# USER_COPY, else classic.
rs_auto_path() {
	local none=single have
	[[ $1 == null ]] && none=none
	have=$(rs_features)
	if rs_feature_in "$have" zublk_store; then
		echo "$none/store"
	elif [[ $1 == ram ]] && rs_feature_in "$have" auto_buf_reg; then
		echo zc/autobuf
	elif rs_feature_in "$have" user_copy; then
		echo "$none/ucopy"
	elif rs_feature_in "$have" zublk_pin_buf; then
		echo classic/pinned
	else
		echo classic/buf
	fi
}

# rs_user_copy: succeeds when the driver under $ZUBLK_CTRL offers a
# single-copy path, UBLK_F_USER_COPY or zublk's ZUBLK_F_STORE (probed with a
# tiny null device in none mode).
rs_user_copy() {
	local out
	out=$("$RAMSRV" add -t null --size 1M --copy none --ctrl "$ZUBLK_CTRL" 2>/dev/null) ||
		return 1
	"$RAMSRV" del --ctrl "$ZUBLK_CTRL" --id "${out%% *}" >/dev/null 2>&1
	return 0
}

# rs_field ID FIELD: a string field of device ID in `ramsrv list --json`.
rs_field() {
	"$RAMSRV" list --ctrl "$ZUBLK_CTRL" --json |
		sed -n "s/.*\"id\": $1, .*\"$2\": \"\([^\"]*\)\".*/\1/p"
}

# rs_dev_state_is ID STATE: the driver reports device ID in STATE
# (LIVE, QUIESCED, FAIL_IO, DEAD).
rs_dev_state_is() {
	[[ $(rs_field "$1" dev_state) == "$2" ]]
}

# rs_require_feature NAME...: (in requires) the driver under $ZUBLK_CTRL
# reports every NAME in GET_FEATURES (names as `ramsrv features` prints).
rs_require_feature() {
	local have f
	ctrl_load >/dev/null 2>&1
	have=$("$RAMSRV" features --ctrl "$ZUBLK_CTRL" 2>&1) ||
		{ echo "cannot read the features of $ZUBLK_CTRL: $have"; return 1; }
	for f in "$@"; do
		rs_feature_in "$have" "$f" ||
			{ echo "the driver of $ZUBLK_CTRL does not offer $f (GET_FEATURES: $have)"; return 1; }
	done
}

# rs_features: what `ramsrv features` prints for the driver under $ZUBLK_CTRL
# (its GET_FEATURES in hex, then the names of its bits; nothing on error).
rs_features() {
	"$RAMSRV" features --ctrl "$ZUBLK_CTRL" 2>/dev/null
}

# rs_feature_in FEATURES NAME: FEATURES (rs_features' output) names NAME.
rs_feature_in() {
	[[ " $1 " == *" $2 "* ]]
}

# rs_has_feature NAME: the driver under $ZUBLK_CTRL reports NAME.
rs_has_feature() {
	rs_feature_in "$(rs_features)" "$1"
}

# rs_leftovers: the device nodes under $ZUBLK_CTRL and ramsrv's state entries.
rs_leftovers() {
	find /dev -maxdepth 1 -name "$(basename "${ZUBLK_CTRL%-control}")[bc]*" | sort | tr '\n' ' '
	rs_state_left
}

# rs_expect_fail STATUS ERE [VAR=VAL...] CMD ARGS...: CMD must exit STATUS with
# one stderr line matching ERE, print nothing on stdout, and leave the device
# nodes and ramsrv's state exactly as they were.
rs_expect_fail() {
	local want=$1 pat=$2 rc=0 before after
	shift 2
	before=$(rs_leftovers)
	env "$@" >"$TEST_TMP/out" 2>"$TEST_TMP/err" || rc=$?
	info "${*##*/}: exit $rc: $(cat "$TEST_TMP/err")"
	((rc == want)) || fail "${*##*/}: exit $rc, expected $want"
	[[ ! -s $TEST_TMP/out ]] || fail "${*##*/}: printed to stdout: $(cat "$TEST_TMP/out")"
	(($(wc -l <"$TEST_TMP/err") == 1)) || fail "${*##*/}: stderr is not one line"
	grep -qE -e "$pat" "$TEST_TMP/err" || fail "${*##*/}: stderr does not match '$pat'"
	after=$(rs_leftovers)
	[[ $before == "$after" ]] || fail "${*##*/}: left behind: '$before' -> '$after'"
}

# rs_kill9 ID: SIGKILL device ID's server and wait until it is gone.
rs_kill9() {
	local pid
	pid=$(rs_pid "$1")
	[[ $pid =~ ^[0-9]+$ ]] || fail "no server pid for device $1"
	kill -9 "$pid"
	wait_for 10 test ! -e "/proc/$pid" || fail "server $pid survived kill -9"
}

# rs_recover ID: `ramsrv recover` device ID; checks what it prints.
rs_recover() {
	local out
	out=$("$RAMSRV" recover --ctrl "$ZUBLK_CTRL" --id "$1") || fail "ramsrv recover --id $1 failed"
	[[ $out == "$1 $(rs_bdev "$1")" ]] || fail "ramsrv recover printed '$out'"
	rs_dev_state_is "$1" LIVE || fail "device $1 is $(rs_field "$1" dev_state) after recover"
	[[ $(rs_field "$1" state) == live ]] || fail "server of device $1 is $(rs_field "$1" state) after recover"
}

# rs_expect STATUS TEXT ARGS...: rs_expect_fail for `ramsrv ARGS`, with an
# error that contains TEXT (a fixed string).
rs_expect() {
	local want=$1 text=$2
	shift 2
	# shellcheck disable=SC2001,SC2016 # escape every ERE metacharacter
	rs_expect_fail "$want" "$(sed 's/[][\\.*^$(){}+?|]/\\&/g' <<<"$text")" "$RAMSRV" "$@"
}
