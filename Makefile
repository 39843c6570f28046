# Steward: the two commands of the README, and the pieces they are made of.
#   make demo   builds and runs the end-to-end demo on embedded defaults
#   make test   builds and runs the whole test suite
#   make docs   builds the DocC documentation of every library target, warnings as errors
#   make fuzz   builds the fuzz targets (libFuzzer, AddressSanitizer) and runs each for
#               FUZZ_SECONDS (default 60); see Documentation/Fuzzing.md
#   make test-asan, make test-tsan
#               the whole suite under AddressSanitizer (with LeakSanitizer) or ThreadSanitizer
SHELL := /bin/bash
export PATH := $(PATH):/opt/swift/usr/bin

.PHONY: demo test test-asan test-tsan bootstrap build docs fuzz benchmark clean

bootstrap:
	@./scripts/bootstrap.sh

build: bootstrap
	swift build

demo: bootstrap
	swift build --product steward
	"$$(swift build --show-bin-path)/steward" demo

test: bootstrap
	swift build --build-tests
	swift test --skip-build

test-asan: bootstrap
	./scripts/test-sanitizer.sh address

test-tsan: bootstrap
	./scripts/test-sanitizer.sh thread

docs: bootstrap
	./scripts/check-docs.sh

fuzz: bootstrap
	./Fuzz/fuzz.sh

benchmark: bootstrap
	cd Benchmarks && swift package --disable-sandbox benchmark

clean:
	rm -rf .build .build-address .build-thread Benchmarks/.build Fuzz/.build Fuzz/.work
