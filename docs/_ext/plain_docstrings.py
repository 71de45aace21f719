"""Show docstrings written as plain text (``|x − p|``, ``**`` as a power, hand-aligned tables) as
written, in a literal block, instead of letting reStructuredText misread them.

Each docstring is test-parsed with docutils before numpydoc sees it; if the parse reports markup
errors of the kinds plain-text maths produces (undefined substitutions, unmatched inline markup,
unexpected indentation, malformed tables), the docstring is shown verbatim. Clean docstrings are
rendered as usual, so ``sphinx-build -W`` still fails on errors in the pages themselves.
"""

from __future__ import annotations

import re

from docutils.core import publish_doctree
from docutils.utils import SystemMessage

_PLAIN_TEXT_ERRORS = re.compile(
    r"substitution|start-string without end-string|Unexpected indentation|ends without a blank"
    r"|Malformed table|Inconsistent title|Title underline too short|Unknown target name"
    r"|Duplicate explicit target|Unexpected section title|Literal block expected"
)


_ROLE = re.compile(r":[\w:.+-]+:`([^`]*)`")
_DIRECTIVE = re.compile(r"^(\s*)\.\. [\w:-]+::.*$", re.MULTILINE)


def _misread(text: str) -> bool:
    messages: list[str] = []
    # Sphinx's roles and directives need the build environment: test-parse them as literals.
    text = _DIRECTIVE.sub(r"\1.. directive", _ROLE.sub(r"``\1``", text))
    try:
        doctree = publish_doctree(text, settings_overrides={
            "report_level": 2, "halt_level": 5, "warning_stream": False,
            "file_insertion_enabled": False, "raw_enabled": False})
    except SystemMessage:
        return True
    except Exception:  # a Sphinx role or directive that needs the build environment: rst, then
        return False
    found = [*doctree.findall(), *doctree.parse_messages, *doctree.transform_messages]
    for node in found:
        if node.tagname == "system_message" and node.get("level", 0) >= 2:
            messages.append(node.astext())
    return any(_PLAIN_TEXT_ERRORS.search(m) for m in messages)


_ESCAPE = re.compile(r"([|*`_\\])")


def _process(app, what, name, obj, options, lines) -> None:
    if type(obj).__module__ == "builtins" and getattr(obj, "__doc__", None) == type(obj).__doc__:
        lines[:] = []  # a constant (a dict, say) would otherwise show its type's docstring
        return
    if not lines or not _misread("\n".join(lines)):
        return
    # The summary line stays prose (autosummary's tables read it), its markup characters escaped;
    # the rest is shown verbatim.
    first = _ESCAPE.sub(r"\\\1", lines[0])
    rest = lines[1:]
    body = [first, ""]
    if any(line.strip() for line in rest):
        body += ["::", ""] + ["    " + line if line.strip() else "" for line in rest]
    lines[:] = body


def setup(app):
    app.connect("autodoc-process-docstring", _process, priority=900)  # after numpydoc
    return {"version": "1", "parallel_read_safe": True}
