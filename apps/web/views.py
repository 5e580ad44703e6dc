"""The console's landing page. `apps/web/urls.py` routes `/` (`web:home`) here;
the dashboard itself lives in `views_dashboard.py` with its regions."""

from apps.web.views_dashboard import dashboard as home

__all__ = ["home"]
