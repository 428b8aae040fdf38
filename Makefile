# The README's two commands: `make up` and `make test`. Both install what they need on a
# fresh Debian 12 machine (run as root), idempotently.

SHELL := /bin/bash
export PATH := /usr/local/go/bin:$(PATH)
GO ?= go

CACHE ?= $(HOME)/.cache/reelay
MINIO_VERSION := v0.0.0-20260212201848-7aac2a2c5b7c
MINIO_BIN := $(CACHE)/minio-$(MINIO_VERSION)/minio

# Build: FFmpeg's development libraries for go-astiav (cgo).
BUILD_PKGS := gcc pkg-config libavcodec-dev libavformat-dev libavfilter-dev libswscale-dev \
	libswresample-dev libavutil-dev libavdevice-dev
# Tests: the FFmpeg CLI (ffprobe checks), PostgreSQL 15 (started by the tests themselves),
# Chromium (hls.js playback, driven by playwright-core; Node 20 comes with the machine), and
# Prometheus (promtool, and the server that cmd/reelay's test scrapes `reelay up` with), and
# nginx and systemd-analyze for deploy/ (deploy-check, and the cluster recipe's test), and
# unshare and ip for the live test that publishes from Chromium in a network namespace.
TEST_PKGS := $(BUILD_PKGS) ffmpeg postgresql chromium prometheus nginx systemd iproute2 util-linux

ARGS ?=

.PHONY: up test build deps test-deps vet prometheus-check deploy-check clean mutants

up: build
	./bin/reelay up $(ARGS)

build: deps
	$(GO) build -o bin/reelay ./cmd/reelay

deps:
	@scripts/ensure-packages $(BUILD_PKGS)

test-deps: $(MINIO_BIN) node_modules/.installed
	@scripts/ensure-packages $(TEST_PKGS)

# Real clients for the end-to-end tests (tus-js-client, hls.js, playwright-core), pinned by
# package-lock.json; reinstalled only when the lock file changes.
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

# MinIO for the S3 tests, built once from the module proxy at a pinned version and cached
# outside the clone (about 5 minutes cold).
$(MINIO_BIN):
	@echo "building MinIO $(MINIO_VERSION) (once; cached in $(CACHE))"
	mkdir -p $(dir $@)
	GOBIN=$(dir $@) $(GO) install github.com/minio/minio@$(MINIO_VERSION)

vet:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed: $$out"; exit 1; fi
	$(GO) vet ./...

# deploy/prometheus, as an operator copies it: the configuration (in a copy, with a placeholder
# for the token file it names), the alert rules and their unit tests. A second or two.
PROM := deploy/prometheus
prometheus-check:
	@scripts/ensure-packages prometheus
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && cp -r $(PROM)/. "$$tmp" && \
		echo placeholder >"$$tmp/reelay-metrics.token" && \
		promtool check config "$$tmp/prometheus.yml" && \
		promtool check rules $(PROM)/rules/*.yml && \
		promtool test rules $(PROM)/tests/*.yml

# deploy/, as an operator copies it: each systemd unit through `systemd-analyze verify` (an
# instance of each template; in a copy whose ExecStart names an executable that exists here,
# since verify checks it), failing on any complaint, and the nginx configuration through
# `nginx -t` in a minimal main configuration. Needs no running systemd (a container's root
# will do). A second or two.
deploy-check:
	@scripts/ensure-packages nginx systemd
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
		for f in deploy/systemd/*.service; do sed "s#^ExecStart=/usr/local/bin/reelay #ExecStart=$$(command -v true) #" "$$f" >"$$tmp/$${f##*/}"; done && \
		units=$$(cd "$$tmp" && ls | sed 's/@\.service$$/@1.service/') && \
		out=$$(cd "$$tmp" && systemd-analyze verify $$units 2>&1) && [ -z "$$out" ] || { echo "systemd-analyze verify: $$out"; exit 1; } && \
		printf 'pid %s/nginx.pid;\nevents {}\nhttp {\n    include %s;\n}\n' "$$tmp" "$$PWD/deploy/nginx/reelay.conf" >"$$tmp/nginx.conf" && \
		nginx -t -q -e stderr -p "$$tmp" -c "$$tmp/nginx.conf"

# Every test, against real servers: each test binary starts the MinIO and PostgreSQL it
# needs on free loopback ports and stops them when it exits, pass or fail.
test: test-deps vet prometheus-check deploy-check
	REELAY_TEST_SERVICES=require REELAY_MINIO_BIN=$(MINIO_BIN) \
		$(GO) test -race -count=1 -timeout 30m ./...

# Mutation checks (ARCHITECTURE.md): each mutant of scripts/mutants/mutants.txt must make its
# tests fail. Not part of `make test`; MUTANTS_FLAGS='-only tus' runs some of them.
MUTANTS_FLAGS ?=
mutants: test-deps
	REELAY_TEST_SERVICES=require REELAY_MINIO_BIN=$(MINIO_BIN) \
		$(GO) run ./scripts/mutants $(MUTANTS_FLAGS)

clean:
	rm -rf bin
