"""The console's static files as `make run` serves them: collected with the
production storage (WhiteNoise's compressed manifest), which refuses a file
that names a missing one (a vendored library's source map, a CSS url()).
Tests otherwise serve static files from the finders, where that never shows."""

from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.test import override_settings

PRODUCTION_STORAGES = {
    **settings.STORAGES,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}


def test_collectstatic_with_the_production_storage_collects_every_console_asset(tmp_path: Path):
    with override_settings(STATIC_ROOT=tmp_path, STORAGES=PRODUCTION_STORAGES):
        call_command("collectstatic", interactive=False, verbosity=0)
    collected = {path.relative_to(tmp_path).as_posix() for path in tmp_path.rglob("*") if path.is_file()}
    for asset in (
        "vendor/htmx/htmx.min.js",
        "vendor/echarts/echarts.min.js",
        "vendor/dagre/dagre.min.js",
        "css/app.css",
        "js/live.js",
        "js/dashboard.js",
    ):
        assert asset in collected, asset
        assert asset + ".gz" in collected, f"{asset} was not compressed"
    manifest = (tmp_path / "staticfiles.json").read_text()
    assert "vendor/dagre/dagre.min.js" in manifest
