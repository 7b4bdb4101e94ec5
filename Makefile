# halab — every target installs what it needs and does nothing when it is already there.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
LAB ?= labs/seed.yaml
PYTEST_ARGS ?=
# What the lab tests run on: container (Incus system containers, native speed) or vm (Vagrant + libvirt).
PROVIDER ?= container
export PROVIDER
# On VMs under emulation the kube lab takes over 30 minutes: `make test PROVIDER=vm` leaves it out.
# The 2-host kube lab on VMs has its own target (vm-kube-test), never in `make test`.
TEST_MARKS := $(if $(filter vm,$(PROVIDER)),-m 'not kube and not zones and not ha and not vmkube',)

# Debian packages halab needs on the host (Debian 12).
DEBS := vagrant vagrant-libvirt libvirt-daemon-system qemu-system-x86 qemu-utils dnsmasq-base \
        libvirt-dev pkg-config debootstrap extlinux syslinux-common e2fsprogs fdisk \
        ruby nginx-light libnginx-mod-stream haproxy openssh-client rsync \
        gcc libc6-dev umoci graphviz chromium

.PHONY: cluster-sim cluster-sim-down cluster-test vm-kube-test incus help deps debs venv lab-up lab-down verify demo box render test unit lab-test kube-test ha-test zones-test lint bench clean binaries

help:
	@echo "make lab-up     bring up the default lab ($(LAB))"
	@echo "make lab-down   destroy it"
	@echo "make test       unit tests and the lab tests, the seed kube lab included, on system containers (what CI runs)"
	@echo "make unit       run the unit tests only (no hosts, seconds)"
	@echo "make kube-test  the seed lab's kube tier (containers: ~6 min; PROVIDER=vm: VMs, 30+ min)"
	@echo "make ha-test    replicas, zone halts, the fault drills, the LB pair's VIP, cold restart,"
	@echo "                every exercise (the etcd and LB ones are in make test too), the cluster test"
	@echo "make vm-kube-test labs/vm-kube.yaml (1 master, 1 minion) on VMs, every kube check, halt/start"
	@echo "                of the minion (also in ha-test when PROVIDER=vm)"
	@echo "make zones-test lose zone b of labs/zones.yaml and a cold restart"
	@echo "make cluster-test labs/zones.yaml over a simulated 3-member Incus cluster, a member lost"
	@echo "make cluster-sim / cluster-sim-down  that cluster, made and removed (docs/cluster.md)"
	@echo "                (lab targets run on containers; PROVIDER=vm runs them on VMs)"
	@echo "make render     render $(LAB) into .halab/<lab>/"
	@echo "make deps       install Debian packages, Incus and the .venv (idempotent)"
	@echo "make incus      install Incus only (Debian 12: incus-base, incus-client from bookworm-backports)"
	@echo "make lint       ruff and lint-imports (the import layering of pyproject.toml)"
	@echo ""
	@echo "the house (README, Layout): halab/config facts artifacts render are pure; remote (SSH)"
	@echo "and providers (Vagrant+libvirt, containers) act; build/ makes the box, binaries and images;"
	@echo "tiers/ apply etcd, lb, kube_control and kube_nodes in order; lab/ holds the commands;"
	@echo "verify/ the checks and scenarios; cli/ parses"

deps: debs incus venv

# Incus, the container provider's engine: on Debian 12 incus-base and incus-client from
# bookworm-backports, through a sources file of halab's own; Debian 13 and Ubuntu 24.04 their own.
incus: debs
	./scripts/incus-install

debs:
	@missing=$$(for p in $(DEBS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "==> apt-get install $$missing"; \
	  ./scripts/apt-install $$missing; \
	else echo "==> Debian packages: all present"; fi

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml | debs
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev,libvirt]'
	@touch $@

render: venv
	$(BIN)/halab render $(LAB)

lab-up: deps
	$(BIN)/halab up $(LAB)

lab-down: venv
	$(BIN)/halab down $(LAB) --yes

unit: venv
	$(BIN)/pytest -m unit $(PYTEST_ARGS)

lab-test: deps
	$(BIN)/pytest -m 'lab and not vmkube and not cluster' $(PYTEST_ARGS)

# A three-member Incus cluster on this machine (docs/cluster.md): each member its own incusd in
# its own network namespace. `cluster-sim-down` leaves nothing of it behind.
cluster-sim: deps
	$(BIN)/halab cluster-sim up

cluster-sim-down: venv
	$(BIN)/halab cluster-sim down

# labs/zones.yaml over the simulated cluster, one zone per member; losing a member (~5 min).
cluster-test: deps binaries
	$(BIN)/pytest -m cluster $(PYTEST_ARGS)

# The seed lab with the kube tier on real VMs (about 30 min): kept out of `make test` and CI.
kube-test: deps binaries
	$(BIN)/pytest -m kube $(PYTEST_ARGS)

# add/remove/replace masters, halt --zone, the fault drills, the LB pair's VIP failover, cold restart,
# every exercise (halab exercise) and the rolling upgrade of the seed lab from 1.35.4 (its binaries
# are built once, ~10 min);
# with PROVIDER=vm also the kube tier on VMs (vm-kube-test).
HA_MARKS := $(if $(filter vm,$(PROVIDER)),ha or exercises or vmkube,ha or exercises or cluster)
ha-test: deps $(if $(filter vm,$(PROVIDER)),binaries,)
	$(BIN)/pytest -m '$(HA_MARKS)' $(PYTEST_ARGS)

# The kube tier on VMs (issue 35): labs/vm-kube.yaml, one master and one minion, small enough
# for software emulation on 2 cores; up, verify with every kube check, halt/start of the
# minion, a second up, down. Always on VMs.
vm-kube-test: deps binaries
	PROVIDER=vm $(BIN)/pytest -m vmkube $(PYTEST_ARGS)

# Losing zone b of labs/zones.yaml, then a cold restart (7 VMs with the kube tier, 30-60 min).
zones-test: deps binaries
	$(BIN)/pytest -m zones $(PYTEST_ARGS)

# pytest exits 5 when it collected nothing: that is a failure, not a pass.
# The import contracts of pyproject.toml first: a broken layering fails before any VM boots.
test: deps binaries
	$(BIN)/lint-imports --no-logo
	@$(BIN)/pytest --durations=10 $(TEST_MARKS) $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: no tests were collected" >&2; exit 1; fi; exit $$rc

lint: venv
	$(BIN)/ruff check halab tests bench
	$(BIN)/lint-imports --no-logo

# Kubernetes/flannel binaries for the pinned version, built from Go modules (cached; see halab/config/versions.py).
binaries: venv
	$(BIN)/halab binaries build

bench: venv
	$(BIN)/python bench/render

box: deps
	$(BIN)/halab box build

clean:
	rm -rf $(VENV) .pytest_cache
