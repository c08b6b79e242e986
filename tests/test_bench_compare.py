"""bench/compare.py: its citizens still get through this bot's report flow, and its button choice is strict.

The benchmark's flow table (``TIPLINE_FLOW``) must follow the bot's wording and callback data; this test
fails, naming the buttons it saw, when they drift apart, so the table is fixed when the bot changes and
not when someone needs the figures.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from backends import only_on_sqlite

# bench/compare.py runs the bot as a process on a fresh SQLite file (bench/scale.py compares the backends).
pytestmark = only_on_sqlite("bench/compare.py runs the bot on SQLite")

ROOT = Path(__file__).resolve().parents[1]


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_compare", ROOT / "bench" / "compare.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file runs
    spec.loader.exec_module(module)
    return module


compare = _load()


def _message(*buttons: tuple[str, str]) -> dict[str, object]:
    return {"message_id": 1, "reply_markup": {"inline_keyboard": [[{"text": t, "callback_data": d}] for t, d in buttons]}}


def test_a_button_is_found_by_data_suffix_else_by_label() -> None:
    board = _message(("✅ Xong", "v1:7|next"), ("🗑 Viết lại", "v1:7|clear"), ("⬅️ Quay lại", "v1:7|back"))
    assert compare.find_button(board, compare.Button("next", "Xong"), {}) == ["v1:7|next"]
    assert compare.find_button(board, compare.Button("done", "xong"), {}) == ["v1:7|next"]  # data changed
    assert compare.find_button(board, compare.Button("nope", "Không có"), {}) == []
    assert compare.find_button(board, compare.Button(label="Vinh {x}"), {"x": "Phú"}) == []
    two = _message(("Phường Vinh Phú", "v1:5|com:1"), ("Phường Vinh Phúc", "v1:5|com:2"))
    assert len(compare.find_button(two, compare.Button(label="Vinh Phú"), {})) == 2  # ambiguous: the walk refuses


async def test_citizens_complete_reports_against_the_deployed_bot(tmp_path: Path) -> None:
    flow = compare.TIPLINE_FLOW
    contender = compare.Contender(flow, compare.tipline_command, compare.tipline_stored, checks_stored=True)
    n = 3  # the third place types an ambiguous commune name: the bot offers a list and the citizen chooses
    result = await compare.run_round(contender, n, tmp_path / "round")
    assert result.failures == []
    assert result.completed == result.receipts == result.stored == n
    steps = [name for name, _ in result.reactions]
    assert steps.count("commune list") == 1 and steps.count("start") == n
    assert all(seconds > 0 for _, seconds in result.reactions)


async def test_a_table_that_drifted_from_the_bot_fails_naming_the_buttons_seen(tmp_path: Path) -> None:
    flow = compare.TIPLINE_FLOW
    drifted = compare.Flow("drifted", flow.answer, flow.variants,
                           (flow.steps[0], compare.Step("report", choose=compare.Button("menu:gone", "Không có"))))  # fmt: skip
    contender = compare.Contender(drifted, compare.tipline_command, compare.tipline_stored, checks_stored=False)
    result = await compare.run_round(contender, 1, tmp_path / "round")
    assert result.completed == 0
    [failure, *_] = result.failures
    assert "step 'report': 0 buttons match" in failure
    seen = failure.partition("buttons seen: ")[2]
    assert seen.count("=") >= 2, failure  # label=data of each button of the menu
