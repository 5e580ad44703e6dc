from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

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


def health_report() -> HealthReport:
    """Run every dependency check, the independent ones in parallel so the probe
    takes as long as its slowest check. Pool threads touch no Django connection."""
    independent = {name: check for name, check in CHECKS.items() if name not in DEPENDS_ON}
    with ThreadPoolExecutor(max_workers=len(independent)) as pool:
        futures = {name: pool.submit(_run, check) for name, check in independent.items()}
        results = {name: future.result() for name, future in futures.items()}
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
