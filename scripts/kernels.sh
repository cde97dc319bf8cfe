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
# 7.3.4 with two or more vCPUs can oops at boot under TCG on a loaded host
# (an int3 from its boot-time code patching taken on the other vCPU), so
# 'tests/run --also 7.3' boots it with one.
boot_args() {
	case $1 in
	7.3) echo "--smp 1 --numa 1" ;;
	esac
}

# cached_kernel VER: print "RELEASE SUITE" of a cached Debian kernel.
cached_kernel() {
	case $1 in
	7.3) echo "7.3.4+deb13-amd64 trixie-backports" ;;
	*) return 1 ;;
	esac
}
