"""Suggestions for a misspelt name ("did you mean ...?"): rapidfuzz's
similarity, best first; an exact match ignoring case wins outright."""

from collections.abc import Iterable

from rapidfuzz import fuzz, process


def close_matches(name: str, choices: Iterable[str], *, limit: int = 3, cutoff: float = 60.0) -> list[str]:
    choices = list(choices)
    exact = [choice for choice in choices if choice.casefold() == name.casefold()]
    if exact:
        return exact[:limit]
    found = process.extract(name, choices, scorer=fuzz.ratio, limit=limit, score_cutoff=cutoff)
    return [choice for choice, _score, _index in found]
