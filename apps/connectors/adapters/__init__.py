"""One adapter per kind of source, behind the same few operations
(base.Adapter). `adapter_for(spec)` makes the one for a connection;
`adapter_class_for(kind)` is its class (settings validation)."""

import importlib

from apps.connectors.adapters.base import Adapter, ConnectionSpec

_ADAPTERS: dict[str, type[Adapter]] = {}
# The modules that register adapters when imported (rest, graphql and files
# may be absent from a checkout: their kinds then have no adapter).
_ADAPTER_MODULES = ("sql", "rest", "graphql", "files")


def adapter_register(*kinds: str):
    def register(cls: type[Adapter]) -> type[Adapter]:
        for kind in kinds:
            _ADAPTERS[kind] = cls
        return cls

    return register


def _adapters_load() -> None:
    for name in _ADAPTER_MODULES:
        module = f"{__name__}.{name}"
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise


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
