"""The direction of imports, enforced: the core never imports a channel, storage never imports a service,
and SQL (or a database driver) appears nowhere outside ``tipline/storage``.

    bot/<channel>  ──▶  tipline (citizen, staff, delivery, records, places, privacy)  ──▶  tipline/storage
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "src" / "tipline"
STORAGE = CORE / "storage"
FORBIDDEN_IN_CORE = {"telegram", "bot", "httpx", "aiohttp"}
DRIVERS = {"aiosqlite", "sqlite3", "asyncpg"}
# What storage may import from the core: plain values and rules, never a service.
STORAGE_MAY_IMPORT = re.compile(
    r"^tipline\.(storage(\..+)?|tips|places(\..+)?|delivery\.model|staff\.model|records\.model|outreach\.model)$"
)
SQL = re.compile(r"""["'](SELECT|INSERT|UPDATE|DELETE|CREATE|PRAGMA)\s""")


def imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


def roots(path: Path) -> set[str]:
    return {name.split(".")[0] for name in imports(path)}


def core_files() -> list[Path]:
    files = sorted(CORE.rglob("*.py"))
    assert len(files) > 30
    return files


def test_core_never_imports_a_channel() -> None:
    offenders = {str(f.relative_to(CORE)): roots(f) & FORBIDDEN_IN_CORE for f in core_files()}
    assert {name: found for name, found in offenders.items() if found} == {}


def test_storage_imports_no_service() -> None:
    offenders = {
        str(f.relative_to(CORE)): {m for m in imports(f) if m.startswith("tipline") and not STORAGE_MAY_IMPORT.match(m)}
        for f in sorted(STORAGE.rglob("*.py"))
    }
    assert {name: found for name, found in offenders.items() if found} == {}


def test_sql_and_database_drivers_live_only_in_storage() -> None:
    outside = [f for f in core_files() + sorted((ROOT / "bot").rglob("*.py")) if STORAGE not in f.parents]
    drivers = {str(f.relative_to(ROOT)): roots(f) & DRIVERS for f in outside}
    assert {name: found for name, found in drivers.items() if found} == {}
    sql = [str(f.relative_to(ROOT)) for f in outside if SQL.search(f.read_text(encoding="utf-8"))]
    assert sql == []


def test_the_checks_catch_what_they_look_for(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text('from telegram import Bot\nimport bot.telegram.render\nimport aiosqlite\nQ = "SELECT 1"\n')
    assert roots(sample) & FORBIDDEN_IN_CORE == {"telegram", "bot"}
    assert roots(sample) & DRIVERS == {"aiosqlite"}
    assert SQL.search(sample.read_text())
    assert not STORAGE_MAY_IMPORT.match("tipline.staff.moderation")
    assert STORAGE_MAY_IMPORT.match("tipline.staff.model")
