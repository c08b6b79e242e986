"""Local console mode, driven as a person would: ``python -m bot`` in a pseudo-terminal, no network.

Every scenario starts a real process on a temporary SQLite file, waits for the ``> `` prompt, types a line
and reads the screen that follows. Choices are picked by their printed number, which the tests find by
parsing the numbered options (``  3) label``) rather than hard-coding it.

Vietnamese is the default language and its catalog is being translated while these tests are written, so
in Vietnamese mode the assertions rest on what does not depend on the wording: numbers (113, limits,
tries left), tip codes, place names from the commune directory, emoji on buttons, and the shape of the
screens (how many options, which question is repeated). English mode checks the actual wording.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest
from backends import only_on_sqlite

# Local console mode keeps its own SQLite file (and makes its own secret): it has no server database to try.
pytestmark = only_on_sqlite("local console mode runs on its own SQLite file")
REPO = Path(__file__).resolve().parents[1]
PROMPT = "\r\n> "
TIMEOUT = 20

CODE = re.compile(r"\bTL-[2-9A-Z]{4}-[2-9A-Z]{4}\b")
# The passphrase has three groups (the code has 'TL' and two), e.g. H4KP-Z9RM-T2WC.
PASSPHRASE = re.compile(r"(?<![\w-])[2-9A-Z]{4}-[2-9A-Z]{4}-[2-9A-Z]{4}(?![\w-])")
EXAMPLE_CODE = "TL-7K3Q-9XMP"  # the example in "Send the tip code you received, for example ..."
DATE = re.compile(r"\b\d{1,2}/\d{1,2}/\d{2,4}\b")
OPTION_LINE = re.compile(r"^  (\d+)\) (.*?)\s*$")
# Where a question also takes typed words, options are listed by name and picked by typing their words.
NAMED_LINE = re.compile(r"^  • (.*?)\s*$")

# Button labels located by something that survives translation (the emoji), or the English wording,
# or a likely Vietnamese wording.
REPORT = r"📝|Report a tip|Báo tin"
STATUS = r"🔎|Check a tip|Kiểm tra"
LANGUAGE = r"🌐|Language|Ngôn ngữ"
SKIP = r"➡️|Skip|Bỏ qua"
DONE = r"✅|Done|Xong"
CONFIRM = r"✅|Confirm|Xác nhận"
BACK = r"⬅️|Back|Quay lại"

DESCRIPTION = "A man sells pills at the corner of the market every night after 10 pm"


# --- helpers --------------------------------------------------------------------------------------


def options(screen: str) -> list[str]:
    """The labels of the numbered options of the last question on the screen (option 1 first)."""
    blocks: list[list[str]] = []
    for line in screen.splitlines():
        match = OPTION_LINE.match(line)
        if not match:
            continue
        number, label = int(match[1]), match[2]
        if number == 1:
            blocks.append([])
        if blocks and number == len(blocks[-1]) + 1:
            blocks[-1].append(label)
    if blocks:
        return blocks[-1]
    return [m[1] for line in screen.splitlines() if (m := NAMED_LINE.match(line))]


def option_number(screen: str, pattern: str) -> int:
    """The number to type for the first option whose label matches ``pattern`` (a regex or plain text)."""
    labels = options(screen)
    for number, label in enumerate(labels, start=1):
        if re.search(pattern, label):
            return number
    raise AssertionError(f"no option matching {pattern!r} among {labels!r} on screen:\n{screen}")


def question(screen: str) -> str:
    """The paragraph just above the options: the question being asked."""
    lines = screen.splitlines()
    first_option = next(i for i, line in enumerate(lines) if OPTION_LINE.match(line) or NAMED_LINE.match(line))
    paragraph: list[str] = []
    for line in reversed(lines[:first_option]):
        if not line.strip():
            break
        paragraph.insert(0, line)
    return "\n".join(paragraph)


class Console:
    """One ``python -m bot`` process in console mode, in a pseudo-terminal."""

    def __init__(self, env: dict[str, str]) -> None:
        self.child = pexpect.spawn(
            sys.executable, ["-m", "bot"], env=env, cwd=str(REPO), encoding="utf-8", timeout=TIMEOUT
        )
        self.child.expect_exact(PROMPT)
        self.screen = self.child.before

    def send(self, line: str) -> str:
        """Types a line and returns what the bot printed in answer (without the echo of the line)."""
        self.child.sendline(line)
        self.child.expect_exact(line + "\r\n")  # the terminal's echo of what was typed
        self.child.expect_exact(PROMPT)
        self.screen = self.child.before
        return self.screen

    def pick(self, pattern: str) -> str:
        """Types the number of the option matching ``pattern`` on the current screen, or, where options are
        listed by name (the question also takes typed words), the words of its label."""
        if any(OPTION_LINE.match(line) for line in self.screen.splitlines()):
            return self.send(str(option_number(self.screen, pattern)))
        named = [m[1] for line in self.screen.splitlines() if (m := NAMED_LINE.match(line))]
        for label in named:
            if re.search(pattern, label):
                return self.send(re.sub(r"[^\w\s]", "", label).strip())
        raise AssertionError(f"no option matching {pattern!r} among {named!r} on screen:\n{self.screen}")

    def pick_nth(self, position: int) -> str:
        labels = options(self.screen)
        assert 1 <= position <= len(labels), (position, labels)
        return self.send(str(position))

    def quit(self) -> int:
        """Sends /quit and returns the exit status once the process has ended."""
        self.child.sendline("/quit")
        self.child.expect(pexpect.EOF)
        self.child.close()
        assert self.child.signalstatus is None, f"killed by signal {self.child.signalstatus}"
        return self.child.exitstatus

    def kill(self) -> None:
        if self.child.isalive():
            self.child.terminate(force=True)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "tipline.sqlite3"


@pytest.fixture
def env(db_path: Path) -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if k not in ("TELEGRAM_BOT_TOKEN", "TIPLINE_SECRET_KEY")}
    environment["TIPLINE_DB"] = str(db_path)
    environment["PYTHONIOENCODING"] = "utf-8"
    return environment


@pytest.fixture
def start(env: dict[str, str]) -> Iterator:
    """Starts console processes; any still running at the end of the test are ended."""
    started: list[Console] = []

    def _start() -> Console:
        console = Console(env)
        started.append(console)
        return console

    yield _start
    for console in started:
        console.kill()


def start_report(console: Console) -> str:
    """From the main menu, picks 'Report a tip' and checks the category question is asked."""
    screen = console.pick(REPORT)
    labels = options(screen)
    assert len(labels) == 9 + 2, labels  # nine categories, then Back and Cancel
    assert re.search(BACK, labels[-2]), labels
    return screen


# --- 1. a full report in Vietnamese -----------------------------------------------------------------


def test_full_report_in_vietnamese_then_status(start, db_path: Path) -> None:
    console = start()
    welcome = console.screen
    assert "113" in welcome
    assert len(options(welcome)) == 5, welcome

    # Local mode made its own secret beside the database, readable by the owner only.
    secret = db_path.with_name(db_path.name + ".secret")
    assert secret.is_file()
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert db_path.is_file()

    start_report(console)
    screen = console.pick_nth(1)  # the first category

    labels = options(screen)
    assert len(labels) == 4 + 2, labels  # four urgencies, Back, Cancel
    screen = console.pick_nth(1)  # "Happening right now" comes first
    # The emergency notice comes before the next question.
    assert "113" in screen and "0769.04.04.04" in screen
    assert screen.index("0769.04.04.04") < screen.index(question(screen))
    assert "Hà Nội" in options(screen)  # the province question

    screen = console.send("ha noi")
    assert "Thành phố Hà Nội" in screen  # "... commune or ward in Thành phố Hà Nội ..."
    assert len(options(screen)) == 3, screen  # I don't know, Back, Cancel

    screen = console.send("hoan kiem")
    # Accepted at once: the next question is the (optional) address, up to 300 characters.
    assert "300" in screen
    assert len(options(screen)) == 3, screen  # Skip, Back, Cancel

    screen = console.pick(SKIP)
    assert re.search(r"3[.,]000", screen), screen  # the description limit

    screen = console.send(DESCRIPTION)
    assert str(len(DESCRIPTION)) in screen  # "Description so far: 71 of 3.000 characters"

    screen = console.pick(DONE)
    assert "10" in screen and "20" in screen  # up to 10 items of up to 20 MB

    review = console.pick(SKIP)
    assert "Phường Hoàn Kiếm, Thành phố Hà Nội" in review
    assert DESCRIPTION in review
    assert "0769.04.04.04" not in review

    screen = console.pick(CONFIRM)
    code_match = CODE.search(screen)
    assert code_match, screen
    code = code_match.group(0)
    passphrase_match = PASSPHRASE.search(screen)
    assert passphrase_match, screen
    passphrase = passphrase_match.group(0)
    assert screen.index(code) < screen.index(passphrase)
    # Then the opt-in question: yes or no.
    assert len(options(screen)) == 2, screen

    screen = console.pick_nth(1)  # yes, send me updates
    assert len(options(screen)) == 5, screen  # back at the main menu
    assert PASSPHRASE.search(screen) is None  # the passphrase is shown only once

    screen = console.send("/status")
    assert EXAMPLE_CODE in screen
    assert options(screen) == []  # the code is typed, not picked

    screen = console.send(code)
    assert code in screen
    assert options(screen) == []

    status = console.send(passphrase)
    assert code in status
    assert DATE.search(status), status  # received / last change
    assert EXAMPLE_CODE not in status  # not asked for the code again
    assert len(options(status)) == 5, status  # the main menu follows
    assert PASSPHRASE.search(status) is None

    assert console.quit() == 0


# --- 2. the draft survives a restart ------------------------------------------------------------------


@pytest.mark.parametrize("how", ["menu", "command"])
def test_draft_survives_restart(start, how: str) -> None:
    console = start()
    start_report(console)
    console.pick_nth(1)  # a category
    screen = console.pick_nth(3)  # "Goes on regularly": no emergency notice
    assert "0769.04.04.04" not in screen
    province_question = question(screen)
    province_options = options(screen)
    assert "Hà Nội" in province_options
    assert console.quit() == 0

    console = start()
    welcome = console.screen
    assert "113" in welcome
    # The welcome is followed by a note about the unfinished report (the last paragraph, no options).
    assert not OPTION_LINE.match(welcome.strip().splitlines()[-1]), welcome

    screen = console.pick(REPORT) if how == "menu" else console.send("/report")
    # It continues at the third question, the province, not at the first.
    assert question(screen) == province_question
    assert options(screen) == province_options
    assert len(options(screen)) != 9 + 2

    # Back goes to the urgency question: the earlier answers are still there.
    screen = console.pick(BACK)
    assert len(options(screen)) == 4 + 2, screen
    assert console.quit() == 0


# --- 3. bad input --------------------------------------------------------------------------------------


def test_bad_input_gets_a_polite_answer_and_the_question_again(start) -> None:
    console = start()
    menu = console.screen
    menu_options = options(menu)

    # An unknown command on the main menu: named in the answer, and the menu comes again.
    screen = console.send("/frobnicate")
    assert "/frobnicate" in screen
    assert options(screen) == menu_options

    # A number that is not one of the options, on the main menu.
    screen = console.send("9")
    assert options(screen) == menu_options
    assert question(screen)  # something is said above the options

    category = start_report(console)
    category_question = question(category)
    category_options = options(category)

    for bad in ("/frobnicate", "99", "0", "hello there"):
        screen = console.send(bad)
        # The same question with the same options comes again, after a short explanation.
        assert question(screen) == category_question, (bad, screen)
        assert options(screen) == category_options, (bad, screen)
        explanation = screen[: screen.index(category_question)].strip()
        assert explanation, (bad, screen)
        if bad.startswith("/"):
            assert bad in explanation

    # Still on the first question: picking a category moves on to the urgency.
    screen = console.pick_nth(1)
    assert len(options(screen)) == 4 + 2, screen

    # /status with a code that has no tip, and a wrong passphrase.
    screen = console.send("/status tl 2222 3333")
    assert "TL-2222-3333" in screen  # the code, normalised, in the passphrase question
    screen = console.send("not the right passphrase")
    assert re.search(r"\b4\b", screen), screen  # four more tries before a pause
    assert EXAMPLE_CODE in screen  # and the code is asked for again

    console.send("TL-2222-3333")
    screen = console.send("still not right")
    assert re.search(r"\b3\b", screen), screen

    # A code that is not a code.
    screen = console.send("hello")
    assert EXAMPLE_CODE in screen  # "Codes look like TL-7K3Q-9XMP"

    assert console.quit() == 0


# --- 4. English -----------------------------------------------------------------------------------------


def test_switch_to_english(start) -> None:
    console = start()
    screen = console.pick(LANGUAGE)
    assert options(screen) == ["Tiếng Việt", "English"]

    screen = console.pick("English")
    assert "Language changed" in screen
    assert options(screen) == [
        "📝 Report a tip",
        "🔎 Check a tip",
        "➕ Add information",
        "ℹ️ About drugs and getting help",
        "🌐 Language / Ngôn ngữ",
    ]

    screen = console.send("/help")
    assert "Commands:" in screen and "/status: check a tip with its code and passphrase" in screen

    screen = console.pick("Report a tip")
    assert "Step 1 of 6. What is the report about?" in screen
    assert options(screen)[0] == "Buying or selling drugs"
    screen = console.send("/cancel")
    assert "Your report was discarded. Nothing was sent." in screen

    screen = console.pick("Check a tip")
    assert f"Send the tip code you received, for example {EXAMPLE_CODE}." in screen
    screen = console.send("TL-2222-3333")
    assert "Now send the passphrase that came with code TL-2222-3333." in screen
    screen = console.send("wrong")
    assert "The code and passphrase do not match any tip. You have 4 more tries; after that you must wait 15 minutes." in screen
    assert console.quit() == 0

    # The choice of language is kept for the next start.
    console = start()
    assert "Welcome to the drug-crime tip line." in console.screen
    assert "In an emergency call 113." in console.screen
    assert console.quit() == 0


# --- 5. invalid configuration -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({"TELEGRAM_BOT_TOKEN": "nonsense"}, "TELEGRAM_BOT_TOKEN"),
        ({"TELEGRAM_BOT_TOKEN": "123456:" + "A" * 35}, "TIPLINE_SECRET_KEY"),
        ({"TIPLINE_SECRET_KEY": "too short"}, "TIPLINE_SECRET_KEY"),
    ],
)
def test_invalid_configuration_is_one_clear_line(env: dict[str, str], db_path: Path, variables, named: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bot"],
        env={**env, **variables},
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert named in lines[0]
    assert "Traceback" not in done.stderr
    assert done.stdout == ""
    # Nothing was created on the way out.
    assert not db_path.exists()
    assert not db_path.with_name(db_path.name + ".secret").exists()


def test_ctrl_c_leaves_at_once_without_a_traceback(start) -> None:
    console = start()
    console.child.sendintr()
    console.child.expect(pexpect.EOF, timeout=3)
    assert "Traceback" not in console.child.before
    console.child.close()
    assert console.child.exitstatus == 130
