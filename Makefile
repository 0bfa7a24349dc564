# natrium — developer commands. `make test` is what CI runs (.ci/run); it installs what the
# tests need by itself: the npm clients (tests/node: nats, nats.ws, ws, @nats-io/nats-core,
# playwright-core, esbuild), Debian's chromium, nats-py and the official nats-server binary
# for differential tests (tests/python/requirements.txt).

CARGO ?= cargo
PYTHON ?= python3

.PHONY: all build release run test deps chromium check fmt fmt-check clippy doc clean

all: build

build:
	$(CARGO) build

release:
	$(CARGO) build --release

## Start a server with nats-server's defaults (0.0.0.0:4222).
run:
	$(CARGO) run --release --

## Install the non-Rust clients the integration tests drive (and Debian's Chromium for the
## WebSocket browser test).
deps: tests/node/node_modules/.deps-stamp .python-deps-stamp chromium

chromium:
	@test -x /usr/bin/chromium || (apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium)

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
