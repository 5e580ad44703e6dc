"""One adapter per kind of source, behind the same few operations
(base.Adapter). `adapter_for(spec)` makes the one for a connection;
`adapter_class_for(kind)` is its class (settings validation)."""

from apps.connectors.adapters.base import Adapter, ConnectionSpec

_ADAPTERS: dict[str, type[Adapter]] = {}


def adapter_register(*kinds: str):
    def register(cls: type[Adapter]) -> type[Adapter]:
        for kind in kinds:
            _ADAPTERS[kind] = cls
        return cls

    return register


def _adapters_load() -> None:
    from apps.connectors.adapters import files, graphql, rest, sql  # noqa: F401  (each registers its kinds)


def adapter_class_for(kind: str) -> type[Adapter]:
    """The adapter class registered for `kind`; LookupError when none is."""
    if kind not in _ADAPTERS:
        _adapters_load()
    try:
        return _ADAPTERS[kind]
    except KeyError:
        raise LookupError(f"no adapter for connections of kind {kind!r}") from None


def adapter_for(spec: ConnectionSpec) -> Adapter:
    return adapter_class_for(spec.kind)(spec)
