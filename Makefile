# Baton — make, make test, make run, make bench, make deps.
# SAN=1 builds with AddressSanitizer + UBSan into build/san.

PKGS     := lua5.4 libuv sqlite3 libcjson libwebsockets libedit libcurl
CC       ?= cc
CFLAGS   ?= -O2 -g
WARN     := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wshadow -Wno-unused-parameter
ifeq ($(WERROR),1)
WARN     += -Werror
endif
BUILD    := build
ifeq ($(SAN),1)
BUILD    := build/san
CFLAGS   := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined,float-cast-overflow \
            -fno-sanitize-recover=undefined,float-cast-overflow
LDSAN    := -fsanitize=address,undefined
endif
# FUZZ=1 builds the libFuzzer targets of tests/fuzz/ with clang into build/fuzz.
ifeq ($(FUZZ),1)
BUILD    := build/fuzz
CC       := clang
CFLAGS   := -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined \
            -fno-sanitize-recover=undefined
LDSAN    := -fsanitize=address,undefined
endif
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lm

# engine/ has one folder per subsystem (docs/architecture.md); objects mirror it.
ENGINE_DIRS := base conf store script sched run browser obs net http console core cli
ENGINE_SRC := $(filter-out engine/cli/main.c,$(wildcard $(ENGINE_DIRS:%=engine/%/*.c)))
ENGINE_OBJ := $(ENGINE_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/dashboard_html.o
UNIT_SRC   := $(wildcard tests/unit/*.c)
UNIT_OBJ   := $(UNIT_SRC:%.c=$(BUILD)/obj/%.o)
BENCHES    := bench_runs bench_outage bench_primitives bench_http bench_stall
FUZZERS    := conf cron units console cdp http
FUZZ_TIME  ?= 60
DEPFILES   := $(ENGINE_SRC:%.c=$(BUILD)/obj/%.d) $(BUILD)/obj/engine/cli/main.d \
              $(UNIT_SRC:%.c=$(BUILD)/obj/%.d) $(BENCHES:%=$(BUILD)/obj/bench/%.d) \
              $(FUZZERS:%=$(BUILD)/obj/tests/fuzz/fuzz_%.d)

# Debian packages the build, the tests and `make run` need.
DEB_PKGS := liblua5.4-dev libuv1-dev libsqlite3-dev libcjson-dev libwebsockets-dev \
            libwebsockets-evlib-uv lua-luv-dev libedit-dev pkg-config sqlite3 jq tzdata \
            valgrind chromium prometheus xxd curl python3 procps clang-format clang \
            libclang-rt-14-dev libcurl4-openssl-dev openssl

.PHONY: all deps test unit valgrind run bench bench-browser clean format format-check fuzz \
        fuzz-run
all: $(BUILD)/baton

deps:
	@missing=""; for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

# test, unit, valgrind, run and bench check the packages once per build tree: the
# stamp is made after a `make deps` that succeeded, and again when this file changes.
DEPS_STAMP := $(BUILD)/.deps-ok
$(DEPS_STAMP): Makefile
	@$(MAKE) --no-print-directory deps
	@mkdir -p $(@D) && touch $@

# -MMD -MP: each object's header dependencies, written beside it by the compiler.
$(BUILD)/obj/engine/%.o: engine/%.c | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(WARN) -MMD -MP $(PKG_CFLAGS) -iquote engine -c $< -o $@

# The dashboard page, embedded in the binary as a C array.
$(BUILD)/obj/dashboard_html.c: engine/http/dashboard.html
	@mkdir -p $(@D)
	cd engine/http && xxd -i dashboard.html >$(abspath $@)

$(BUILD)/obj/dashboard_html.o: $(BUILD)/obj/dashboard_html.c
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/obj/tests/unit/%.o: tests/unit/%.c | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(WARN) -MMD -MP $(PKG_CFLAGS) -iquote engine -c $< -o $@

$(BUILD)/obj/bench/%.o: bench/%.c | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(WARN) -MMD -MP $(PKG_CFLAGS) -iquote engine -c $< -o $@

$(BUILD)/baton: $(BUILD)/obj/engine/cli/main.o $(ENGINE_OBJ)
	$(CC) $(LDSAN) -o $@ $^ $(PKG_LIBS)

$(BUILD)/unit: $(UNIT_OBJ) $(ENGINE_OBJ)
	$(CC) $(LDSAN) -o $@ $^ $(PKG_LIBS)

# Every benchmark is one file in bench/ linked with the engine.
.SECONDARY: $(BENCHES:%=$(BUILD)/obj/bench/%.o) $(FUZZERS:%=$(BUILD)/obj/tests/fuzz/fuzz_%.o)
$(BUILD)/bench_%: $(BUILD)/obj/bench/bench_%.o $(ENGINE_OBJ)
	$(CC) $(LDSAN) -o $@ $^ $(PKG_LIBS)

# The fuzz targets: one file in tests/fuzz/ each, linked with the engine and libFuzzer.
$(BUILD)/obj/tests/fuzz/%.o: tests/fuzz/%.c | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(WARN) -MMD -MP $(PKG_CFLAGS) -iquote engine -c $< -o $@

$(BUILD)/fuzz_%: $(BUILD)/obj/tests/fuzz/fuzz_%.o $(ENGINE_OBJ)
	$(CC) -fsanitize=fuzzer $(LDSAN) -o $@ $^ $(PKG_LIBS)

# Each fuzz target for FUZZ_TIME seconds (60) on tests/fuzz/corpus/; fails on a crash,
# a leak or a hang and leaves the input that did it in build/fuzz/.
fuzz:
	@$(MAKE) --no-print-directory FUZZ=1 fuzz-run

fuzz-run: $(FUZZERS:%=$(BUILD)/fuzz_%)
	tests/fuzz/run.sh $(BUILD) $(FUZZ_TIME) $(FUZZERS)

# A local HTTP fixture server for the browser tests and benchmarks.
$(BUILD)/fixture: tests/fixture/fixture.c | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(WARN) $(shell pkg-config --cflags libuv) -o $@ $< $(LDSAN) \
	  $(shell pkg-config --libs libuv)

unit: $(DEPS_STAMP) $(BUILD)/unit
	$(BUILD)/unit

test: $(DEPS_STAMP) $(BUILD)/baton $(BUILD)/unit $(BUILD)/fixture
	@BATON=$(BUILD)/baton UNIT=$(BUILD)/unit FIXTURE=$(BUILD)/fixture tests/run.sh

# The unit tests under valgrind (memcheck): errors and definite leaks fail.
valgrind: $(DEPS_STAMP) $(BUILD)/unit
	TEST_TIMEOUT=600 valgrind -q --error-exitcode=9 --leak-check=full \
	  --errors-for-leak-kinds=definite,indirect --trace-children=yes \
	  --trace-children-skip='*/chromium,*/setpriv,*/sleep' $(BUILD)/unit

run: $(DEPS_STAMP) $(BUILD)/baton
	$(BUILD)/baton run -c engine.conf

bench: $(DEPS_STAMP) $(BUILD)/baton $(BENCHES:%=$(BUILD)/%) $(BUILD)/fixture
	bench/run.sh $(BUILD)/baton

# The browser pool against puppeteer-cluster (Node from the npm registry), ~5 min.
bench-browser: $(DEPS_STAMP) $(BUILD)/baton $(BUILD)/fixture
	FIXTURE=$(BUILD)/fixture bench/browser/run.sh

# The C of the repository, laid out by .clang-format; CI fails when format-check would
# change a line.
FORMAT_SRC := $(wildcard $(ENGINE_DIRS:%=engine/%/*.[ch]) tests/unit/*.[ch] tests/fixture/*.c bench/*.c \
                tests/fuzz/*.c)
format:
	clang-format -i $(FORMAT_SRC)

format-check:
	@clang-format --dry-run --Werror $(FORMAT_SRC)

clean:
	rm -rf build

-include $(DEPFILES)
