"""Fingerprints of code and files, so that data derived from them (the frame cache) cannot outlive them.

:func:`code_fingerprint` digests the source of some modules and of every ltsnn module they import,
directly or not: a change of what the code does changes the fingerprint without a version bump.
Each file is digested as its syntax tree without docstrings, so that an edit of a comment, a
docstring or the layout does not change the fingerprint (and does not make a cache rebuild).
:func:`file_sha256` digests a file's bytes.

Only the standard library here; no module is imported (the files are read and parsed).

Example:
    >>> files = code_files(("ltsnn.data.functional.voxel",))
    >>> [p.name for p in files]
    ['voxel.py', 'frames.py', 'resize.py']
    >>> len(code_fingerprint(("ltsnn.data.functional.voxel",)))
    64
"""

from __future__ import annotations

import ast
import functools
import hashlib
import os
import sys
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parents[1]                 # the ltsnn folder
_CHUNK = 1 << 24


def file_sha256(path: str | os.PathLike) -> str:
    """The hex sha256 of a file's bytes, read in 16 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@functools.lru_cache(maxsize=None)
def code_fingerprint(modules: tuple[str, ...], packages: tuple[str, ...] = ()) -> str:
    """The hex sha256 of the code of :func:`code_files` ``(modules, packages)``, computed once per process.

    Once per process on purpose: the fingerprint then describes the code this process imported,
    even if a file is edited while it runs.

    Raises:
        ValueError: naming a module that is neither an ltsnn module nor an imported one with a source file.
    """
    lines = "".join(f"{name} {digest}\n" for name, digest in _walk(modules, packages).values())
    return hashlib.sha256(lines.encode()).hexdigest()


def code_files(modules: tuple[str, ...], packages: tuple[str, ...] = ()) -> list[Path]:
    """The source files of ``modules``, of every ``.py`` file directly in the folder of each of
    ``packages`` (for helpers a scan of imports may not see, e.g. loaded by name), and of every
    ltsnn module these import, directly or not (imports inside functions included, those under
    ``if TYPE_CHECKING:`` not), in the order found. Modules outside ltsnn count only as given.

    Raises:
        ValueError: naming a module that is neither an ltsnn module nor an imported one with a source file.
    """
    return list(_walk(modules, packages))


def _walk(modules: tuple[str, ...], packages: tuple[str, ...]) -> dict[Path, tuple[str, str]]:
    """{source file: (module name, :func:`_tree_digest`)} of :func:`code_files`, each file parsed once.
    Names, not paths, go into the fingerprint, so that two copies of the same code agree."""
    todo = [(name, _source_file(name)) for name in modules]
    for package in packages:
        folder = _source_file(package).parent
        todo += [(f"{package}.{p.stem}", p) for p in sorted(folder.glob("*.py")) if p.name != "__init__.py"]
    found: dict[Path, tuple[str, str]] = {}
    while todo:
        name, path = todo.pop(0)
        if path in found:
            continue
        tree = ast.parse(path.read_bytes(), filename=str(path))
        for imported in _imported_modules(tree, path, name):
            target = _ltsnn_file(imported)
            if target is not None and target not in found:
                todo.append((imported, target))
        found[path] = (name, _tree_digest(tree))
    return found


def _source_file(name: str) -> Path:
    path = _ltsnn_file(name)
    if path is None:
        path = getattr(sys.modules.get(name), "__file__", None)
        if path is None or not path.endswith(".py"):
            raise ValueError(f"code fingerprint: module {name!r} has no Python source file to fingerprint; "
                             f"expected an ltsnn module or an imported module defined in a .py file")
    return Path(path).resolve()


def _ltsnn_file(name: str) -> Path | None:
    """The source file of ltsnn module ``name`` (``ltsnn.a.b`` -> ``a/b.py`` or ``a/b/__init__.py``), or None."""
    parts = name.split(".")
    if parts[0] != "ltsnn":
        return None
    base = _PACKAGE.joinpath(*parts[1:])
    candidates = [base / "__init__.py"] if len(parts) == 1 else [base.parent / f"{base.name}.py", base / "__init__.py"]
    return next((c for c in candidates if c.is_file()), None)


def _imported_modules(tree: ast.Module, path: Path, name: str) -> list[str]:
    """Every module an ``import`` in ``tree`` (module ``name``, file ``path``) may load, as absolute
    names (``from m import x`` gives m and m.x). Also drops from the tree every statement that is a
    bare string (docstrings), which does nothing, for :func:`_tree_digest`."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: list[str] = []

    def visit(statements: list) -> None:
        kept = [s for s in statements if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant)
                                              and isinstance(s.value.value, str))]
        statements[:] = kept or ([ast.Pass()] if statements else [])
        for node in kept:
            if isinstance(node, ast.Import):
                out.extend(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:                                      # relative: from the importing package
                    anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                    base = f"{anchor}.{base}" if base else anchor
                out.append(base)
                out.extend(f"{base}.{alias.name}" for alias in node.names)
            # Imports are statements: only the statement lists inside a statement can hold one.
            for field in ("body", "orelse", "finalbody", "handlers", "cases"):
                if field == "body" and isinstance(node, ast.If) and _is_type_checking(node.test):
                    continue                                        # never runs
                if isinstance(getattr(node, field, None), list):
                    visit(getattr(node, field))

    visit(tree.body)
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _tree_digest(tree: ast.Module) -> str:
    """sha256 of a syntax tree (comments and layout are not in it; :func:`_imported_modules` took out the docstrings)."""
    return hashlib.sha256(ast.dump(tree).encode()).hexdigest()
