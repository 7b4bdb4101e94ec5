"""`halab report`: the verify results of every lab (or of the JUnit files given) as Markdown,
then the scoreboard of the exercises in progress."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from halab import ui
from halab.errors import HalabError
from halab.session import labdir
from halab.workshop import report as markdown
from halab.workshop import scoreboard


def report(files: list[str], out: str | None) -> int:
    results, missing = _read_results(files)
    if not results and not missing:
        raise HalabError("no lab has been brought up here, so there are no results to report",
                         "give JUnit files (`halab report FILE...`), or `halab up` and "
                         "`halab verify` a lab first")
    board = scoreboard.markdown(exercises(), time.time())
    text = markdown.markdown(results, missing) + (f"\n{board}" if board else "")
    if not out:
        sys.stdout.write(text)
        return 0
    try:
        Path(out).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise HalabError(f"cannot write {out}: {exc}", "give another --out FILE") from None
    failed = sum(1 for r in results if r.count(markdown.FAILED))
    ui.info(f"wrote {out}: {len(results)} lab(s) verified, {failed} with failed checks"
            + (f", {len(missing)} not verified yet" if missing else ""))
    return 0


def exercises() -> list[scoreboard.Exercise]:
    """The exercise recorded on each lab here (`halab exercise start`), for the scoreboard."""
    out = []
    for name in labdir.known_labs():
        doc = labdir.read_json(labdir.lab_path(name), labdir.EXERCISE_FILE)
        if doc is not None:
            out.append(scoreboard.parse(name, doc))
    return out


def _read_results(files: list[str]) -> tuple[list[markdown.LabResult], list[str]]:
    """The given JUnit files, or the latest results of every lab here and the labs without."""
    if files:
        return [markdown.parse(_read(Path(f)), f) for f in files], []
    results, missing = [], []
    for name in labdir.known_labs():
        path = labdir.junit_path(labdir.lab_path(name))
        if path.is_file():
            results.append(markdown.parse(_read(path), str(path), lab=name))
        else:
            missing.append(name)
    return results, missing


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise HalabError(f"no JUnit file at {path}",
                         "`halab verify LAB --junit FILE` writes one") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise HalabError(f"cannot read {path}: {exc}") from None
