# The two commands of the README: `make run` and `make test`. Each installs what is
# missing (scripts/bootstrap.sh), builds, then runs.
BUILD_DIR ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=
export CTEST_OUTPUT_ON_FAILURE = 1

.PHONY: all bootstrap build run test check test-e2e soak asan tsan fuzz bench format clean

all: build

bootstrap:
	@./scripts/bootstrap.sh

$(BUILD_DIR)/build.ninja:
	cmake -S . -B $(BUILD_DIR) -G Ninja $(CMAKE_FLAGS)

build: bootstrap $(BUILD_DIR)/build.ninja
	cmake --build $(BUILD_DIR) -j $(JOBS)

run: build
	./$(BUILD_DIR)/ingester serve

# Checks of the tree beside the tests: every module directory is described in the docs;
# the lock annotations hold under clang's -Wthread-safety (GCC ignores them).
lint: check-docs check-format check-threads

check-docs:
	python3 scripts/check_docs.py

# Every C++ and C file as clang-format-14 formats it (`make format` fixes the tree).
check-format: bootstrap
	clang-format-14 --dry-run --Werror $$(git ls-files '*.cc' '*.h' '*.c')
	@echo "check-format: $$(git ls-files '*.cc' '*.h' '*.c' | wc -l) files formatted"

check-threads: bootstrap
	python3 scripts/check_thread_safety.py

# Every test: unit and integration suites (ctest), then the end-to-end suite (pytest).
# Both always run, so one failing suite does not hide the other's results.
test: build
	@status=0; \
	$(MAKE) --no-print-directory lint || status=1; \
	(cd $(BUILD_DIR) && ctest -j $(JOBS) --output-on-failure) || status=1; \
	./scripts/test_e2e.sh || status=1; \
	exit $$status

# The quick loop: unit tests only.
check: build check-docs
	cd $(BUILD_DIR) && ctest -j $(JOBS) -L unit --output-on-failure

test-e2e: build
	./scripts/test_e2e.sh

# kill -9 cycles of the real server under HTTP and Flight DoPut writers with persists
# running, then every acknowledged row checked over Flight, HTTP and in the Parquet files
# (tests/soak.py; not part of `make test`). Figures in $(BUILD_DIR)/soak.json.
SOAK_CYCLES ?= 100
soak: build
	INGESTER_BINARY=$(CURDIR)/$(BUILD_DIR)/ingester .venv/bin/python tests/soak.py \
		--cycles $(SOAK_CYCLES) --json $(BUILD_DIR)/soak.json

asan: bootstrap
	$(MAKE) BUILD_DIR=build-asan CMAKE_FLAGS="-DINGESTER_SANITIZER=address -DINGESTER_BENCHMARKS=OFF" build
	cd build-asan && ASAN_OPTIONS=detect_leaks=1 ctest -j $(JOBS) --output-on-failure

tsan: bootstrap
	$(MAKE) BUILD_DIR=build-tsan CMAKE_FLAGS="-DINGESTER_SANITIZER=thread -DINGESTER_BENCHMARKS=OFF" build
	# Arrow's allocator (jemalloc) is not instrumented: memory one thread frees and another
	# gets back looks like a race. With the system pool, malloc/free are TSan's own.
	cd build-tsan && ARROW_DEFAULT_MEMORY_POOL=system \
	  TSAN_OPTIONS="suppressions=$(CURDIR)/scripts/tsan.supp halt_on_error=1" ctest -j $(JOBS) --output-on-failure

fuzz: bootstrap
	CC=clang-14 CXX=clang++-14 $(MAKE) BUILD_DIR=build-fuzz CMAKE_FLAGS="-DINGESTER_FUZZ=ON -DINGESTER_BENCHMARKS=OFF" build

# Micro-benchmarks (every *_benchmark binary), HTTP ingest and the whole-system
# comparisons (bench/*.py); prints a summary.
bench: build
	BUILD_DIR=$(BUILD_DIR) ./scripts/bench.sh

# The same HTTP load against the ingester, VictoriaMetrics and InfluxDB 1.x (installed
# from Debian if missing); table + docs/benchmarks_peers.png. See docs/benchmarks.md.
.PHONY: bench-peers
bench-peers: build
	BUILD_DIR=$(BUILD_DIR) ./scripts/bench_peers.sh

format:
	clang-format-14 -i $$(git ls-files '*.cc' '*.h' '*.c')

clean:
	rm -rf build build-asan build-tsan build-fuzz build-tsa
