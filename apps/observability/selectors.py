from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from django.conf import settings

from apps.observability.health import CHECKS, DEPENDS_ON


@dataclass(frozen=True)
class HealthReport:
    checks: dict[str, dict]
    failed: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed

    def as_dict(self) -> dict:
        body: dict = {"status": "ok" if self.ok else "error", "checks": self.checks}
        if self.failed:
            body["failed"] = self.failed
        return body


def _run(check) -> dict:
    try:
        return check()
    except Exception as exc:  # a health probe reports failures, it does not raise them
        return {"status": "error", "error": f"{type(exc).__name__}: {exc}".strip()}


# Checks time out on their own after HEALTH_CHECK_TIMEOUT_SECONDS (and say
# how); the report waits this much longer before it answers for them.
_GRACE_SECONDS = 0.5


def health_report() -> HealthReport:
    """Run every dependency check, the independent ones in parallel, and wait
    for them at most HEALTH_CHECK_TIMEOUT_SECONDS (+ a grace): a check still
    waiting on its dependency then (a paused Redis accepts connections and
    never answers) is reported as an error, and its thread finishes on its
    own socket timeout. Pool threads touch no Django connection."""
    timeout = settings.HEALTH_CHECK_TIMEOUT_SECONDS
    independent = {name: check for name, check in CHECKS.items() if name not in DEPENDS_ON}
    pool = ThreadPoolExecutor(max_workers=len(independent), thread_name_prefix="health")
    try:
        futures = {name: pool.submit(_run, check) for name, check in independent.items()}
        wait(futures.values(), timeout=timeout + _GRACE_SECONDS)
        results = {
            name: future.result() if future.done() else {"status": "error", "error": f"no answer within {timeout:g} s"}
            for name, future in futures.items()
        }
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    for name, parent in DEPENDS_ON.items():
        if results[parent]["status"] == "ok":
            results[name] = _run(CHECKS[name])
        else:
            results[name] = {"status": "error", "error": f"{parent} unavailable"}
    checks = {name: results[name] for name in CHECKS}
    return HealthReport(checks=checks, failed=[name for name, r in checks.items() if r["status"] != "ok"])


def worker_roundtrip(*, timeout: float) -> dict:
    """Send a probe task through the broker and wait for a worker's answer."""
    import time

    from apps.observability.tasks import worker_probe

    started = time.perf_counter()
    try:
        answer = worker_probe.apply_async().get(timeout=timeout)
    except Exception as exc:  # timeout or broker failure, reported not raised
        return {"status": "error", "error": f"{type(exc).__name__}: {exc}".strip()}
    status = "ok" if answer.get("database") == "ok" else "error"
    return {"status": status, "latency_ms": round((time.perf_counter() - started) * 1000, 1), **answer}
