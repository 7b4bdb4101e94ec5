"""kubectl on this host reaches a lab: `halab kubeconfig LAB --merge` adds the context
halab-<lab> to the kubeconfig that $KUBECONFIG names (a file under tmp_path: the user's own is
never touched), `kubectl --context halab-<lab> get nodes` lists the minion, another context
in that file is kept, and `halab down` removes the lab's context and only it.

A small kube lab of its own: lb1, master1 and minion1 (marked `kube`: it needs the Kubernetes
binaries, `make binaries`).
"""

from __future__ import annotations

import os
import stat
import subprocess

import pytest
import yaml
from labcli import halab, lab_objects

from halab.home import labs_dir

pytestmark = [pytest.mark.kube, pytest.mark.lab]

LAB = "cls-kube"
TOPOLOGY = f"""name: {LAB}
description: kubectl from the host (halab's kubeconfig test)
network: {{subnet: 10.176.44.0/24}}
defaults: {{memory: 1024}}
lb: {{kind: nginx}}
kubernetes: {{enabled: true, service_cidr: 10.32.44.0/24, pod_cidr: 10.177.0.0/16}}
hosts:
  - {{name: lb1, role: lb, ip: 10.176.44.11, memory: 512}}
  - {{name: master1, role: master, ip: 10.176.44.21}}
  - {{name: minion1, role: minion, ip: 10.176.44.31}}
"""
OTHER = {"apiVersion": "v1", "kind": "Config", "current-context": "mine",
         "clusters": [{"name": "mine", "cluster": {"server": "https://127.0.0.1:1"}}],
         "users": [{"name": "mine", "user": {"token": "t"}}],
         "contexts": [{"name": "mine", "context": {"cluster": "mine", "user": "mine"}}]}


@pytest.fixture(scope="module")
def kube_lab(tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("kubeconfig") / f"{LAB}.yaml"
    path.write_text(TOPOLOGY)
    try:
        proc = halab("up", str(path))
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        yield proc
    finally:
        if lab_objects(LAB):
            halab("down", LAB, "--yes")


def test_up_says_how_to_use_kubectl(kube_lab) -> None:
    # The last line, as rich wrapped it: the end of the output, whitespace folded.
    tail = " ".join(kube_lab.stdout.split()).rsplit(f"lab '{LAB}' is up", 1)[-1]
    assert f"halab kubeconfig {LAB} --merge" in tail and f"--context halab-{LAB}" in tail


def test_kubectl_from_the_host_then_down_removes_the_context(kube_lab, tmp_path) -> None:
    config = tmp_path / "kube" / "config"
    config.parent.mkdir()
    config.write_text(yaml.safe_dump(OTHER))
    env = {"KUBECONFIG": str(config)}
    proc = halab("kubeconfig", LAB, "--merge", env=env)
    assert proc.returncode == 0, proc.stderr
    admin = labs_dir() / LAB / "admin.kubeconfig"
    assert stat.S_IMODE(admin.stat().st_mode) == 0o600
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    kubectl = labs_dir() / "bin" / "kubectl"
    got = subprocess.run([str(kubectl), "--context", f"halab-{LAB}", "get", "nodes", "-o",
                          "name"], env={**os.environ, **env}, capture_output=True, text=True,
                         timeout=60)
    assert got.returncode == 0, got.stderr
    assert "node/minion1" in got.stdout
    merged = yaml.safe_load(config.read_text())
    assert merged["current-context"] == "mine"
    assert {c["name"] for c in merged["contexts"]} == {"mine", f"halab-{LAB}"}

    assert halab("down", LAB, "--yes", env=env).returncode == 0
    after = yaml.safe_load(config.read_text())
    assert after["contexts"] == OTHER["contexts"] and after["users"] == OTHER["users"]
    assert after["clusters"] == OTHER["clusters"] and after["current-context"] == "mine"
