"""The tiers' file declarations (render.tierfiles) and what is derived from them: the restart
triggers, the upload list with the kube tiers skipped, and one owner for every path."""

from __future__ import annotations

import pytest
from labfiles import LABS, lab_plan

from halab import tiers
from halab.config import layout, plan
from halab.config.topology import load
from halab.render import desired, files, pki, tierfiles
from halab.render.tierfiles.model import File, Secret, Template, TierFiles

pytestmark = pytest.mark.unit
KINDS = ("nginx", "haproxy", "pound")


def plans() -> list[plan.Plan]:
    """Every lab of labs/, and each with every LB kind it accepts."""
    out = []
    for path in sorted(LABS.glob("*.yaml")):
        topo = load(path).topology
        out.append(plan.build(topo))
        for kind in KINDS if topo.lb else ():
            if kind != topo.lb.kind:
                lb = topo.lb.model_copy(update={"kind": kind})
                out.append(plan.build(topo.model_copy(update={"lb": lb})))
    return out


PLANS = plans()


def ids(p: plan.Plan) -> str:
    return f"{p.lab}-{p.lb_kind}"


@pytest.mark.parametrize("p", PLANS, ids=ids)
def test_a_changed_file_restarts_exactly_the_services_it_declares(p: plan.Plan) -> None:
    """For every file on every host, the tier of that host restarts the file's declared
    services that it runs, and nothing else."""
    checked = 0
    for step in tiers.steps(p):
        for host in p.hosts:
            if host.role != step.tier.role:
                continue
            for f in tierfiles.on_host(p, host):
                want = [s for s in step.tier.services if s in f.restarts]
                assert step.tier.services_for([f.path]) == want, (host.name, f.path)
                checked += bool(want)
    assert checked > 0


def test_every_declared_restart_names_a_service_a_tier_runs() -> None:
    run = {s for p in PLANS for step in tiers.steps(p) for s in step.tier.services}
    declared = {s for t in tierfiles.TIERS for f in t.files for s in f.restarts}
    assert declared <= run, declared - run


def test_the_restarts_of_a_path_are_what_its_declarations_say() -> None:
    one = TierFiles("one", "master", (File("/a", Template("a.j2"), ("x",)),
                                      File("/b", Template("b.j2"))))
    two = TierFiles("two", "minion", (File("/a", Template("a.j2"), ("y",)),))
    assert tierfiles._restarts((one, two)) == {"/a": {"x", "y"}, "/b": set()}
    etcd = tiers.etcd.TIER
    assert etcd.services_for([layout.ETCD_ENV, "/etc/hosts"]) == ["etcd"]
    assert etcd.services_for([layout.ETCD_HANDOVER, "/etc/hosts"]) == []
    # A prefix of a declared path is not that path.
    assert etcd.services_for([layout.ETCD_PKI + "/"]) == []


def test_a_shared_file_restarts_the_services_of_the_host_it_is_on() -> None:
    p = lab_plan("seed")
    etcd, lb, control, nodes = (s.tier for s in tiers.steps(p))
    client_key = f"{layout.CLIENT_PKI}/etcd-client.key"
    assert etcd.services_for([client_key]) == []  # etcd is a server, not a client
    assert lb.services_for([client_key]) == []
    assert control.services_for([client_key]) == ["kube-apiserver"]
    assert nodes.services_for([client_key]) == ["flanneld"]
    kube_ca = f"{layout.KUBE_PKI}/ca.crt"
    assert control.services_for([kube_ca]) == ["kube-apiserver", "kube-controller-manager"]
    assert nodes.services_for([kube_ca]) == ["kubelet"]
    assert nodes.services_for([tierfiles.kube_nodes.FLANNEL_ENV]) == ["flanneld"]
    assert nodes.services_for([tierfiles.kube_nodes.CONTAINERD_CONFIG]) == ["containerd"]


@pytest.mark.parametrize("p", PLANS, ids=ids)
def test_every_path_on_a_host_is_declared_once(p: plan.Plan) -> None:
    for host in p.hosts:
        paths = [f.path for f in tierfiles.on_host(p, host)]
        assert len(paths) == len(set(paths)), sorted(x for x in paths if paths.count(x) > 1)


@pytest.mark.parametrize("p", PLANS, ids=ids)
def test_render_writes_exactly_the_declared_templates(p: plan.Plan) -> None:
    rendered = files.render(p).hosts
    for host in p.hosts:
        assert set(rendered[host.name]) == {f.path for f in tierfiles.on_host(p, host)
                                            if isinstance(f.source, Template)}


def test_secrets_that_hold_a_key_are_not_world_readable() -> None:
    for t in tierfiles.TIERS:
        for f in t.files:
            if isinstance(f.source, Secret) and f.source.kind != "cert" \
                    and f.source.kind != "pub":
                assert f.mode & 0o007 == 0, f.path


def test_the_tiers_follow_the_declarations_and_skipping_kube_leaves_its_tiers_out() -> None:
    seed = lab_plan("seed")
    etcd_only = lab_plan("etcd-only")
    names = [t.name for t in tierfiles.listed(seed)]
    assert names == ["common", "etcd", "load balancer", "kube control plane", "kube nodes"]
    assert [s.tier.name for s in tiers.steps(seed)] == names[1:]
    assert [t.name for t in tierfiles.listed(seed, kube=False)] == names[:3]
    assert [t.name for t in tierfiles.listed(etcd_only)] == names[:3]
    # Every declared tier but the files common to all hosts is applied by a tier of halab.tiers.
    assert set(tiers.APPLY) == {t.name for t in tierfiles.TIERS} - {tierfiles.COMMON.name}


@pytest.fixture(scope="module")
def seed(tmp_path_factory: pytest.TempPathFactory):
    p = lab_plan("pound-per-node")
    store = pki.PKIStore(tmp_path_factory.mktemp("pki"))
    desired.sync_secrets(p, store)
    rendered = files.render(p)
    return p, desired.desired_files(p, rendered, store), \
        desired.desired_files(p, rendered, store, kube=False)


def test_a_kube_less_upload_lists_no_file_of_the_kube_tiers(seed) -> None:
    p, on, off = seed
    kube = [t for t in tierfiles.TIERS if t.kube]
    for host in p.hosts:
        kube_paths = {f.path for t in kube for f in t.on(p, host)}
        assert not kube_paths & set(off[host.name])
        # Everything else is the same as with the kube tiers, byte for byte.
        assert off[host.name] == {k: v for k, v in on[host.name].items() if k not in kube_paths}
    assert layout.POUND_CONF in on["minion1"] and layout.POUND_CONF not in off["minion1"]
    assert layout.POUND_CONF in off["lb1"]
