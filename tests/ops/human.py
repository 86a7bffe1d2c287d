"""What no message an operator or a client reads may contain: Python internals.

`internals(text)` lists what it finds (a traceback, an exception class name, a repr, a tuple
or list repr, errno text, library error text); `assert_for_people(text, where)` fails with it.
"""
from __future__ import annotations

import re

_PATTERNS = [
    ("a traceback", re.compile(r"Traceback \(most recent call last\)|^\s+File \".*\", line \d+", re.M)),
    ("an exception class name", re.compile(r"\b[A-Z][A-Za-z0-9]*(?:Error|Exception)\b")),
    ("a library class name", re.compile(r"\b(?:BadHttpMethod|BadStatusLine|LineTooLong|InvalidURL|"
                                        r"ServerDisconnected|ClientConnector\w*|ClientResponse\w*|"
                                        r"ClientPayload\w*|TimeoutError|CancelledError|MalformedFraming|"
                                        r"PosixPath|WindowsPath|Namespace)\b")),
    ("an object repr", re.compile(r"<[\w.]+(?: object)? at 0x[0-9a-f]+>|<class '")),
    ("a bytes repr", re.compile(r"(?<![\w'\"])b'[^']*'|(?<![\w'\"])b\"[^\"]*\"")),
    ("a tuple repr", re.compile(r"\('[^']*', '[^']*'[^)]*\)|\(\d+, \d+\)")),
    ("a list repr", re.compile(r"\['[^']*'(?:, '[^']*')*\]")),
    ("a dict repr", re.compile(r"\{'[^']*': ")),
    ("errno text", re.compile(r"\[Errno -?\d+\]|\bErrno\b")),
    ("aiohttp's connection text", re.compile(r"ssl:default|Connect call failed|ssl:None|ssl:<")),
    ("a JSON parser's text", re.compile(r"Expecting value: line|Expecting property name|\(char \d+\)")),
    ("a raw epoch time", re.compile(r"\"pinned_at\": ?1\d{9}\.\d+")),
]


def internals(text: str) -> list[str]:
    found = []
    for name, pattern in _PATTERNS:
        match = pattern.search(text)
        if match:
            found.append(f"{name}: {match.group(0)!r}")
    return found


def assert_for_people(text: str, where: str) -> None:
    found = internals(text)
    assert not found, f"{where} shows Python internals ({'; '.join(found)}):\n{text[-2000:]}"
