"""Routes of the simulation controller (`/simulation/`): the page (a POST
starts a run), its partials (a scenario's parameter inputs, the recent
runs) and one run's page or progress panel."""

from django.urls import path

from apps.web import views_simulation as views

urlpatterns: list = [
    path("simulation/", views.simulation, name="simulation"),
    path("simulation/params/", views.simulation_params, name="simulation_params"),
    path("simulation/runs/", views.simulation_runs, name="simulation_runs"),
    path("simulation/runs/<int:run_id>/", views.simulation_run, name="simulation_run"),
]
