from django.apps import AppConfig


class SimulationConfig(AppConfig):
    name = "apps.simulation"
    verbose_name = "Simulation (demo data)"

    def ready(self) -> None:
        from apps.core.access import Permission
        from apps.core.realtime import channel_family_register
        from apps.simulation.realtime import CHANNEL_FAMILY, run_channel_authorize

        # /ws/ subscriptions to simulation.run_<id> (apps/core/websockets.py).
        channel_family_register(CHANNEL_FAMILY, run_channel_authorize, permission=Permission.VIEW_METRICS)
