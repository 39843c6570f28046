# Steward: the two commands of the README, and the pieces they are made of.
#   make demo   builds and runs the end-to-end demo on embedded defaults
#   make test   checks the formatting, extracts the docs' Swift blocks (scripts/snippets.sh),
#               builds them and the whole test suite, and runs it (scripts/run-tests.sh: the
#               output is kept in .build/test.log, and a failure's lines are repeated at the end)
#   make format formats every Swift file in place (swift format, .swift-format: line length 120)
#   make docs   builds the DocC documentation of every library target, warnings as errors
#   make fuzz   builds the fuzz targets (libFuzzer, AddressSanitizer) and runs each for
#               FUZZ_SECONDS (default 60); see Documentation/Fuzzing.md
#   make examples
#               builds and tests the server example (Examples/server, its own package on
#               Hummingbird 2): the built server run on loopback against a stand-in collector
#   make test-asan, make test-tsan
#               the whole suite under AddressSanitizer (with LeakSanitizer) or ThreadSanitizer
#   make test-release
#               the example CLI in a release build, crashed with every trigger kind: each report
#               checked (scripts/test-release.sh)
SHELL := /bin/bash
export PATH := $(PATH):/opt/swift/usr/bin

.PHONY: demo test examples test-asan test-tsan test-release bootstrap build docs fuzz benchmark clean format lint snippets

# Every Swift file of the three packages (hidden folders such as .build are skipped).
SWIFT_FORMAT_PATHS := Package.swift Sources Tests Examples Benchmarks Fuzz

bootstrap:
	@./scripts/bootstrap.sh

build: bootstrap
	swift build

demo: bootstrap
	swift build --product steward
	"$$(swift build --show-bin-path)/steward" demo

test: bootstrap lint snippets
	swift build --build-tests
	./scripts/run-tests.sh .build/test.log --skip-build

# The server example is a package of its own (Hummingbird and NIO stay out of the root's
# graph), so `make test` does not build it; CI does not run this (see Documentation/Testing.md).
examples: bootstrap
	cd Examples/server && swift build && swift test

# Every ```swift block of README.md and Documentation/ into Tests/DocSnippetTests/Generated/.
snippets:
	@./scripts/snippets.sh

format:
	swift format format --in-place --parallel --recursive $(SWIFT_FORMAT_PATHS)

# Fails on any file `make format` would change (and on what the formatter cannot fix).
lint:
	@swift format lint --strict --parallel --recursive $(SWIFT_FORMAT_PATHS) \
		|| { echo "make lint: run 'make format' (swift format of Swift 6.3; see CONTRIBUTING.md)"; exit 1; }

test-asan: bootstrap snippets
	./scripts/test-sanitizer.sh address

test-tsan: bootstrap snippets
	./scripts/test-sanitizer.sh thread

# The example CLI built with -c release, crashed with every `steward crash trigger` kind: the
# reports an optimised build makes (the suite runs a debug build).
test-release: bootstrap
	./scripts/test-release.sh

docs: bootstrap
	./scripts/check-docs.sh

fuzz: bootstrap
	./Fuzz/fuzz.sh

benchmark: bootstrap
	cd Benchmarks && swift package --disable-sandbox benchmark

clean:
	rm -rf .build .build-address .build-thread Benchmarks/.build Fuzz/.build Fuzz/.work Examples/server/.build
