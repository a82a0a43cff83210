# FasterAPI: the one entry point. Every target does its own set-up on a fresh machine.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
PYTHON ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
STAMPS := .stamps
JOBS ?= $(shell nproc)
APT_PKGS := build-essential pkg-config zlib1g-dev libssl-dev openssl libgtest-dev libgmock-dev chromium chromium-driver redis-server
FUZZ_APT_PKGS := clang-14 libclang-rt-14-dev
FUZZ_SECONDS ?= 30
QUICK ?=

PHONY_DEV := dev
.PHONY: all deps venv install install-bench dev cpp-tests pytest test test-asan bench-core conformance bench bench-gate \
        loadtest fuzz fuzz-short check reports run clean

all: install

# --- set-up -----------------------------------------------------------------
# Installs missing Debian packages only (apt-get update first, as a fresh machine needs).
define apt_ensure
	@missing=""; for p in $(1); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo ">> apt-get install$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi
endef

deps:
	$(call apt_ensure,$(APT_PKGS))

$(VPY):
	$(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip

venv: $(VPY)
	$(VPY) -m pip install -q "scikit-build-core>=0.10" "pybind11>=2.12" cmake ninja

# Third-party requirements install with pip's build isolation (an sdist such as socketify
# builds with its own declared build requirements, never with what this venv happens to
# hold); only our own package builds without isolation, against the venv's scikit-build-core.
# Rebuilds incrementally (scikit-build-core keeps build/<wheel_tag>).
define pip_extras
	$(VPY) scripts/requirements.py $(1) > $(VENV)/requirements-$(subst $(space),-,$(1)).txt
	$(VPY) -m pip install -q -r $(VENV)/requirements-$(subst $(space),-,$(1)).txt
endef
space := $(empty) $(empty)

install: deps venv
	$(call pip_extras,test)
	$(VPY) -m pip install -q --no-build-isolation --no-deps .
	@# `python -m conformance|loadtest` run from the repo root import ./fasterapi: keep its _core in sync.
	cp "$$($(VPY) -c 'import sysconfig,glob;print(glob.glob(sysconfig.get_paths()["platlib"]+"/fasterapi/_core*.so")[0])')" fasterapi/

install-bench: install
	$(call pip_extras,test bench)

# --- tests ------------------------------------------------------------------
CMAKE = $(VENV)/bin/cmake
build/cpp/build.ninja: deps venv
	$(CMAKE) -S . -B build/cpp -G Ninja -DCMAKE_BUILD_TYPE=Release -DFASTERAPI_BUILD_TESTS=ON -DFASTERAPI_BUILD_TOOLS=ON

cpp-tests: build/cpp/build.ninja
	$(CMAKE) --build build/cpp -j $(JOBS)
	$(VENV)/bin/ctest --test-dir build/cpp --output-on-failure -j $(JOBS)

pytest: install
	$(VENV)/bin/pytest tests

test: cpp-tests pytest

# ASan + UBSan: the C++ tests, then the extension itself under the Python tests that drive
# the server over real sockets and an Autobahn subset (libasan preloaded into python).
# libstdc++ is preloaded too: python is C, and ASan must find __cxa_throw when it starts.
# Leaks are off (CPython keeps objects until exit); a 16 MiB quarantine keeps the tests'
# RSS bounds meaningful (ASan's default 256 MiB of freed-but-held memory swamps them).
ASAN_ENV = LD_PRELOAD="$$(gcc -print-file-name=libasan.so) $$(gcc -print-file-name=libstdc++.so)" \
  ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:handle_segv=1:quarantine_size_mb=16 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  PYTHONPATH=$(abspath build/asan/py)
ASAN_PYTESTS ?= tests/test_ws_core.py tests/test_handshake.py tests/test_deflate.py tests/test_http_parser.py \
  tests/test_sse_encoder.py tests/test_app_http.py tests/test_app_websocket.py tests/test_app_sse.py \
  tests/test_app_pubsub.py tests/test_hardening.py
ASAN_CASES ?= 1.*,2.*,3.*,4.*,5.*,6.*,7.*,9.1.*,9.2.*,10.*,12.1.*,13.1.*
test-asan: install
	$(CMAKE) -S . -B build/asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFASTERAPI_SANITIZE=ON \
	  -DFASTERAPI_BUILD_TESTS=ON -DFASTERAPI_BUILD_TOOLS=ON -DFASTERAPI_BUILD_MODULE=ON \
	  -DPython_EXECUTABLE=$(abspath $(VPY)) -Dpybind11_DIR=$$($(VPY) -m pybind11 --cmakedir)
	$(CMAKE) --build build/asan -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  $(VENV)/bin/ctest --test-dir build/asan --output-on-failure -j $(JOBS)
	mkdir -p build/asan/py/fasterapi
	for f in fasterapi/*; do case $$f in *.so) ;; *) ln -sfn $(abspath .)/$$f build/asan/py/fasterapi/;; esac; done
	cp build/asan/_core*.so build/asan/py/fasterapi/
	@# From / so ./fasterapi (the release _core) cannot shadow the ASan build.
	cd / && $(ASAN_ENV) $(abspath $(VPY)) -c 'import fasterapi._core as c; assert "build/asan" in c.__file__, c.__file__'
	$(ASAN_ENV) $(VENV)/bin/pytest -p no:cacheprovider $(ASAN_PYTESTS)
	$(ASAN_ENV) $(VPY) -m conformance all --only fasterapi-python,fasterapi-native,fasterapi-hardening \
	  --cases '$(ASAN_CASES)' --ws-native "$(abspath build/asan/fasterapi-echo) --port {port}" \
	  --report-dir reports/conformance-asan

bench-core: build/cpp/build.ninja
	$(CMAKE) --build build/cpp -j $(JOBS) --target fasterapi-bench-core
	taskset -c 0 build/cpp/fasterapi-bench-core

# Developer build in its own folder (parallel work never shares a build dir):
#   make dev DEV=ws [TARGET=test_ws_frame]  then  PYTHONPATH=build/ws/py .venv/bin/pytest tests/... (not python -m: ./fasterapi would shadow)
DEV ?= dev
dev: venv
	$(CMAKE) -S . -B build/$(DEV) -G Ninja -DCMAKE_BUILD_TYPE=Release -DFASTERAPI_BUILD_MODULE=ON \
	  -DFASTERAPI_BUILD_TESTS=ON -DPython_EXECUTABLE=$(abspath $(VPY)) -Dpybind11_DIR=$$($(VPY) -m pybind11 --cmakedir) >/dev/null
	$(CMAKE) --build build/$(DEV) -j $(JOBS) $(if $(TARGET),--target $(TARGET),)
	mkdir -p build/$(DEV)/py/fasterapi
	for f in fasterapi/*; do case $$f in *.so) ;; *) ln -sfn $(abspath .)/$$f build/$(DEV)/py/fasterapi/;; esac; done
	if ls build/$(DEV)/_core*.so >/dev/null 2>&1; then cp build/$(DEV)/_core*.so build/$(DEV)/py/fasterapi/; fi

# --- conformance, benchmarks, fuzzing -----------------------------------------
conformance: install
	$(VPY) -m conformance all --report-dir reports/conformance

bench: install-bench
	$(VPY) -m loadtest.bench $(if $(QUICK),--quick,) --report-dir reports/bench
	$(VPY) -m loadtest.broker_bench $(if $(QUICK),--quick,) --report-dir reports/bench

bench-gate: install-bench
	$(VPY) -m loadtest.gate

loadtest: install-bench
	$(VPY) -m loadtest.locust_run --report-dir reports/bench

fuzz: deps venv
	$(call apt_ensure,$(FUZZ_APT_PKGS))
	CXX=clang++-14 $(CMAKE) -S . -B build/fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFASTERAPI_FUZZ=ON -DFASTERAPI_BUILD_TOOLS=OFF
	$(CMAKE) --build build/fuzz -j $(JOBS)
	$(VPY) src/cpp/tests/fuzz/run_all.py --build-dir build/fuzz --seconds $(FUZZ_SECONDS)

fuzz-short:
	$(MAKE) fuzz FUZZ_SECONDS=30

check: test conformance bench-gate fuzz-short

# The main job: every conformance suite, then the benchmark, then reports/index.html linking
# both. The benchmark runs even when a conformance gate failed (both reports are wanted);
# the exit status is the first failure.
reports: install-bench
	rc=0; \
	$(VPY) -m conformance all --report-dir reports/conformance || rc=$$?; \
	$(VPY) -m loadtest.bench $(if $(QUICK),--quick,) --report-dir reports/bench || { r=$$?; [ $$rc != 0 ] || rc=$$r; }; \
	$(VPY) -m loadtest.report --index reports; \
	echo ">> open reports/index.html"; exit $$rc

run: install
	$(VPY) examples/websocket_demo.py --port 9001

clean:
	rm -rf build $(STAMPS) reports
