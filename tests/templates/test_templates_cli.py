"""`python -m bot templates-export` and `templates-check` through the real CLI entry point."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bot.cli import main
from bot.config import PROJECT_ROOT
from bot.message_templates import load_registry


def _export(tmp_path: Path) -> list[dict[str, Any]]:
    out = tmp_path / "export.json"
    assert main(["templates-export", "--out", str(out)]) == 0
    return json.loads(out.read_text(encoding="utf-8"))


def _approved(exported: list[dict[str, Any]]) -> dict[str, Any]:
    """What `GET /{waba_id}/message_templates` returns once Meta approved all of ours."""
    data = []
    for i, item in enumerate(exported):
        components = [{k: v for k, v in c.items() if k != "example"} for c in item["components"]]
        data.append({"name": item["name"], "language": item["language"], "status": "APPROVED",
                     "category": item["category"], "components": components, "id": str(10_000 + i)})
    return {"data": data, "paging": {"cursors": {"before": "QVFI", "after": "QVFJ"}}}


def test_export_is_graph_api_template_creation_json(tmp_path: Path) -> None:
    exported = _export(tmp_path)
    registry = load_registry()
    assert len(exported) == len(registry.names()) * 3
    for item in exported:
        assert set(item) >= {"name", "category", "language", "components"}
        assert item["category"] in {"UTILITY", "MARKETING"}
        assert item["language"] in {"en", "hi", "ta"}
        body = next(c for c in item["components"] if c["type"] == "BODY")
        spec = registry.get(item["name"])
        assert body["text"] == spec.whatsapp[item["language"]].body
        example = body["example"]["body_text"]
        assert len(example) == 1 and len(example[0]) == len(spec.wa_parameters)
        assert all(isinstance(v, str) and v for v in example[0])
        buttons = [c for c in item["components"] if c["type"] == "BUTTONS"]
        if spec.buttons:
            assert [b["type"] for b in buttons[0]["buttons"]] == ["QUICK_REPLY"] * len(spec.buttons)
            assert all(len(b["text"]) <= 20 for b in buttons[0]["buttons"])
        else:
            assert not buttons
    reminder_hi = next(i for i in exported if i["name"] == "appointment_reminder" and i["language"] == "hi")
    assert reminder_hi["components"][0]["example"]["body_text"][0][3] == "सोम 23 नव॰"


def test_export_prints_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["templates-export"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["name"]


def test_check_passes_when_everything_is_approved(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "approved.json"
    path.write_text(json.dumps(_approved(_export(tmp_path)), ensure_ascii=False), encoding="utf-8")
    assert main(["templates-check", str(path)]) == 0
    assert "all templates approved" in capsys.readouterr().out


def test_check_reports_missing_unapproved_and_mismatched(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    response = _approved(_export(tmp_path))
    broken = copy.deepcopy(response)
    data = broken["data"]
    data[:] = [d for d in data if not (d["name"] == "recall" and d["language"] == "ta")]
    pending = next(d for d in data if d["name"] == "payment_link" and d["language"] == "hi")
    pending["status"] = "PENDING"
    edited = next(d for d in data if d["name"] == "appointment_reminder" and d["language"] == "en")
    edited["components"][0]["text"] = edited["components"][0]["text"].replace("Hello", "Hi")
    button = next(d for d in data if d["name"] == "asap_offer" and d["language"] == "ta")
    button["components"][1]["buttons"][0]["text"] = "சரி"
    recategorized = next(d for d in data if d["name"] == "recall" and d["language"] == "en")
    recategorized["category"] = "UTILITY"
    path = tmp_path / "approved.json"
    path.write_text(json.dumps(broken, ensure_ascii=False), encoding="utf-8")
    capsys.readouterr()
    assert main(["templates-check", str(path)]) == 1
    out = capsys.readouterr().out
    assert "missing: recall [ta]" in out
    assert "not_approved: payment_link [hi] PENDING" in out
    assert "text_mismatch: appointment_reminder [en] body differs" in out
    assert "text_mismatch: asap_offer [ta] buttons differ" in out
    assert "category_mismatch: recall [en] UTILITY != MARKETING" in out
    assert len(out.strip().splitlines()) == 5


def test_check_runs_as_a_module(tmp_path: Path) -> None:
    path = tmp_path / "empty.json"
    path.write_text('{"data": []}', encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "bot", "templates-check", str(path)],
                         cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 1
    assert run.stdout.count("missing:") == len(load_registry().names()) * 3
