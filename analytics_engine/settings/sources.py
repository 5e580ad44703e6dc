"""Source connections and ingestion jobs (docs/sources.md). Part of the
settings in base.py, which imports everything here; it reads the same
environment (base.py has loaded the checkout's .env by then)."""

import environ

env = environ.Env()

# Every outbound call to a source: connect/read timeout, retries with
# exponential backoff on network errors only (never on an answer), and a
# circuit breaker per connection that opens after SOURCES_BREAKER_FAIL_MAX
# consecutive failures and lets one trial through after SOURCES_BREAKER_RESET_SECONDS.
SOURCES_CONNECT_TIMEOUT_SECONDS = env.float("SOURCES_CONNECT_TIMEOUT_SECONDS", default=10.0)
SOURCES_READ_TIMEOUT_SECONDS = env.float("SOURCES_READ_TIMEOUT_SECONDS", default=60.0)
SOURCES_RETRY_ATTEMPTS = env.int("SOURCES_RETRY_ATTEMPTS", default=4)
SOURCES_RETRY_WAIT_MAX_SECONDS = env.float("SOURCES_RETRY_WAIT_MAX_SECONDS", default=30.0)
SOURCES_BREAKER_FAIL_MAX = env.int("SOURCES_BREAKER_FAIL_MAX", default=5)
SOURCES_BREAKER_RESET_SECONDS = env.int("SOURCES_BREAKER_RESET_SECONDS", default=60)
# Rows a preview or a dry run may ask for at most.
SOURCES_PREVIEW_MAX_ROWS = env.int("SOURCES_PREVIEW_MAX_ROWS", default=1000)
# Records sampled from a REST or GraphQL source to infer its schema.
SOURCES_DISCOVERY_SAMPLE = env.int("SOURCES_DISCOVERY_SAMPLE", default=200)
# Destinations a connection may not reach, whatever its owner types: the cloud
# metadata service and link-local addresses always. Loopback and private
# networks are refused too unless allowed (a platform serving many clients
# must not let one of them read its own internal services); development and
# the test suite allow them, since their sources run on this machine.
SOURCES_ALLOW_PRIVATE_NETWORKS = env.bool("SOURCES_ALLOW_PRIVATE_NETWORKS", default=False)
# The local MariaDB of scripts/services.sh (tests and demo sources): one port
# per stack, beside its PostgreSQL port.
SOURCES_LOCAL_MARIADB_URL = env(
    "AE_MARIADB_URL", default=f"mysql://ae:ae@127.0.0.1:{env.int('AE_PG_PORT', default=54329) - 21260}/"
)
# The demo's policy administration database on that MariaDB (`make run`: manage.py sources_demo).
SOURCES_DEMO_DATABASE = env("SOURCES_DEMO_DATABASE", default="ae_demo_policy_admin")
# A file uploaded to a file connection may be at most this large (bytes).
SOURCES_UPLOAD_MAX_BYTES = env.int("SOURCES_UPLOAD_MAX_BYTES", default=200 * 1024 * 1024)
