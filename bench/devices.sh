# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
# Guest-side device set-up shared by bench/sweep-guest, bench/kprof and
# scripts/demo-guest; bench/sweep reads device names with dev_split, and
# it and bench/kprof pick the zublk.ko to load with dev_ko.
# Device names as in bench/sweep: brd, null_blk,
# DRV:TARGET[:MODE[:PIN]][:threadsN][:batch] (no MODE: no --copy, ramsrv's
# default; MODE is any --copy, zc included; threadsN: ramsrv --threads N;
# :batch: --batch).
# The caller sets: root (the repository), RAMSRV, size_mb (every device's
# size; fio covers all of it), scheduler (the IO scheduler of every blk-mq
# device, or "default"), log (a file that collects tool output) and who
# (the prefix of error lines); $ZUBLK_KO, when set, is the zublk.ko to load
# (default drv/zublk.ko), or "modprobe" for the kernel's own (make dkms).
#
# dev_path[NAME] is the block device of NAME; for ramsrv devices dev_id and
# dev_ctrl name the device to ramsrv (both drivers number from 0).
declare -A dev_path dev_id dev_ctrl dev_feat

# dev_split NAME: the parts of a ramsrv device name
# DRV:TARGET[:MODE[:PIN]][:threadsN][:batch] in DEV_DRV, DEV_TGT, DEV_MODE,
# DEV_PIN (empty when not given), DEV_THREADS (N, or empty) and DEV_BATCH
# (1 for :batch, else empty).  A name without a colon (brd, null_blk) is
# no ramsrv device: DEV_DRV is the name, the rest empty, and it returns 1.
dev_split() {
	local base=$1
	DEV_DRV=$1 DEV_TGT='' DEV_MODE='' DEV_PIN='' DEV_THREADS='' DEV_BATCH=''
	[[ $base == *:* ]] || return 1
	[[ $base == *:batch ]] && DEV_BATCH=1 && base=${base%:batch}
	[[ $base =~ :threads([0-9]+)$ ]] && DEV_THREADS=${BASH_REMATCH[1]} && base=${base%:threads*}
	IFS=: read -r DEV_DRV DEV_TGT DEV_MODE DEV_PIN <<<"$base"
}

# dev_ko TREE REL [HOST]: the zublk.ko of the tree TREE (a repository
# checkout, built) for kernel release REL, or nothing: build/REL/drv/zublk.ko
# (make KVER=...), else drv/zublk.ko when REL is the default test kernel's
# (6.12, which make test-build builds it for).  With HOST=1 (REL is the
# running kernel's, no guest) drv/zublk.ko when its vermagic is REL's.
dev_ko() {
	if ((${3:-0})); then
		[[ -f $1/drv/zublk.ko ]] &&
			[[ $(modinfo -F vermagic "$1/drv/zublk.ko" 2>/dev/null) == "$2 "* ]] &&
			echo "$1/drv/zublk.ko"
	elif [[ -f $1/build/$2/drv/zublk.ko ]]; then
		echo "$1/build/$2/drv/zublk.ko"
	elif [[ $2 == "$("$root/scripts/test-kernel" --kernel 6.12 version 2>/dev/null)" ]]; then
		echo "$1/drv/zublk.ko"
	fi
	return 0
}

# dev_load DRV: load ublk_drv or zublk; prints its control node
dev_load() {
	case $1 in
	ublk_drv) modprobe ublk_drv && echo /dev/ublk-control ;;
	zublk)
		if [[ ${ZUBLK_KO:-} == modprobe ]]; then
			modprobe zublk || return 1
		else
			lsmod | grep -q '^zublk ' || insmod "${ZUBLK_KO:-$root/drv/zublk.ko}" || return 1
		fi
		echo /dev/zublk-control
		;;
	*) echo "$who: unknown driver $1" >&2; return 1 ;;
	esac
}

# dev_features DRV: what `ramsrv features` prints for the driver (its
# features word, GET_FEATURES or zublk's extended one, in hex, then the name
# of each bit set); loads DRV
dev_features() {
	local ctrl w
	if [[ -z ${dev_feat[$1]:-} ]]; then
		ctrl=$(dev_load "$1") || return 1
		w=$("$RAMSRV" features --ctrl "$ctrl" 2>>"$log") || return 1
		[[ $w =~ ^0x[0-9a-fA-F]+ ]] || return 1
		dev_feat[$1]=$w
	fi
	echo "${dev_feat[$1]}"
}

# The flag each feature a device name asks for is called in ublk_cmd.h and
# include/zublk.h (by its `ramsrv features` name), for the notes.
declare -A dev_flag=([zero_copy]=UBLK_F_SUPPORT_ZERO_COPY [user_copy]=UBLK_F_USER_COPY
	[auto_buf_reg]=UBLK_F_AUTO_BUF_REG [per_io_daemon]=UBLK_F_PER_IO_DAEMON
	[batch_io]=UBLK_F_BATCH_IO [zublk_store]=ZUBLK_F_STORE [zublk_pin_buf]=ZUBLK_F_PIN_BUF)

# dev_missing NAME Q FEATURES: what a ramsrv device NAME at Q queues needs
# that a driver offering FEATURES (feature names as `ramsrv features`
# prints them, e.g. dev_features' line) lacks: one line
# naming the flag and the part of the name that wants it, or nothing when
# it has everything (brd and null_blk need nothing).  Pure: no driver.
dev_missing() {
	local q=$2 f=" $3 " n want=() w alt alts names
	dev_split "$1" || return 0
	[[ -n $DEV_BATCH ]] && want+=("batch_io|:batch")
	n=$DEV_THREADS
	[[ -n $n ]] && ((n > q)) && want+=("per_io_daemon|:threads$n at $q queue(s)")
	case $DEV_MODE in
	zc) want+=("auto_buf_reg|--copy zc") ;;
	zc-explicit) want+=("zero_copy|--copy zc-explicit") ;;
	single | none) want+=("user_copy/zublk_store|--copy $DEV_MODE") ;;
	esac
	[[ $DEV_PIN == on ]] && want+=("zublk_pin_buf|--pin on")
	for w in "${want[@]}"; do
		names=()
		IFS=/ read -ra alts <<<"${w%%|*}"
		for alt in "${alts[@]}"; do
			[[ $f == *" $alt "* ]] && continue 2
			names+=("${dev_flag[$alt]}")
		done
		echo "$DEV_DRV lacks ${names[0]}${names[1]:+ or ${names[1]}} (${w#*|})"
		return 0
	done
}

# dev_unsupported NAME Q: dev_missing against the loaded driver's features
# (the reason, or nothing); a driver that cannot be asked is left to fail
# at set-up
dev_unsupported() {
	local f
	[[ $1 == *:* ]] || return 0
	f=$(dev_features "${1%%:*}") || return 0
	dev_missing "$1" "$2" "$f"
}

dev_setup() {
	local name=$1 q=$2 ctrl line
	case $name in
	brd)
		modprobe brd rd_nr=1 rd_size=$((size_mb * 1024)) max_part=0
		dev_path[$name]=/dev/ram0
		;;
	null_blk)
		modprobe null_blk nr_devices=1 gb=$((size_mb / 1024 + 1)) queue_mode=2 \
			submit_queues="$q" hw_queue_depth=128 irqmode=0
		dev_path[$name]=/dev/nullb0
		;;
	*:*)
		dev_split "$name"
		ctrl=$(dev_load "$DEV_DRV") || return 1
		local args=(add -t "$DEV_TGT" --ctrl "$ctrl" --queues "$q" --depth 128 --size "${size_mb}M")
		[[ -n $DEV_MODE ]] && args+=(--copy "$DEV_MODE")
		[[ -n $DEV_PIN ]] && args+=(--pin "$DEV_PIN")
		[[ -n $DEV_THREADS ]] && args+=(--threads "$DEV_THREADS")
		[[ -n $DEV_BATCH ]] && args+=(--batch)
		line=$("$RAMSRV" "${args[@]}" 2>>"$log") || {
			echo "$who: ramsrv ${args[*]} failed:" >&2
			tail -n 3 "$log" >&2
			return 1
		}
		# "dev <id> /dev/<x>bN ..." or any line naming the id and block device
		dev_path[$name]=$(grep -o '/dev/[a-z]*b[0-9]*' <<<"$line" | head -n 1)
		dev_id[$name]=$(grep -o '[a-z]*b[0-9]*' <<<"${dev_path[$name]}" | grep -o '[0-9]*$')
		# both drivers number devices from 0: name the driver too
		dev_ctrl[$name]=$ctrl
		;;
	esac
	local p=${dev_path[$name]}
	for _ in $(seq 50); do
		[[ -b $p ]] && break
		sleep 0.1
	done
	[[ -b $p ]] || { echo "$who: $name: $p did not appear" >&2; return 1; }
	# the same IO scheduler on every blk-mq device (brd is bio-based)
	local sched=/sys/block/${p##*/}/queue/scheduler
	if [[ $scheduler != default && -w $sched ]] && ! echo "$scheduler" >"$sched" 2>>"$log"; then
		echo "$who: $name: cannot select IO scheduler '$scheduler' (have: $(<"$sched"))" >&2
		return 1
	fi
	# Precondition: write everything once so reads hit real data on every
	# device (brd reads of never-written sectors skip the copy).
	if [[ $name != null_blk && $name != *:null* ]]; then
		fio --name=precondition --filename="$p" --direct=1 --ioengine=io_uring \
			--rw=write --bs=1M --iodepth=8 --size="${size_mb}M" >>"$log" 2>&1
	fi
}

# dev_teardown_servers: delete the ramsrv devices (brd, null_blk stay)
dev_teardown_servers() {
	local name
	for name in "${!dev_path[@]}"; do
		case $name in
		*:*)
			"$RAMSRV" del --ctrl "${dev_ctrl[$name]}" --id "${dev_id[$name]}" >>"$log" 2>&1 || true
			unset "dev_path[$name]" "dev_id[$name]" "dev_ctrl[$name]"
			;;
		esac
	done
}

dev_teardown() {
	dev_teardown_servers
	rmmod brd 2>/dev/null || true
	rmmod null_blk 2>/dev/null || true
	dev_path=()
	dev_id=()
	dev_ctrl=()
}

