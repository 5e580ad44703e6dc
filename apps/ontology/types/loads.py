"""What a streaming load takes (services/data_load.py
`entity_batches_stream_load`): batches of rows, each either a list of row
objects (attribute code -> value) or a `ColumnBatch`."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ColumnBatch:
    """`size` rows given by column: `columns` maps attribute codes to
    sequences of `size` values (an attribute it does not name is null in
    every row). Values are what a row object would hold: JSON values, or the
    native date, datetime and Decimal an ingestion job's mapper makes. The
    validator checks a whole column at once when it can vouch for every value
    with a few C-speed passes, and row by row otherwise: the same rules and
    the same rejections either way."""

    columns: Mapping[str, Sequence[Any]]
    size: int

    def rows(self) -> list[dict[str, Any]]:
        """The batch as row objects (the row-by-row path)."""
        names = list(self.columns)
        if not names:
            return [{} for _ in range(self.size)]
        return [dict(zip(names, values, strict=True)) for values in zip(*self.columns.values(), strict=True)]


__all__ = ["ColumnBatch"]
