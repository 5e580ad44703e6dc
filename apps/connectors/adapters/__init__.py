"""One adapter per kind of source, behind the same few operations
(base.Adapter). `adapter_for(kind)` picks it."""

from apps.connectors.adapters.base import Adapter, ConnectionSpec

_ADAPTERS: dict[str, type[Adapter]] = {}


def adapter_register(*kinds: str):
    def register(cls: type[Adapter]) -> type[Adapter]:
        for kind in kinds:
            _ADAPTERS[kind] = cls
        return cls

    return register


def adapter_for(spec: ConnectionSpec) -> Adapter:
    from apps.connectors.adapters import sql  # noqa: F401  (registers)

    try:
        return _ADAPTERS[spec.kind](spec)
    except KeyError:
        raise LookupError(f"no adapter for connections of kind {spec.kind!r}") from None
