"""Routes of the demo dashboard (`/`): health, quick actions, live KPI widgets, trend chart."""

urlpatterns: list = []
