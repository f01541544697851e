"""How the documentation site is rendered (mkdocs.yml names this file twice).

- ``MarkdownDocstrings``, a griffe extension: a docstring's ``>>>`` examples (under ``Example:``, which
  griffe's Google parser reads as an admonition, or in running text) become fenced ``pycon`` blocks,
  so Markdown shows them as code instead of reading ``>>>`` as quotes and ``[0][1]`` as links; a
  reST literal block (``text::``, a blank line, an indented block) loses one colon and stays a code
  block. A module docstring keeps the indentation of its lines (a usage block stays a code block).
- ``on_files``, a mkdocs hook: the README is the site's home page.
- ``on_page_content``, a mkdocs hook: the Sphinx roles the docstrings use (``:func:`name` ``), which
  Markdown leaves as literal text, are dropped, leaving the code span.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from griffe import Extension

_LITERAL = re.compile(r"(\S)::\n[ \t]*\n")                   # reST "text::" + blank line + indented block
_ROLE = re.compile(r":(?:func|class|meth|mod|attr|data|obj|exc|const|py:\w+):<code>~?")


def fence_doctests(text: str) -> str:
    """Wrap each run of doctest lines (a ``>>>`` line up to the next blank line) in a ``pycon`` fence.

    >>> fence_doctests("Example:\\n    >>> 1 + 1\\n    2\\n\\nAfter.").split("\\n")
    ['Example:', '    ```pycon', '    >>> 1 + 1', '    2', '    ```', '', 'After.']
    """
    out: list[str] = []
    in_fence = in_example = False
    indent = ""
    for line in text.split("\n"):
        stripped = line.strip()
        if in_example and not stripped:
            out.append(indent + "```")
            in_example = False
        if stripped.startswith("```") and not in_example:
            in_fence = not in_fence
        elif not in_fence and not in_example and stripped.startswith(">>>"):
            indent = line[:len(line) - len(line.lstrip())]
            if out and out[-1].strip() and not out[-1].strip().endswith(":"):
                out.append("")                     # a fence cannot interrupt a paragraph
            out.append(indent + "```pycon")
            in_example = True
        out.append(line)
    if in_example:
        out.append(indent + "```")
    return "\n".join(out)


class MarkdownDocstrings(Extension):
    """Griffe extension: make each docstring Markdown before it is parsed (see the module docstring)."""

    def on_instance(self, *, node, obj, **kwargs) -> None:
        if obj.docstring is None:
            return
        if isinstance(node, ast.Module):
            # A module docstring sits at column 0: keep the indentation of its lines (a usage block indented
            # under the summary is a code block), which the usual docstring clean-up would strip.
            raw = ast.get_docstring(node, clean=False)
            if raw:
                obj.docstring.value = raw.strip()
        if ">>>" in obj.docstring.value:
            obj.docstring.value = fence_doctests(obj.docstring.value)
        obj.docstring.value = _LITERAL.sub(r"\1:\n\n", obj.docstring.value)


def on_files(files, config):
    """The site's home page is the README (docs/ has no index.md of its own)."""
    from mkdocs.structure.files import File

    readme = Path(config["config_file_path"]).parent / "README.md"
    if files.get_file_from_path("index.md") is None and readme.is_file():
        files.append(File.generated(config, "index.md", content=readme.read_text(encoding="utf-8")))
    return files


def on_page_content(html, page, config, files):
    return _ROLE.sub("<code>", html)
