"""Formulas as math, offline: ``$...$`` (inline) and ``$$...$$`` (display) in a page's
Markdown become MathML at build time (latex2mathml), which the browser typesets natively
(MathML Core: Chromium 109+, Firefox, Safari): no script, no web font, no network.

Code (fenced blocks and inline code spans) is left alone, and so is a ``$`` that does not
open a formula (one followed by a space, or whose next ``$`` is not a closing one: a
price, a shell prompt)."""

from __future__ import annotations

import re
from typing import Any

from latex2mathml.converter import convert

# fenced code blocks and inline code spans: never touched
_CODE = re.compile(r"(^```.*?^```[ \t]*$|`[^`\n]+`)", re.S | re.M)
_DISPLAY = re.compile(r"\$\$(.+?)\$\$", re.S)
_INLINE = re.compile(r"(?<![\\$\w])\$(?=[^\s$])([^$\n]+?)(?<=\S)\$(?![\w$])")


def math_to_mathml(text: str) -> str:
    """The text with every formula outside code replaced by its MathML."""
    parts = _CODE.split(text)
    for i in range(0, len(parts), 2):  # the even parts are outside code
        part = _DISPLAY.sub(lambda m: "\n\n" + convert(m.group(1).strip(), display="block")
                            + "\n\n", parts[i])
        parts[i] = _INLINE.sub(_inline, part)
    return "".join(parts)


def _inline(m: re.Match[str]) -> str:
    """An inline formula as MathML; at the start of a line behind a zero-width space, or
    Markdown would take the line for a block of raw HTML and break the paragraph."""
    at_line_start = m.start() == 0 or m.string[m.start() - 1] == "\n"
    return ("&#8203;" if at_line_start else "") + convert(m.group(1))


def on_page_markdown(markdown: str, **_: Any) -> str:
    return math_to_mathml(markdown)
