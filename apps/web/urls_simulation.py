"""Routes of the simulation controller (`/simulation/`)."""

urlpatterns: list = []
