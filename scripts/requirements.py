"""Print the third-party requirements of this project (dependencies plus the named extras),
one per line, read from pyproject.toml.

The Makefile installs these with pip's normal build isolation, so a third-party sdist
(socketify, ...) builds with its own declared build requirements instead of whatever
happens to be in the virtualenv; only our own package is built without isolation.

    python scripts/requirements.py test bench
"""

from __future__ import annotations

import sys
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]


def requirements(extras: list[str]) -> list[str]:
    project = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text())["project"]
    optional = project.get("optional-dependencies", {})
    unknown = [e for e in extras if e not in optional]
    if unknown:
        raise SystemExit(f"error: unknown extra(s) {unknown}; pyproject.toml defines {sorted(optional)}")
    out: list[str] = []
    for req in [*project.get("dependencies", []), *(r for e in extras for r in optional[e])]:
        if req not in out:
            out.append(req)
    return out


if __name__ == "__main__":
    print("\n".join(requirements(sys.argv[1:])))
