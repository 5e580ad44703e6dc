"""Print which apps import which other apps, and how many of those imports reach past the app's face.

An app's face is what other apps may import: its ``services``, ``selectors`` and
``types`` (with their submodules) and a few named read models (``PUBLIC_READ_MODELS``).
Anything else is an internal.  Tests and migrations are left out: tests build fixtures
with any model, migrations are frozen history.  ``core`` is the shared kernel: importing
it is never counted as reaching an internal.

    .venv/bin/python scripts/app_imports.py            # the table
    .venv/bin/python scripts/app_imports.py --list     # plus each internal import
"""

from __future__ import annotations

import argparse
import collections
import sys

import grimp

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent.parent))

FACE_ROOMS = ("services", "selectors", "types")
PUBLIC_READ_MODELS = ("apps.ontology.catalog",)
SHARED_KERNEL = "core"


def app_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "apps" else None


def is_face(module: str) -> bool:
    parts = module.split(".")
    if len(parts) < 3:
        return False  # the app package itself (apps.x): its __init__ is not a face
    if parts[2] in FACE_ROOMS:
        return True
    return any(module == m or module.startswith(m + ".") for m in PUBLIC_READ_MODELS)


def is_excluded_source(module: str) -> bool:
    parts = module.split(".")
    return "tests" in parts or "migrations" in parts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", action="store_true", help="list each internal import")
    args = parser.parse_args()
    graph = grimp.build_graph("apps", include_external_packages=False)
    total = collections.Counter()
    internal = collections.Counter()
    listed = []
    for importer in sorted(graph.modules):
        src = app_of(importer)
        if src is None or is_excluded_source(importer):
            continue
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            dst = app_of(imported)
            if dst is None or dst == src:
                continue
            total[(src, dst)] += 1
            if dst != SHARED_KERNEL and not is_face(imported):
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
