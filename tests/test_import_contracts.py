"""The faces contract (lint/faces.py) that `make lint` runs: an import of
another app's internals breaks it; an app's face, the shared kernel, tests and
migrations do not. Checked on a hand-built import graph, and end to end by
`lint-imports` on a scratch project."""

import subprocess
import sys
from pathlib import Path

import grimp
import pytest

from lint.faces import faces_configured

ROOT = Path(__file__).resolve().parent.parent
FACES = faces_configured(ROOT / "pyproject.toml")


def _internal_imports(*imports: tuple[str, str]) -> list[tuple[str, str]]:
    graph = grimp.ImportGraph()
    for importer, imported in imports:
        graph.add_import(importer=importer, imported=imported, line_number=1, line_contents="import")
    return [(a, b) for a, b, _, _, through_face in FACES.crossings(graph) if not through_face]


@pytest.mark.parametrize(
    "imported",
    [
        "apps.ontology.services",
        "apps.ontology.services.metrics",
        "apps.ontology.selectors",
        "apps.ontology.types",
        "apps.ontology.catalog",
        "apps.core.errors",
        "apps.web.helpers",  # the importer's own app
    ],
)
def test_an_import_of_a_face_is_allowed(imported):
    assert _internal_imports(("apps.web.views", imported)) == []


@pytest.mark.parametrize("imported", ["apps.ontology.formula", "apps.ontology.models", "apps.ontology"])
def test_an_import_of_another_apps_internals_is_found(imported):
    found = _internal_imports(("apps.web.views", imported), ("apps.web.views", "apps.ontology.services"))
    assert found == [("apps.web.views", imported)]


@pytest.mark.parametrize("importer", ["apps.web.tests.test_views", "apps.web.migrations.0001_initial"])
def test_tests_and_migrations_are_exempt(importer):
    assert _internal_imports((importer, "apps.ontology.models")) == []


def _scratch_project(tmp_path: Path, views_import: str) -> Path:
    """apps.web and apps.ontology with a face and an internal module, the
    repository's faces contract as configured, and web/views.py importing
    `views_import`."""
    for module, body in {
        "apps/__init__.py": "",
        "apps/ontology/__init__.py": "",
        "apps/ontology/services.py": "",
        "apps/ontology/formula.py": "",
        "apps/web/__init__.py": "",
        "apps/web/views.py": f"import {views_import}\n",
    }.items():
        (tmp_path / module).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / module).write_text(body)
    config = (ROOT / "pyproject.toml").read_text()
    setup = config[config.index("[tool.importlinter]") :].split("[[tool.importlinter.contracts]]")[0]
    faces = next(b for b in config.split("[[tool.importlinter.contracts]]") if 'type = "faces"' in b)
    (tmp_path / "pyproject.toml").write_text(f"{setup}[[tool.importlinter.contracts]]{faces}")
    return tmp_path


def _lint_imports(project: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports"), "--no-cache"],
        cwd=project,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": f"{project}:{ROOT}", "PATH": "/usr/bin:/bin"},
        timeout=120,
    )


def test_lint_imports_fails_on_an_internal_import_and_names_it(tmp_path):
    result = _lint_imports(_scratch_project(tmp_path, "apps.ontology.formula"))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "apps.web.views -> apps.ontology.formula (l.1)" in result.stdout
    assert "only through their faces" in result.stdout


def test_lint_imports_passes_an_import_of_the_face(tmp_path):
    result = _lint_imports(_scratch_project(tmp_path, "apps.ontology.services"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout
