# sded — see README.md. Every target works from a fresh clone on Debian 12 as root.
SHELL := /bin/bash
GO ?= go
BIN := bin/sded
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
GUEST_DIR := .cache/guest
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
TEST_TIMEOUT ?= 25m

.PHONY: all assets deps build test check bench demo deb rpm guest clean generate

all: build

deps:
	@bash test/scripts/deps.sh

generate:
	$(GO) tool templ generate

# The browser desktop client (noVNC) comes from npm and is embedded.
assets:
	@bash ui/assets/fetch.sh

build: assets
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/sded

guest: deps
	@bash test/guest/build.sh $(GUEST_DIR)

# The whole suite, including root, libvirt, network-namespace and browser tests.
# The tests that type into guests over VNC run last and one package at a time:
# QEMU drops keys when the host's two cores are saturated. A package that fails
# is run once more and the retry is printed (see test/scripts/gotest.sh).
SERIAL_TESTS := ./test/e2e ./test/airlock ./test/browser
test: deps guest check
	SDED_GUEST_DIR=$(CURDIR)/$(GUEST_DIR) TEST_TIMEOUT=$(TEST_TIMEOUT) bash test/scripts/gotest.sh 2 \
		$$($(GO) list ./... | grep -v -e '/test/e2e$$' -e '/test/airlock$$' -e '/test/browser$$')
	SDED_GUEST_DIR=$(CURDIR)/$(GUEST_DIR) TEST_TIMEOUT=$(TEST_TIMEOUT) bash test/scripts/gotest.sh 1 $(SERIAL_TESTS)

check:
	@echo "gofmt"; out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "$$out"; echo "gofmt: files need formatting" >&2; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...
	$(GO) tool templ generate
	@git diff --exit-code -- '*_templ.go' || { echo "templ generate changed generated files: commit them" >&2; exit 1; }

# Benchmarks print sded beside the raw tool doing the same work, as ratios.
bench: deps guest
	SDED_GUEST_DIR=$(CURDIR)/$(GUEST_DIR) $(GO) test -p 1 -run '^$$' -bench . -benchtime 1x -timeout 60m ./...

demo: deps guest build
	@bash test/scripts/demo.sh $(BIN) $(GUEST_DIR)

deb:
	@bash packaging/build.sh deb

rpm:
	@bash packaging/build.sh rpm

clean:
	rm -rf bin dist
