"""Routes of KPI configuration (`/kpis/`), KPI details (`/kpis/<code>/`), the cart, deriving a KPI.
Page-wide partials live under `kpis/-/` (no metric code starts with `-`)."""

from django.urls import path

from apps.web import views_kpi_detail as detail
from apps.web import views_kpis as v

urlpatterns: list = [
    path("kpis/", v.kpis, name="kpis"),
    path("kpis/-/tree/", v.kpi_tree, name="kpi_tree"),
    path("kpis/-/formula-check/", v.kpi_formula_check, name="kpi_formula_check"),
    path("kpis/-/derive/", v.kpi_derive, name="kpi_derive"),
    path("kpis/<str:code>/", detail.kpi_detail, name="kpi_detail"),
    path("kpis/<str:code>/preview/", v.kpi_preview, name="kpi_preview"),
    path("kpis/<str:code>/tab/<str:tab>/", detail.kpi_tab, name="kpi_tab"),
    path("kpis/<str:code>/cart/add/", v.cart_add, name="cart_add"),
    path("kpis/<str:code>/cart/remove/", v.cart_remove, name="cart_remove"),
]
