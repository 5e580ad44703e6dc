"""What an error report (the DEBUG technical 500 page, the admins' error mail)
may show: no credentials.

Django's SafeExceptionReporterFilter hides settings and request headers whose
names look secret (KEY, PASS, TOKEN...), but shows DATABASE_URL, REDIS_URL,
CACHES["default"]["LOCATION"] or a Channels host address in full, password
included, and a frame's local `url` too. Here names that hold URLs, DSNs or
credentials are hidden as well, and wherever a URL with a password turns up
(a setting, a request header, a local variable, the exception message), its
password is replaced, so the class of leak is closed, not just the settings we
know of today."""

import re
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.views.debug import ExceptionReporter, SafeExceptionReporterFilter

# Django's own list, plus URL/DSN names (any *_URL setting or variable) and
# credential-bearing headers. ROOT_URLCONF stays visible: a module path.
HIDDEN_NAMES = re.compile(
    r"API|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE|AUTHORIZATION|CREDENTIAL|DSN|URL(?!CONF)|LOCATION|ADDRESS",
    flags=re.IGNORECASE,
)
# scheme://user:password@ (user may be empty: redis://:password@host). The
# password runs to the last "@" before the host, so one holding "@" is covered too.
URL_CREDENTIALS = re.compile(
    r"(?P<head>\b[a-z][a-z0-9+.\-]*://[^\s/@:'\"<>]*:)(?P<password>[^\s/'\"<>]*)@", re.IGNORECASE
)
MASK = "********************"


def credentials_mask(text: str) -> str:
    """`text` with the password of every URL in it masked."""
    return URL_CREDENTIALS.sub(lambda match: f"{match['head']}{MASK}@", text)


def query_string_mask(query: str) -> str:
    """A query string with the values of credential-looking names masked."""
    pairs = parse_qsl(query, keep_blank_values=True)
    if not any(HIDDEN_NAMES.search(name) for name, _ in pairs):
        return query
    return urlencode([(name, MASK if HIDDEN_NAMES.search(name) else value) for name, value in pairs], safe="*")


class CredentialMaskingReporterFilter(SafeExceptionReporterFilter):
    cleansed_substitute = MASK
    hidden_settings = HIDDEN_NAMES

    def cleanse_setting(self, key, value) -> Any:
        cleansed = super().cleanse_setting(key, value)
        if not isinstance(cleansed, str):
            return cleansed
        # Lazy strings (settings proxies) pass isinstance(str) but not re: their text.
        try:
            text = str(cleansed)
        except Exception:
            return self.cleansed_substitute  # what cannot be read cannot be checked
        masked = credentials_mask(text)
        return cleansed if masked == text else masked

    def get_safe_request_meta(self, request) -> dict[str, Any]:
        meta = super().get_safe_request_meta(request)
        if isinstance(meta.get("QUERY_STRING"), str):
            meta["QUERY_STRING"] = query_string_mask(meta["QUERY_STRING"])
        return meta

    def get_safe_cookies(self, request) -> dict[str, Any]:
        # A cookie is a credential (the session cookie above all): names only.
        return {name: self.cleansed_substitute for name in getattr(request, "COOKIES", {})}

    def get_post_parameters(self, request):
        # Django masks only @sensitive_post_parameters, and only with DEBUG off:
        # a login form's password showed on the DEBUG page. Mask by name always.
        return self.query_dict_cleanse(super().get_post_parameters(request))

    def query_dict_cleanse(self, params):
        if not params:
            return params
        cleansed = params.copy()
        for name in list(cleansed):
            if HIDDEN_NAMES.search(str(name)):
                cleansed[name] = self.cleansed_substitute
            elif isinstance(cleansed[name], str):
                cleansed[name] = credentials_mask(str(cleansed[name]))
        return cleansed

    def get_traceback_frame_variables(self, request, tb_frame) -> list[tuple[str, Any]]:
        # Locals go through the same rules as settings: a `password` or `url`
        # local is hidden, a URL in a string or inside a dict/list is masked.
        return [
            (name, self.cleanse_setting(name, value))
            for name, value in super().get_traceback_frame_variables(request, tb_frame)
        ]


class CredentialMaskingExceptionReporter(ExceptionReporter):
    """The last line of defence: whatever the page or mail ended up holding
    (an exception message naming a database URL, a repr of an object with one),
    no URL in it keeps its password."""

    def get_traceback_data(self):
        data = super().get_traceback_data()
        if "request_GET_items" in data and isinstance(self.filter, CredentialMaskingReporterFilter):
            # ?token=... in a query string
            data["request_GET_items"] = self.filter.query_dict_cleanse(self.request.GET).items()
        if data.get("request_insecure_uri"):
            parts = urlsplit(data["request_insecure_uri"])
            data["request_insecure_uri"] = urlunsplit(parts._replace(query=query_string_mask(parts.query)))
        return data

    def get_traceback_html(self):
        return credentials_mask(str(super().get_traceback_html()))

    def get_traceback_text(self):
        return credentials_mask(str(super().get_traceback_text()))
