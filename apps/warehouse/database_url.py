"""One spelling of the database URL for Django, whatever the environment says.

Deployment tooling writes DATABASE_URL for whichever driver it knows:
SQLAlchemy-style `postgresql+asyncpg://` from an async service,
`postgresql+psycopg2://` from an older one, Heroku-style `postgres://`. Django
(psycopg 3, through django-environ) wants `postgresql://`; this turns every
PostgreSQL spelling into that one and refuses anything else by name.

Imported by the settings module before Django is set up: standard library only.
"""

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

# Scheme (lower case) -> driver it names; all of them reach PostgreSQL.
POSTGRES_SCHEMES = {
    "postgres": "libpq",
    "postgresql": "libpq",
    "postgresql+psycopg": "psycopg",
    "postgresql+psycopg2": "psycopg2",
    "postgresql+asyncpg": "asyncpg",
}
NORMAL_SCHEME = "postgresql"

# asyncpg spells libpq's `sslmode` as `ssl` (and also takes booleans); libpq,
# and so psycopg, rejects `ssl` as an unknown connection option.
_ASYNCPG_SSL = {"true": "require", "1": "require", "false": "disable", "0": "disable"}


def database_url_normalise(url: str, *, setting: str = "DATABASE_URL") -> str:
    """`url` with its scheme turned into `postgresql://`; host, credentials,
    database and options unchanged (asyncpg's `ssl=` becomes `sslmode=`).
    A ValueError names the setting and the scheme, never the password."""
    if not isinstance(url, str) or not url.strip():
        raise ValueError(f"{setting} is empty; expected postgresql://user:password@host:port/database.")
    url = url.strip()
    scheme, separator, _ = url.partition("://")
    if not separator:
        raise ValueError(f"{setting} has no scheme; expected postgresql://user:password@host:port/database.")
    driver = POSTGRES_SCHEMES.get(scheme.lower())
    if driver is None:
        accepted = ", ".join(f"{name}://" for name in POSTGRES_SCHEMES)
        raise ValueError(f"{setting} uses the unsupported scheme {scheme!r}; use one of {accepted}.")
    parts = urlsplit(NORMAL_SCHEME + url[len(scheme) :])
    query = parts.query
    if driver == "asyncpg" and query:
        query = urlencode([_asyncpg_option(key, value) for key, value in parse_qsl(query, keep_blank_values=True)])
    return urlunsplit((NORMAL_SCHEME, parts.netloc, parts.path, query, parts.fragment))


def _asyncpg_option(key: str, value: str) -> tuple[str, str]:
    if key == "ssl":
        return "sslmode", _ASYNCPG_SSL.get(value.lower(), value)
    return key, value
