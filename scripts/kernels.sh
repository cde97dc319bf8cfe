# shellcheck shell=bash
# The kernels the harness boots besides the default 6.12 (which 'make deps'
# installs from bookworm-backports).  Sourced by scripts/deps,
# scripts/fetch-kernel and scripts/test-kernel.
#
# Another suite's kernel is never installed: scripts/fetch-kernel downloads
# its packages with a private apt configuration and unpacks them under
# $KERNEL_CACHE/<kernel release>/ (vmlinuz and modules in
# usr/lib/modules/<kernel release>/, as the 7.x packages lay them out).

KERNEL_CACHE=${ZUBLK_KERNEL_CACHE:-/var/cache/zublk/kernels}
# What 'tests/vm/run --kernel VER' accepts.
KERNEL_VERS="6.12 7.3"

# boot_args VER: the tests/vm/run options a test run of VER boots with.
# 7.3.4 with two vCPUs, each on its own host thread (TCG's default), can
# oops at boot on a loaded host (Oops: int3 in sched_clock_cpu: an int3
# from its boot-time code patching, still executed on the other vCPU after
# the patch completed).  With --tcg single one host thread runs both vCPUs
# in turn, so no vCPU runs while another rewrites kernel text, and the 7.3
# pass still has 2 CPUs for its 2-queue tests (bench/sweep boots 7.3 with
# one vCPU then: two taking turns measure nothing parallel).
boot_args() {
	case $1 in
	7.3) echo "--smp 2 --tcg single" ;;
	esac
}

# cached_kernel VER: print "RELEASE SUITE" of a cached Debian kernel.
cached_kernel() {
	case $1 in
	7.3) echo "7.3.4+deb13-amd64 trixie-backports" ;;
	*) return 1 ;;
	esac
}

# The ublk kernel selftests built from that kernel's linux-source package
# (scripts/fetch-kselftest): the directory holding kublk and test_*.sh.
kselftest_dir() {
	echo "$KERNEL_CACHE/kselftest-$1/ublk"
}

# apt_download SUITE WORK DEST PKG...: download PKG... from Debian's SUITE
# into DEST with a private apt configuration (sources list, state and cache
# under the scratch directory WORK): nothing touches /etc/apt or dpkg's
# database.  Prints apt's first error and returns 1 on failure.
apt_download() {
	local suite=$1 work=$2 dest=$3 opts
	shift 3
	mkdir -p "$work"/{parts,state/lists/partial,cache/archives/partial}
	: >"$work/status"
	echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $suite main" \
		>"$work/sources.list"
	opts=(-q -o "Dir::Etc::SourceList=$work/sources.list" -o "Dir::Etc::SourceParts=$work/parts"
		-o "Dir::State=$work/state" -o "Dir::State::status=$work/status" -o "Dir::Cache=$work/cache"
		-o APT::Sandbox::User=root)
	if ! apt-get "${opts[@]}" update >"$work/log" 2>&1; then
		echo "apt-get update of $suite failed: $(grep -E '^(E|W):' "$work/log" | head -n 1)" >&2
		return 1
	fi
	if ! (cd "$dest" && apt-get "${opts[@]}" download "$@") >"$work/log" 2>&1; then
		echo "cannot download $* from $suite: $(grep -E '^E:' "$work/log" | head -n 1)" >&2
		return 1
	fi
}
