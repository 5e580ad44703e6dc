"""Print which apps import which other apps, and how many of those imports reach past the app's face.

An app's face is what other apps may import: its ``services``, ``selectors`` and
``types`` (with their submodules) and a few named read models; the rules are those
of the "faces" import-linter contract (lint/faces.py), which `make lint` enforces.

    .venv/bin/python scripts/app_imports.py            # the table
    .venv/bin/python scripts/app_imports.py --list     # plus each internal import
"""

from __future__ import annotations

import argparse
import collections
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lint.faces import faces_configured  # noqa: E402  (the repository root is on the path only now)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", action="store_true", help="list each internal import")
    args = parser.parse_args()
    graph = grimp.build_graph("apps", include_external_packages=False)
    total = collections.Counter()
    internal = collections.Counter()
    listed = []
    for importer, imported, src, dst, through_face in faces_configured(ROOT / "pyproject.toml").crossings(graph):
        total[(src, dst)] += 1
        if not through_face:
            internal[(src, dst)] += 1
            listed.append(f"{importer} -> {imported}")
    print(f"{'importer':<14}{'imported':<14}{'imports':>8}{'internal':>10}")
    for src, dst in sorted(total):
        print(f"{src:<14}{dst:<14}{total[(src, dst)]:>8}{internal[(src, dst)]:>10}")
    print(f"{'total':<28}{sum(total.values()):>8}{sum(internal.values()):>10}")
    if args.list:
        print()
        print("\n".join(listed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
