# zublk: a ublk-compatible userspace block driver.
#
#   make deps     install build and test dependencies (Debian 12, root)
#   make          build drv/zublk.ko and ramsrv/ramsrv
#   make demo     boot the test kernel, compare a zublk RAM disk with brd
#   make test     everything: deps, build, host tests, the in-guest suite;
#                 then on 7.3.4 the W=1 build, the zublk and ramsrv groups
#   make bench    fio sweep in the guest (PRESET=quick|full|paths), results/<stamp>/;
#                 PRESET=paths KERNEL=7.3: every ublk path on both drivers, one boot
#   make perfcheck  quick A/B sweep: this tree against REF (default: the commit
#                   of bench/baseline.json), same boot (UPDATE=1 refreshes the baseline)
#   make stress   the stress group with long runs (STRESS_SECONDS=120)
#   make fuzz     fuzz zublk in the guest (DURATION=600 seconds, SEED=...)
#   make kselftest  the kernel's own ublk selftests on 7.3's in-tree ublk_drv
#   make dkms     dkms add, build and install the checkout's module for the
#                 test kernel (KVER=6.12|RELEASE); make dkms-remove undoes it
#
# DROPIN=1 builds the drop-in ublk_drv.ko (upstream node names) in
# drv/dropin/ instead of drv/zublk.ko; with 'make dkms' it installs the
# drop-in DKMS package (ublk-drv-zublk) instead of zublk.
#
# KERNEL=6.12|7.3|PATH (MODULES=DIR with a bzImage PATH) picks the kernel
# every target above boots (tests/vm/run --kernel); default 6.12.
#
# KDIR selects the kernel tree the module is built against (default: the
# running kernel's build tree if it exists, else the installed
# bookworm-backports headers).  'make test' and 'make demo' always build
# against the test kernel, since that is what they boot.  'make KVER=7.3'
# builds it for Debian's 7.3.4 in a trixie build root (scripts/buildroot)
# instead, into build/<release>/drv/zublk.ko (drv/ keeps the 6.12 build),
# where tests/run finds it for that kernel.

KDIR ?= $(firstword $(wildcard /lib/modules/$(shell uname -r)/build) \
	$(shell scripts/test-kernel kdir 2>/dev/null))
# The guest kernel for tests/vm/run, tests/run and bench/.  make 4.3's
# $(shell) does not see exported variables: TK names the choice itself.
ifneq ($(KERNEL),)
export ZUBLK_KERNEL := $(if $(findstring /,$(KERNEL)),$(abspath $(KERNEL)),$(KERNEL))
endif
ifneq ($(MODULES),)
export ZUBLK_MODULES := $(abspath $(MODULES))
endif
TK = scripts/test-kernel --kernel "$(or $(ZUBLK_KERNEL),6.12)" --modules "$(ZUBLK_MODULES)"
# The module is built for the booted kernel when it has a kbuild tree, else
# for 6.12 (and its tests skip on the other kernel).
TEST_KDIR = $(or $(shell $(TK) kdir 2>/dev/null),$(shell scripts/test-kernel --kernel 6.12 kdir))
# 'make test' runs part of the suite on this kernel too, after the whole
# suite on KERNEL (tests/run --also): by default on 7.3 when KERNEL is the
# default 6.12.  TEST_ALSO= turns that off.
TEST_ALSO ?= $(if $(ZUBLK_KERNEL),,7.3)
# $(call krel,VER): the release of a Debian kernel of scripts/kernels.sh
# (built in a build root), else nothing.
krel = $(firstword $(shell bash -c '. scripts/kernels.sh && cached_kernel "$(1)"'))
# The kernels test-build builds the module for in their build root: the
# booted one, and TEST_ALSO.
TEST_KVERS = $(sort $(foreach v,$(ZUBLK_KERNEL) $(TEST_ALSO),$(if $(call krel,$(v)),$(v))))

all: deps
	$(MAKE) build KDIR="$(KDIR)"

deps:
	@scripts/deps

# Build without the deps check (for repeated builds).
build: module userspace

# KVER=7.3 builds the module in a debootstrapped trixie build root with
# Debian's 7.3.4 headers (scripts/buildroot creates it on first use), from
# a copy of the sources in build/<release>/ (kbuild's MO= would refuse drv/
# once it holds a build for another kernel).  cp -p keeps the times, so an
# unchanged source is not rebuilt.
KREL = $(call krel,$(KVER))
module:
ifneq ($(KVER),)
	@test -n "$(KREL)" || { echo "make: no Debian kernel '$(KVER)' known (scripts/kernels.sh)" >&2; exit 1; }
	@$(MAKE) -s -C drv sources DEST=$(CURDIR)/build/$(KREL)
	scripts/buildroot $(KVER) build/$(KREL)/drv W=1
else
	$(MAKE) -C drv KDIR="$(KDIR)" W=1
endif

userspace:
	@if [ -f ramsrv/Makefile ]; then $(MAKE) -C ramsrv; fi
	@if [ -f tests/progs/Makefile ]; then $(MAKE) -C tests/progs; fi
	@if [ -f bench/Makefile ]; then $(MAKE) -C bench; fi

# The drop-in ublk_drv.ko too (drv/dropin/), for tests/zublk/060.
test-build: deps
	$(MAKE) build KDIR="$(TEST_KDIR)"
	$(MAKE) -C drv KDIR="$(TEST_KDIR)" W=1 DROPIN=1
	$(foreach v,$(TEST_KVERS),$(MAKE) module KVER=$(v) &&) true

test: test-build
	@tests/run $(if $(TEST_ALSO),--also $(TEST_ALSO))

demo: test-build
	@tests/vm/run --mem 4G --hugepages 640 --timeout 600 -- scripts/demo-guest

PRESET ?= quick
bench: test-build
	bench/sweep --$(PRESET)

perfcheck: test-build
	bench/perfcheck $(if $(UPDATE),--update,--ab $(REF))

STRESS_SECONDS ?= 120
stress: test-build
	ZUBLK_STRESS_SECONDS=$(STRESS_SECONDS) ZUBLK_SUITE_TIMEOUT=7200 tests/run --no-host stress

DURATION ?= 600
fuzz: test-build
	ZUBLK_FUZZ_SECONDS=$(DURATION) $(if $(SEED),ZUBLK_FUZZ_SEED=$(SEED)) \
		ZUBLK_TEST_TIMEOUT=$$(($(DURATION) + 600)) ZUBLK_SUITE_TIMEOUT=$$(($(DURATION) + 1200)) \
		tests/run --no-host fuzz

DKMS_FLAGS = $(if $(filter 1,$(DROPIN)),--dropin)
dkms: deps
	scripts/dkms $(DKMS_FLAGS) install $(or $(KVER),6.12)

dkms-remove:
	scripts/dkms $(DKMS_FLAGS) remove

# The kernel's ublk selftests, built from Debian's linux-source-7.3 in the
# trixie build root (scripts/fetch-kselftest), run in the 7.3.4 guest.
# Not part of 'make test'.  TESTS= picks tests or groups (null_01 stress).
kselftest-build: deps
	scripts/fetch-kselftest 7.3

kselftest: kselftest-build
	tests/kselftest/run --results results/kselftest-7.3.md $(TESTS)

clean:
	-$(MAKE) -C drv clean KDIR="$(KDIR)"
	rm -rf build
	@if [ -f ramsrv/Makefile ]; then $(MAKE) -C ramsrv clean; fi
	@if [ -f tests/progs/Makefile ]; then $(MAKE) -C tests/progs clean; fi
	@if [ -f bench/Makefile ]; then $(MAKE) -C bench clean; fi

.PHONY: all deps build module userspace test-build test demo bench perfcheck stress fuzz \
	dkms dkms-remove kselftest-build kselftest clean
