import json

import pytest
from pydantic import ValidationError

from veille.report.schema import Report, json_schema

MINIMAL = {
    "video": {
        "path": "a.mp4",
        "duration_s": 10,
        "fps": 25,
        "width": 640,
        "height": 360,
        "frame_count": 250,
        "codec": "h264",
    },
}


def test_round_trip() -> None:
    data = dict(
        MINIMAL,
        events=[
            {
                "id": 0,
                "start_s": 1.0,
                "end_s": 2.5,
                "title": "Person at door",
                "description": "x",
                "threat_level": 1,
                "confidence": 0.7,
                "source": "vlm",
                "keyframes": [
                    {"t_s": 1.2, "image": "thumbs/a.jpg", "boxes": [{"label": "person", "xyxy": [1, 2, 3, 4]}]}
                ],
            }
        ],
        models={
            "describer": {"id": "HuggingFaceTB/SmolVLM-Instruct", "device": "cpu", "dtype": "bf16"},
            "grounder": None,
        },
    )
    report = Report.model_validate(data)
    again = Report.model_validate_json(report.model_dump_json())
    assert again == report
    assert again.schema_version == 1


@pytest.mark.parametrize(
    "bad",
    [
        {"threat_level": 3},
        {"confidence": 1.5},
        {"source": "guess"},
    ],
)
def test_constraints(bad: dict) -> None:
    event = {
        "id": 0,
        "start_s": 0,
        "end_s": 1,
        "title": "t",
        "description": "d",
        "threat_level": 0,
        "confidence": 0.5,
        "source": "motion",
        **bad,
    }
    with pytest.raises(ValidationError):
        Report.model_validate(dict(MINIMAL, events=[event]))


def test_json_schema_names_the_contract() -> None:
    schema = json_schema()
    assert {"schema_version", "video", "segments", "events", "summary", "models", "stats", "warnings"} <= set(
        schema["properties"]
    )
    json.dumps(schema)
