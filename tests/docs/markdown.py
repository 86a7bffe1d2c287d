r"""The commands a document tells its reader to run: every line of its ```bash blocks (a line
ending in `\` continues on the next; comments and blank lines dropped), normalized to single
spaces, and the inline `ocicache ...` spans of its prose."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = {"README.md": ROOT / "README.md", **{name: ROOT / "docs" / name for name in
        ("DEPLOY.md", "S3.md", "MIRRORS.md", "SECURITY.md", "CACHE.md")}}
_FENCE = re.compile(r"^```(\w*)\s*$")


@dataclass(frozen=True)
class Block:
    doc: str
    lang: str
    line: int
    text: str


def blocks(doc: str) -> list[Block]:
    """Every fenced block of `doc` (README.md, DEPLOY.md, ...), with its language and first line."""
    out, lang, start, lines = [], None, 0, []
    for number, line in enumerate(DOCS[doc].read_text().splitlines(), 1):
        fence = _FENCE.match(line)
        if lang is None and fence:
            lang, start, lines = fence.group(1), number + 1, []
        elif lang is not None and line.strip() == "```":
            out.append(Block(doc, lang, start, "\n".join(lines) + "\n"))
            lang = None
        elif lang is not None:
            lines.append(line)
    assert lang is None, f"{doc}: a code block opened at line {start} is never closed"
    return out


def strip_comment(line: str) -> str:
    """The line without a trailing `# comment` (a # inside quotes, or not after a space, stays)."""
    quote = None
    for i, ch in enumerate(line):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip()
    return line.rstrip()


def squeeze(line: str) -> str:
    """Runs of spaces outside quotes become one (inside quotes they are the command's)."""
    out, quote = [], None
    for ch in line.strip():
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in " \t" and out and out[-1] == " ":
            continue
        out.append(" " if ch == "\t" and not quote else ch)
    return "".join(out)


def commands_of(block: Block) -> list[str]:
    out, pending = [], ""
    for raw in block.text.splitlines():
        line = strip_comment(raw)
        if line.endswith("\\"):
            pending += line[:-1].strip() + " "
            continue
        line = squeeze(pending + line.strip())
        pending = ""
        if line:
            out.append(line)
    return out


def commands(doc: str) -> list[str]:
    """Every command of the ```bash blocks of `doc`, in order."""
    return [cmd for block in blocks(doc) if block.lang in ("bash", "sh") for cmd in commands_of(block)]


def inline_ocicache(doc: str) -> list[str]:
    """Inline `ocicache ...` spans of the prose (outside code blocks)."""
    text = DOCS[doc].read_text()
    prose = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    return [m.group(1) for m in re.finditer(r"`(ocicache [^`]+)`", prose)]
