"""`make run`'s web process (scripts/supervisord.conf): daphne on
127.0.0.1:$PORT, serving HTTPS instead of HTTP when AE_TLS_CERT_FILE and
AE_TLS_KEY_FILE are set (in the environment or the checkout's .env; the
settings check them: both or neither, readable). With TLS the one port
speaks only TLS, through daphne's Twisted endpoint
`ssl:<port>:interface=<host>:privateKey=<key>:certKey=<cert>`; a plain
HTTP request to it fails the handshake (docs/security.md, "Serving HTTPS").

    .venv/bin/python scripts/web.py            # PORT (default 8000), HOST (default 127.0.0.1)
"""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DAPHNE_OPTIONS = ["--ping-interval", "20", "--ping-timeout", "30"]
APPLICATION = "analytics_engine.asgi:application"


def endpoint_quote(value: str) -> str:
    """A value inside a Twisted endpoint description: `:`, `=` and `\\` escaped."""
    return value.replace("\\", "\\\\").replace(":", "\\:").replace("=", "\\=")


def daphne_arguments(*, host: str, port: int, cert_file: str = "", key_file: str = "") -> list[str]:
    """daphne's listening arguments: plain HTTP, or TLS only when given a certificate and key."""
    if not cert_file:
        return ["-b", host, "-p", str(port)]
    endpoint = (
        f"ssl:{port}:interface={endpoint_quote(host)}"
        f":privateKey={endpoint_quote(os.path.abspath(key_file))}"
        f":certKey={endpoint_quote(os.path.abspath(cert_file))}"
    )
    return ["-e", endpoint]


def main() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "analytics_engine.settings.base")
    from django.conf import settings  # reads .env and refuses half a TLS configuration

    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PORT", "8000"))
    listen = daphne_arguments(
        host=host, port=port, cert_file=settings.AE_TLS_CERT_FILE, key_file=settings.AE_TLS_KEY_FILE
    )
    scheme = "https" if settings.AE_TLS else "http"
    print(f"web: daphne serving {scheme}://{host}:{port}/", flush=True)
    daphne = str(Path(sys.executable).parent / "daphne")
    # Replaced by daphne (same pid): supervisord's signals reach the server itself.
    os.execv(daphne, [daphne, *listen, *DAPHNE_OPTIONS, APPLICATION])  # noqa: S606 - a fixed program, no shell


if __name__ == "__main__":
    main()
