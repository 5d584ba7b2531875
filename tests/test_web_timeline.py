"""The video page's timeline geometry and the report details it reads."""

from __future__ import annotations

import json
from pathlib import Path

from veille.web import timeline
from veille.web.details import downsample, inside, keyframes, read_details


def _event(number: int, start: float, end: float, threat: int = 0) -> dict:
    return {"number": number, "start_s": start, "end_s": end, "threat": threat, "title": f"e{number}"}


def test_overlapping_events_get_their_own_rows_and_the_curve_its_scale() -> None:
    events = [_event(0, 0, 10), _event(1, 5, 15, 2), _event(2, 12, 20), _event(3, 30, 31)]
    line = timeline.build(60.0, events, [(0.0, 20.0)], [(0.0, 0.0), (10.0, 2.0), (20.0, 1.0)], 1.0)
    assert [e["lane"] for e in line.events] == [0, 1, 0, 0]
    assert line.segments == [(0.0, 20.0)] and line.duration == 60.0
    assert line.curve == "0.0,96.0 10.0,4.0 20.0,50.0" and line.threshold_y == 50.0
    assert [label for _, label in line.ticks] == ["00:00", "00:10", "00:20", "00:30", "00:40", "00:50", "01:00"]
    assert timeline.build(0.0, [_event(0, 2, 90)], [], [], None).duration == 90.0  # an event past the end


def test_a_long_curve_keeps_the_peak_of_each_bucket() -> None:
    curve = [[t / 5, 0.1] for t in range(18000)]
    curve[12345][1] = 9.0
    kept = downsample(curve, 600)
    assert len(kept) == 600 and max(s for _, s in kept) == 9.0 and kept[0] == (0.0, 0.1)
    assert downsample("nonsense") == [] and downsample([[1, "x"]]) == [] and downsample([[0, float("nan")]]) == []


def test_details_stay_inside_the_report_folder(tmp_path: Path) -> None:
    folder = tmp_path / "out" / "video"
    (folder / "thumbs").mkdir(parents=True)
    (folder / "thumbs" / "a.jpg").write_bytes(b"x")
    (tmp_path / "secret").write_text("no")
    assert inside(folder, "thumbs/a.jpg") == (folder / "thumbs" / "a.jpg").resolve()
    for bad in ("../../secret", str(tmp_path / "secret"), "", "thumbs/../../../secret", "thumbs/missing.jpg"):
        assert inside(folder, bad) is None, bad
    raw = {"keyframes": [{"t_s": 1.5, "image": "thumbs/a.jpg", "boxes": [{"label": "person", "xyxy": [1, 2, 11, 22]},
                                                                          {"label": "bad", "xyxy": [1, 2]}]}]}
    assert keyframes(raw) == [{"t_s": 1.5, "image": "thumbs/a.jpg",
                               "boxes": [{"label": "person", "x": 1.0, "y": 2.0, "w": 10.0, "h": 20.0}]}]
    (folder / "report.json").write_text(json.dumps({"video": {"codec": "hevc", "width": 8, "height": 6},
                                                    "models": {"describer": {"id": "org/model"}, "grounder": None}}))
    details = read_details(folder)
    assert (details.codec, details.width, details.models) == ("hevc", 8, {"describer": "org/model"})
    (folder / "report.json").write_text(json.dumps({"video": {"codec": "av1 changed", "width": 8, "height": 6}}))
    assert read_details(folder).codec == "av1 changed"  # a rewritten report is read again
