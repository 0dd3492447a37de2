# plinth: thin wrapper over meson + ninja. `make run` and `make test` install
# missing Debian packages first (scripts/install-deps).

BUILD      := build
ASAN_BUILD := build-asan

.PHONY: all deps build asan run test bench fuzz format clean

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

run: deps build
	$(BUILD)/plinth serve

test: deps build asan
	tests/run

bench: deps build
	bench/run
	bench/jobs
	bench/webhooks
	bench/run-pg
	bench/streams

# FUZZ_SECONDS per harness (default 60); see fuzz/README.md.
fuzz:
	@scripts/install-deps fuzz
	scripts/fuzz $(FUZZ_SECONDS)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) build-fuzz
