"""Routes of KPI configuration (`/kpis/`), KPI details (`/kpis/<code>/`), the cart, deriving a KPI."""

urlpatterns: list = []
