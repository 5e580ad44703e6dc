"""The dataclasses identity exchanges with other apps."""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Principal:
    """Who asks, as row policies see them (apps/identity/selectors/principals.py):
    the user, their role in the client, the directory groups they belong to
    (Graph object ids, removed groups and memberships of removed users left
    out) and the attributes `{user.<attribute>}` placeholders read: `email`,
    `username`, then the directory user's attributes (department, country, ...)."""

    user_id: int
    username: str
    role: str
    group_ids: tuple[str, ...] = ()
    attributes: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    def attribute(self, name: str) -> str | None:
        return dict(self.attributes).get(name)
