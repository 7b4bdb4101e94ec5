"""Exercises as data: one YAML file per exercise in exercises/ (the checkout's, or share/halab/
exercises/ of an installed halab). Each file says what lab it needs, how to break it, hints, a
reference solution and the items that grade the fix.

Pure: files in, validated exercises out; which lab an exercise fits; its steps with the lab's
names and addresses filled in. `halab.lab.exercise` runs them.

A step is either `{host: HOST, run: SHELL}` (run as root on that lab host over SSH) or
`{halab: "COMMAND ..."}` (a halab command, run as the user would type it). A reset runs the
exercise's `reset` steps (unless every item already passes), then `halab up LAB`. Text is a Jinja2
template with: lab, ip (host → address), lb (the first LB host), masters, minions (names),
last_master, first_minion, nic (the hosts' lab NIC), lb_conf / lb_service (the LB's config file
and unit), snapshot (the one `start` took, when the exercise asks for it), kubectl (on a master,
as admin).

An item is `{name, verify: EXPR}` (those checks of `halab verify`, chosen as `pytest -k EXPR`
chooses: each chosen check must pass) or `{name, grader: NAME, host: HOST}` (one of GRADERS).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import jinja2
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from halab.config import layout
from halab.config.plan import Plan
from halab.errors import HalabError

# The graders `halab.lab.graders` implements, with what each holds the lab to.
GRADERS = {
    "etcd-healthy": "etcd lists one member per master of the topology, every one healthy, "
                    "one leader",
    "etcd-member-replaced": "HOST's member has a new member ID (it was removed and added back) "
                            "and serves the keys written before the break from its own data",
    "etcd-marks-kept": "the keys written before the break are all there, through the LB",
    "lb-sends-to-every-master": "through the LB, etcd answers from every master (new "
                                "connections, round robin)",
    "no-partition": "no running host has a rule in halab's partition chain",
    "scheduler-on-a-live-master": "a running master holds the kube-scheduler lease and renews it",
    "kubelet-reaches-the-api": "HOST's kubelet kubeconfig names the lab's API, and its node "
                               "lease is being renewed",
    "flannel-on-the-lab-nic": "flanneld runs on HOST, its VXLAN device on the lab NIC",
    "apiserver-certificate": "every apiserver presents a certificate of the lab's Kubernetes CA "
                             "with every address clients use",
}
LB_FILES = {"nginx": ("/etc/nginx/nginx.conf", "nginx"),
            "haproxy": ("/etc/haproxy/haproxy.cfg", "haproxy"),
            "pound": ("/etc/pound/pound.cfg", "pound")}


# kubectl on a master with the admin credentials (as halab.facts.kube.kubectl), for steps
KUBECTL = (f"{layout.KUBE_BIN}/kubectl --kubeconfig={layout.KUBE_CONFIG_DIR}/admin.kubeconfig "
           "--request-timeout=5s")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Step(_Strict):
    host: str | None = None
    run: str | None = None
    halab: str | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Step:
        if (self.run is None) == (self.halab is None):
            raise ValueError("a step is either `host` + `run` (a shell command on a lab host) "
                             "or `halab` (a halab command)")
        if self.run is not None and not self.host:
            raise ValueError("a `run` step needs `host`: the lab host it runs on")
        return self


class Item(_Strict):
    name: str
    verify: str | None = None
    grader: str | None = None
    host: str | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Item:
        if (self.verify is None) == (self.grader is None):
            raise ValueError(f"item {self.name!r}: give either `verify` (checks of halab verify, "
                             "as pytest -k) or `grader`")
        if self.grader is not None and self.grader not in GRADERS:
            raise ValueError(f"item {self.name!r}: unknown grader {self.grader!r}; one of "
                             + ", ".join(GRADERS))
        return self


class Needs(_Strict):
    kube: bool = False
    lb_kinds: tuple[str, ...] = ("nginx", "haproxy", "pound")
    masters: int = Field(1, ge=1)
    snapshot: bool = False  # `start` takes an etcd snapshot before the break


class Exercise(_Strict):
    title: str
    level: Literal[1, 2, 3]
    minutes: int = Field(ge=1)
    needs: Needs = Needs()
    goal: str
    break_: list[Step] = Field(alias="break", min_length=1)
    hints: list[str] = Field(min_length=1)
    solution: list[Step] = Field(min_length=1)
    reset: list[Step] = []  # before the `halab up LAB` every reset ends with
    check: list[Item] = Field(min_length=1)


def folder(root: Path) -> Path:
    return root / "exercises"


def load_all(where: Path) -> dict[str, Exercise]:
    """Every exercise of the folder by name (its file's stem), sorted by level then name; a
    file that does not validate fails the whole load, naming the file and the field."""
    out: dict[str, Exercise] = {}
    for path in sorted(where.glob("*.yaml")):
        out[path.stem] = parse(path.read_text(encoding="utf-8"), str(path))
    return dict(sorted(out.items(), key=lambda kv: (kv[1].level, kv[0])))


def parse(text: str, source: str) -> Exercise:
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise HalabError(f"{source}: not YAML: {exc}", "fix the file's syntax") from None
    try:
        return Exercise.model_validate(doc)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(the file)"
        raise HalabError(f"{source}: {where}: {first['msg']}",
                         "see docs/workshop.md, 'Writing an exercise'") from None


def misfit(ex: Exercise, plan: Plan) -> list[str]:
    """Why the exercise does not fit this lab (empty: it fits)."""
    why = []
    if ex.needs.kube and plan.kube is None:
        why.append("it needs the kube tier (kubernetes.enabled)")
    if not plan.lbs:
        why.append("it needs a load balancer host")
    elif plan.lb_kind not in ex.needs.lb_kinds:
        why.append(f"it needs an LB of kind {' or '.join(ex.needs.lb_kinds)}, "
                   f"not {plan.lb_kind}")
    if len(plan.masters) < ex.needs.masters:
        why.append(f"it needs {ex.needs.masters} masters, the lab has {len(plan.masters)}")
    return why


def names(plan: Plan, snapshot: str = "") -> dict[str, object]:
    """What a step's text may use (see the module's docstring)."""
    conf, service = LB_FILES.get(plan.lb_kind, ("", ""))
    return {"lab": plan.lab, "ip": {h.name: h.ip for h in plan.hosts},
            "lb": plan.lb.name if plan.lb else "",
            "masters": [m.name for m in plan.masters], "minions": [m.name for m in plan.minions],
            "last_master": plan.masters[-1].name if plan.masters else "",
            "first_minion": plan.minions[0].name if plan.minions else "",
            "nic": plan.nic, "lb_conf": conf, "lb_service": service, "snapshot": snapshot,
            "kubectl": KUBECTL}


def fill(text: str, values: dict[str, object]) -> str:
    """A step's or item's text with the lab's names; an unknown name is an error, not ""."""
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)
    try:
        return env.from_string(text).render(values)
    except jinja2.TemplateError as exc:
        raise HalabError(f"exercise text {text!r}: {exc}",
                         "a step may use: " + ", ".join(sorted(values))) from None


def steps(listed: list[Step], plan: Plan, snapshot: str = "") -> list[Step]:
    """The steps with the lab's names filled in; a host that the lab does not have is an error
    before anything runs."""
    values, hosts = names(plan, snapshot), {h.name for h in plan.hosts}
    out = []
    for s in listed:
        on = fill(s.host, values) if s.host else None
        if on is not None and on not in hosts:
            raise HalabError(f"the exercise runs a step on {on!r}, which lab {plan.lab!r} has "
                             "no host of", "start it on a lab made from labs/seed.yaml")
        out.append(Step(host=on, run=fill(s.run, values) if s.run else None,
                        halab=fill(s.halab, values) if s.halab else None))
    return out


def item_host(item: Item, plan: Plan) -> str | None:
    return fill(item.host, names(plan)) if item.host else None
