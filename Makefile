# limbic: the two commands a fresh machine needs are `make demo` (the main
# job on the embedded default model) and `make test` (every test).

GO      ?= go
FUZZTIME ?= 100000x

.PHONY: demo test test-setup check check-generated fuzz build

build:
	$(GO) build -o limbic ./cmd/limbic

# The main job on the embedded default model (fetched on first use).
demo: build
	./limbic run

# Everything the tests need that is not Go code: npm test packages and the
# embedded model.
test-setup:
	./scripts/test-setup.sh

# Every test: formatting, vet, unit and reference tests, short fuzz runs.
test: test-setup check
	$(GO) test -count=1 ./...
	$(MAKE) fuzz

check: check-generated
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# The committed assembly must be what its generator writes: regenerate it in
# place (the generator is plain Go, no download) and fail on any difference.
GENERATED = engine/kernels/kernels_amd64.s engine/kernels/kernels_amd64.go
check-generated:
	cd engine/kernels && $(GO) run ./internal/asmgen
	@git diff --exit-code --stat -- $(GENERATED) || { echo "generated kernels differ from internal/asmgen's output: run it (cd engine/kernels && go run ./internal/asmgen) and commit"; exit 1; }

# Each fuzz target for a short while (FUZZTIME).
fuzz:
	./scripts/fuzz.sh $(FUZZTIME)
