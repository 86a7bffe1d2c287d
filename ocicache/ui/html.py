"""A small template helper: every value put into a page is escaped unless it is already HTML.

    html("<a href=\"{url}\">{name}</a>", url=repo_url(name), name=name)

`html(template, **values)` formats like `str.format`, escaping each value (after its format
spec) with `html.escape(quote=True)`; a value that is already HTML (it has `__html__`, as
`Markup` has, and markupsafe's objects) goes in as it is. Templates are literals in this
package, never user input.
"""
from __future__ import annotations

import html as _html
import string
from typing import Any, Iterable


class Markup(str):
    """Text that is HTML already (a rendered fragment)."""

    def __html__(self) -> str:
        return self

    def __add__(self, other: Any) -> "Markup":  # text added to HTML is escaped
        return Markup(str.__add__(self, escape(other)))

    def __radd__(self, other: Any) -> "Markup":
        return Markup(str.__add__(escape(other), self))


def escape(value: Any) -> Markup:
    done = getattr(value, "__html__", None)
    if done is not None:
        return Markup(done())
    return Markup(_html.escape(str(value), quote=True))


class _Escaping(string.Formatter):
    def format_field(self, value: Any, format_spec: str) -> str:
        done = getattr(value, "__html__", None)
        if done is not None:
            return done()
        return _html.escape(format(value, format_spec), quote=True)


_FORMATTER = _Escaping()


def html(template: str, **values: Any) -> Markup:
    return Markup(_FORMATTER.vformat(template, (), values))


def join(parts: Iterable[Any], sep: str = "") -> Markup:
    return Markup(sep.join(escape(p) for p in parts))


def size(n: int) -> Markup:
    """Bytes for a person, the exact count in the title: `<span title="5242880 bytes">5.0 MiB</span>`."""
    value, unit = float(n), "B"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if value < 1024 or unit == "PiB":
            break
        value /= 1024
    shown = f"{n} B" if unit == "B" else f"{value:.1f} {unit}"
    return html('<span class="size" title="{n} bytes">{shown}</span>', n=n, shown=shown)
