"""Where archived data goes: a backend interface with a local-filesystem
backend (the default) and an Azure Data Lake Storage Gen2 backend. Paths are
relative, `/`-separated, Hive-style (`{table}/{year}/{month}/{day}/...`)."""

from apps.archival.lakehouse.base import Lakehouse, LakehouseError, lakehouse_from_settings

__all__ = ["Lakehouse", "LakehouseError", "lakehouse_from_settings"]
