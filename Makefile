# frameprec — one non-recursive Makefile.
#   make            build $(BUILD)/frameprec (installs missing Debian packages when root)
#   make test       build and run every cmocka suite and tests/check_*.sh
#   make study      the main job: the study over the built-in corpus -> reports/latest/
#   make asan       the tests under AddressSanitizer + UndefinedBehaviorSanitizer
#   make bench      speed and memory benchmarks -> reports/BENCH.md
#   make cases      rebuild the committed corpus in cases/ from Debian packages
# BUILD=dir selects a separate build folder (parallel builds must not share one).

BUILD   ?= build
CC      ?= cc
PYTHON  := /usr/bin/python3

PKGS    := mpfr gmp hdf5-serial jansson nettle libdeflate cmocka
DEBS    := libmpfr-dev libgmp-dev libhdf5-dev libjansson-dev nettle-dev libdeflate-dev libcmocka-dev pkg-config \
           hdf5-tools
PYDEBS  := python3-gemmi python3-h5py python3-numpy

# Separate variables for warnings, optimisation and floating-point flags (STYLE).
WARN    := -std=c11 -Wall -Wextra -Wshadow -Wstrict-prototypes -Wpointer-arith \
           -Wcast-qual -Wwrite-strings
# Build for the machine we run on (AVX2/AVX-512 where present). ARCH= to override.
ARCH    ?= -march=native
OPT     ?= -O2 -g
# No contraction, no fast-math: every operation of a backend is rounded as written.
# -fno-math-errno only lets sqrtf become the (correctly rounded) instruction and
# vectorise; it changes no value. (-fno-fast-math is not added: it turns math-errno
# back on. Nothing here ever enables fast-math.)
FPFLAGS := -ffp-contract=off -fno-math-errno
# GCC's -O2 vectoriser uses the "very cheap" cost model, which leaves mixed-width
# loops (float32 inputs, binary64 arithmetic: fp64, truth's filter) scalar. Vectorising
# element-wise loops changes no value; FP reductions are never reassociated without
# -ffast-math, which we never use.
# (GCC spelling; clang, used by make fuzz, vectorises at -O2 already.)
ifeq ($(findstring clang,$(shell $(CC) --version 2>/dev/null)),)
VECFLAGS ?= -ftree-vectorize -fvect-cost-model=dynamic
else
VECFLAGS ?=
endif
EXTRA   ?=
ifeq ($(CI),true)
WERROR  ?= -Werror
endif
WERROR  ?=

# Expanded only when a recipe runs, i.e. after the deps stamp has installed them.
DEPCFLAGS = $(shell pkg-config --cflags $(PKGS))
DEPLIBS   = $(shell pkg-config --libs mpfr gmp hdf5-serial jansson nettle libdeflate)
TESTLIBS  = $(shell pkg-config --libs cmocka)
CFLAGS_ALL = $(WARN) $(WERROR) $(OPT) $(VECFLAGS) $(ARCH) $(FPFLAGS) -fopenmp -D_POSIX_C_SOURCE=200809L \
             -Isrc $(DEPCFLAGS) $(EXTRA)
LDLIBS_ALL = $(DEPLIBS) -fopenmp -lm $(EXTRA)

LIB_SRC  := $(sort $(wildcard src/core/*.c src/backends/*.c src/truth/*.c src/io/*.c src/gen/*.c src/study/*.c src/report/*.c))
CLI_SRC  := $(sort $(wildcard src/cli/*.c))
TEST_SRC := $(sort $(wildcard tests/test_*.c))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
TESTUTIL := $(BUILD)/obj/tests/testutil.o
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
LIB      := $(BUILD)/libframeprec.a
BIN      := $(BUILD)/frameprec
STAMP    := $(BUILD)/.deps-ok

.PHONY: all deps pydeps torchdeps test asan bench study cases oracle oracle-gpu fuzz clean
# keep test objects between runs (they are intermediate files of the pattern rule)
.SECONDARY:
all: $(BIN)

# ------------------------------------------------------------------ dependencies
$(STAMP):
	@mkdir -p $(BUILD)
	@if pkg-config --exists $(PKGS) 2>/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
	  echo "frameprec: installing $(DEBS)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(DEBS) >/dev/null; \
	else \
	  echo "frameprec: missing libraries; run:"; \
	  echo "  sudo apt-get update && sudo apt-get install -y $(DEBS)"; exit 1; \
	fi
	@pkg-config --exists $(PKGS) || { echo "frameprec: pkg-config still cannot find $(PKGS)"; exit 1; }
	@touch $@
deps: $(STAMP)

pydeps:
	@if $(PYTHON) -c 'import gemmi, h5py, numpy' 2>/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
	  echo "frameprec: installing $(PYDEBS)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(PYDEBS) >/dev/null; \
	else echo "run: sudo apt-get install -y $(PYDEBS)"; exit 1; fi

# ------------------------------------------------------------------ build
$(BUILD)/obj/%.o: %.c | $(STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -MMD -MP -c $< -o $@

# Reports record the exact flags this build used.
$(BUILD)/obj/src/study/study.o: CFLAGS_ALL += -DFPR_BUILD_FLAGS='"$(CC) $(WARN) $(OPT) $(VECFLAGS) $(ARCH) $(FPFLAGS) -fopenmp $(EXTRA)"'

$(LIB): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BIN): $(CLI_OBJ) $(LIB)
	$(CC) -o $@ $(CLI_OBJ) $(LIB) $(LDLIBS_ALL)

$(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(TESTUTIL) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $< $(TESTUTIL) $(LIB) $(TESTLIBS) $(LDLIBS_ALL)

# ------------------------------------------------------------------ tests
# Every cmocka suite, then every tests/check_*.sh (script-level tests: CLI, converter,
# oracle, gate). Each prints its own verdict; the run fails if any fails.
test: $(BIN) $(TEST_BIN)
	@pass=0; fail=0; failed=; for t in $(TEST_BIN); do \
	  echo "== $$t"; if FRAMEPREC=$(BIN) $$t; then pass=$$((pass+1)); else fail=$$((fail+1)); failed="$$failed $$t"; fi; done; \
	for s in $(sort $(wildcard tests/check_*.sh)); do \
	  echo "== $$s"; if FRAMEPREC=$(BIN) BUILD=$(BUILD) bash $$s; then pass=$$((pass+1)); else fail=$$((fail+1)); failed="$$failed $$s"; fi; done; \
	if [ $$fail = 0 ]; then echo "frameprec: all test suites passed"; else echo "frameprec: FAILED:$$failed"; fi; \
	echo "suites: $$pass passed, $$fail failed"; \
	[ $$fail = 0 ]

asan:
	$(MAKE) BUILD=build-asan OPT="-O1 -g -fno-omit-frame-pointer" \
	  EXTRA="-fsanitize=address,undefined -fno-sanitize-recover=all" test

# The main job: the full study; the committed copy of its report is refreshed too.
study: $(BIN)
	$(BIN) study -j $$(nproc) -o reports/latest
	cp reports/latest/report.md reports/README.md
	$(BIN) check --baseline reports/baseline.json reports/latest

bench: $(BIN) torchdeps
	bash scripts/bench.sh $(BIN)

cases: $(BIN) pydeps
	FRAMEPREC=$(BIN) bash scripts/make_cases.sh

TORCHDEBS := python3-torch python3-h5py python3-numpy
torchdeps:
	@if $(PYTHON) -c 'import torch, h5py, numpy' 2>/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
	  echo "frameprec: installing $(TORCHDEBS)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(TORCHDEBS) >/dev/null; \
	else echo "run: sudo apt-get install -y $(TORCHDEBS)"; exit 1; fi

oracle: $(BIN) torchdeps
	bash scripts/oracle.sh $(BIN)

# The real GPU as evidence (issue 14): skips, saying so, where no CUDA device is visible.
oracle-gpu: $(BIN) torchdeps
	bash scripts/oracle_gpu.sh $(BIN)

fuzz:
	bash scripts/fuzz.sh

clean:
	rm -rf build build-asan build-*

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(TEST_SRC:%.c=$(BUILD)/obj/%.d) $(TESTUTIL:.o=.d)
