"""Settings read from the environment (12-factor, django-environ).

Every variable is listed in README.md. Defaults point at the local services
that `scripts/services.sh` starts, so `make run` needs no configuration.
"""

from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import environ
from django.core.exceptions import ImproperlyConfigured
from django_guid.integrations import CeleryIntegration
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.retry import Retry

from apps.warehouse.database_url import database_url_normalise

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    environ.Env.read_env(BASE_DIR / ".env")

DEBUG = env.bool("DEBUG", default=False)
# No signing key is built in, in any mode: `make run` / `make test` write a
# random one into the checkout's .env (scripts/env_secrets.py); a deployment
# sets its own. Keys once published in this repository are refused, and so is
# a short one (HS256 API tokens need 32 bytes or more).
SECRET_KEY = env("SECRET_KEY", default="")
_PUBLISHED_KEYS = {
    "insecure-local-development-key-do-not-use-in-production",
    "test-only-secret-key-long-enough-for-hs256-jwt",
    "bench-only-secret-key-not-for-serving",
}
if not SECRET_KEY:
    raise ImproperlyConfigured(
        "SECRET_KEY is not set. In a checkout, `make run` or `make test` (or `python3 scripts/env_secrets.py`) "
        "writes a random one into .env; in a deployment, set it in the environment (50+ random characters)."
    )
# Earlier keys still accepted when checking session and CSRF signatures (a
# rotation that signs nobody out); API tokens are only ever signed with SECRET_KEY.
SECRET_KEY_FALLBACKS = env.list("SECRET_KEY_FALLBACKS", default=[])
for _key in [SECRET_KEY, *SECRET_KEY_FALLBACKS]:
    if _key in _PUBLISHED_KEYS or len(_key) < 32:
        raise ImproperlyConfigured(
            "SECRET_KEY (or one of SECRET_KEY_FALLBACKS) is a published or short key (it needs 32+ characters, "
            "random): anyone could sign sessions and API tokens with it. Remove it from .env and run "
            "`python3 scripts/env_secrets.py`."
        )

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "django_guid",
    "django_celery_beat",
    "channels",
    "reversion",
    "axes",
    "oauth2_provider",  # the development OIDC provider's tables (routed only when AE_DEV_IDP_ENABLED)
    "apps.core",
    "apps.messaging",
    "apps.identity",
    "apps.warehouse",
    "apps.ontology",
    "apps.governance",
    "apps.calculations",
    "apps.connectors",
    "apps.ingestion",
    "apps.simulation",
    "apps.archival",
    "apps.observability",
    "apps.streams",
    "apps.web",
]

MIDDLEWARE = [
    "django_guid.middleware.guid_middleware",
    "django.middleware.security.SecurityMiddleware",
    "apps.core.middleware.RetryAfterMiddleware",  # outside the rest: sees every answer's final status
    "csp.middleware.CSPMiddleware",
    "django_permissions_policy.PermissionsPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "apps.core.middleware.ServiceUnavailableMiddleware",
]

ROOT_URLCONF = "analytics_engine.urls"
WSGI_APPLICATION = "analytics_engine.wsgi.application"
ASGI_APPLICATION = "analytics_engine.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "apps.web.tenancy.console_context",
            ],
        },
    },
]

# --- Databases -------------------------------------------------------------
# "default" writes; "readonly" is the CQRS read side, a role that may only
# SELECT (created by the warehouse migration when the credentials differ).
# The local services (scripts/services.sh) listen on AE_PG_PORT / AE_REDIS_PORT.
LOCAL_DATABASE_URL = f"postgres://ae:ae@127.0.0.1:{env.int('AE_PG_PORT', default=54329)}/analytics_engine"
DATABASE_URL = database_url_normalise(env("DATABASE_URL", default=LOCAL_DATABASE_URL))


def _readonly_url(url: str) -> str:
    parts = urlsplit(url)
    user = env("AE_READONLY_USER", default="ae_readonly")
    password = env("AE_READONLY_PASSWORD", default="ae_readonly")
    host = parts.hostname or ""
    netloc = f"{user}:{password}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


DATABASES = {
    "default": env.db_url_config(DATABASE_URL),
    "readonly": env.db_url_config(
        database_url_normalise(
            env("DATABASE_READONLY_URL", default=_readonly_url(DATABASE_URL)), setting="DATABASE_READONLY_URL"
        )
    ),
}
for _alias in DATABASES.values():
    _alias["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0)
    _alias["CONN_HEALTH_CHECKS"] = True
    _alias.setdefault("OPTIONS", {})["connect_timeout"] = env.int("DATABASE_CONNECT_TIMEOUT", default=5)
DATABASE_ROUTERS = ["apps.warehouse.routers.ReadOnlyRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: cache, Channels, Celery -----------------------------------------
REDIS_URL = env("REDIS_URL", default=f"redis://127.0.0.1:{env.int('AE_REDIS_PORT', default=63799)}/0")
# Every Redis client gives up after these (docs/operations.md, "When Redis goes
# away"): a Redis that is down or paused costs a request seconds and a 503, never
# a hang. Reads that block on purpose (Channels' BZPOPMIN) wait longer.
REDIS_CONNECT_TIMEOUT_SECONDS = env.float("REDIS_CONNECT_TIMEOUT_SECONDS", default=2.0)
REDIS_SOCKET_TIMEOUT_SECONDS = env.float("REDIS_SOCKET_TIMEOUT_SECONDS", default=3.0)
REDIS_HEALTH_CHECK_INTERVAL_SECONDS = env.int("REDIS_HEALTH_CHECK_INTERVAL_SECONDS", default=30)

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "ae",
        "TIMEOUT": env.int("CACHE_DEFAULT_TIMEOUT", default=300),
        # One retry on a dropped connection (a restarted Redis leaves every
        # pooled one dead), none on a timeout (a paused Redis would double it).
        "OPTIONS": {
            "socket_connect_timeout": REDIS_CONNECT_TIMEOUT_SECONDS,
            "socket_timeout": REDIS_SOCKET_TIMEOUT_SECONDS,
            "health_check_interval": REDIS_HEALTH_CHECK_INTERVAL_SECONDS,
            "retry": Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
        },
    }
}

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        # Reads wait longer than channels_redis blocks in BZPOPMIN (5 s): redis-py's
        # default socket timeout is that same 5 s, and an idle socket's receive then
        # times out now and then, killing its consumer.
        "CONFIG": {
            "hosts": [
                {"address": REDIS_URL, "socket_timeout": 30, "socket_connect_timeout": REDIS_CONNECT_TIMEOUT_SECONDS}
            ],
            "prefix": "ae:channels",
            "group_expiry": 3600,
        },
    }
}
WS_HEARTBEAT_SECONDS = env.float("WS_HEARTBEAT_SECONDS", default=20.0)
# Backpressure (docs/live.md): frames waiting for a socket, and how long one may
# wait for the socket to take it; a client that falls behind either is dropped
# (close code 4008) so it never holds memory or other sockets up.
WS_SEND_QUEUE_SIZE = env.int("WS_SEND_QUEUE_SIZE", default=256)
WS_SEND_TIMEOUT_SECONDS = env.float("WS_SEND_TIMEOUT_SECONDS", default=10.0)
# Subscriber tracking in Redis: a socket's subscriptions expire this long after
# its last refresh (every third of it), so a crashed server leaves no ghosts.
WS_TRACKING_TTL_SECONDS = env.int("WS_TRACKING_TTL_SECONDS", default=90)
# Revocation: every open socket re-checks its credentials and membership this
# often, besides at once when told (membership or role change, password change,
# logout everywhere) and at its token's or session's expiry (docs/live.md).
WS_RECHECK_SECONDS = env.float("WS_RECHECK_SECONDS", default=60.0)

CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", default=REDIS_URL)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_EXPIRES = 3600
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A worker that lost Redis keeps reconnecting (backoff up to 30 s) however long
# it is away, instead of exiting after 100 attempts.
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_BROKER_CONNECTION_TIMEOUT = REDIS_CONNECT_TIMEOUT_SECONDS
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "socket_connect_timeout": REDIS_CONNECT_TIMEOUT_SECONDS,
    "socket_timeout": REDIS_SOCKET_TIMEOUT_SECONDS,
    "socket_keepalive": True,
    "health_check_interval": REDIS_HEALTH_CHECK_INTERVAL_SECONDS,
}
CELERY_REDIS_SOCKET_CONNECT_TIMEOUT = REDIS_CONNECT_TIMEOUT_SECONDS
CELERY_REDIS_SOCKET_TIMEOUT = REDIS_SOCKET_TIMEOUT_SECONDS
CELERY_REDIS_SOCKET_KEEPALIVE = True
CELERY_REDIS_BACKEND_HEALTH_CHECK_INTERVAL = REDIS_HEALTH_CHECK_INTERVAL_SECONDS
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = "UTC"

# --- Auth and API ------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "web:home"
LOGOUT_REDIRECT_URL = "login"

REST_FRAMEWORK = {
    # JWT first, so an anonymous request is answered 401 with a Bearer challenge.
    # A provider's bearer token (an RS256 token with `tid`) is recognised first;
    # anything else goes on to our own JWTs.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apps.identity.oidc.drf.ProviderBearerAuthentication",
        "apps.core.api.authentication.RevocableJWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # Every view declares what each method needs (`required_permissions`, apps/core/api/permissions.py).
    "DEFAULT_PERMISSION_CLASSES": ["apps.core.api.permissions.HasClientPermission"],
    "DEFAULT_PAGINATION_CLASS": "apps.core.api.pagination.StandardPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "apps.core.api.exceptions.exception_handler",
    # DRF's defaults, with a JSON parser that answers 400 for JSON nested too deeply.
    "DEFAULT_PARSER_CLASSES": [
        "apps.core.api.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_THROTTLE_CLASSES": [
        "apps.core.api.throttling.ClientRateThrottle",
        "apps.core.api.throttling.AnonymousRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "client": env("API_RATE_CLIENT", default="1200/minute"),
        "user": env("API_RATE_USER", default="300/minute"),
        "anon": env("API_RATE_ANON", default="60/minute"),
    },
}

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_ACCESS_MINUTES", default=15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("JWT_REFRESH_DAYS", default=1)),
    "AUTH_HEADER_TYPES": ("Bearer",),
    # Revocation (docs/api.md "Revocation"): a refresh token is used once (the
    # refresh answers a new one; the old one goes on the deny list); tokens carry
    # a digest of the password hash (any password change revokes them) and the
    # user's token generation (logout everywhere, deactivation and membership
    # removal bump it), checked for access and refresh tokens alike.
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "CHECK_REVOKE_TOKEN": True,
    "TOKEN_OBTAIN_SERIALIZER": "apps.core.api.auth_serializers.TokenObtainSerializer",
    "TOKEN_REFRESH_SERIALIZER": "apps.core.api.auth_serializers.TokenRefreshSerializer",
}

# --- Client addresses, sign-in lockout, rate limit counters -------------------
# (docs/console.md "Sign-in lockout", docs/api.md "Rate limits")
# Reverse proxies of our own in front of the app: X-Forwarded-For is read only
# for the hops they append (apps/core/client_address.py); 0 ignores it.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
REST_FRAMEWORK["NUM_PROXIES"] = TRUSTED_PROXY_COUNT
# Failures that lock one username at one address, failures over any usernames
# that lock an address, and how long after the latest failure a lock lasts.
AUTH_LOCKOUT_FAILURES = env.int("AUTH_LOCKOUT_FAILURES", default=5)
AUTH_LOCKOUT_ADDRESS_FAILURES = env.int("AUTH_LOCKOUT_ADDRESS_FAILURES", default=30)
AUTH_LOCKOUT_COOLOFF_MINUTES = env.int("AUTH_LOCKOUT_COOLOFF_MINUTES", default=15)
AUTHENTICATION_BACKENDS = [
    # Checks passwords, with the lockout around the check and the per-client
    # password-login switch after it (apps/identity/password_login.py).
    "apps.identity.password_login.PasswordLoginBackend",
    "django.contrib.auth.backends.ModelBackend",
    # Sessions opened by a provider sign-in (it never takes a password).
    "apps.identity.oidc.backend.ProviderOIDCBackend",
]
MIDDLEWARE += ["axes.middleware.AxesMiddleware"]  # last: turns a lockout into the sign-in page's 429
AXES_HANDLER = "apps.core.login_lockout.LockoutHandler"
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "ip_address"]  # LockoutHandler reads them in this order
AXES_FAILURE_LIMIT = "apps.core.login_lockout.failure_limit"
AXES_COOLOFF_TIME = "apps.core.login_lockout.cool_off"
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "apps.core.client_address.client_address"
AXES_USERNAME_CALLABLE = "apps.core.login_lockout.attempt_username"
AXES_LOCKOUT_CALLABLE = "apps.core.login_lockout.lockout_response"
# Rate limit counters (apps/core/rate_limits.py): on REDIS_URL unless set; a
# Redis that does not answer within the timeout lets requests through, and is
# not asked again for THROTTLE_REDIS_RETRY_SECONDS.
THROTTLE_REDIS_URL = env("THROTTLE_REDIS_URL", default="")
THROTTLE_REDIS_TIMEOUT_SECONDS = env.float("THROTTLE_REDIS_TIMEOUT_SECONDS", default=0.5)
THROTTLE_REDIS_RETRY_SECONDS = env.float("THROTTLE_REDIS_RETRY_SECONDS", default=5.0)
THROTTLE_KEY_PREFIX = env("THROTTLE_KEY_PREFIX", default="ae:rate")

SPECTACULAR_SETTINGS = {
    "TITLE": "Analytics Engine API",
    "DESCRIPTION": "Metadata-driven KPI platform: ontology, data, metrics, platform.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    # Swagger UI from the vendored sidecar package: no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "ENUM_NAME_OVERRIDES": {"IdentityProviderKindEnum": "apps.identity.models.providers.IdentityProvider.Kind"},
}

# --- Correlation ids and logging ----------------------------------------------
DJANGO_GUID = {
    "GUID_HEADER_NAME": "X-Correlation-ID",
    "VALIDATE_GUID": False,
    "RETURN_HEADER": True,
    "EXPOSE_HEADER": True,
    "INTEGRATIONS": [CeleryIntegration(use_django_logging=True, log_parent=True)],
}

LOG_LEVEL = env("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"correlation_id": {"()": "django_guid.log_filters.CorrelationId"}},
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s %(correlation_id)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        }
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "json", "filters": ["correlation_id"]},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django_guid": {"level": "WARNING"},
        "azure": {"level": "WARNING"},  # the SDK logs every request with its headers at INFO
        "django.db.backends": {"level": "INFO"},
    },
}

# --- i18n, static -------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "var" / "staticfiles")
# Uploaded files (file connections: docs/sources.md, "Files"); web and workers must share it.
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "var" / "media")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = DEBUG

# --- Security: cookies, HTTPS, error reports, CSP and Permissions-Policy --------
from analytics_engine.settings.security import *  # noqa: E402, F403

# --- Platform --------------------------------------------------------------------
ANALYTICS_SCHEMA = "analytics_data"
AE_ADMIN_PASSWORD = env("AE_ADMIN_PASSWORD", default="admin")
HEALTH_CHECK_TIMEOUT_SECONDS = env.float("HEALTH_CHECK_TIMEOUT_SECONDS", default=2.0)
AE_DRIFT_REPORT_DAYS = env.int("AE_DRIFT_REPORT_DAYS", default=30)
# Bulk loads (POST /api/v1/data/<entity>/rows/): per-request limits.
AE_MAX_LOAD_BYTES = env.int("AE_MAX_LOAD_BYTES", default=50 * 1024 * 1024)
AE_MAX_LOAD_ROWS = env.int("AE_MAX_LOAD_ROWS", default=1_000_000)
AE_MAX_REPORTED_REJECTIONS = env.int("AE_MAX_REPORTED_REJECTIONS", default=1000)

# Metric calculations (docs/metrics-api.md): where they read, and their limits.
AE_CALC_DATABASE = env("AE_CALC_DATABASE", default="readonly")
AE_CALC_STATEMENT_TIMEOUT_MS = env.int("AE_CALC_STATEMENT_TIMEOUT_MS", default=30_000)
if AE_CALC_DATABASE != "default":
    # The read side runs calculations only: their timeout is its sessions' from connect, so a
    # statement needs no transaction of its own to set it (apps.calculations.runner).
    _options = DATABASES[AE_CALC_DATABASE].setdefault("OPTIONS", {})
    _options["options"] = f"{_options.get('options', '')} -c statement_timeout={AE_CALC_STATEMENT_TIMEOUT_MS}".strip()
AE_CALC_MAX_BUCKETS = env.int("AE_CALC_MAX_BUCKETS", default=10_000)
AE_CALC_MAX_ROWS = env.int("AE_CALC_MAX_ROWS", default=200_000)
AE_CALC_DEFAULT_RANGE_DAYS = env.int("AE_CALC_DEFAULT_RANGE_DAYS", default=30)
AE_CALC_BATCH_PARALLELISM = env.int("AE_CALC_BATCH_PARALLELISM", default=4)
# Calculation statements one process runs at once; the others wait up to
# AE_CALC_SLOT_WAIT_SECONDS for a turn, then answer 503 calculations_busy
# (apps/calculations/runner.py; docs/metrics-api.md).
AE_CALC_MAX_CONCURRENT = env.int("AE_CALC_MAX_CONCURRENT", default=4)
AE_CALC_SLOT_WAIT_SECONDS = env.float("AE_CALC_SLOT_WAIT_SECONDS", default=2 * AE_CALC_STATEMENT_TIMEOUT_MS / 1000)
# Defining a metric queues the generation of its entity's rollups (docs/rollups.md);
# a load queues the recalculation of the metrics it feeds (docs/live.md).
AE_ROLLUPS_AUTO = env.bool("AE_ROLLUPS_AUTO", default=True)
AE_LIVE_RECALCULATE = env.bool("AE_LIVE_RECALCULATE", default=True)

# --- Secrets ---------------------------------------------------------------------
# Key-encryption keys of the secrets stored in the database (apps.core.crypto,
# docs/security.md "Secrets at rest"): comma-separated `<id>:<32 bytes, url-safe
# base64>`, newest first; the first wraps new data keys, all unwrap. Required
# wherever a secret is stored or read (`check --deploy` says so when it is
# empty); nothing is derived from SECRET_KEY. scripts/env_secrets.py writes one
# into .env. `manage.py secrets_rotate` rewraps everything under the first.
AE_SECRET_KEKS = env.list("AE_SECRET_KEKS", default=[])
# Fernet keys of the format before envelope encryption: only read old tokens,
# until `manage.py secrets_rotate` has rewritten them; then remove.
AE_ENCRYPTION_KEYS = env.list("AE_ENCRYPTION_KEYS", default=[])
# The largest sensitive artifact (an encrypted file, apps/core/artifacts.py) one upload may store.
AE_ARTIFACT_MAX_BYTES = env.int("AE_ARTIFACT_MAX_BYTES", default=10 * 1024 * 1024)

# --- Webhooks --------------------------------------------------------------------
# Outgoing webhook deliveries (docs/webhooks.md).
MESSAGING_WEBHOOK_ALLOW_PRIVATE = env.bool("MESSAGING_WEBHOOK_ALLOW_PRIVATE", default=False)
MESSAGING_WEBHOOK_TIMEOUT_SECONDS = env.float("MESSAGING_WEBHOOK_TIMEOUT_SECONDS", default=10.0)
MESSAGING_WEBHOOK_MAX_ATTEMPTS = env.int("MESSAGING_WEBHOOK_MAX_ATTEMPTS", default=12)
MESSAGING_WEBHOOK_BACKOFF_BASE_SECONDS = env.float("MESSAGING_WEBHOOK_BACKOFF_BASE_SECONDS", default=10.0)
MESSAGING_WEBHOOK_BACKOFF_MAX_SECONDS = env.float("MESSAGING_WEBHOOK_BACKOFF_MAX_SECONDS", default=3600.0)
MESSAGING_WEBHOOK_BREAKER_FAIL_MAX = env.int("MESSAGING_WEBHOOK_BREAKER_FAIL_MAX", default=5)
MESSAGING_WEBHOOK_BREAKER_RESET_SECONDS = env.int("MESSAGING_WEBHOOK_BREAKER_RESET_SECONDS", default=60)
MESSAGING_WEBHOOK_POSTPONE_MAX_SECONDS = env.int("MESSAGING_WEBHOOK_POSTPONE_MAX_SECONDS", default=24 * 3600)
# A pending delivery this long past its due attempt lost its task; the sweep
# (beat, every 5 minutes) queues it again (docs/webhooks.md).
MESSAGING_WEBHOOK_SWEEP_GRACE_SECONDS = env.int("MESSAGING_WEBHOOK_SWEEP_GRACE_SECONDS", default=600)

# --- Messaging (event bus on Redis Streams; docs/events.md) ----------------------
# Empty MESSAGING_REDIS_URL means REDIS_URL, read when the bus connects (so
# settings that move REDIS_URL, like the test settings, move the bus too).
MESSAGING_REDIS_URL = env("MESSAGING_REDIS_URL", default="")
MESSAGING_KEY_PREFIX = env("MESSAGING_KEY_PREFIX", default="ae:")
MESSAGING_POOL_MAX_CONNECTIONS = env.int("MESSAGING_POOL_MAX_CONNECTIONS", default=50)
MESSAGING_POOL_TIMEOUT_SECONDS = env.float("MESSAGING_POOL_TIMEOUT_SECONDS", default=5.0)
MESSAGING_SOCKET_TIMEOUT_SECONDS = env.float("MESSAGING_SOCKET_TIMEOUT_SECONDS", default=5.0)
MESSAGING_SOCKET_CONNECT_TIMEOUT_SECONDS = env.float("MESSAGING_SOCKET_CONNECT_TIMEOUT_SECONDS", default=2.0)
# A publish retries (exponential backoff) while Redis is unreachable, for this long.
MESSAGING_PUBLISH_RETRY_SECONDS = env.float("MESSAGING_PUBLISH_RETRY_SECONDS", default=10.0)
MESSAGING_STREAM_MAXLEN = env.int("MESSAGING_STREAM_MAXLEN", default=1_000_000)  # approximate; 0 keeps all
MESSAGING_COMPRESS_THRESHOLD_BYTES = env.int("MESSAGING_COMPRESS_THRESHOLD_BYTES", default=1024)
MESSAGING_MAX_PAYLOAD_BYTES = env.int("MESSAGING_MAX_PAYLOAD_BYTES", default=1024 * 1024)
# Topics the publish API refuses: the platform alone publishes there.
MESSAGING_RESERVED_TOPIC_PREFIXES = env.list(
    "MESSAGING_RESERVED_TOPIC_PREFIXES", default=["archival", "commands", "system"]
)
# The consumer runner (manage.py run_consumers).
MESSAGING_MAX_ATTEMPTS = env.int("MESSAGING_MAX_ATTEMPTS", default=5)
MESSAGING_RETRY_BACKOFF_SECONDS = env.float("MESSAGING_RETRY_BACKOFF_SECONDS", default=0.2)
MESSAGING_RETRY_BACKOFF_MAX_SECONDS = env.float("MESSAGING_RETRY_BACKOFF_MAX_SECONDS", default=5.0)
MESSAGING_BLOCK_MS = env.int("MESSAGING_BLOCK_MS", default=2000)
MESSAGING_BATCH_SIZE = env.int("MESSAGING_BATCH_SIZE", default=100)
MESSAGING_CLAIM_MIN_IDLE_MS = env.int("MESSAGING_CLAIM_MIN_IDLE_MS", default=60_000)
MESSAGING_CLAIM_INTERVAL_SECONDS = env.float("MESSAGING_CLAIM_INTERVAL_SECONDS", default=15.0)
MESSAGING_TOPIC_REFRESH_SECONDS = env.float("MESSAGING_TOPIC_REFRESH_SECONDS", default=5.0)
MESSAGING_RECONNECT_MAX_SECONDS = env.float("MESSAGING_RECONNECT_MAX_SECONDS", default=30.0)
MESSAGING_CONSUMER_EXPIRY_SECONDS = env.int("MESSAGING_CONSUMER_EXPIRY_SECONDS", default=24 * 3600)
# Handler modules imported besides each app's events.py (its bus handlers).
MESSAGING_EXTRA_HANDLER_MODULES = env.list("MESSAGING_EXTRA_HANDLER_MODULES", default=[])
# The transactional outbox (events published from a transaction; its relay
# runs in run_consumers): idle poll, rows per relay round, how long published
# rows are kept.
MESSAGING_OUTBOX_POLL_SECONDS = env.float("MESSAGING_OUTBOX_POLL_SECONDS", default=1.0)
MESSAGING_OUTBOX_BATCH_SIZE = env.int("MESSAGING_OUTBOX_BATCH_SIZE", default=500)
MESSAGING_OUTBOX_RETENTION_SECONDS = env.int("MESSAGING_OUTBOX_RETENTION_SECONDS", default=24 * 3600)

# --- Archival (docs/archival.md) --------------------------------------------------
# Rows fetched per batch while a chunk is extracted (bounds the worker's memory),
# and attempts at archiving a chunk before its job is FAILED (0: the bus's
# MESSAGING_MAX_ATTEMPTS, so the job fails when the event is dead-lettered).
ARCHIVAL_BATCH_ROWS = env.int("ARCHIVAL_BATCH_ROWS", default=100_000)
ARCHIVAL_MAX_ATTEMPTS = env.int("ARCHIVAL_MAX_ATTEMPTS", default=0)

# --- Lakehouse (archival targets, file connections' lake folders; docs/lakehouse.md) -
LAKEHOUSE_ROOT = env.path("LAKEHOUSE_ROOT", default=BASE_DIR / "var" / "lakehouse")
LAKEHOUSE_TARGETS = {
    "default": {"BACKEND": "apps.core.lakehouse.local.LocalLakehouse", "ROOT": str(LAKEHOUSE_ROOT)},
}

# --- Lakehouse backends (docs/lakehouse.md) ----------------------------------------
# LAKEHOUSE_BACKEND=adls points the "default" target at an ADLS Gen2 file system:
# an account key, or else the process's Azure identity (DefaultAzureCredential:
# managed identity, workload identity, environment, az login).
LAKEHOUSE_BACKEND = env("LAKEHOUSE_BACKEND", default="local")
LAKEHOUSE_ADLS_ACCOUNT_URL = env("LAKEHOUSE_ADLS_ACCOUNT_URL", default="")
LAKEHOUSE_ADLS_FILE_SYSTEM = env("LAKEHOUSE_ADLS_FILE_SYSTEM", default="lakehouse")
LAKEHOUSE_ADLS_ACCOUNT_KEY = env("LAKEHOUSE_ADLS_ACCOUNT_KEY", default="")
LAKEHOUSE_ADLS_ROOT = env("LAKEHOUSE_ADLS_ROOT", default="")
LAKEHOUSE_ADLS_TIMEOUT_SECONDS = env.float("LAKEHOUSE_ADLS_TIMEOUT_SECONDS", default=10.0)
LAKEHOUSE_ADLS_RETRY_TOTAL = env.int("LAKEHOUSE_ADLS_RETRY_TOTAL", default=3)
LAKEHOUSE_ADLS_RETRY_BACKOFF_SECONDS = env.float("LAKEHOUSE_ADLS_RETRY_BACKOFF_SECONDS", default=1.0)
if LAKEHOUSE_BACKEND == "adls":
    if not LAKEHOUSE_ADLS_ACCOUNT_URL:
        raise ImproperlyConfigured("LAKEHOUSE_BACKEND=adls needs LAKEHOUSE_ADLS_ACCOUNT_URL")
    LAKEHOUSE_TARGETS["default"] = {
        "BACKEND": "apps.core.lakehouse.adls.AdlsLakehouse",
        "ACCOUNT_URL": LAKEHOUSE_ADLS_ACCOUNT_URL,
        "FILE_SYSTEM": LAKEHOUSE_ADLS_FILE_SYSTEM,
        **({"ACCOUNT_KEY": LAKEHOUSE_ADLS_ACCOUNT_KEY} if LAKEHOUSE_ADLS_ACCOUNT_KEY else {"CREDENTIAL": "default"}),
        "ROOT": LAKEHOUSE_ADLS_ROOT,
        "TIMEOUT_SECONDS": LAKEHOUSE_ADLS_TIMEOUT_SECONDS,
        "RETRY_TOTAL": LAKEHOUSE_ADLS_RETRY_TOTAL,
        "RETRY_BACKOFF_SECONDS": LAKEHOUSE_ADLS_RETRY_BACKOFF_SECONDS,
    }
elif LAKEHOUSE_BACKEND != "local":
    raise ImproperlyConfigured(f"LAKEHOUSE_BACKEND must be 'local' or 'adls', not {LAKEHOUSE_BACKEND!r}")

# --- Metrics and tracing (docs/observability.md) ----------------------------------
# prometheus_client's multiprocess mode: every process (web, Celery worker and
# its children, consumers) writes its samples under this folder and GET /metrics
# merges them. prometheus_client reads the variable when first imported, so it
# is exported here, before any app module loads. Empty it when a deployment
# starts (stale files of dead processes otherwise keep old gauges).
PROMETHEUS_MULTIPROC_DIR = env.path("PROMETHEUS_MULTIPROC_DIR", default=BASE_DIR / "var" / "prometheus")
env.ENVIRON["PROMETHEUS_MULTIPROC_DIR"] = str(PROMETHEUS_MULTIPROC_DIR)  # env.ENVIRON is os.environ
Path(PROMETHEUS_MULTIPROC_DIR).mkdir(parents=True, exist_ok=True)
# Bearer token the Prometheus scraper sends to GET /metrics; unset, only staff
# users (session or API token) may read it.
METRICS_TOKEN = env("METRICS_TOKEN", default="")
# Span exporter: none (spans are made, not shipped), console, or otlp (needs
# opentelemetry-exporter-otlp; OTEL_EXPORTER_OTLP_* variables configure it).
OTEL_EXPORTER = env("OTEL_EXPORTER", default="none")
OTEL_SERVICE_NAME = env("OTEL_SERVICE_NAME", default="analytics-engine")

# --- Calculation engine ---
# Result cache (apps/calculations/cache.py): seconds a result stays cached, by
# the metric's domain (keys lower case, spaces and hyphens as underscores; a TTL
# of 0 caches nothing), else the default. Data loads invalidate earlier.
AE_CALC_CACHE_ENABLED = env.bool("AE_CALC_CACHE_ENABLED", default=True)
AE_CALC_CACHE_TTL_DEFAULT = env.int("AE_CALC_CACHE_TTL_DEFAULT", default=86400)
AE_CALC_CACHE_TTL_BY_DOMAIN = env.json("AE_CALC_CACHE_TTL_BY_DOMAIN", default={"finance": 300, "supply_chain": 3600})

# Ontology metadata answers (apps/ontology/api/metadata_cache.py): seconds a
# rendered definition list, definition or UML graph stays in the Redis cache.
# Any definition change moves the key first; 0 caches nothing (ETag and 304
# still answer).
ONTOLOGY_METADATA_CACHE_TTL = env.int("ONTOLOGY_METADATA_CACHE_TTL", default=3600)

# Live KPIs (docs/live.md): the recalculation after a load covers at most this
# many days (the latest), computes each metric by at most this many breakdowns
# (the whole first), and keeps the breakdowns found in the metric's history
# this many days before the recalculated range up to date.
AE_LIVE_RECALC_MAX_DAYS = env.int("AE_LIVE_RECALC_MAX_DAYS", default=366)
AE_LIVE_MAX_GROUP_BYS = env.int("AE_LIVE_MAX_GROUP_BYS", default=8)
AE_LIVE_DEMAND_DAYS = env.int("AE_LIVE_DEMAND_DAYS", default=90)
# Threshold alerts to Slack-style webhooks: attempts, and the backoff between them.
AE_THRESHOLD_ALERT_MAX_ATTEMPTS = env.int("AE_THRESHOLD_ALERT_MAX_ATTEMPTS", default=6)
AE_THRESHOLD_ALERT_BACKOFF_BASE_SECONDS = env.float("AE_THRESHOLD_ALERT_BACKOFF_BASE_SECONDS", default=5.0)
AE_THRESHOLD_ALERT_BACKOFF_MAX_SECONDS = env.float("AE_THRESHOLD_ALERT_BACKOFF_MAX_SECONDS", default=600.0)
# Stream aggregator (docs/live.md, "Stream aggregator"): the write-behind flush
# runs every AE_STREAM_FLUSH_SECONDS and moves each client's watermark to
# now - AE_STREAM_FLUSH_LAG_SECONDS (readings that late still count as live at
# once); live Redis keys expire AE_STREAM_REDIS_TTL_SECONDS after their last
# write (a safety net: the flush deletes them); a series is pushed to
# /ws/ at most once per AE_STREAM_PUSH_INTERVAL_MS.
AE_STREAM_FLUSH_SECONDS = env.float("AE_STREAM_FLUSH_SECONDS", default=5.0)
AE_STREAM_FLUSH_LAG_SECONDS = env.int("AE_STREAM_FLUSH_LAG_SECONDS", default=2)
AE_STREAM_REDIS_TTL_SECONDS = env.int("AE_STREAM_REDIS_TTL_SECONDS", default=3600)
AE_STREAM_PUSH_INTERVAL_MS = env.int("AE_STREAM_PUSH_INTERVAL_MS", default=200)

# --- Identity: sign-in through providers, directory sync, the development provider ---
from analytics_engine.settings.identity import *  # noqa: E402, F403

# --- Sources and ingestion: analytics_engine/settings/sources.py ---------------
from analytics_engine.settings.sources import *  # noqa: E402, F403
