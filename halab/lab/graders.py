"""The graders of `halab exercise check`: each asks the lab itself whether a fix holds (the cause,
not the symptom), and answers (passed, what it saw). Named in config.exercises.GRADERS.

What `start` recorded before the break (`Before`) is what the fix is held to: the marks it wrote
through the LB, and each member's ID then.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from halab.config import layout
from halab.config.plan import APISERVER_PORT
from halab.errors import HalabError
from halab.facts import etcd, faults, kube
from halab.poll import Reason, Timeout, poll
from halab.probes import tlscert
from halab.probes.etcdclient import Cluster
from halab.probes.gateway import GatewayError
from halab.render import pki
from halab.session.context import Lab

MARKS = 10  # keys `start` writes through the LB before the break
LB_TRIES = 4  # new connections per master through the LB (round robin reaches each)
FRESH = 30  # s: a lease renewed longer ago than this has a holder that is gone
LEASE_WAIT = 40  # s: a new holder takes a lease once the old one's (15 s) has run out


@dataclass
class Before:
    """The lab as `start` found it, before the break (kept in exercise.json)."""

    prefix: str = ""
    marks: list[str] = field(default_factory=list)
    member_ids: dict[str, int] = field(default_factory=dict)


Verdict = tuple[bool, str]


def record(cluster: Cluster, prefix: str) -> Before:
    """Write the marks through the LB and note each member's ID."""
    gw = cluster.gateway(cluster.plan.etcd.client_url, timeout=5.0)
    try:
        marks = [f"{prefix}{n:03d}" for n in range(MARKS)]
        for key in marks:
            gw.put(key, "written before the exercise broke the lab")
        ids = {m.name: m.id for m in gw.members()}
    finally:
        gw.close()
    return Before(prefix, marks, ids)


def forget(cluster: Cluster, before: Before) -> None:
    """Delete the marks (reset), if etcd answers."""
    gw = cluster.gateway(cluster.plan.etcd.client_url, timeout=5.0)
    try:
        gw.delete_prefix(before.prefix)
    except GatewayError:
        pass
    finally:
        gw.close()


def etcd_healthy(lab: Lab, cluster: Cluster, before: Before, host: str | None) -> Verdict:
    members, problems = cluster.listed_problems_within(timeout=15)
    if problems:
        return False, "; ".join(problems)
    return True, f"{members} members, all healthy, one leader"


def _marks_at(cluster: Cluster, url: str, before: Before) -> tuple[list[str], str]:
    """The marks missing when read at `url`, or why it could not be read."""
    gw = cluster.gateway(url, timeout=5.0)
    try:
        have = set(gw.keys(before.prefix))
    except GatewayError as exc:
        return before.marks, str(exc).splitlines()[0]
    finally:
        gw.close()
    return [k for k in before.marks if k not in have], ""


def etcd_marks_kept(lab: Lab, cluster: Cluster, before: Before, host: str | None) -> Verdict:
    missing, error = _marks_at(cluster, cluster.plan.etcd.client_url, before)
    if error:
        return False, f"etcd does not answer through the LB: {error}"
    if missing:
        return False, (f"{len(missing)} of the {len(before.marks)} keys written before the "
                       "break are gone: was the cluster recreated instead of restored?")
    return True, f"all {len(before.marks)} keys written before the break are there"


def _member_list(lab: Lab, cluster: Cluster) -> list[etcd.Member] | str:
    """etcd's member list, asked of the masters in turn; or why none answered."""
    try:
        return cluster.members([m.name for m in lab.plan.masters])
    except HalabError as exc:
        return exc.message


def etcd_member_replaced(lab: Lab, cluster: Cluster, before: Before, host: str | None
                         ) -> Verdict:
    assert host is not None
    listed = _member_list(lab, cluster)
    if isinstance(listed, str):
        return False, listed
    now = next((m for m in listed if m.name == host), None)
    if now is None:
        return False, f"{host} is not a member of the cluster"
    if now.id == before.member_ids.get(host):
        return False, (f"{host} still has its old member ID {now.hex_id}: it was never removed "
                       "and added back")
    url = cluster.member_urls()[host]
    missing, error = _marks_at(cluster, url, before)
    if error or missing:
        return False, (f"{host} (member {now.hex_id}) does not serve the cluster's data: "
                       + (error or f"{len(missing)} keys missing"))
    return True, f"{host} is member {now.hex_id} (was {before.member_ids.get(host, 0):x}) " \
                 "and serves every key"


def lb_sends_to_every_master(lab: Lab, cluster: Cluster, before: Before, host: str | None
                             ) -> Verdict:
    """Through the LB, each request on a new connection: the member that answered it."""
    ids = {}
    for _ in range(LB_TRIES * len(lab.plan.masters)):
        gw = cluster.gateway(cluster.plan.etcd.client_url, timeout=3.0)
        try:
            ids[gw.status().member_id] = True
        except GatewayError:
            pass
        finally:
            gw.close()
    listed = _member_list(lab, cluster)
    if isinstance(listed, str):
        return False, listed
    names = {m.id: m.name for m in listed}
    seen = sorted(names.get(i, f"{i:x}") for i in ids)
    missing = [m.name for m in lab.plan.masters if m.name not in seen]
    if missing:
        return False, f"through the LB only {', '.join(seen) or 'no master'} answered; never " \
                      f"{', '.join(missing)}"
    return True, f"{', '.join(seen)} all answered through the LB"


def no_partition(lab: Lab, cluster: Cluster, before: Before, host: str | None) -> Verdict:
    """No running host drops another: halab's partition chain drops nothing, or nothing jumps
    to it (any way the student removed the cut, the traffic flows)."""
    cut = {}
    for name in lab.running():
        rules = lab.runner.run(name, "iptables -w -S; true", what="reading the rules").stdout
        jumped = any(line.startswith(("-A INPUT", "-A OUTPUT")) and f"-j {faults.CHAIN}" in line
                     for line in rules.splitlines())
        if jumped and (dropped := faults.blocked(rules)):
            cut[name] = faults.cut_off_from(lab.plan, dropped)
    if cut:
        return False, "; ".join(f"{h} drops {', '.join(a)}" for h, a in cut.items())
    return True, "no host drops another"


def _lease(lab: Lab, name: str, namespace: str) -> tuple[str, float] | str:
    """(holder host, seconds since its renewal) of a Lease, asked on a running master; or why
    not."""
    masters = [m.name for m in lab.plan.masters if m.name in lab.running()]
    for m in masters:
        r = lab.runner.run(m, "date +%s; " + kube.kubectl(
            f"get lease -n {namespace} {name} -o json"), check=False, what="reading a lease")
        if r.ok:
            now, _, doc = r.stdout.partition("\n")
            spec = json.loads(doc).get("spec", {})
            renewed = datetime.fromisoformat(spec.get("renewTime", "").replace("Z", "+00:00"))
            return (kube.holder_host(spec.get("holderIdentity") or ""),
                    float(now) - renewed.timestamp())
    return f"no running master answered for lease {namespace}/{name}"


def scheduler_on_a_live_master(lab: Lab, cluster: Cluster, before: Before, host: str | None
                               ) -> Verdict:
    """Asked until it holds, for up to LEASE_WAIT: a scheduler started a moment ago takes the
    lease only once the dead holder's lease has run out."""
    def held(why: Reason) -> Verdict | None:
        got = _lease(lab, "kube-scheduler", "kube-system")
        if isinstance(got, str):
            why(got)
            return None
        holder, age = got
        if holder not in lab.running() or age > FRESH:
            why(f"the kube-scheduler lease is held by {holder or 'nobody'}, last renewed "
                f"{age:.0f}s ago: no scheduler runs")
            return None
        return True, f"{holder} holds the kube-scheduler lease (renewed {age:.0f}s ago)"
    try:
        return poll(held, timeout=LEASE_WAIT, interval=3, what="a live scheduler")
    except Timeout as exc:
        return False, exc.last


def kubelet_reaches_the_api(lab: Lab, cluster: Cluster, before: Before, host: str | None
                            ) -> Verdict:
    """The cause: HOST's kubelet kubeconfig names the lab's API; the effect: its node lease is
    being renewed."""
    assert host is not None and lab.plan.kube is not None
    want = lab.plan.kube.node_api_url
    conf = lab.runner.run(host, f"grep -h 'server:' {layout.KUBELET_KUBECONFIG}", check=False)
    server = conf.stdout.split("server:", 1)[-1].strip()
    if server != want:
        return False, f"{host}'s kubelet is configured for {server or 'no server'}, not {want}"
    got = _lease(lab, host, kube.NODE_LEASE_NS)
    if isinstance(got, str):
        return False, got
    if got[1] > FRESH:
        return False, f"{host}'s node lease was last renewed {got[1]:.0f}s ago"
    return True, f"{host}'s kubelet talks to {want}; node lease renewed {got[1]:.0f}s ago"


def flannel_on_the_lab_nic(lab: Lab, cluster: Cluster, before: Before, host: str | None
                           ) -> Verdict:
    assert host is not None
    h, nic = lab.host(host), lab.plan.nic
    r = lab.runner.run(host, "systemctl is-active flanneld; ip -d -o link show flannel.1",
                       check=False)
    if not r.stdout.startswith("active"):
        return False, f"flanneld on {host} is {r.stdout.splitlines()[0] if r.stdout else '?'}"
    if f"local {h.ip} dev {nic}" not in r.stdout:
        return False, f"{host}'s flannel.1 is not on {nic} ({h.ip})"
    return True, f"flanneld runs on {host}, its VXLAN device on {nic} ({h.ip})"


def apiserver_certificate(lab: Lab, cluster: Cluster, before: Before, host: str | None
                          ) -> Verdict:
    """Every master's apiserver presents a certificate from the lab's Kubernetes CA with every
    address clients use (a valid one the student issued passes too)."""
    assert lab.plan.kube is not None
    ca = x509.load_pem_x509_certificate((lab.dir / "pki" / f"{pki.KUBE_CA}.crt").read_bytes())
    want = set(lab.plan.kube.apiserver_sans_ip)
    wrong = []
    for m in lab.plan.masters:
        cert = tlscert.served(m.ip, APISERVER_PORT)
        if isinstance(cert, str):
            wrong.append(cert)
            continue
        try:
            cert.verify_directly_issued_by(ca)
        except (ValueError, TypeError, InvalidSignature):
            wrong.append(f"{m.name}: signed by {cert.issuer.rfc4514_string()}, not the lab's CA")
            continue
        try:
            sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            ips = {str(a) for a in sans.get_values_for_type(x509.IPAddress)}
        except x509.ExtensionNotFound:
            ips = set()
        if missing := sorted(want - ips):
            wrong.append(f"{m.name}: no SAN for {', '.join(missing)}")
    if wrong:
        return False, "; ".join(wrong)
    return True, f"{len(lab.plan.masters)} apiservers, each certified by the lab's CA for " \
                 f"{', '.join(sorted(want))}"


GRADERS: dict[str, Callable[[Lab, Cluster, Before, str | None], Verdict]] = {
    "etcd-healthy": etcd_healthy,
    "etcd-member-replaced": etcd_member_replaced,
    "etcd-marks-kept": etcd_marks_kept,
    "lb-sends-to-every-master": lb_sends_to_every_master,
    "no-partition": no_partition,
    "scheduler-on-a-live-master": scheduler_on_a_live_master,
    "kubelet-reaches-the-api": kubelet_reaches_the_api,
    "flannel-on-the-lab-nic": flannel_on_the_lab_nic,
    "apiserver-certificate": apiserver_certificate,
}
