"""Exercises as data (config.exercises): every shipped file loads and fits the seed lab, its steps
name the seed lab's hosts and addresses, and a bad file is refused naming the file and field."""

from __future__ import annotations

import argparse

import pytest
from labfiles import ROOT, lab_plan

from halab.cli.exercise import minutes
from halab.config import exercises
from halab.errors import HalabError
from halab.lab import graders

pytestmark = pytest.mark.unit

SHIPPED = exercises.load_all(exercises.folder(ROOT))


def test_every_shipped_exercise_loads_and_fits_the_seed_lab() -> None:
    assert {"lb-drops-a-master", "etcd-member-lost-its-data", "quorum-lost"} <= set(SHIPPED)
    seed = lab_plan("seed")
    for name, ex in SHIPPED.items():
        assert exercises.misfit(ex, seed) == [], name
        for listed in (ex.break_, ex.solution, ex.reset):
            for step in exercises.steps(listed, seed, snapshot="/tmp/snap.db"):
                assert "{{" not in (step.run or step.halab or ""), (name, step)
        for item in ex.check:
            assert exercises.item_host(item, seed) in (None, *[h.name for h in seed.hosts])


def test_the_graders_the_files_may_name_are_the_ones_halab_has() -> None:
    assert set(exercises.GRADERS) == set(graders.GRADERS)


def test_the_lb_exercise_drops_the_last_master_from_the_seed_lbs_nginx() -> None:
    [step] = exercises.steps(SHIPPED["lb-drops-a-master"].break_, lab_plan("seed"))
    assert step.host == "lb1"
    assert step.run == ("sed -i '/192\\.168\\.33\\.23:/d' /etc/nginx/nginx.conf "
                        "&& systemctl reload nginx")


def test_the_quorum_exercise_restores_the_snapshot_start_took() -> None:
    ex = SHIPPED["quorum-lost"]
    assert ex.needs.snapshot
    [step] = exercises.steps(ex.solution, lab_plan("seed"), snapshot="/x/backups/s.db")
    assert step.halab == "restore --lab seed /x/backups/s.db --yes"


def test_an_exercise_that_does_not_fit_says_why() -> None:
    small = lab_plan("vm-kube")  # one master, no LB
    why = exercises.misfit(SHIPPED["etcd-member-lost-its-data"], small)
    assert why == ["it needs a load balancer host", "it needs 3 masters, the lab has 1"]


GOOD = """title: t
level: 1
minutes: 5
goal: g
break: [{host: lb1, run: "true"}]
hints: [h]
solution: [{halab: "up {{ lab }}"}]
check: [{name: n, grader: etcd-healthy}]
"""


@pytest.mark.parametrize("change, field", [
    (("grader: etcd-healthy", "grader: etcd-is-fine"), "check.0"),
    (('{host: lb1, run: "true"}', '{run: "true"}'), "break.0"),
    (('{host: lb1, run: "true"}', '{host: lb1, run: "true", halab: up}'), "break.0"),
    (("level: 1", "level: 7"), "level"),
    (("hints: [h]", "hints: []"), "hints"),
])
def test_a_bad_exercise_file_names_the_file_and_field(change: tuple[str, str], field: str) -> None:
    assert exercises.parse(GOOD, "ok.yaml").title == "t"
    with pytest.raises(HalabError) as err:
        exercises.parse(GOOD.replace(*change), "exercises/bad.yaml")
    assert err.value.message.startswith(f"exercises/bad.yaml: {field}")


def test_a_step_on_a_host_the_lab_lacks_is_refused_before_anything_runs() -> None:
    ex = exercises.parse(GOOD.replace("host: lb1", "host: lb9"), "x.yaml")
    with pytest.raises(HalabError, match="'lb9', which lab 'seed' has no host of"):
        exercises.steps(ex.break_, lab_plan("seed"))


def test_an_unknown_name_in_a_step_is_an_error_not_an_empty_string() -> None:
    with pytest.raises(HalabError, match="a step may use"):
        exercises.fill("systemctl stop {{ lb_servce }}", exercises.names(lab_plan("seed")))


@pytest.mark.parametrize("text, value", [("20m", 20.0), ("20", 20.0), ("1h", 60.0),
                                         ("90s", 1.5)])
def test_time_takes_a_duration(text: str, value: float) -> None:
    assert minutes(text) == value


def test_time_refuses_what_is_not_a_duration() -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        minutes("soon")
