"""``veille analyze INPUTS --cluster ray[://ADDRESS]``: the command's edge (inputs, console, exit code)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from veille.cluster.connect import connected, import_ray, parse_cluster
from veille.cluster.files import expand_urls, is_url


def expand_sources(inputs: list[str]) -> list[str]:
    """Files, folders and globs as a local batch expands them; URLs through fsspec."""
    from veille.inputs import expand_inputs

    sources: list[str] = []
    for raw in inputs:
        sources += expand_urls(raw) if is_url(raw) else [str(p) for p in expand_inputs([raw])]
    return sources


def run_cluster_analyze(inputs: list[str], settings: Any) -> None:
    """Analyse every input on the cluster ``settings.cluster`` names; exit 1 if any failed."""
    from veille.cluster.driver import run_cluster_batch
    from veille.cluster.progress import ClusterBar, rate_text
    from veille.console import Console
    from veille.pipeline import AnalysisResult
    from veille.report.schema import Report

    address = parse_cluster(settings.cluster)
    import_ray()  # the install line before anything else
    console = Console(verbose=settings.verbose, quiet=settings.quiet, lang=settings.lang)
    sources = expand_sources(inputs)
    total = len(sources)
    started = time.perf_counter()
    with connected(address) as ray:
        bar = ClusterBar(console, total)
        finished = {"n": 0}

        def done(item: Any, outcome: Any, folder: Path) -> None:
            finished["n"] += 1
            position = f"[{finished['n']}/{total}]" if total > 1 else ""
            for warning in outcome.warnings:
                console.warn(f"{item.video}: {warning}")
            if outcome.status == "ok" and "report.json" in outcome.files:
                report = Report.model_validate_json(outcome.files["report.json"])
                paths = [folder / name for name in outcome.files if "/" not in name and name.startswith("report.")]
                console.result(AnalysisResult(report, folder, sorted(paths)), position)
            elif item.error:
                said = item.error if item.error.startswith(item.video) else f"{item.video}: {item.error}"
                console.error(f"{position} {said}".lstrip())

        from veille.cli import _sigterm_as_interrupt

        try:
            with _sigterm_as_interrupt():  # SIGTERM stops the run as Ctrl-C does
                batch = run_cluster_batch(ray, sources, settings, on_done=done, on_tick=bar.tick)
        finally:
            bar.close()
    hours = sum(i.duration_s or 0.0 for i in batch.items) / 3600
    elapsed_h = (time.perf_counter() - started) / 3600
    console.info(f"cluster: {hours:.2f} h of footage, {rate_text(hours / elapsed_h)} per hour")
    for warning in batch.warnings:
        console.warn(warning)
    console.batch_summary(total, [i.video for i in batch.failures], Path(settings.out_dir) / "index.html")
    if batch.failures:
        sys.exit(1)
