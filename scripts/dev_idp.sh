#!/bin/sh
# The development OIDC provider's own server (`make run`, scripts/supervisord.conf;
# docs/identity.md, "The development provider"): daphne on 127.0.0.1:IDP_PORT
# serving only /idp/ (settings analytics_engine.settings.dev_idp). A separate
# process because the platform's sign-in callback, a sync view, calls the token
# endpoint over HTTP: under the platform's own daphne, sync views share one
# thread and that call would wait for itself. Exits 0 when AE_DEV_IDP_ENABLED is off.
case "$(printf '%s' "${AE_DEV_IDP_ENABLED:-false}" | tr '[:upper:]' '[:lower:]')" in
    true | 1 | yes | on | y) ;;
    *) echo "[idp] the development provider is off (AE_DEV_IDP_ENABLED)"; exit 0 ;;
esac
export DJANGO_SETTINGS_MODULE=analytics_engine.settings.dev_idp
exec "${AE_VENV:-.venv}/bin/daphne" -b 127.0.0.1 -p "${IDP_PORT:-8001}" analytics_engine.asgi:application
