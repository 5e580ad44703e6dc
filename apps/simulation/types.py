"""What the simulation app hands other apps: a scenario as a catalogue entry."""

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel


@dataclass(frozen=True)
class ScenarioInfo:
    """A scenario by code, with the pydantic model of its parameters (the API's
    `params_schema`, and the fields a form shows)."""

    code: str
    name: str
    description: str
    params: type[BaseModel]

    @property
    def params_schema(self) -> dict[str, Any]:
        return self.params.model_json_schema()
