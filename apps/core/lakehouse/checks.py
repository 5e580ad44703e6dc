"""The lakehouse's `/health` check, registered by CoreConfig.ready().

Only remote (ADLS) targets are probed: the local backend is this machine's
disk. Deciding that imports just the configured backends, so a process with
the local lakehouse never loads the Azure SDK."""

import sys

from django.conf import settings
from django.utils.module_loading import import_string

from apps.core.lakehouse.base import LakehouseError, lakehouse_from_settings

_ADLS_MODULE = "apps.core.lakehouse.adls"


def _adls_target_names() -> list[str]:
    names = []
    for name, config in settings.LAKEHOUSE_TARGETS.items():
        try:
            backend = import_string(config["BACKEND"])
        except (ImportError, KeyError):
            continue  # lakehouse_from_settings reports a broken target when it is used
        adls = sys.modules.get(_ADLS_MODULE)  # loaded only if some target uses it
        if adls is not None and isinstance(backend, type) and issubclass(backend, adls.AdlsLakehouse):
            names.append(name)
    return sorted(names)


def lakehouse_check_enabled() -> bool:
    return bool(_adls_target_names())


def lakehouse_check() -> dict:
    """Every ADLS target's file system answers, without retries and within the
    health-check timeout; raises LakehouseError naming the first that does not."""
    timeout = settings.HEALTH_CHECK_TIMEOUT_SECONDS
    targets = {}
    for name in _adls_target_names():
        try:
            targets[name] = lakehouse_from_settings(name).health(timeout_seconds=timeout)
        except LakehouseError as exc:
            raise LakehouseError(f"target {name!r}: {exc}") from exc
    return {"status": "ok", "targets": targets}
