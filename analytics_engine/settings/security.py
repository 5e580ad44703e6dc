"""Security settings: cookies, HTTPS, error reports without credentials, and
the Content-Security-Policy and Permissions-Policy headers (docs/security.md).
Part of the settings in base.py, which imports everything here; it reads the
same environment (base.py has loaded the checkout's .env by then)."""

import os

import environ
from django.core.exceptions import ImproperlyConfigured

env = environ.Env()

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # HTMX reads the token from the page, not the cookie
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# Error reports (the DEBUG page, admins' mail) show no credentials: URL/DSN
# settings, cookies, credential-looking names hidden; URL passwords masked anywhere.
DEFAULT_EXCEPTION_REPORTER_FILTER = "apps.core.error_reports.CredentialMaskingReporterFilter"
DEFAULT_EXCEPTION_REPORTER = "apps.core.error_reports.CredentialMaskingExceptionReporter"
# HTTPS (docs/security.md, "Serving HTTPS"), two ways:
# - served directly: AE_TLS_CERT_FILE and AE_TLS_KEY_FILE (PEM files) make
#   `make run`'s daphne listen with TLS only on its port (scripts/web.py); no
#   plain-HTTP port is served, so there is nothing to redirect from;
# - behind a proxy that terminates TLS: SECURE_HTTPS=true, and the proxy sets
#   X-Forwarded-Proto (trusted only then: a client could send it itself).
# Either way: HSTS, secure session and CSRF cookies, and a redirect of any
# request that still arrives over plain HTTP.
AE_TLS_CERT_FILE = env("AE_TLS_CERT_FILE", default="")
AE_TLS_KEY_FILE = env("AE_TLS_KEY_FILE", default="")
if bool(AE_TLS_CERT_FILE) != bool(AE_TLS_KEY_FILE):
    raise ImproperlyConfigured(
        "Set both AE_TLS_CERT_FILE and AE_TLS_KEY_FILE (the server's certificate chain and its private key, "
        "PEM) to serve HTTPS, or neither."
    )
for _name, _path in (("AE_TLS_CERT_FILE", AE_TLS_CERT_FILE), ("AE_TLS_KEY_FILE", AE_TLS_KEY_FILE)):
    if _path and not os.access(_path, os.R_OK):
        raise ImproperlyConfigured(f"{_name}={_path!r} is not a readable file.")
AE_TLS = bool(AE_TLS_CERT_FILE)
if env.bool("SECURE_HTTPS", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
if AE_TLS or env.bool("SECURE_HTTPS", default=False):
    SECURE_SSL_REDIRECT = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    # Off only for a domain with subdomains still on plain HTTP.
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
    # The header only allows a submission to the browsers' preload list; it
    # enrols nothing. Off for a domain whose subdomains are not all on HTTPS.
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)

# Content-Security-Policy (django-csp) and Permissions-Policy (django-permissions-policy),
# docs/console.md "Security headers". Scripts come only from our own static files: no
# inline script, no eval (htmx runs with allowEval off), so markup injected past the
# template escaping still cannot run. Inline *styles* stay allowed: Swagger UI's page
# and ECharts' tooltips set them, and a style runs no code. 'self' in connect-src
# covers the /ws/ socket of the same host (CSP 3 matches ws:/wss: to http:/https:).
_CSP_DIRECTIVES = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'", "'unsafe-inline'"],
    "img-src": ["'self'", "data:"],
    "font-src": ["'self'", "data:"],
    "connect-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'self'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
    "report-uri": env.list("CSP_REPORT_URI", default=[]) or None,
}
# CSP_REPORT_ONLY=true sends the policy as Content-Security-Policy-Report-Only (a
# browser reports violations, blocks nothing): for trying a change of policy first.
if env.bool("CSP_REPORT_ONLY", default=False):
    CONTENT_SECURITY_POLICY_REPORT_ONLY = {"DIRECTIVES": _CSP_DIRECTIVES}
else:
    CONTENT_SECURITY_POLICY = {"DIRECTIVES": _CSP_DIRECTIVES}
# Powerful browser features no page of ours uses are off for the pages and any frame.
PERMISSIONS_POLICY = {
    feature: []
    for feature in (
        "accelerometer", "autoplay", "bluetooth", "browsing-topics", "camera", "display-capture",
        "geolocation", "gyroscope", "hid", "idle-detection", "magnetometer", "microphone", "midi",
        "payment", "screen-wake-lock", "serial", "usb", "xr-spatial-tracking",
    )
}  # fmt: skip
# Referrer-Policy: Django's default SECURE_REFERRER_POLICY, "same-origin".
