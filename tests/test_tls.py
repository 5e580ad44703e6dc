"""`make run` serving HTTPS (docs/security.md, "Serving HTTPS"): the web
process of `make run` (scripts/web.py, the command scripts/supervisord.conf
runs) started for real with a throwaway CA and server certificate made here,
then spoken to as a browser would: the handshake (TLS 1.2 or newer, the
certificate's subject, trusted through the CA), HSTS, the Secure flag of the
CSRF and session cookies, and a plain-HTTP request to the TLS port refused."""

import datetime
import importlib.util
import ipaddress
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from apps.core.tests.factories import MembershipFactory
from apps.core.tests.servers import database_url_of_tests, free_port
from apps.core.tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[1]
SERVER_NAME = "analytics-engine.test"

pytestmark = pytest.mark.django_db(transaction=True)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "AE tests"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])  # fmt: skip


def _pem_key(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


CA_KEY_USAGE = x509.KeyUsage(
    digital_signature=False,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=True,
    crl_sign=True,
    encipher_only=False,
    decipher_only=False,
)


def throwaway_pki(folder: Path) -> dict[str, Path]:
    """A CA and a server certificate it signed, for 127.0.0.1 and localhost,
    valid for a day: {"ca", "cert", "key"} as PEM files."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("AE test CA"))
        .issuer_name(_name("AE test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(CA_KEY_USAGE, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(SERVER_NAME))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = {"ca": folder / "ca.pem", "cert": folder / "server.pem", "key": folder / "server-key.pem"}
    paths["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths["cert"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths["key"].write_bytes(_pem_key(key))
    paths["key"].chmod(0o600)
    return paths


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False


@pytest.fixture
def https_server(tmp_path, settings):
    """`make run`'s web process with AE_TLS_CERT_FILE / AE_TLS_KEY_FILE, on
    the test database and Redis; yields {"url", "port", "ca", "log"}."""
    pki = throwaway_pki(tmp_path)
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "analytics_engine.settings.test",
        "DATABASE_URL": database_url_of_tests(),
        "TEST_REDIS_URL": settings.REDIS_URL,
        "PORT": str(port),
        "AE_TLS_CERT_FILE": str(pki["cert"]),
        "AE_TLS_KEY_FILE": str(pki["key"]),
    }
    log_path = tmp_path / "web.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, str(ROOT / "scripts" / "web.py")], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        wait_until(
            lambda: _listening(port),
            what=f"the HTTPS server on port {port}",
            logs=log_path.read_text,
            gone=lambda: process.poll() is not None and f"the web process exited ({process.returncode})",
        )
        yield {"url": f"https://127.0.0.1:{port}", "port": port, "ca": pki["ca"], "log": log_path}
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def test_the_handshake_is_tls_1_2_or_newer_with_the_servers_certificate(https_server):
    context = ssl.create_default_context(cafile=str(https_server["ca"]))  # verifies the chain and 127.0.0.1
    raw = socket.create_connection(("127.0.0.1", https_server["port"]), timeout=10)
    with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        assert tls.version() in ("TLSv1.2", "TLSv1.3")
        subject = dict(item for rdn in tls.getpeercert()["subject"] for item in rdn)
        assert subject["commonName"] == SERVER_NAME
    assert "web: daphne serving https://127.0.0.1:" in https_server["log"].read_text()

    # A client that does not trust the CA refuses the server.
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(https_server["url"] + "/health", timeout=10)


def test_responses_carry_hsts_and_the_cookies_are_secure(https_server):
    member = MembershipFactory(is_default=True)
    browser = requests.Session()
    trust = {"verify": str(https_server["ca"]), "timeout": 10}  # per request: REQUESTS_CA_BUNDLE would beat a session's
    login_url = https_server["url"] + "/accounts/login/"

    page = browser.get(login_url, **trust)
    assert page.status_code == 200
    assert page.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    csrf_cookie = page.headers["Set-Cookie"]
    assert re.search(r"csrftoken=[^;]+;.*\bSecure\b", csrf_cookie), csrf_cookie

    token = browser.cookies["csrftoken"]
    signed_in = browser.post(
        login_url,
        data={"username": member.user.username, "password": "pass-word-123", "csrfmiddlewaretoken": token},
        headers={"Referer": login_url},
        allow_redirects=False,
        **trust,
    )
    assert signed_in.status_code == 302, signed_in.text[:500]
    session_cookie = signed_in.headers["Set-Cookie"]
    assert re.search(r"sessionid=[^;]+;.*\bSecure\b", session_cookie), session_cookie
    assert re.search(r"sessionid=[^;]+;.*\bHttpOnly\b", session_cookie), session_cookie
    assert "Strict-Transport-Security" in signed_in.headers
    assert browser.get(https_server["url"] + "/api/v1/me/", **trust).status_code == 200  # the session works


def test_plain_http_to_the_tls_port_fails(https_server):
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"http://127.0.0.1:{https_server['port']}/health", timeout=10)


def _web_script():
    spec = importlib.util.spec_from_file_location("ae_web_script", ROOT / "scripts" / "web.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_without_a_certificate_daphne_serves_plain_http_as_before():
    web = _web_script()
    assert web.daphne_arguments(host="127.0.0.1", port=8000) == ["-b", "127.0.0.1", "-p", "8000"]
    # Paths are escaped for Twisted's endpoint syntax (`:` and `=` separate its fields).
    assert web.daphne_arguments(host="127.0.0.1", port=8443, cert_file="/c:d/cert.pem", key_file="/k=v/key.pem") == [
        "-e", r"ssl:8443:interface=127.0.0.1:privateKey=/k\=v/key.pem:certKey=/c\:d/cert.pem",
    ]  # fmt: skip


def test_half_a_tls_configuration_is_refused_at_start(tmp_path):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "analytics_engine.settings.test", "PORT": str(free_port()),
           "AE_TLS_CERT_FILE": str(tmp_path / "cert.pem")}  # fmt: skip
    env.pop("AE_TLS_KEY_FILE", None)
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "web.py")], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert done.returncode != 0
    assert "Set both AE_TLS_CERT_FILE and AE_TLS_KEY_FILE" in done.stderr
