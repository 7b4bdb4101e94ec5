"""halab's own apt sources entry for Debian 12's backports suite, derived from the host's own
entry for the main suite (pure, but for `main()`): same archive, same keyring, so no archive
host name is ever written into the project. `scripts/incus-install` runs this module.
"""

from __future__ import annotations

import sys
from pathlib import Path

SOURCES_DIR = Path("/etc/apt/sources.list.d")
SOURCES_LIST = Path("/etc/apt/sources.list")


def _stanzas(text: str) -> list[dict[str, str]]:
    """The deb822 stanzas of a *.sources file: field → value (comment lines dropped)."""
    out: list[dict[str, str]] = []
    cur: dict[str, str] = {}
    for line in text.splitlines() + [""]:
        if line.startswith("#"):
            continue
        if not line.strip():
            if cur:
                out.append(cur)
            cur = {}
            continue
        if line[0] in " \t" and cur:  # a continuation line (a multi-line key)
            last = list(cur)[-1]
            cur[last] += "\n" + line
            continue
        key, _, value = line.partition(":")
        cur[key.strip().lower()] = value.strip()
    return out


def _one_line(text: str) -> list[dict[str, str]]:
    """sources.list's one-line entries, as deb822 fields."""
    out = []
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if not words or words[0] != "deb":
            continue
        opts: dict[str, str] = {}
        rest = words[1:]
        if rest and rest[0].startswith("["):
            inner = []
            while rest:
                word = rest.pop(0)
                inner.append(word.strip("[]"))
                if word.endswith("]"):
                    break
            for opt in " ".join(inner).split():
                k, _, v = opt.partition("=")
                opts[k.lower()] = v
        if len(rest) < 2:
            continue
        entry = {"types": "deb", "uris": rest[0], "suites": rest[1],
                 "components": " ".join(rest[2:]) or "main"}
        if "signed-by" in opts:
            entry["signed-by"] = opts["signed-by"]
        out.append(entry)
    return out


def backports_entry(release: str, sources: list[str], one_line: list[str]) -> str | None:
    """A deb822 stanza for `<release>-backports` (main only) on the archive the host already uses
    for `<release>`, or None when the host has no such entry."""
    entries = [s for text in sources for s in _stanzas(text)] + \
        [s for text in one_line for s in _one_line(text)]
    for e in entries:
        if "deb" in e.get("types", "").split() and release in e.get("suites", "").split() \
                and e.get("enabled", "yes").lower() != "no" and e.get("uris"):
            lines = ["# Written by halab (scripts/incus-install): Debian's backports suite, only "
                     "for incus-base and incus-client.",
                     "Types: deb", f"URIs: {e['uris'].split()[0]}",
                     f"Suites: {release}-backports", "Components: main"]
            if e.get("signed-by"):
                lines.append(f"Signed-By: {e['signed-by']}")
            return "\n".join(lines) + "\n"
    return None


def main(argv: list[str]) -> int:
    release = argv[0] if argv else "bookworm"
    sources = [p.read_text() for p in sorted(SOURCES_DIR.glob("*.sources"))
               if not p.name.startswith("halab-")]
    one_line = [p.read_text() for p in [SOURCES_LIST, *sorted(SOURCES_DIR.glob("*.list"))]
                if p.is_file()]
    entry = backports_entry(release, sources, one_line)
    if entry is None:
        print(f"no Debian {release} entry in the host's apt sources", file=sys.stderr)
        return 1
    sys.stdout.write(entry)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
