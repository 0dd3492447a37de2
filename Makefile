# plinth: thin wrapper over meson + ninja. `make run` and `make test` install
# missing Debian packages first (scripts/install-deps; `make run` only the
# runtime-only set).

BUILD      := build
ASAN_BUILD := build-asan

.PHONY: all deps deps-runtime build asan run test bench fuzz format clean deb

all: build

deps:
	@scripts/install-deps

$(BUILD)/build.ninja:
	meson setup $(BUILD) --buildtype=release

$(ASAN_BUILD)/build.ninja:
	meson setup $(ASAN_BUILD) --buildtype=debug -Db_sanitize=address,undefined -Db_lundef=false

build: $(BUILD)/build.ninja
	ninja -C $(BUILD)

asan: $(ASAN_BUILD)/build.ninja
	ninja -C $(ASAN_BUILD)

deps-runtime:
	@scripts/install-deps runtime

# the server only: installs what building and running need, not the test tools
run: deps-runtime build
	$(BUILD)/plinth serve

test: deps build asan
	tests/run

bench: deps build
	bench/run
	bench/jobs
	bench/webhooks
	bench/run-pg
	bench/streams
	bench/files

# A Debian package of the release build (scripts/make-deb).
deb: build
	scripts/make-deb $(BUILD)

# FUZZ_SECONDS per harness (default 60); see fuzz/README.md.
fuzz:
	@scripts/install-deps fuzz
	scripts/fuzz $(FUZZ_SECONDS)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) build-fuzz
