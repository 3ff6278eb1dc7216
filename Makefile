# deconflict -- the two quick-start commands and their helpers.
#
#   make run     set up, build, create a fresh demo store (parties blue and red,
#                their tokens, operations with a conflict) and serve it on
#                127.0.0.1:8080 until Ctrl-C
#   make check   set up, build, and run every test (plain, then ASan+UBSan,
#                then a bounded fuzzing pass and the format check)
#   make bench   build and run the engine benchmark (not part of check)
#
# Every target first runs scripts/bootstrap, which installs only what is
# missing.  Build trees: build/ (release with debug info), build-asan/,
# build-fuzz/.

JOBS      ?= $(shell nproc 2>/dev/null || echo 2)
FUZZ_SECS ?= 30
BUILD     := build
CMAKE     := cmake -S . -G "Unix Makefiles"

.PHONY: all bootstrap build build-asan build-fuzz run check test test-asan fuzz format \
        format-check bench clean

all: build

bootstrap:
	@scripts/bootstrap

build: bootstrap
	@$(CMAKE) -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@$(MAKE) --no-print-directory -C $(BUILD) -j$(JOBS)

build-asan: bootstrap
	@$(CMAKE) -B build-asan -DCMAKE_BUILD_TYPE=Debug -DDCF_SANITIZE=ON -DDCF_BENCH=OFF >/dev/null
	@$(MAKE) --no-print-directory -C build-asan -j$(JOBS)

build-fuzz: bootstrap
	@CC=clang $(CMAKE) -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DDCF_FUZZ=ON -DDCF_BENCH=OFF >/dev/null
	@$(MAKE) --no-print-directory -C build-fuzz -j$(JOBS)

DEMO_DB ?= demo.db
LISTEN  ?= 127.0.0.1:8080

run: build
	@rm -f $(DEMO_DB) $(DEMO_DB)-wal $(DEMO_DB)-shm $(DEMO_DB).audit-key
	@./$(BUILD)/deconflict init --db $(DEMO_DB) --rules examples/rules.json --demo
	@echo "Console: http://$(LISTEN)/  (sign in with a token above)   API: http://$(LISTEN)/v1/  (docs/api.md; Ctrl-C stops)"
	./$(BUILD)/deconflict serve --db $(DEMO_DB) --rules examples/rules.json --listen $(LISTEN)

test: build
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS)

test-asan: build-asan
	cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j$(JOBS)

fuzz: build-fuzz
	@scripts/fuzz build-fuzz $(FUZZ_SECS)

format-check:
	@scripts/format-check

check: format-check test test-asan fuzz
	@echo "make check: all passed"

bench: build
	@scripts/bench-engine

clean:
	rm -rf build build-asan build-fuzz
