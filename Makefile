# Everything a fresh Debian/Ubuntu machine needs, as root:
#   make demo    install what is missing, deploy the demo lab, show it and ping across it
#   make test    install what is missing, run the whole test suite
SHELL := /bin/bash
VENV  ?= .venv
PY    := $(VENV)/bin/python
APT_PACKAGES := iproute2 iputils-ping iptables nftables ethtool iperf3 tcpdump util-linux procps mininet bridge-utils python3-venv python3-pip nodejs chromium \
                openvswitch-switch-dpdk dpdk-dev \
                libunwind8 libnl-3-200 libnl-route-3-200 libssl3 frr \
                clang libbpf-dev bpftool
# VPP: the runtime libraries above (FD.io's packages bring their own); tests use ../shared/vpp
# (beside the clone) when it is there, else EMULATOR_VPP as set, else vpp on PATH
VPP_DIR := $(abspath $(CURDIR)/../shared/vpp)
ifneq ($(wildcard $(VPP_DIR)/bin/vpp),)
export EMULATOR_VPP ?= $(VPP_DIR)
endif
DEMO  := topologies/fw-chain.yaml
DEMO_LAB ?= fw-demo

.PHONY: setup system venv webui demo demo-destroy test test-unit test-integration bench clean

setup: system venv webui

# the web UI's browser-side packages (xterm.js) come from the npm registry into webui/node_modules
webui: webui/node_modules/.installed

webui/node_modules/.installed: webui/package.json
	cd webui && npm install --no-audit --no-fund --loglevel=error
	@touch $@

# (installing openvswitch must not leave a system OVS running: each lab starts its own)
system:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages:$$missing"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  if [ ! -e /usr/sbin/policy-rc.d ]; then printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; \
	    chmod +x /usr/sbin/policy-rc.d; trap 'rm -f /usr/sbin/policy-rc.d' EXIT; fi; \
	  apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  case "$$missing" in *openvswitch*) \
	    if command -v systemctl >/dev/null && systemctl is-active -q openvswitch-switch 2>/dev/null; then \
	      systemctl stop openvswitch-switch; \
	    elif [ -e /var/run/openvswitch/ovs-vswitchd.pid ] || [ -e /var/run/openvswitch/ovsdb-server.pid ]; then \
	      /usr/share/openvswitch/scripts/ovs-ctl stop >/dev/null; fi;; \
	  esac; \
	fi
	@# Debian's nodejs comes without npm (NodeSource's includes it): the web UI needs npm
	@command -v npm >/dev/null || { export DEBIAN_FRONTEND=noninteractive; apt-get update -qq && \
	  apt-get install -y -qq --no-install-recommends npm >/dev/null; }

$(VENV)/.installed: setup.py
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	@touch $@

venv: $(VENV)/.installed

# the demo deploys under its own lab name; a lab of that name is replaced only when its state says
# it came from the demo file (make demo made it), any other is left alone and reported
demo: system venv
	@from=$$($(PY) -m emulator inspect $(DEMO_LAB) -f json 2>/dev/null | \
	  $(PY) -c 'import json, sys; print(json.load(sys.stdin).get("file") or "an unknown file")' 2>/dev/null); \
	if [ "$$from" = "$(abspath $(DEMO))" ]; then $(PY) -m emulator destroy $(DEMO_LAB) >/dev/null; \
	elif [ -n "$$from" ]; then \
	  echo "error: a lab named $(DEMO_LAB) is already deployed (from $$from), not by make demo:" \
	       "remove it yourself (emulator destroy $(DEMO_LAB)) or run make demo DEMO_LAB=another-name" >&2; \
	  exit 1; fi
	$(PY) -m emulator deploy $(DEMO) --name $(DEMO_LAB)
	$(PY) -m emulator exec $(DEMO_LAB) client -- ping -c 3 10.100.2.2
	@echo
	@echo "The demo lab $(DEMO_LAB) is running. Try:"
	@echo "  $(PY) -m emulator inspect $(DEMO_LAB)"
	@echo "  $(PY) -m emulator exec $(DEMO_LAB) client -- ip route"
	@echo "  make demo-destroy"

demo-destroy:
	$(PY) -m emulator destroy $(DEMO_LAB)

test: setup
	$(PY) -m pytest -q tests

test-unit: setup
	$(PY) -m pytest -q tests -m "not integration"

bench: setup
	$(PY) bench/deploy_scale.py

clean:
	rm -rf $(VENV) *.egg-info build .pytest_cache .hypothesis
