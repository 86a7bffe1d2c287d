# Two set-up commands (README): `make run` and `make test`. Everything else is a helper.
VENV ?= .venv
PY := $(VENV)/bin/python
DATA_DIR ?= ./data
LISTEN ?= 127.0.0.1:5000
# Debian packages the tests drive (real clients and the reference registry).
APT_PACKAGES := skopeo podman buildah containerd docker-registry curl wrk nginx-light \
	systemd pdns-server pdns-backend-geoip pdns-backend-bind dnsutils docker.io uuid-runtime iproute2 \
	chromium chromium-driver
# Ceph's S3 gateway (a throwaway single-node cluster per test session); no recommends (no mgr).
APT_PACKAGES_NO_RECOMMENDS := ceph-mon ceph-osd radosgw
PYTEST_ARGS ?=
# Two pytest-xdist workers, whole test files to one worker (module fixtures stay shared): most of
# the suite waits on real servers, so two streams halve its time on a 2-core machine. XDIST= runs it serially.
XDIST ?= -n 2 --dist loadfile
BENCH_LOAD_ARGS ?=

.PHONY: run test venv system-deps bench bench-load bench-tables bench-scale soak clean

$(VENV)/.installed: pyproject.toml setup.py $(wildcard ext/*.pyx ext/*.c ext/*.h)
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip setuptools wheel "Cython==3.3.1"
	$(PY) -m pip install -q --no-build-isolation -e ".[test]"
	touch $@

venv: $(VENV)/.installed

## Run the node on its embedded default: local-directory origin and data in $(DATA_DIR).
run: venv
	$(PY) -m ocicache serve --listen $(LISTEN) --data-dir $(DATA_DIR)

## Install what the tests need (Debian packages when root), then run the whole suite.
system-deps:
	@missing=""; for c in skopeo podman buildah containerd docker-registry curl wrk nginx \
	    systemd-analyze pdns_server dig dockerd uuidgen ip ceph-mon ceph-osd radosgw monmaptool \
	    chromium chromedriver; do \
	  command -v $$c >/dev/null 2>&1 || missing="$$missing $$c"; done; \
	ls /usr/lib/*/pdns/libgeoipbackend.so >/dev/null 2>&1 || missing="$$missing pdns-backend-geoip"; \
	ls /usr/lib/*/pdns/libbindbackend.so >/dev/null 2>&1 || missing="$$missing pdns-backend-bind"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages for:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_PACKAGES) >/dev/null && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	      $(APT_PACKAGES_NO_RECOMMENDS) >/dev/null; \
	  else echo "warning: missing$$missing (run as root to install them; tests that need them fail in CI)"; fi; \
	fi

test: system-deps venv
	$(PY) -m pytest $(XDIST) $(PYTEST_ARGS)

## Micro-benchmarks (pytest-benchmark); results as ratios in one run.
bench: venv
	mkdir -p bench/results
	$(PY) -m pytest bench -p no:cacheprovider --benchmark-only --benchmark-columns=min,median,max,ops \
	  --benchmark-json=bench/results/micro.json
	$(PY) bench/ratios.py bench/results/micro.json

## End-to-end load benchmark against nginx and CNCF distribution, over HTTP and HTTPS, and `docker pull`
## through an edge and distribution's proxy (~15 minutes); see bench/load/README.md. One workload alone:
## make bench-load BENCH_LOAD_ARGS="--only push-through" (or tls, docker-pull). To publish a run:
## BENCH_LOAD_ARGS="--out docs/performance/load", then make bench-tables, then commit both.
bench-load: system-deps venv
	$(PY) -m bench.load.run $(BENCH_LOAD_ARGS)

## Rewrite the generated benchmark tables of README.md and docs/PERFORMANCE.md from the committed
## raw results they name (docs/performance/*/results.json); tests/docs/test_performance.py checks them.
bench-tables: venv
	$(PY) -m bench.load.sections README.md docs/PERFORMANCE.md

## How start-up and eviction grow with the store: 1k / 100k / 1M blobs (the 1M store takes
## several minutes to write), each size measured BENCH_SCALE_REPS times; table on stdout, raw
## results (json, csv) and PNG curves in BENCH_SCALE_OUT (published: docs/performance/scale/store,
## then make bench-tables). Listings: bench/scale_listings.py; connections: bench/scale_connections.py.
BENCH_SCALE_SIZES ?= 1000,100000,1000000
BENCH_SCALE_REPS ?= 3
BENCH_SCALE_OUT ?= bench/results/scale
bench-scale: venv
	$(PY) -m bench.scale --sizes $(BENCH_SCALE_SIZES) --reps $(BENCH_SCALE_REPS) --out $(BENCH_SCALE_OUT)

## Soak: mixed push/pull/eviction load for SOAK_SECONDS (default 600), then p50/p99, errors (must
## be 0), RSS plot and `cache verify` in bench/results/soak; docs/RELIABILITY.md.
SOAK_SECONDS ?= 600
soak: venv
	$(PY) -m bench.soak --seconds $(SOAK_SECONDS) --out bench/results/soak

clean:
	rm -rf build $(VENV) ocicache/hotpaths/*.so ext/_digest_c.c ext/_rangecopy_c.c
