"""What every bench script does before it imports the project: the repository
on sys.path, the base settings unless DJANGO_SETTINGS_MODULE names others (the
bench tests run them on the test settings), then Django set up.

A script run as `python bench/x.py` has bench/ on its path, so it reads
`from _bootstrap import django_setup` and calls it before its Django imports."""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def django_setup(**environ: str) -> None:
    """Set up Django for a bench script; `environ` is set first, over whatever
    the environment holds (a bench's own settings, e.g. AE_ROLLUPS_AUTO)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "analytics_engine.settings.base")
    os.environ.update(environ)

    import django

    django.setup()


def die_with_parent() -> None:
    """For `subprocess.Popen(preexec_fn=...)`: the child gets SIGTERM when the
    bench process dies, even by SIGKILL (a test's timeout), so no worker or
    server it started outlives it and takes the next run's tasks (Linux's
    PR_SET_PDEATHSIG; elsewhere nothing)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    pr_set_pdeathsig = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
