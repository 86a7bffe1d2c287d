"""A document cannot drift from the code: every command of the ```bash blocks of README, DEPLOY,
S3, MIRRORS, SECURITY and CACHE is run (or skipped, with where it is tested instead) by a test
in tests/docs, word for word; every `ocicache ...` they mention, in blocks or in prose, names
subcommands and flags the CLI has; their TOML and JSON blocks parse; every `[section] key` they
name exists; DEPLOY's metrics list is metrics.py's."""
from __future__ import annotations

import ast
import json
import re
import shlex
import tomllib
from pathlib import Path

import pytest

from ocicache import config, metrics
from ocicache.commands import build_parser

from .markdown import DOCS, blocks, commands, inline_ocicache

HERE = Path(__file__).parent


def walked() -> set[str]:
    """The string literals of tests/docs/test_*.py: the commands they hand to DocShell.run /
    start / skip (directly or through a constant), which run only what the document says."""
    found: set[str] = set()
    for module in HERE.glob("test_*.py"):
        if module.name != Path(__file__).name:
            found |= {node.value for node in ast.walk(ast.parse(module.read_text()))
                      if isinstance(node, ast.Constant) and isinstance(node.value, str)}
    return found


@pytest.mark.parametrize("doc", list(DOCS))
def test_every_command_of_the_document_is_run_by_a_test(doc):
    missing = [cmd for cmd in commands(doc) if cmd not in walked()]
    assert not missing, (f"{doc} has commands no test in tests/docs runs or skips (with a reason):\n  "
                         + "\n  ".join(missing))


def _subparsers(parser) -> dict:
    for action in parser._actions:
        if isinstance(getattr(action, "choices", None), dict):
            return action.choices
    return {}


def _below(parsers: list) -> list:
    """The parsers and every subcommand parser under them (`ocicache cache ... --config`)."""
    out = []
    for p in parsers:
        out += [p, *_below(list(_subparsers(p).values()))]
    return out


def _check_mention(text: str) -> None:
    """Subcommands and --flags of an `ocicache ...` mention exist (placeholders allowed)."""
    words = [w for w in re.sub(r"\[[^\]]*\]", " ", text).split() if w != "..."]
    parsers = [build_parser()]
    for word in words[1:]:
        if word.startswith("-"):
            flag = word.split("=")[0]
            assert any(flag in p._option_string_actions for p in _below(parsers)), (
                f"`{text}`: ocicache {' '.join(w for w in words[1:] if not w.startswith('-'))} has no flag {flag}")
            continue
        choices = [_subparsers(p) for p in parsers if _subparsers(p)]
        if not choices:
            continue  # a positional argument (an image, a file)
        below = [c[alt] for c in choices for alt in word.split("|") if alt in c]
        assert below, f"`{text}`: ocicache has no subcommand {word}"
        parsers = below


@pytest.mark.parametrize("doc", list(DOCS))
def test_every_ocicache_mention_names_real_subcommands_and_flags(doc):
    mentions = inline_ocicache(doc) + [c for c in commands(doc) if c.startswith("ocicache ")]
    for text in mentions:
        _check_mention(text)
    for cmd in commands(doc):   # a whole command in a block parses as it stands
        if cmd.startswith("ocicache "):
            argv = shlex.split(re.split(r"\s(?:<<<|\||>|&&)", cmd)[0])[1:]
            try:
                build_parser().parse_args(argv)
            except SystemExit as exc:
                raise AssertionError(f"{doc}: `{cmd}` does not parse (exit {exc.code})") from None


def test_the_checker_catches_a_renamed_flag():
    _check_mention("ocicache cache stats|prune --to BYTES|verify --config FILE")
    with pytest.raises(AssertionError, match="no flag --target"):
        _check_mention("ocicache cache prune --target 5")
    with pytest.raises(AssertionError, match="no subcommand"):
        _check_mention("ocicache cache purge --config x")


@pytest.mark.parametrize("doc", list(DOCS))
def test_toml_and_json_blocks_parse(doc):
    for block in blocks(doc):
        if block.lang == "toml":
            try:
                tomllib.loads(block.text)
            except tomllib.TOMLDecodeError as exc:
                raise AssertionError(f"{doc} line {block.line}: TOML block does not parse: {exc}") from None
        elif block.lang == "json":
            json.loads(block.text)


_KEY = re.compile(r"`\[(\w+)\] (\w+)")


@pytest.mark.parametrize("doc", list(DOCS))
def test_every_config_key_named_exists(doc):
    sections = {name: {f for f in factory.__dataclass_fields__} for name, factory in config.SECTIONS.items()}
    for section, key in _KEY.findall(DOCS[doc].read_text()):
        assert section in sections, f"{doc}: `[{section}]` is no config section"
        assert key in sections[section], f"{doc}: `[{section}] {key}` is no key of [{section}]"


def test_deploy_lists_every_metric():
    text = DOCS["DEPLOY.md"].read_text()
    listed = set(re.findall(r"`(ocicache_[a-z_]+)", text))
    declared = set()
    for metric in metrics._DECLARED:
        suffix = {"counter": "_total"}.get(metric._type, "")
        declared.add(metric._name + suffix)
    assert declared - listed == set(), f"DEPLOY.md's metrics list lacks {sorted(declared - listed)}"
    assert listed - declared == set(), f"DEPLOY.md names metrics that do not exist: {sorted(listed - declared)}"
