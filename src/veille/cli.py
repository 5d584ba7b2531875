"""The command line: a thin edge that parses, calls one library function, and prints.

Heavy modules (torch, transformers, PyAV, pydantic) are imported inside the commands, so
``--help`` and ``models list`` start fast. Every :class:`VeilleError` becomes one line on stderr
and an exit code; tracebacks only with ``VEILLE_DEBUG=1``.
"""

from __future__ import annotations

import contextlib
import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click

from veille import __version__, constants
from veille.choices import Device, DType, Lang, LayoutSetting, Profile, values
from veille.errors import AnalysisInterrupted, VeilleError

PROFILES = tuple(values(Profile))
EXIT_CODES = """\b
Exit codes:
  0    every input was analysed
  1    an input or its analysis failed (the others were still analysed)
  2    usage error (an unknown option or value, an invalid settings file)
  130  interrupted (Ctrl-C or SIGTERM; the partial report and the index are written)"""


def _analyze_options(func):
    """The options of ``analyze`` (shared with the seed's ``main.py``)."""
    options = [
        click.option(
            "--out", "out_dir", type=click.Path(path_type=Path), help="Report folder (default ./veille-reports)."
        ),
        click.option(
            "--profile",
            type=click.Choice(PROFILES),
            help="motion (no model), fast, default or full [default: default, or `profile` in the settings].",
        ),
        click.option("--vlm", help="Describer: catalog name, repo id, local folder, or openai:MODEL (a server's)."),
        click.option("--llm", help="Reasoner: catalog name, repo id, local folder, openai:MODEL, or 'none'."),
        click.option("--grounder", help="Grounder: catalog name, repo id, local folder, or 'none'."),
        click.option(
            "--api-base",
            help="OpenAI-compatible server of openai:MODEL, e.g. http://127.0.0.1:11434/v1 (Ollama);"
            " API key from VEILLE_API_KEY or OPENAI_API_KEY.",
        ),
        click.option("--llm-api-base", help="The reasoner's server, when not --api-base."),
        click.option("--device", type=click.Choice(values(Device)), help="Where models run."),
        click.option("--dtype", type=click.Choice(values(DType)), help="Model weights precision."),
        click.option(
            "--8bit/--no-8bit",
            "load_in_8bit",
            default=None,
            help="8-bit weights: int8 layers on CPU (the default there), bitsandbytes on CUDA (default: grounder).",
        ),
        click.option(
            "--layout",
            type=click.Choice(values(LayoutSetting)),
            help="How the describer sees a chunk: one storyboard image or each frame [default: auto,"
            " storyboard on CPU].",
        ),
        click.option("--offline", is_flag=True, default=None, help="Never touch the network."),
        click.option("--cache-dir", type=click.Path(path_type=Path), help="Hugging Face cache folder."),
        click.option("--context", help="What is normal at this site (used to judge events)."),
        click.option("--strict", is_flag=True, default=None, help="Fail instead of falling back to motion-only."),
        click.option(
            "--memory-check/--no-memory-check",
            default=None,
            help="Refuse a profile whose models would not fit in the memory available (default: on).",
        ),
        click.option("--clips", is_flag=True, default=None, help="Cut a video clip around each event."),
        click.option("--lang", type=click.Choice(values(Lang)), help="Report language."),
        click.option("--camera", help="Rank events by how unusual for this calibrated camera ('self': the video)."),
        click.option("--cameras-dir", type=click.Path(path_type=Path), help="Folder of camera profiles."),
        click.option(
            "--cluster", help="Run on Ray: 'ray' (a local instance) or 'ray://HOST:PORT'; needs the [ray] extra."
        ),
        click.option("--config", type=click.Path(path_type=Path), help="Settings file (default ./veille.toml)."),
        click.option("--verbose", "-v", is_flag=True, default=None, help="Say more."),
        click.option("--quiet", "-q", is_flag=True, default=None, help="Print only errors."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="veille")
def cli() -> None:
    """veille: a local, private AI analyst for recorded surveillance video."""


@cli.command(epilog=EXIT_CODES)
@click.argument("inputs", nargs=-1, required=True)
@_analyze_options
def analyze(inputs: tuple[str, ...], config: Path | None, **flags: Any) -> None:
    """Analyse videos (files, folders or globs) and write a report for each."""
    run_analyze(list(inputs), config=config, flags=flags)


def _settings(config: Path | None, flags: dict[str, Any]):
    from veille.settings import load_settings

    for role in ("vlm", "llm", "grounder"):
        if isinstance(flags.get(role), str) and flags[role].lower() == "none":
            flags[role] = "none"
    if flags.get("layout") is not None:
        flags["describe"] = {"layout": flags["layout"]}
    flags.pop("layout", None)
    return load_settings(config=config, flags=flags)


def run_analyze(inputs: list[str], *, config: Path | None, flags: dict[str, Any]) -> None:
    """Analyse every input; exit 1 if any failed (after the others were done)."""
    settings = _settings(config, flags)
    constants.apply_offline(settings.offline)
    _check_camera(settings)
    if settings.cluster:  # the models run on the cluster's workers, not here
        from veille.cluster.command import run_cluster_analyze

        return run_cluster_analyze(inputs, settings)
    from veille.models.requirements import check_memory

    check_memory(settings)
    from veille.batch import run_batch
    from veille.console import Console
    from veille.inputs import expand_inputs
    from veille.models.availability import download_notice, fallback_line
    from veille.models.record import RUN
    from veille.redact import install_log_masking

    RUN.clear()
    install_log_masking()
    _model_logs(settings.verbose and not settings.quiet)
    console = Console(verbose=settings.verbose, quiet=settings.quiet, lang=settings.lang)
    videos = expand_inputs(inputs)
    notice = download_notice(settings)
    if notice:
        console.note(notice)
    total = len(videos)
    position = {"now": ""}

    def start(n: int, item) -> None:
        if total > 1:
            position["now"] = f"[{n}/{total}]"
            console.starting(position["now"], item.video)

    def done(item, result) -> None:
        if result is not None:
            console.result(result, position["now"])
        elif item.error:  # the path once: most messages start with it already
            said = item.error if item.error.startswith(item.video) else f"{item.video}: {item.error}"
            console.error(f"{position['now']} {said}".lstrip())

    with _sigterm_as_interrupt():
        batch = run_batch(videos, settings, progress=console.progress, on_done=done, on_start=start)
    for warning in batch.warnings:
        console.warn(warning)
    console.batch_summary(total, [i.video for i in batch.failures], Path(settings.out_dir) / "index.html")
    closing = fallback_line(settings)
    if closing:
        console.fallback(closing)
    if batch.failures:
        sys.exit(1)


def _check_camera(settings: Any) -> None:
    """An unknown, damaged or newer camera profile is one error line before any video is read."""
    from veille.anomaly.store import SELF, CameraStore

    if settings.camera and settings.camera != SELF:
        CameraStore(settings.cameras_dir).load(settings.camera)


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM behaves like Ctrl-C while analysing: partial report, index, exit 130."""

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@cli.command()
@click.argument("out", type=click.Path(path_type=Path), default=Path("sample.mp4"))
@click.option(
    "--seconds", type=click.FloatRange(min=5, max=36000), default=60.0, show_default=True, help="Length of the clip."
)
def sample(out: Path, seconds: float) -> None:
    """Make a synthetic CCTV-like clip OUT (and its ground truth OUT.json)."""
    from veille.console import Console
    from veille.i18n import count
    from veille.sample import make_sample

    truth = make_sample(out, seconds=seconds, progress=Console().progress())
    intervals = count(len(truth["active_intervals"]), "active interval")
    click.echo(f"wrote {out} ({seconds:.0f} s) and {out.with_suffix('.json')} ({intervals})")


@cli.command()
def schema() -> None:
    """Print the JSON Schema of report.json (schema v1)."""
    import json

    from veille.report.schema import json_schema

    click.echo(json.dumps(json_schema(), indent=2))


def _data_option(holds: str) -> Callable[[Any], Any]:
    """``--data DIR`` (or ``VEILLE_DATA_DIR``): the folder of real footage an evaluation reads."""
    return click.option(
        "--data",
        "data_dir",
        type=click.Path(path_type=Path),
        envvar="VEILLE_DATA_DIR",
        required=True,
        help=f"Folder holding {holds} (or set VEILLE_DATA_DIR).",
    )


@cli.group("eval")
def eval_group() -> None:
    """Measure veille against footage with ground truth."""


@eval_group.command("activity")
@_data_option("ucsd_ped1/, ucsd_ped2/, cdnet_highway/")
def eval_activity(data_dir: Path) -> None:
    """Recall (and precision where labelled) of the activity scan on UCSD Ped1/Ped2 and CDnet highway."""
    from veille.evaluate import evaluate_activity, format_scores

    click.echo(format_scores(evaluate_activity(data_dir)))


@eval_group.command("anomaly")
@_data_option("ucsd_ped1/, ucsd_ped2/ (with train/), cdnet_highway/")
def eval_anomaly(data_dir: Path) -> None:
    """Frame-level ROC AUC of the unusual-for-this-camera score on UCSD Ped1/Ped2, and its speed."""
    from veille.anomaly.commands import format_anomaly_eval
    from veille.anomaly.evaluate import evaluate_anomaly

    click.echo(format_anomaly_eval(*evaluate_anomaly(data_dir)))


def _search_options(limit: int, what: str) -> Callable[[Any], Any]:
    """The options ``search`` and ``ask`` share: where the index is, the filters, the output."""

    def decorate(func: Any) -> Any:
        options = [
            click.option(
                "--out", "out_dir", type=click.Path(path_type=Path), help="Report folder (default ./veille-reports)."
            ),
            click.option("--camera", help="Only this camera's videos."),
            click.option("--since", help="Only from this time: 2024-05-01, '2024-05-01 22:30', yesterday, 12h, 7d."),
            click.option("--until", help="Only up to this time (same forms; a date alone: to its end)."),
            click.option("--threat", type=click.IntRange(0, 2), help="Lowest threat level: 1 suspicious, 2 critical."),
            click.option("--limit", type=click.IntRange(1, 1000), default=limit, show_default=True, help=what),
            click.option("--json", "as_json", is_flag=True, help="Machine-readable output."),
            click.option("--embedder", help="Embedding model the index was made with (default: the index's own)."),
        ]
        for option in reversed(options):
            func = option(func)
        return func

    return decorate


def _out_dir(out_dir: Path | None, config: Path | None = None) -> Path:
    """``--out``, else the settings' output folder (``veille.toml``, ``VEILLE_OUT_DIR``), else ./veille-reports."""
    return Path(out_dir) if out_dir is not None else Path(_settings(config, {}).out_dir)


@cli.command(epilog="The index (archive.sqlite in the report folder) is made or brought up to date first.")
@click.argument("query")
@_search_options(limit=10, what="How many events to show.")
@click.option("--quiet", "-q", is_flag=True, help="Print only the results and errors.")
def search(query: str, out_dir: Path | None, embedder: str | None, as_json: bool, quiet: bool, **filters: Any) -> None:
    """Find the events of every analysed video that match QUERY (full text and meaning)."""
    from veille.archive.commands import Filters, run_search

    run_search(_out_dir(out_dir), query, Filters(**filters), embedder=embedder, as_json=as_json, quiet=quiet)


@cli.command()
@click.argument("question")
@_search_options(limit=8, what="How many events to give the reasoner.")
@click.option("--llm", help="Reasoner: catalog name, repo id, local folder, openai:MODEL, or 'none'.")
@click.option("--api-base", help="OpenAI-compatible server of an openai:MODEL reasoner.")
@click.option("--llm-api-base", help="The reasoner's server, when not --api-base.")
@click.option("--device", type=click.Choice(values(Device)), help="Where the reasoner runs.")
@click.option("--offline", is_flag=True, default=None, help="Never touch the network.")
@click.option("--cache-dir", type=click.Path(path_type=Path), help="Hugging Face cache folder.")
@click.option("--config", type=click.Path(path_type=Path), help="Settings file (default ./veille.toml).")
@click.option("--quiet", "-q", is_flag=True, default=None, help="Print only the answer and errors.")
def ask(
    question: str, out_dir: Path | None, embedder: str | None, as_json: bool, config: Path | None, **flags: Any
) -> None:
    """Answer QUESTION from the events of every analysed video, citing them as [video @ mm:ss]."""
    from veille.archive.commands import Filters, run_ask

    filters = {k: flags.pop(k) for k in ("camera", "since", "until", "threat", "limit")}
    settings = _settings(config, {**flags, "vlm": "none", "grounder": "none"})
    constants.apply_offline(settings.offline)
    out = Path(out_dir) if out_dir is not None else Path(settings.out_dir)
    run_ask(out, question, Filters(**filters), settings, embedder=embedder, as_json=as_json)


@cli.command("index")
@click.argument("out_dir", required=False, type=click.Path(path_type=Path))
@click.option("--embedder", help="Embedding model: a sentence-transformers folder or Hub id (default: MiniLM-L6).")
@click.option("--quiet", "-q", is_flag=True, help="Print only errors.")
def index_command(out_dir: Path | None, embedder: str | None, quiet: bool) -> None:
    """Rebuild the search index of a report folder (default ./veille-reports) from its reports alone."""
    from veille.archive.commands import run_index

    run_index(_out_dir(out_dir), embedder=embedder, quiet=quiet)


@eval_group.command("describe")
@click.option("--videos", "videos_dir", type=click.Path(path_type=Path), required=True,
              help="Folder of the annotated videos, each named after its id (e.g. Abuse043_x264.mp4).")  # fmt: skip
@click.option("--annotations", type=click.Path(path_type=Path), required=True,
              help="UCA-format JSON: {video_id: {duration, timestamps, sentences}}.")  # fmt: skip
@click.option("--layout", type=click.Choice(["both", *values(LayoutSetting)[1:]]), default="both", show_default=True)
@click.option("--profile", type=click.Choice(PROFILES[1:]), help="Whose describer to use [default: default].")
@click.option("--vlm", help="Describer: catalog name, repo id, local folder, or openai:MODEL.")
@click.option("--api-base", help="OpenAI-compatible server of openai:MODEL.")
@click.option("--device", type=click.Choice(values(Device)), help="Where the describer runs.")
@click.option("--offline", is_flag=True, default=None, help="Never touch the network.")
@click.option("--cache-dir", type=click.Path(path_type=Path), help="Hugging Face cache folder.")
@click.option("--limit", type=click.IntRange(min=1), help="Describe at most this many stretches.")
@click.option("--json", "json_out", type=click.Path(path_type=Path), help="Write every stretch's texts and scores.")
def eval_describe(
    videos_dir: Path, annotations: Path, layout: str, limit: int | None, json_out: Path | None, **flags: Any
) -> None:
    """The describer's text against human descriptions (UCA format), per layout, with its cost."""
    from veille.analysis.describe import LAYOUTS, resolve_layout
    from veille.analysis.describe_eval import run_describe_eval

    settings = _settings(None, {**flags, "llm": "none", "grounder": "none"})
    constants.apply_offline(settings.offline)
    layouts = LAYOUTS if layout == "both" else (resolve_layout(layout, "cpu"),)
    table = run_describe_eval(videos_dir, annotations, settings, layouts=layouts, limit=limit, json_out=json_out)
    click.echo(table)


@eval_group.command("search")
@click.option("--uca", "uca_file", type=click.Path(path_type=Path), required=True,
              help="UCA annotation file (UCFCrime_Train.json or UCFCrime_Val.json).")  # fmt: skip
@click.option("--queries", "queries_file", type=click.Path(path_type=Path),
              help='JSON list of {"query": ..., "category": ...} (default: the 13 built-in queries).')  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def eval_search(uca_file: Path, queries_file: Path | None, as_json: bool) -> None:
    """Precision@10 of archive search on UCA's descriptions of UCF-Crime videos (dense, BM25, RRF, fused)."""
    import json

    from veille.archive.uca_eval import evaluate_search
    from veille.archive.uca_table import format_search_eval, search_eval_json

    result = evaluate_search(uca_file, queries_file)  # the default embedder, loaded once the files are read
    click.echo(json.dumps(search_eval_json(result), indent=2) if as_json else format_search_eval(result))


def _camera_store(cameras_dir: Path | None, config: Path | None = None):
    from veille.anomaly.store import CameraStore

    return CameraStore(_settings(config, {"cameras_dir": cameras_dir}).cameras_dir)


_cameras_dir_option = click.option(
    "--cameras-dir", type=click.Path(path_type=Path), help="Folder of camera profiles (default: user data folder)."
)


@cli.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option("--camera", required=True, help="Name of the camera (letters, digits, '_', '.', '-').")
@_cameras_dir_option
@click.option("--config", type=click.Path(path_type=Path), help="Settings file (default ./veille.toml).")
@click.option("--quiet", "-q", is_flag=True, help="Print only errors.")
def calibrate(inputs: tuple[str, ...], camera: str, cameras_dir: Path | None, config: Path | None, quiet: bool) -> None:
    """Learn what is normal for a camera from ordinary footage (files, folders or globs); again to add more."""
    from veille.anomaly.commands import run_calibrate
    from veille.console import Console
    from veille.inputs import expand_inputs

    store = _camera_store(cameras_dir, config)
    console = Console(quiet=quiet)
    for line in run_calibrate(expand_inputs(inputs), camera, store, console.progress()):
        if not quiet:
            click.echo(line)


@cli.group()
def cameras() -> None:
    """List, show and remove the cameras veille has learned."""


@cameras.command("list")
@_cameras_dir_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def cameras_list(cameras_dir: Path | None, as_json: bool) -> None:
    """The cameras with a profile."""
    from veille.anomaly.commands import cameras_list as listing

    click.echo("\n".join(listing(_camera_store(cameras_dir), as_json=as_json)))


@cameras.command("show")
@click.argument("name")
@_cameras_dir_option
def cameras_show(name: str, cameras_dir: Path | None) -> None:
    """What a camera's profile has learned."""
    from veille.anomaly.commands import cameras_show as show

    click.echo("\n".join(show(_camera_store(cameras_dir), name)))


@cameras.command("remove")
@click.argument("names", nargs=-1, required=True)
@_cameras_dir_option
def cameras_remove(names: tuple[str, ...], cameras_dir: Path | None) -> None:
    """Delete cameras' profiles."""
    from veille.anomaly.commands import cameras_remove as remove

    store = _camera_store(cameras_dir)
    for name in names:
        click.echo("\n".join(remove(store, name)))


@cli.group()
def models() -> None:
    """List, download and remove the models veille uses."""


@models.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--cache-dir", type=click.Path(path_type=Path), help="Hugging Face cache folder.")
def models_list(as_json: bool, cache_dir: Path | None) -> None:
    """Show the known models, their roles, true sizes and cache state."""
    from veille.models.listing import print_models

    print_models(as_json=as_json, cache_dir=cache_dir)


def _model_logs(verbose: bool) -> None:
    """With --verbose, show each model load/unload (device, dtype, seconds, memory) on stderr."""
    if not verbose:
        return
    import logging

    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("veille: %(message)s"))
    log = logging.getLogger("veille.models")
    log.addHandler(handler)
    log.setLevel(logging.INFO)


@models.command("download")
@click.argument("names", nargs=-1)
@click.option("--profile", type=click.Choice(PROFILES), help="With no NAME: the models of this profile.")
@click.option("--revision", help="Branch, tag or commit to fetch (one NAME only).")
@click.option("--cache-dir", type=click.Path(path_type=Path), help="Hugging Face cache folder.")
@click.option("--offline", is_flag=True, default=None, help="Only check that the models are cached.")
@click.option("--quiet", "-q", is_flag=True, default=None, help="Print only errors.")
def models_download(names: tuple[str, ...], revision: str | None, **flags: Any) -> None:
    """Download models (catalog names or repo ids; none: the current profile's), safetensors only."""
    settings = _settings(None, flags)
    constants.apply_offline(settings.offline)
    from veille.models.commands import download_models, profile_models
    from veille.models.progress import console_reporter
    from veille.models.record import RUN

    RUN.clear()

    specs = list(names) or profile_models(
        settings.profile, {"describer": settings.vlm, "reasoner": settings.llm, "grounder": settings.grounder}
    )
    if not specs:
        click.echo(f"profile '{settings.profile}' uses no model; nothing to download")
        return
    reporter = console_reporter(quiet=settings.quiet)
    if settings.quiet:  # huggingface_hub's own resume notices would still reach stderr
        from huggingface_hub.utils import logging as hub_logging

        hub_logging.set_verbosity_error()
    for line in download_models(specs, cache_dir=settings.cache_dir, reporter=reporter, revision=revision):
        if not settings.quiet:
            click.echo(line)


@models.command("remove")
@click.argument("names", nargs=-1, required=True)
@click.option("--cache-dir", type=click.Path(path_type=Path), help="Hugging Face cache folder.")
def models_remove(names: tuple[str, ...], cache_dir: Path | None) -> None:
    """Delete cached models and say how much space was freed."""
    from veille.models.commands import remove_model

    for name in names:
        click.echo(remove_model(name, cache_dir=cache_dir))


from veille.web.commands import review_group, serve_command  # noqa: E402 (the web app's commands)

cli.add_command(serve_command)
cli.add_command(review_group)

from veille.live.commands import watch as _watch  # noqa: E402

cli.add_command(_watch)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``veille`` command."""
    run(cli, argv)


def run(command: click.Command, argv: list[str] | None = None) -> None:
    """Run a Click command, mapping errors to one-line messages and exit codes."""
    try:
        command.main(args=argv, prog_name="veille", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort as exc:  # Click turns Ctrl-C into Abort; the analysis said what it left
        cause = exc.__cause__
        _fail(str(cause) if isinstance(cause, AnalysisInterrupted) else "interrupted", 130)
    except VeilleError as exc:
        if constants.DEBUG:
            raise
        _fail(str(exc), exc.exit_code)
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    except Exception as exc:  # the last guard: no traceback without VEILLE_DEBUG
        if constants.DEBUG:
            raise
        _fail(f"unexpected error: {type(exc).__name__}: {exc} (run with VEILLE_DEBUG=1 for details)", 1)


def _fail(message: str, code: int) -> None:
    from veille.redact import mask_credentials

    click.echo(f"veille: error: {mask_credentials(message)}", err=True)
    sys.exit(code)
