# mqttsim: build, test, bench and run.
CC      ?= cc
OPT     ?= -O2
PKGS    := gsl libcjson
CFLAGS  ?=
CFLAGS  += -std=c11 -D_POSIX_C_SOURCE=200809L $(OPT) -g -Wall -Wextra -Werror -MMD -MP -I.
CFLAGS  += $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS  += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lm
TESTLIBS = $(shell pkg-config --libs cmocka 2>/dev/null)

B       ?= build
LIB_SRC := $(wildcard sim/*.c models/*.c) $(filter-out experiments/main.c,$(wildcard experiments/*.c))
LIB_OBJ := $(LIB_SRC:%.c=$(B)/%.o)
TEST_SRC := $(wildcard tests/test_*.c)
TEST_BIN := $(TEST_SRC:tests/%.c=$(B)/tests/%)
FUZZ_SRC := $(filter-out tests/fuzz/libfuzzer.c,$(wildcard tests/fuzz/*.c))
FUZZ_OBJ := $(FUZZ_SRC:%.c=$(B)/%.o)
BENCH_SRC := $(wildcard bench/bench_*.c)
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(B)/bench/%)

.PHONY: all deps test-deps fuzz-deps test asan bench fuzz run docs clean
all: $(B)/mqttsim

deps:
	@bash mk/deps.sh
test-deps:
	@bash mk/deps.sh test
fuzz-deps:
	@bash mk/deps.sh fuzz

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(B)/libmqttsim.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(B)/mqttsim: $(B)/experiments/main.o $(B)/libmqttsim.a
	$(CC) $(CFLAGS) $^ -o $@ $(LDLIBS)

# The fuzz replay test runs the harnesses themselves.
$(B)/tests/test_fuzz: $(B)/tests/test_fuzz.o $(FUZZ_OBJ) $(B)/libmqttsim.a
	$(CC) $(CFLAGS) $^ -o $@ $(TESTLIBS) $(LDLIBS)

$(B)/tests/%: $(B)/tests/%.o $(B)/libmqttsim.a
	$(CC) $(CFLAGS) $^ -o $@ $(TESTLIBS) $(LDLIBS)

$(B)/bench/%: $(B)/bench/%.o $(B)/libmqttsim.a
	$(CC) $(CFLAGS) $^ -o $@ $(LDLIBS)

# The whole suite: unit, protocol-scenario, statistical and CLI tests.
test: test-deps
	@$(MAKE) --no-print-directory $(B)/mqttsim $(TEST_BIN)
	@bash tests/run.sh $(B)

# The same suite under AddressSanitizer and UndefinedBehaviorSanitizer.
asan: test-deps
	@$(MAKE) --no-print-directory B=build-asan OPT="-O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all" \
	  LDFLAGS="-fsanitize=address,undefined" build-asan/mqttsim $(subst $(B)/,build-asan/,$(TEST_BIN))
	@ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 MQTTSIM_ASAN=1 bash tests/run.sh build-asan

bench: deps
	@$(MAKE) --no-print-directory $(B)/mqttsim $(BENCH_BIN)
	@for b in $(BENCH_BIN); do echo "== $$b"; $$b || exit 1; done

# Coverage-guided fuzzing (clang's libFuzzer), FUZZ_SECONDS per target.
FUZZ_SECONDS ?= 60
fuzz: fuzz-deps
	@bash mk/fuzz.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)

run: deps
	@$(MAKE) --no-print-directory $(B)/mqttsim
	@bash mk/run.sh $(B)

# Regenerates the table of keys in docs/config.md from experiments/keys.c.
docs:
	@$(MAKE) --no-print-directory $(B)/mqttsim
	@bash mk/docs.sh $(B)/mqttsim

clean:
	rm -rf build build-asan build-fuzz

-include $(shell find $(B) build-asan -name '*.d' 2>/dev/null)
