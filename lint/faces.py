"""The "faces" import-linter contract: an app imports another app only through
its face (docs/development.md, "Import contracts").

An app's face is its ``services`` (writes), ``selectors`` (reads) and ``types``
(the dataclasses they exchange), each a module or a package, plus the named
read models listed in ``public_modules`` (``apps.ontology.catalog``). Every
other module of an app is its own business: a new import of one from another
app breaks the contract, whatever its name, so a new internal module is
protected the day it is written. The shared kernel (``apps.core``) may be
imported from anywhere; tests and migrations are exempt (tests build fixtures
from any model, migrations are frozen history).

``scripts/app_imports.py`` prints the same classification as a table.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import grimp
from importlinter import Contract, ContractCheck, fields, output


@dataclass(frozen=True)
class Faces:
    container: str  # the package holding the apps: "apps"
    rooms: tuple[str, ...]  # the face's module names inside an app
    public_modules: tuple[str, ...]  # named read models other apps may import
    shared: tuple[str, ...]  # apps anyone may import all of
    exempt: tuple[str, ...]  # module names whose imports are not checked

    def app_of(self, module: str) -> str | None:
        parts = module.split(".")
        return parts[1] if len(parts) > 1 and parts[0] == self.container else None

    def is_face(self, module: str) -> bool:
        parts = module.split(".")
        if len(parts) > 2 and parts[2] in self.rooms:
            return True
        return any(module == m or module.startswith(f"{m}.") for m in self.public_modules)

    def is_exempt(self, module: str) -> bool:
        return any(part in self.exempt for part in module.split("."))

    def crossings(self, graph: grimp.ImportGraph) -> Iterator[tuple[str, str, str, str, bool]]:
        """(importer, imported, importer's app, imported app, through the face?)
        for every direct import from one app into another."""
        for importer in sorted(graph.modules):
            source = self.app_of(importer)
            if source is None or self.is_exempt(importer):
                continue
            for imported in sorted(graph.find_modules_directly_imported_by(importer)):
                target = self.app_of(imported)
                if target is None or target == source:
                    continue
                yield importer, imported, source, target, target in self.shared or self.is_face(imported)


def faces_configured(pyproject: Path) -> Faces:
    """The faces contract as configured in pyproject.toml (for scripts/app_imports.py)."""
    config = tomllib.loads(pyproject.read_text())["tool"]["importlinter"]
    options = next(c for c in config["contracts"] if c["type"] == "faces")
    return Faces(
        container=options["container"],
        rooms=tuple(options["rooms"]),
        public_modules=tuple(options.get("public_modules", ())),
        shared=tuple(options.get("shared", ())),
        exempt=tuple(options.get("exempt", ())),
    )


def _strings(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(str(v) for v in value)


class FacesContract(Contract):
    """Apps import each other only through their faces (see the module docstring).

    Options: ``container`` (the apps' package), ``rooms``, ``public_modules``,
    ``shared`` (app names) and ``exempt`` (module name parts)."""

    type_name = "faces"

    container = fields.StringField()
    rooms = fields.ListField(subfield=fields.StringField())
    public_modules = fields.ListField(subfield=fields.StringField(), required=False, default=[])
    shared = fields.ListField(subfield=fields.StringField(), required=False, default=[])
    exempt = fields.ListField(subfield=fields.StringField(), required=False, default=[])

    def faces(self) -> Faces:
        return Faces(
            container=str(self.container),  # type: ignore[arg-type]
            rooms=_strings(self.rooms),  # type: ignore[arg-type]
            public_modules=_strings(self.public_modules),  # type: ignore[arg-type]
            shared=_strings(self.shared),  # type: ignore[arg-type]
            exempt=_strings(self.exempt),  # type: ignore[arg-type]
        )

    def check(self, graph: grimp.ImportGraph, verbose: bool) -> ContractCheck:
        broken = []
        for importer, imported, _, _, through_face in self.faces().crossings(graph):
            if through_face:
                continue
            details = graph.get_import_details(importer=importer, imported=imported)
            lines = sorted({d["line_number"] for d in details})
            broken.append({"importer": importer, "imported": imported, "lines": lines})
        return ContractCheck(kept=not broken, metadata={"broken": broken})

    def render_broken_contract(self, check: ContractCheck) -> None:
        faces = self.faces()
        for item in check.metadata["broken"]:
            lines = ", ".join(f"l.{n}" for n in item["lines"])
            output.print_error(f"{item['importer']} -> {item['imported']} ({lines})", bold=False)
        output.new_line()
        rooms = ", ".join(faces.rooms)
        output.print(
            f"Import the app's face instead ({rooms}, or {', '.join(faces.public_modules)}); "
            "if the name belongs to the face, move it there (docs/development.md, 'Where does my code go')."
        )
