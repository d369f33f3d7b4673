# Baton — make, make test, make run, make bench, make deps.
# SAN=1 builds with AddressSanitizer + UBSan into build/san.

PKGS     := lua5.4 libuv sqlite3 libcjson libwebsockets libedit
CC       ?= cc
CFLAGS   ?= -O2 -g
WARN     := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wshadow -Wno-unused-parameter
ifeq ($(WERROR),1)
WARN     += -Werror
endif
BUILD    := build
ifeq ($(SAN),1)
BUILD    := build/san
CFLAGS   := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
LDSAN    := -fsanitize=address,undefined
endif
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lm

ENGINE_SRC := $(filter-out engine/main.c,$(wildcard engine/*.c))
ENGINE_OBJ := $(patsubst engine/%.c,$(BUILD)/obj/%.o,$(ENGINE_SRC)) $(BUILD)/obj/dashboard_html.o
UNIT_SRC   := $(wildcard tests/unit/*.c)
UNIT_OBJ   := $(patsubst tests/unit/%.c,$(BUILD)/obj/tests/%.o,$(UNIT_SRC))

# Debian packages the build, the tests and `make run` need.
DEB_PKGS := liblua5.4-dev libuv1-dev libsqlite3-dev libcjson-dev libwebsockets-dev \
            libwebsockets-evlib-uv lua-luv-dev libedit-dev pkg-config sqlite3 jq tzdata \
            valgrind chromium prometheus xxd curl python3 procps

.PHONY: all deps test unit valgrind run bench bench-browser clean format
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

$(BUILD)/obj/%.o: engine/%.c engine/*.h | $(BUILD)/obj
	$(CC) $(CFLAGS) $(WARN) $(PKG_CFLAGS) -c $< -o $@

# The dashboard page, embedded in the binary as a C array.
$(BUILD)/obj/dashboard_html.c: engine/dashboard.html | $(BUILD)/obj
	cd engine && xxd -i dashboard.html >$(abspath $@)

$(BUILD)/obj/dashboard_html.o: $(BUILD)/obj/dashboard_html.c
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/obj/tests/%.o: tests/unit/%.c tests/unit/test.h engine/*.h | $(BUILD)/obj/tests
	$(CC) $(CFLAGS) $(WARN) $(PKG_CFLAGS) -iquote engine -c $< -o $@

$(BUILD)/obj $(BUILD)/obj/tests:
	mkdir -p $@

$(BUILD)/baton: $(BUILD)/obj/main.o $(ENGINE_OBJ)
	$(CC) $(LDSAN) -o $@ $^ $(PKG_LIBS)

$(BUILD)/unit: $(UNIT_OBJ) $(ENGINE_OBJ)
	$(CC) $(LDSAN) -o $@ $^ $(PKG_LIBS)

# A local HTTP fixture server for the browser tests and benchmarks.
$(BUILD)/fixture: tests/fixture/fixture.c | $(BUILD)/obj
	$(CC) $(CFLAGS) $(WARN) $(shell pkg-config --cflags libuv) -o $@ $< $(LDSAN) \
	  $(shell pkg-config --libs libuv)

$(BUILD)/bench_runs: bench/bench_runs.c $(ENGINE_OBJ)
	$(CC) $(CFLAGS) $(WARN) $(PKG_CFLAGS) -iquote engine -o $@ $^ $(PKG_LIBS)

$(BUILD)/bench_primitives: bench/bench_primitives.c $(ENGINE_OBJ)
	$(CC) $(CFLAGS) $(WARN) $(PKG_CFLAGS) -iquote engine -o $@ $^ $(PKG_LIBS)

$(BUILD)/bench_outage: bench/bench_outage.c $(ENGINE_OBJ)
	$(CC) $(CFLAGS) $(WARN) $(PKG_CFLAGS) -iquote engine -o $@ $^ $(PKG_LIBS)

$(BUILD)/bench_http: bench/bench_http.c $(ENGINE_OBJ)
	$(CC) $(CFLAGS) $(WARN) $(PKG_CFLAGS) -iquote engine -o $@ $^ $(PKG_LIBS)

unit: deps $(BUILD)/unit
	$(BUILD)/unit

test: deps $(BUILD)/baton $(BUILD)/unit $(BUILD)/fixture
	@BATON=$(BUILD)/baton UNIT=$(BUILD)/unit FIXTURE=$(BUILD)/fixture tests/run.sh

# The unit tests under valgrind (memcheck): errors and definite leaks fail.
valgrind: deps $(BUILD)/unit
	TEST_TIMEOUT=600 valgrind -q --error-exitcode=9 --leak-check=full \
	  --errors-for-leak-kinds=definite,indirect --trace-children=yes \
	  --trace-children-skip='*/chromium,*/setpriv,*/sleep' $(BUILD)/unit

run: deps $(BUILD)/baton
	$(BUILD)/baton run -c engine.conf

bench: deps $(BUILD)/baton $(BUILD)/bench_runs $(BUILD)/bench_outage $(BUILD)/bench_primitives \
       $(BUILD)/bench_http
	bench/run.sh $(BUILD)/baton

# The browser pool against puppeteer-cluster (Node from the npm registry), ~5 min.
bench-browser: deps $(BUILD)/baton $(BUILD)/fixture
	FIXTURE=$(BUILD)/fixture bench/browser/run.sh

format:
	clang-format -i engine/*.c engine/*.h tests/unit/*.c tests/unit/*.h

clean:
	rm -rf build
