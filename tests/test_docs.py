"""The examples in README.md and docs/ run as written, against a live portal.

Every ```sh block of the documents runs, in order, one bash session per document (so a
variable set in one block is there in the next), in a fresh directory, against a portal started
as ``make run`` starts it (web server and workers, the demo account). A block marked
``<!-- doc-test: skip (why) -->`` on the line above is left out (it needs other machines, or it
is ``make run`` itself); a ```python block runs only when marked ``<!-- doc-test: run -->``. A
block marked ``<!-- doc-test: output -->`` is what the block before it prints: it must match,
ignoring whitespace, with ``…`` standing for any text.

The documents' placeholders are the only thing replaced: ``jp_…`` by the demo token (also in
``$TOKEN``, as the README sets it), and the documents' portal address
(``http://127.0.0.1:8000``, ``http://portal.example:8000``) by the live one.
"""

import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings

from tests.live import Site, stop

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("docs")]

ROOT = settings.BASE_DIR
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("**/*.md"))]
MARK = re.compile(r"<!--\s*doc-test:\s*(skip|run|output)\b(.*?)-->")
FENCE = re.compile(r"^```(\S*)")
ADDRESSES = ("http://127.0.0.1:8000", "http://portal.example:8000")
SEPARATOR = "\x1edoc-test block done\x1e"


@dataclass
class Block:
    document: Path
    line: int
    language: str
    text: str
    mark: str = ""
    expected: list = field(default_factory=list)  # the output blocks that follow it

    @property
    def where(self):
        return f"{self.document.relative_to(ROOT)}:{self.line}"

    @property
    def runs(self):
        if self.mark == "skip":
            return False
        return self.language in ("sh", "bash") or (self.language == "python"
                                                   and self.mark == "run")


def blocks(document):
    """The fenced blocks of ``document``, each with the mark on the line above it."""
    found, lines = [], document.read_text().splitlines()
    index = 0
    while index < len(lines):
        fence = FENCE.match(lines[index])
        if not fence:
            index += 1
            continue
        mark = MARK.search(lines[index - 1]) if index else None
        end = next(i for i in range(index + 1, len(lines)) if lines[i].startswith("```"))
        found.append(Block(document, index + 1, fence.group(1),
                           "\n".join(lines[index + 1:end]) + "\n",
                           mark.group(1) if mark else ""))
        index = end + 1
    return found


def runnable(document):
    """The blocks of ``document`` that run, each with the outputs it must print."""
    chosen = []
    for block in blocks(document):
        if block.mark == "output":
            assert chosen, f"{block.where}: an output block with no block before it"
            chosen[-1].expected.append(block.text)
        elif block.runs:
            chosen.append(block)
    return chosen


def matches(expected, printed):
    """Whether ``printed`` is ``expected``, ignoring whitespace, with ``…`` for any text."""
    squeeze = re.compile(r"\s+")
    pattern = ".*?".join(re.escape(squeeze.sub("", part)) for part in expected.split("…"))
    return re.fullmatch(pattern, squeeze.sub("", printed), re.DOTALL) is not None


def test_the_marks_are_understood():
    """Every mark is one the runner knows and sits above a block, so none is silently lost."""
    for document in DOCUMENTS:
        lines = document.read_text().splitlines()
        for number, line in enumerate(lines):
            if "doc-test" in line:
                assert MARK.search(line), f"{document}:{number + 1}: unknown mark {line!r}"
                following = lines[number + 1] if number + 1 < len(lines) else ""
                assert FENCE.match(following), f"{document}:{number + 1}: no block below"


def test_matching_ignores_whitespace_and_reads_the_ellipsis_as_any_text():
    assert matches('{"id": …, "status": "done"}', '{"id":12,"status":"done"}')
    assert not matches('{"status": "done"}', '{"status":"error"}')
    assert not matches("a", "ab")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A portal as ``make run`` starts it: its own SQLite database, the demo account, web
    server and workers."""
    portal = Site(tmp_path_factory.mktemp("docs"))
    server = portal.serve()
    yield portal
    stop(server)


def run_document(site, document, workdir):
    chosen = runnable(document)
    script = ["set -euo pipefail"]
    for block in chosen:
        text = block.text.replace("jp_…", site.token)
        for address in ADDRESSES:
            text = text.replace(address, site.url)
        if block.language == "python":
            text = f"python - <<'DOC_TEST_PYTHON'\n{text}DOC_TEST_PYTHON\n"
        script += [text, f"printf '\\n{SEPARATOR}\\n'"]
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
           "HOME": str(workdir), "TOKEN": site.token}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    run = subprocess.run(["bash", "-c", "\n".join(script)], cwd=workdir, env=env,
                         capture_output=True, text=True, timeout=300)
    outputs = run.stdout.split(SEPARATOR)
    done = len(outputs) - 1
    assert run.returncode == 0, (
        f"{chosen[done].where} failed (exit {run.returncode}):\n"
        f"{outputs[-1]}\n{run.stderr}")
    for block, printed in zip(chosen, outputs, strict=False):
        for expected in block.expected:
            assert matches(expected, printed), (
                f"{block.where} printed:\n{printed.strip()}\nwhere the document shows:\n"
                f"{expected}")
    return chosen


@pytest.mark.parametrize("document", [d for d in DOCUMENTS if runnable(d)],
                         ids=lambda d: str(d.relative_to(ROOT)))
def test_examples_run_as_written(site, document, tmp_path):
    tmp_path.chmod(0o755)
    assert run_document(site, document, tmp_path)
