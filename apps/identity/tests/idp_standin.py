"""A stand-in for Azure AD: a real HTTP server on 127.0.0.1 (a thread) that
serves Azure's layout under its authority (`{authority}/{tenant}/v2.0/.well-known/openid-configuration`,
`/{tenant}/discovery/v2.0/keys`, `/{tenant}/oauth2/v2.0/token`, ...), with
RSA keys made for the run. Tests drive the real flow through it: the login
view redirects to its authorize URL, `authorize()` plays the user consenting
and returns the code the callback gets, and our backend redeems the code at
its token endpoint with `requests`, as against Azure.

ID and access tokens are minted with PyJWT and carry Azure AD v2's claims
(oid, tid, preferred_username, name, groups, ver, nonce, ...)."""

import base64
import hashlib
import json
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm


def new_key() -> tuple[str, rsa.RSAPrivateKey]:
    return uuid.uuid4().hex[:16], rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class Grant:
    client_id: str
    redirect_uri: str
    code_challenge: str
    nonce: str
    claims: dict[str, Any]
    id_token_factory: Callable[[dict[str, Any]], str] | None = None


@dataclass
class StandInIdP:
    tenant_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    application_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    client_secret: str = ""
    keys: list[tuple[str, rsa.RSAPrivateKey]] = field(default_factory=lambda: [new_key()])
    grants: dict[str, Grant] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)  # paths asked, in order
    token_requests: list[dict[str, str]] = field(default_factory=list)
    browser_user: dict[str, Any] = field(default_factory=dict)  # claims of whoever signs in through a browser
    port: int = 0

    # --- server -------------------------------------------------------------
    def start(self) -> "StandInIdP":
        idp = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _json(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _redirect(self, location: str) -> None:
                self.send_response(302)
                self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self):
                path = urlsplit(self.path).path
                idp.requests.append(path)
                tenant = path.strip("/").split("/")[0]
                if path.endswith("/v2.0/.well-known/openid-configuration"):
                    return self._json(200, idp.discovery(tenant))
                if path.endswith("/discovery/v2.0/keys"):
                    return self._json(200, idp.jwks())
                if path.endswith("/oauth2/v2.0/authorize"):
                    # A browser at the provider: the user "signs in" at once as
                    # `idp.browser_user` and is sent back with a code.
                    params = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
                    code = idp.authorize(params, **idp.browser_user)
                    query = urlencode({"code": code, "state": params["state"]})
                    return self._redirect(f"{params['redirect_uri']}?{query}")
                if path.endswith("/oauth2/v2.0/logout"):
                    params = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
                    return self._redirect(params.get("post_logout_redirect_uri", "/"))
                return self._json(404, {"error": "not_found"})

            def do_POST(self):
                path = urlsplit(self.path).path
                idp.requests.append(path)
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                if path.endswith("/oauth2/v2.0/token"):
                    status, body = idp.token(form)
                    return self._json(status, body)
                return self._json(404, {"error": "not_found"})

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def authority(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def base(self, tenant: str | None = None) -> str:
        return f"{self.authority}/{tenant or self.tenant_id}"

    def issuer(self, tenant: str | None = None) -> str:
        return f"{self.base(tenant)}/v2.0"

    def discovery(self, tenant: str) -> dict[str, Any]:
        base = self.base(tenant)
        return {
            "issuer": f"{base}/v2.0",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "jwks_uri": f"{base}/discovery/v2.0/keys",
            "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token"],
        }

    def jwks(self) -> dict[str, Any]:
        keys = []
        for kid, key in self.keys:
            jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
            keys.append({**jwk, "kid": kid, "use": "sig", "kty": "RSA"})
        return {"keys": keys}

    def rotate(self, *, keep_old: bool = False) -> str:
        """A new signing key, first in the list (the one tokens are signed with)."""
        fresh = new_key()
        self.keys = [fresh, *self.keys] if keep_old else [fresh]
        return fresh[0]

    # --- tokens --------------------------------------------------------------
    def claims(self, *, nonce: str | None = None, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims = {
            "aud": self.application_id,
            "iss": self.issuer(),
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
            "name": "Ann Example",
            "oid": str(uuid.uuid4()),
            "preferred_username": "ann@contoso.com",
            "sub": secrets.token_urlsafe(24),
            "tid": self.tenant_id,
            "ver": "2.0",
            "groups": [str(uuid.uuid4())],
            "uti": secrets.token_urlsafe(16),
        }
        if nonce is not None:
            claims["nonce"] = nonce
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def mint(self, claims: dict[str, Any], *, kid: str | None = None, key: Any = None, algorithm: str = "RS256") -> str:
        signing_kid, signing_key = self.keys[0]
        headers = {"kid": kid or signing_kid}
        if algorithm == "none":
            return jwt.encode(claims, None, algorithm="none", headers=headers)
        return jwt.encode(claims, key or signing_key, algorithm=algorithm, headers=headers)

    def access_token(self, **overrides: Any) -> str:
        claims = self.claims(**{"scp": "access_as_user", "ver": "2.0", **overrides})
        return self.mint(claims)

    # --- the code flow -------------------------------------------------------
    def authorize(
        self,
        params: dict[str, str],
        *,
        id_token_factory: Callable[[dict[str, Any]], str] | None = None,
        **claim_overrides: Any,
    ) -> str:
        """The user signs in and consents: a code for the authorize request's
        parameters. The ID token will carry the request's nonce unless
        `claim_overrides` say otherwise; `id_token_factory` mints it some other way."""
        assert params["client_id"] == self.application_id
        assert params["code_challenge_method"] == "S256"
        code = secrets.token_urlsafe(24)
        self.grants[code] = Grant(
            client_id=params["client_id"],
            redirect_uri=params["redirect_uri"],
            code_challenge=params["code_challenge"],
            nonce=params.get("nonce", ""),
            claims=self.claims(**{"nonce": params.get("nonce"), **claim_overrides}),
            id_token_factory=id_token_factory,
        )
        return code

    def token(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        self.token_requests.append(form)
        grant = self.grants.pop(form.get("code", ""), None)
        if form.get("grant_type") != "authorization_code" or grant is None:
            return 400, {"error": "invalid_grant", "error_description": "AADSTS70008: the code is invalid or used."}
        if form.get("client_id") != grant.client_id or form.get("redirect_uri") != grant.redirect_uri:
            return 400, {"error": "invalid_grant", "error_description": "client or redirect_uri mismatch"}
        if self.client_secret and form.get("client_secret") != self.client_secret:
            return 401, {"error": "invalid_client", "error_description": "AADSTS7000215: invalid client secret"}
        verifier = form.get("code_verifier", "")
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if challenge != grant.code_challenge:
            return 400, {"error": "invalid_grant", "error_description": "AADSTS501481: PKCE verifier mismatch"}
        factory = grant.id_token_factory or self.mint
        return 200, {
            "token_type": "Bearer",
            "expires_in": 3600,
            "id_token": factory(grant.claims),
            "access_token": self.access_token(oid=grant.claims.get("oid")),
        }
