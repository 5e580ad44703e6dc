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
    from apps.connectors.adapters import files, graphql, rest, sql  # noqa: F401  (register)

    try:
        return _ADAPTERS[spec.kind](spec)
    except KeyError:
        raise LookupError(f"no adapter for connections of kind {spec.kind!r}") from None
