# deconflict -- the two quick-start commands and their helpers.
#
#   make run     set up, build, and run deconflict on the bundled example
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

run: build
	./$(BUILD)/deconflict check --rules examples/rules.json examples/syria-air.json; \
	  rc=$$?; echo "(deconflict check exited $$rc: 0 no conflict, 1 conflicts, 2 bad input)"

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
