# Two commands on a fresh Debian 12 machine: `make run` and `make test` (README.md).
SHELL := /bin/bash
BUILD ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
TSAN_BUILD ?= build-tsan
JOBS ?= $(shell nproc)
TOOLS_DIR ?= $(HOME)/.cache/yatagarasu-tools
VENV := $(TOOLS_DIR)/venv
PYTEST := $(VENV)/bin/pytest
FUZZ_SECONDS ?= 60
export YG_TOOLS_DIR := $(TOOLS_DIR)
export CCACHE_DIR ?= $(HOME)/.cache/ccache
# Paths are hashed relative to the checkout, so a fresh clone elsewhere (CI) hits the cache.
export CCACHE_BASEDIR := $(CURDIR)
export CCACHE_NOHASHDIR := true

.PHONY: all deps build build-asan run test unit unit-asan tsan integration integration-asan fuzz \
        fuzz-build fuzz-ci bench bench-build bench-smoke load load-quick deploy-check \
        config-reference config-reference-check format format-check clean

all: build

deps:
	@bash scripts/install-deps.sh

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: deps $(BUILD)/build.ninja
	cmake --build $(BUILD) -j$(JOBS)

$(ASAN_BUILD)/build.ninja:
	cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DYG_SANITIZE=ON \
	  -DYG_BUILD_BENCH=OFF

build-asan: deps $(ASAN_BUILD)/build.ninja
	cmake --build $(ASAN_BUILD) -j$(JOBS)

run: build
	@bash scripts/demo.sh

unit: build
	cd $(BUILD) && ctest -L unit --output-on-failure -j$(JOBS)

unit-asan: build-asan
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest -L unit --output-on-failure -j$(JOBS)

# ThreadSanitizer over the code shared between workers: the cache unit tests, the cache
# backend conformance suite (its concurrent readers/writers case) and the resilience primitives
# (breakers, rate limiters, retry budgets shared by every worker). Only those targets.
$(TSAN_BUILD)/build.ninja:
	cmake -S . -B $(TSAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DYG_TSAN=ON \
	  -DYG_BUILD_BENCH=OFF -DYG_UNIT_MODULES="core;resilience;cache"

tsan: deps $(TSAN_BUILD)/build.ninja
	cmake -S . -B $(TSAN_BUILD) -DYG_UNIT_MODULES="core;resilience;cache" >/dev/null
	cmake --build $(TSAN_BUILD) -j$(JOBS) --target unit_cache conformance_cache unit_resilience
	cd $(TSAN_BUILD) && TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
	  ctest -R '^(unit_cache|conformance_cache|unit_resilience)$$' --output-on-failure -j$(JOBS)

integration: build
	YG_BINARY=$(abspath $(BUILD))/yatagarasu $(PYTEST) tests/integration -q -p no:cacheprovider

# ASan inflates memory, so the peak-RSS assertions (marker `rss`) run only on the release build;
# the heavy tests (marker `slow`: 1 GiB transfers, load runs of thousands of requests) too: the
# same code paths run under ASan on 10 MiB objects and short sequences.
integration-asan: build-asan
	YG_BINARY=$(CURDIR)/$(ASAN_BUILD)/yatagarasu YG_SANITIZED=1 \
	  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  $(PYTEST) tests/integration -q -p no:cacheprovider -m "not rss and not slow"

$(FUZZ_BUILD)/build.ninja:
	CXX=clang++ cmake -S . -B $(FUZZ_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DYG_FUZZ=ON -DYG_BUILD_TESTS=OFF -DYG_BUILD_BENCH=OFF

fuzz-build: deps $(FUZZ_BUILD)/build.ninja
	cmake --build $(FUZZ_BUILD) -j$(JOBS) --target fuzz_path fuzz_range fuzz_config fuzz_request_head fuzz_jwt

# Each target runs for FUZZ_SECONDS (CI: a short run) on a copy of its seed corpus.
fuzz: fuzz-build
	@bash scripts/run-fuzz.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

fuzz-ci:
	$(MAKE) fuzz FUZZ_SECONDS=20

# Benchmarks (bench/README.md). `bench` runs every program with 5 repetitions and writes
# bench/results/<stamp>.json; `bench-smoke` is the short CI check of the programs and of
# bench/compare and bench/report (results in a temp dir).
bench-build: deps $(BUILD)/build.ninja
	cmake --build $(BUILD) -j$(JOBS) --target bench_programs

bench: bench-build
	@bash scripts/run-bench.sh $(BUILD)

bench-smoke: bench-build
	@PYTEST=$(PYTEST) bash scripts/bench-smoke.sh $(BUILD)

# The full load campaigns (issue #9), one after the other (about 1 h 15 min on 2 cores; the
# endurance run takes --minutes, 20 by default), then the per-feature scripts of earlier issues.
# Results (md, json, png) go to load/results/. Run it on an otherwise idle machine.
LOAD_CAMPAIGNS ?= pipeline streaming concurrency mixed cpu_scaling cache_size endurance chaos \
                  reload_shutdown
load: build
	@set -e; for c in $(LOAD_CAMPAIGNS); do \
	  echo "=== load/$$c.py"; $(VENV)/bin/python load/$$c.py --binary $(BUILD)/yatagarasu; done
	$(VENV)/bin/python load/observability_cost.py --binary $(BUILD)/yatagarasu
	$(VENV)/bin/python load/auth_overhead.py --binary $(BUILD)/yatagarasu
	$(VENV)/bin/python load/authz_overhead.py --binary $(BUILD)/yatagarasu
	$(VENV)/bin/python load/cache_compare.py --binary $(BUILD)/yatagarasu

# The deployment files (Dockerfile, systemd unit, Helm chart, kustomize overlays) checked without
# a Docker engine or a cluster: scripts/check-deploy.py, then its negative tests. helm is built
# once into the tools dir with kustomize (scripts/install-helm.sh). Part of `make test`.
deploy-check: build
	@bash scripts/install-helm.sh >/dev/null
	$(VENV)/bin/python scripts/check-deploy.py --binary $(BUILD)/yatagarasu
	YG_DEPLOY_TOOLS_REQUIRED=1 YG_BINARY=$(abspath $(BUILD))/yatagarasu $(PYTEST) tests/deploy -q \
	  -p no:cacheprovider

# Every load campaign's --quick mode (issue #9): machine-independent checks only. Results go to
# $(LOAD_QUICK_OUT), not to load/results/ (which holds the committed full runs).
LOAD_QUICK_OUT ?= $(BUILD)/load-quick
load-quick: build
	@bash scripts/run-load-quick.sh $(abspath $(BUILD))/yatagarasu $(abspath $(LOAD_QUICK_OUT))

test: build build-asan
	$(MAKE) unit
	$(MAKE) integration
	$(MAKE) unit-asan
	$(MAKE) integration-asan
	$(MAKE) fuzz-ci
	$(MAKE) tsan
	$(MAKE) bench-smoke
	$(MAKE) config-reference-check
	$(MAKE) deploy-check
	$(MAKE) load-quick
	$(MAKE) format-check

format:
	clang-format -i $$(git ls-files '*.cc' '*.h')

format-check:
	clang-format --dry-run --Werror $$(git ls-files '*.cc' '*.h')

# docs/configuration.md's reference tables against the schema walk (`yatagarasu --config-schema`),
# and every example under config/ through --test; then the checker's own tests.
# `make config-reference` regenerates the tables' key/type/default columns (meanings are kept).
config-reference-check: $(BUILD)/build.ninja
	cmake --build $(BUILD) -j$(JOBS) --target yatagarasu
	$(VENV)/bin/python scripts/check-config-reference.py --binary $(BUILD)/yatagarasu
	YG_BINARY=$(abspath $(BUILD))/yatagarasu $(PYTEST) tests/config_reference -q -p no:cacheprovider

config-reference: $(BUILD)/build.ninja
	cmake --build $(BUILD) -j$(JOBS) --target yatagarasu
	$(VENV)/bin/python scripts/check-config-reference.py --binary $(BUILD)/yatagarasu --write

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD) $(TSAN_BUILD)
