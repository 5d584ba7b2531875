"""Cost per hour of footage measured end to end: ``veille analyze`` against a naive pipeline, side by side.

Full-size models with random weights, built from the published configurations of SmolVLM-256M,
SmolVLM-Instruct and Phi-2 (compute does not depend on weight values), are saved to local folders
(bf16 safetensors, as published) and given to ``veille analyze --vlm DIR --llm DIR``: the real
command, pipeline, model manager and loading (int8 on the CPU). The input is a synthetic hour of
typical footage: quiet, with about 5 active minutes (21 people crossing, ~13 s each). The naive
pipeline runs in its own process on the same video, with the same scan and the same models loaded
the same way: each chunk's 4 frames described with 64 new tokens, one chunk per call, then Phi-2
writes 64 tokens about each chunk from a prompt with its neighbours' descriptions; no batching.

Tokenizers: a byte-level BPE with the real vocabulary size, trained on English CCTV descriptions
(the UCA sentences under ``$VEILLE_DATA_DIR/uca`` or ``--corpus``), so that prompts have about as
many tokens as the real tokenizers give them; a random model writes every token it is allowed.

Run:  python benchmarks/end_to_end.py [--minutes 60] [--runs default:storyboard,fast:storyboard] [--work DIR]

``--minutes M`` < 60 runs on a shorter input at the same active share; the per-hour figures then
count the model loads once (their times are read from ``--verbose``) and the rest times 60/M,
marked as extrapolated (the per-video summary is scaled too, which overstates veille a little).
Wall and CPU times are both printed: on a shared machine the CPU time of each run is steadier.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

EVENTS_PER_HOUR = 21  # ~5 active minutes of a typical hour, one 20-s chunk each
EVENT_S = 13.0
FPS = 10
VLMS = {"fast": "smolvlm-256m", "default": "smolvlm"}
NAIVE_DESCRIBE_TOKENS, NAIVE_REASON_TOKENS = 64, 64
VOCAB = {"smolvlm": 49152, "phi-2": 50257}  # the real tokenizers' sizes (before special tokens)


# ----------------------------------------------------------------------------------------- inputs


def make_footage(path: Path, minutes: float) -> dict[str, Any]:
    """A quiet street with ``EVENTS_PER_HOUR`` people per hour crossing at even intervals (640x360, 10 fps)."""
    from veille.video.synth import Stretch, scene, walker, write_video

    background = scene(640, 360)
    events = max(1, round(EVENTS_PER_HOUR * minutes / 60))
    gap = round((minutes * 60 - events * EVENT_S) / events * FPS)
    stretches, frames = [], round(EVENT_S * FPS)
    for i in range(events):
        stretches += [Stretch(gap // 2), Stretch(frames, walker(background, frames, size=0.25 + 0.05 * (i % 3)), True)]
        stretches.append(Stretch(gap - gap // 2))
    flags = write_video(path, stretches, background, fps=FPS, encoding="vbr", gop_s=4.0)
    return {"minutes": minutes, "events": events, "active_s": sum(flags) / FPS}


def english_corpus(extra: list[Path]) -> list[str]:
    """English surveillance descriptions to train the tokenizers on, and veille's own prompts."""
    from veille.analysis.prompts import DEFAULT_RUBRIC, DESCRIBE_QUESTIONS

    texts = [DEFAULT_RUBRIC, *DESCRIBE_QUESTIONS]
    data = Path(os.environ.get("VEILLE_DATA_DIR", "")) / "uca"
    files = extra or (sorted(data.glob("*.json")) if data.is_dir() else [])
    for file in files:
        if file.suffix == ".json":
            for video in json.loads(file.read_text()).values():
                texts += [str(s) for s in video.get("sentences", [])]
        else:
            texts += file.read_text().splitlines()
    if len(texts) < 1000:
        sys.exit("no English corpus: set VEILLE_DATA_DIR (with uca/) or give --corpus FILE (text or UCA JSON)")
    return texts


def tokenizer(specials: tuple[str, ...], size: int, corpus: list[str]) -> tuple[Any, int]:
    """A byte-level BPE trained on ``corpus``, filled up to ``size`` entries with letter-only pieces,
    and the number of ids before the filler.

    The filler pieces are never produced when encoding, and the models are kept from writing them
    (:func:`words_only`): strung together they are no language, and the reasoner's tokenizer would cut
    each into several pieces, making every description's tokens 2-3 times what English text gives.
    """
    from tokenizers import Tokenizer

    from tests.tiny_models import train_bpe_tokenizer

    trained = train_bpe_tokenizer(specials, vocab_size=size, corpus=corpus)
    data = json.loads(trained.to_str())
    vocab = data["model"]["vocab"]
    known = 1 + max([*vocab.values(), *(t["id"] for t in data.get("added_tokens", []))])
    n = len(vocab) + len(specials)
    while len(vocab) + len(specials) < size:
        word, k = "", n
        while True:
            word, k = chr(97 + k % 26) + word, k // 26
            if not k:
                break
        vocab.setdefault("\u0120" + word, len(vocab) + len(specials))
        n += 1
    data["model"]["vocab"] = dict(sorted(vocab.items(), key=lambda item: item[1]))
    return Tokenizer.from_str(json.dumps(data)), known


def words_only(model: Any, known: int) -> None:
    """Keep a random model from writing the ids from ``known`` on (filler pieces, padding of the vocabulary).

    Their output rows are zeros (and their bias very low), so a random model writes the trained pieces
    only, as a real one writes the words it was trained on. The cost of a forward pass is unchanged.
    """
    import torch

    head = model.get_output_embeddings()
    with torch.no_grad():
        head.weight[known:] = 0
        if getattr(head, "bias", None) is not None:
            head.bias[known:] = -1e4


def save_vlm(name: str, dest: Path, corpus: list[str]) -> None:
    """SmolVLM ``name`` (published shapes, random bf16 weights) with its processor, as a model folder."""
    import torch
    from transformers import Idefics3Config, Idefics3ForConditionalGeneration, Idefics3Processor
    from transformers import PreTrainedTokenizerFast as Fast
    from transformers.models.idefics3 import Idefics3ImageProcessorPil

    from benchmarks.analysis import VLM_SHAPES, random_model
    from tests.tiny_models import IDEFICS3_SPECIAL_TOKENS, SMOLVLM_CHAT_TEMPLATE, _generation_ids, _save_model

    shape = VLM_SHAPES[name]
    backend, known = tokenizer(IDEFICS3_SPECIAL_TOKENS, VOCAB["smolvlm"], corpus)
    tok = Fast(tokenizer_object=backend, bos_token="<|im_start|>", eos_token="<end_of_utterance>",
               pad_token="<|im_end|>", unk_token="<|endoftext|>", model_max_length=8192)  # fmt: skip
    edge = shape["vision"]["image_size"]
    images = Idefics3ImageProcessorPil(
        do_image_splitting=True, size={"longest_edge": 4 * edge}, max_image_size={"longest_edge": edge}
    )
    processor = Idefics3Processor(images, tok, image_seq_len=shape["tokens"], chat_template=SMOLVLM_CHAT_TEMPLATE)
    hidden, inter, layers, heads, kv = shape["text"]
    text = {"model_type": "llama", "vocab_size": -(-len(tok) // 64) * 64, "hidden_size": hidden,
            "intermediate_size": inter, "num_hidden_layers": layers, "num_attention_heads": heads,
            "num_key_value_heads": kv, "max_position_embeddings": 8192, "tie_word_embeddings": True,
            "pad_token_id": tok.pad_token_id, "eos_token_id": tok.eos_token_id}  # fmt: skip
    config = Idefics3Config(text_config=text, vision_config=shape["vision"], scale_factor=shape["scale"],
                            image_token_id=tok.convert_tokens_to_ids("<image>"))  # fmt: skip
    model = random_model(Idefics3ForConditionalGeneration, config, torch.bfloat16)
    words_only(model, known)
    _save_model(model, dest, _generation_ids(tok))
    processor.save_pretrained(dest)


def save_phi2(dest: Path, corpus: list[str]) -> None:
    """Phi-2 (published shapes, random bf16 weights) with a tokenizer, as a model folder."""
    import torch
    from transformers import PhiForCausalLM
    from transformers import PreTrainedTokenizerFast as Fast

    from benchmarks.analysis import full_phi2_config, random_model
    from tests.tiny_models import PHI_SPECIAL_TOKENS, _generation_ids, _save_model

    backend, known = tokenizer(PHI_SPECIAL_TOKENS, VOCAB["phi-2"], corpus)
    tok = Fast(tokenizer_object=backend, bos_token="<|endoftext|>", eos_token="<|endoftext|>",
               unk_token="<|endoftext|>", model_max_length=2048)  # fmt: skip
    model = random_model(PhiForCausalLM, full_phi2_config(), torch.bfloat16)
    words_only(model, known)
    _save_model(model, dest, _generation_ids(tok))
    tok.save_pretrained(dest)


def prepare(work: Path, minutes: float, corpus: list[Path], vlms: set[str]) -> dict[str, Any]:
    """The footage and the model folders in ``work`` (made once; kept for the next run)."""
    video = work / f"street-{minutes:g}min.mp4"
    facts_file = video.with_suffix(".json")
    if not facts_file.is_file():
        print(f"writing {video.name} ...", flush=True)
        facts_file.write_text(json.dumps(make_footage(video, minutes)))
    texts: list[str] | None = None
    for name in [*sorted(vlms), "phi-2"]:
        folder = work / name
        if (folder / "config.json").is_file():
            continue
        texts = texts or english_corpus(corpus)
        print(f"building {name} (random weights, published shapes) ...", flush=True)
        start = time.perf_counter()
        save_phi2(folder, texts) if name == "phi-2" else save_vlm(name, folder, texts)
        print(f"  {time.perf_counter() - start:.0f} s", flush=True)
    return {"video": video, **json.loads(facts_file.read_text())}


# ------------------------------------------------------------------------------------------ runs


def child_env() -> dict[str, str]:
    """This checkout's sources, no network, no VEILLE_* settings from outside."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VEILLE_")}
    env.update(PYTHONPATH=f"{ROOT / 'src'}{os.pathsep}{ROOT}", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    return env


def timed_run(cmd: list[str]) -> tuple[subprocess.CompletedProcess, float, float]:
    """Run ``cmd``; its result, wall seconds and CPU seconds (user + system, all its threads)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(cmd, env=child_env(), capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return done, wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def run_veille(video: Path, work: Path, profile: str, layout: str) -> dict[str, Any]:
    """``veille analyze`` with the local model folders: wall and CPU time of the command, model loads, stats."""
    out = Path(tempfile.mkdtemp(prefix=f"veille-{profile}-{layout}-", dir=work))
    cmd = [sys.executable, "-m", "veille", "analyze", str(video), "--profile", profile, "--vlm",
           str(work / VLMS[profile]), "--llm", str(work / "phi-2"), "--device", "cpu", "--layout", layout,
           "--out", str(out), "--verbose"]  # fmt: skip
    done, wall, cpu = timed_run(cmd)
    if done.returncode != 0:
        sys.exit(f"veille analyze failed ({done.returncode}): {done.stderr[-2000:]}")
    report = json.loads((out / video.stem / "report.json").read_text())
    if report["warnings"]:
        print(f"  warnings: {report['warnings'][:3]}", flush=True)
    loads = sum(float(s) for s in re.findall(r"loaded \w+ .* in ([\d.]+) s", done.stderr))
    descriptions = [str(e.get("description") or "") for e in report["events"]]
    return {"wall_s": wall, "cpu_s": cpu, "load_s": loads, "stats": report["stats"], "events": len(report["events"]),
            "descriptions": descriptions}  # fmt: skip


def mean_tokens(tokenizer: Any, texts: list[str]) -> float:
    """The mean number of tokens of ``texts`` (no special tokens)."""
    return sum(len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts) / max(1, len(texts))


def print_token_check(work: Path, runs: dict[tuple[str, str], dict[str, Any]], english: list[str]) -> None:
    """How many reasoner tokens a description takes, against English text through the same two tokenizers."""
    from transformers import AutoTokenizer

    reasoner = AutoTokenizer.from_pretrained(work / "phi-2")
    for (profile, layout), run in runs.items():
        describer = AutoTokenizer.from_pretrained(work / VLMS[profile])
        wrote, read = (mean_tokens(tok, run["descriptions"]) for tok in (describer, reasoner))
        ref_in, ref_out = (mean_tokens(tok, english) for tok in (describer, reasoner))
        print(f"{profile}/{layout} descriptions: {wrote:.0f} describer tokens -> {read:.0f} reasoner tokens "
              f"({read / max(wrote, 1):.2f}x; English sentences: {ref_out / max(ref_in, 1):.2f}x)")  # fmt: skip


def run_naive(video: Path, work: Path, describers: list[str]) -> dict[str, Any]:
    """The naive pipeline in its own process (see :func:`naive_main`): seconds per stage."""
    out = work / "naive.json"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--naive", str(video), "--work", str(work),
           "--describers", ",".join(describers), "--result", str(out)]  # fmt: skip
    done, wall, cpu = timed_run(cmd)
    if done.returncode != 0:
        sys.exit(f"naive pipeline failed ({done.returncode}): {done.stderr[-2000:]}")
    return {**json.loads(out.read_text()), "wall_s": wall, "cpu_s": cpu}


def naive_main(video: Path, work: Path, describers: list[str], result: Path) -> None:
    """Scan as veille does; per chunk, each describer with 4 frames and 64 tokens; Phi-2 64 tokens per chunk.

    Models are had through veille's model session, so they load as ``veille analyze`` loads them.
    """
    from veille.analysis.prompts import JudgeItem, describe_prompt, judge_prompt
    from veille.models.session import ModelSession
    from veille.settings import Settings
    from veille.video.probe import probe
    from veille.video.scan import scan_video

    times: dict[str, float] = {}
    start = time.perf_counter()
    chunks = [c for c in scan_video(probe(video), Settings().scan).chunks if c.keyframes and not c.heartbeat]
    times["scan"] = time.perf_counter() - start
    texts: list[str] = []
    for name in describers:
        start = time.perf_counter()
        with ModelSession(Settings(vlm=str(work / name), llm="none", device="cpu")) as session:
            vlm = session.describer()
            assert vlm is not None
            times[f"{name} load"] = time.perf_counter() - start
            texts = [
                vlm.generate(
                    describe_prompt([k.t_s for k in c.keyframes]),
                    [k.image for k in c.keyframes],
                    max_new_tokens=NAIVE_DESCRIBE_TOKENS,
                )
                for c in chunks
            ]
        times[name] = time.perf_counter() - start
    start = time.perf_counter()
    with ModelSession(Settings(vlm="none", llm=str(work / "phi-2"), device="cpu")) as session:
        llm = session.reasoner()
        assert llm is not None
        times["reason load"] = time.perf_counter() - start
        for i, chunk in enumerate(chunks):
            item = JudgeItem(chunk.id, chunk.start_s, chunk.end_s, texts[i])
            before, after = texts[i - 1] if i else "", texts[i + 1] if i + 1 < len(texts) else ""
            prompt = judge_prompt([item], before=before, after=after) + "\nThen explain your verdict."
            llm.generate(prompt, max_new_tokens=NAIVE_REASON_TOKENS)
    times["reason"] = time.perf_counter() - start
    result.write_text(json.dumps({"chunks": len(chunks), "seconds": times}))


# ---------------------------------------------------------------------------------------- report


def per_hour(seconds: float, loads: float, scale: float) -> float:
    """Minutes per hour of footage: the model loads once, the rest scaled to an hour."""
    return (loads + (seconds - loads) * scale) / 60


def report(facts: dict[str, Any], naive: dict[str, Any], runs: dict[tuple[str, str], dict[str, Any]]) -> None:
    """Minutes per hour of footage, naive and veille side by side, and their ratio (wall and CPU time)."""
    scale = 60 / facts["minutes"]
    mark = "" if scale == 1 else f"; measured on {facts['minutes']:g} min, the rest x{scale:g}: extrapolated"
    seconds = naive["seconds"]
    naive_all = sum(v for k, v in seconds.items() if "load" not in k)  # each stage's time includes its load
    print(f"\n{facts['minutes']:g} min of footage, {facts['active_s'] / 60:.1f} active min, {naive['chunks']} chunks")
    print("naive stages (s, each with its model load): " + ", ".join(f"{k} {v:.0f}" for k, v in seconds.items()))
    print(f"naive process: wall {naive['wall_s']:.0f} s (stages {naive_all:.0f} s), CPU {naive['cpu_s']:.0f} s")
    print(f"\nper hour of footage, minutes on this machine (model loads counted once{mark}):")
    head = f"{'profile':<9} {'layout':<11} {'naive':>7} {'veille':>7} {'ratio':>6}"
    print(f"{head}  {'CPU ratio':>9}  veille: loads, calls (CPU ratio: whole runs as measured)")
    for (profile, layout), run in runs.items():
        name = VLMS[profile]
        naive_s = seconds["scan"] + seconds[name] + seconds["reason"]
        naive_loads = seconds[f"{name} load"] + seconds["reason load"]
        naive_cpu = naive["cpu_s"] * naive_s / naive_all  # the process's CPU time, shared by stage wall time
        stats = run["stats"]
        ours, theirs = per_hour(run["wall_s"], run["load_s"], scale), per_hour(naive_s, naive_loads, scale)
        cpu_ratio = naive_cpu / run["cpu_s"]
        calls = f"{stats['vlm_calls']} VLM ({stats['vlm_images']} images) + {stats['llm_calls']} LLM"
        print(
            f"{profile:<9} {layout:<11} {theirs:>7.2f} {ours:>7.2f} {theirs / ours:>5.2f}x  {cpu_ratio:>8.2f}x  "
            f"{run['load_s']:.0f} s, {calls}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0, help="length of the footage (same active share)")
    parser.add_argument("--runs", default="default:storyboard,fast:storyboard", help="profile:layout,...")
    parser.add_argument("--work", type=Path, help="folder for the footage and the model folders (kept)")
    parser.add_argument("--corpus", type=Path, action="append", default=[], help="English text for the tokenizers")
    parser.add_argument("--naive", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--describers", help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    work = (args.work or Path(tempfile.mkdtemp(prefix="veille-e2e-"))).resolve()
    work.mkdir(parents=True, exist_ok=True)
    if args.naive:
        naive_main(args.naive, work, args.describers.split(","), args.result)
        return
    runs = [tuple(r.split(":")) for r in args.runs.split(",")]
    profiles = sorted({p for p, _ in runs}, key=list(VLMS).index)
    facts = prepare(work, args.minutes, args.corpus, {VLMS[p] for p in profiles})
    results: dict[tuple[str, str], dict[str, Any]] = {}
    naive: dict[str, Any] = {}
    for profile, layout in runs:  # veille and naive alternate, so a change in machine load hits both
        print(f"veille analyze --profile {profile} --layout {layout} ...", flush=True)
        results[(profile, layout)] = run_veille(facts["video"], work, profile, layout)
        print(f"  {results[(profile, layout)]['wall_s']:.0f} s", flush=True)
        if not naive:
            print("naive pipeline ...", flush=True)
            naive = run_naive(facts["video"], work, [VLMS[p] for p in profiles])
            print(f"  {naive['seconds']}", flush=True)
    report(facts, naive, results)
    print_token_check(work, results, english_corpus(args.corpus)[::10])


if __name__ == "__main__":
    main()
