"""Code fingerprints (ltsnn.data.fingerprint): which files count, what changes the fingerprint and what does not.

The import scan runs on a fake ``ltsnn`` package written in ``tmp_path``, so every kind of import
(module level, inside a function, relative, under ``TYPE_CHECKING``) is exercised on known files.
"""

import doctest
import hashlib
import textwrap

import pytest

from ltsnn.data import fingerprint
from ltsnn.data.fingerprint import code_files, code_fingerprint, file_sha256

FAKE = {
    "__init__.py": "",
    "a.py": '''
        """Module a."""
        from typing import TYPE_CHECKING

        from ltsnn.sub import b

        if TYPE_CHECKING:
            from ltsnn import d

        def lazy():
            import ltsnn.sub.c
            return ltsnn.sub.c, b
    ''',
    "d.py": "D = 1\n",
    "f.py": "F = 1\n",
    "g.py": "G = 1\n",                                     # imported by nobody
    "sub/__init__.py": "",
    "sub/b.py": "from . import e\nfrom .. import f\n",
    "sub/c.py": "C = 1\n",
    "sub/e.py": '''
        """Module e."""

        def scale(x):
            """Twice x."""
            return 2 * x
    ''',
}


@pytest.fixture
def fake(tmp_path, monkeypatch):
    """A fake ltsnn package in tmp_path/ltsnn; the fingerprint cache is cleared around the test."""
    package = tmp_path / "ltsnn"
    for name, text in FAKE.items():
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_text(textwrap.dedent(text))
    monkeypatch.setattr(fingerprint, "_PACKAGE", package)
    code_fingerprint.cache_clear()
    yield package
    code_fingerprint.cache_clear()


def names(paths, package):
    return {p.relative_to(package).as_posix() for p in paths}


def test_docstring_example_runs():
    result = doctest.testmod(fingerprint)
    assert result.attempted > 0 and result.failed == 0


def test_files_follow_every_import_that_runs(fake):
    assert names(code_files(("ltsnn.a",)), fake) == {"a.py", "sub/__init__.py", "sub/b.py", "sub/c.py", "sub/e.py",
                                                      "__init__.py", "f.py"}       # not d (TYPE_CHECKING), not g


def test_packages_bring_every_module_beside(fake):
    assert names(code_files((), ("ltsnn.sub",)), fake) == {"sub/b.py", "sub/c.py", "sub/e.py", "sub/__init__.py",
                                                           "__init__.py", "f.py"}


def test_fingerprint_follows_code_not_comments(fake):
    before = code_fingerprint(("ltsnn.a",))
    assert code_fingerprint(("ltsnn.a",)) == before
    e = fake / "sub" / "e.py"
    e.write_text('"""Module e, documented better."""\n\n\ndef scale(x):   # a comment\n    """2x."""\n\n'
                 '    return 2 * x\n')
    code_fingerprint.cache_clear()
    assert code_fingerprint(("ltsnn.a",)) == before                           # docstrings, comments, layout
    e.write_text(e.read_text().replace("2 * x", "3 * x"))                     # two imports away from a
    code_fingerprint.cache_clear()
    changed = code_fingerprint(("ltsnn.a",))
    assert changed != before
    (fake / "g.py").write_text("G = 2\n")
    code_fingerprint.cache_clear()
    assert code_fingerprint(("ltsnn.a",)) == changed                          # g is not imported


def test_fingerprint_is_computed_once_per_process(fake):
    before = code_fingerprint(("ltsnn.a",))
    (fake / "sub" / "e.py").write_text("def scale(x):\n    return 0\n")
    assert code_fingerprint(("ltsnn.a",)) == before                           # the code this process imported


def test_module_without_source_is_an_error():
    with pytest.raises(ValueError, match=r"^code fingerprint: module 'no_such_module' has no Python source file"):
        code_files(("no_such_module",))


def test_file_sha256(tmp_path):
    path = tmp_path / "x.bin"
    path.write_bytes(b"\x00\x01" * 1000)
    assert file_sha256(path) == hashlib.sha256(b"\x00\x01" * 1000).hexdigest()
