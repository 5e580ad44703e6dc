"""The lakehouse client (docs/lakehouse.md): a backend interface with a
local-filesystem backend (the default) and an Azure Data Lake Storage Gen2
backend. In the shared kernel because two layers use it: archival writes
Parquet to it, file connections (connectors, location "lake") read from it. Paths are
relative, `/`-separated, Hive-style (`{table}/{year}/{month}/{day}/...`)."""

from apps.core.lakehouse.base import Lakehouse, LakehouseError, lakehouse_from_settings

__all__ = ["Lakehouse", "LakehouseError", "lakehouse_from_settings"]
