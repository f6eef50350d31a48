# fleetguard: the two commands a newcomer needs.
#   make run    install dependencies, build, start fleetguard with its defaults
#   make test   install dependencies, build, run every test (unit, ASan+UBSan unit, fuzz, e2e)
# Other targets: deps, build, unit, asan, fuzz, e2e, bench, clean.

BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
JOBS ?= $(shell nproc)
RUN_ARGS ?=

# ccache keeps its cache outside the clone so rebuilds of fresh clones are fast.
export CCACHE_DIR ?= $(HOME)/.cache/fleetguard-ccache
export CCACHE_MAXSIZE ?= 5G

.PHONY: all deps build run test unit asan fuzz e2e bench clean

all: build

deps:
	@scripts/install-deps

$(BUILD)/build.ninja: CMakeLists.txt
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD) -j $(JOBS)

run: build
	./$(BUILD)/fleetguard serve $(RUN_ARGS)

test: build
	@$(MAKE) --no-print-directory unit asan fuzz e2e

unit:
	ctest --test-dir $(BUILD) -L unit --output-on-failure -j $(JOBS)

# Unit tests, then the end-to-end suite against the real binary, both built
# with ASan+UBSan (leak detection on: a leak fails the broker's exit code).
asan: deps
	cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DFG_SANITIZE=ON
	ninja -C $(ASAN_BUILD) -j $(JOBS) fleetguard $$(ninja -C $(ASAN_BUILD) -t targets all | grep -oE '^fg_[a-z_]+_tests' | sort -u)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --test-dir $(ASAN_BUILD) -L unit --output-on-failure -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  FLEETGUARD_BIN=$(CURDIR)/$(ASAN_BUILD)/fleetguard /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/e2e

fuzz: deps
	CXX=clang++-14 cmake -S . -B $(FUZZ_BUILD) -G Ninja -DFG_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo
	ninja -C $(FUZZ_BUILD) -j $(JOBS)
	scripts/run-fuzzers $(FUZZ_BUILD) $(FUZZ_SECONDS)

e2e: build
	ctest --test-dir $(BUILD) -L e2e --output-on-failure

bench: build
	bench/compare.sh bench/RESULTS.md

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
