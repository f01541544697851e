"""The API reference: its generated pages are up to date, it builds with ``mkdocs build --strict`` and shows
the public API; ``py.typed`` ships with the package. (Its docstring examples run in test_examples_core.py.)"""

import doctest
import importlib.resources
import importlib.util
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def gen_reference():
    spec = importlib.util.spec_from_file_location("gen_reference", ROOT / "docs" / "gen_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_py_typed_marker_is_in_the_package():
    assert importlib.resources.files("ltsnn").joinpath("py.typed").is_file()


@pytest.mark.slow
def test_py_typed_marker_is_in_the_wheel(tmp_path):
    pytest.importorskip("setuptools")
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        (src / name).write_bytes((ROOT / name).read_bytes())
    for path in (ROOT / "ltsnn").rglob("*"):
        if path.is_file() and "__pycache__" not in path.parts:
            (src / path.relative_to(ROOT)).parent.mkdir(parents=True, exist_ok=True)
            (src / path.relative_to(ROOT)).write_bytes(path.read_bytes())
    done = subprocess.run([sys.executable, "-c", "from setuptools import build_meta; print(build_meta.build_wheel('dist'))"],
                          cwd=src, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    wheel = src / "dist" / done.stdout.strip().splitlines()[-1]
    assert "ltsnn/py.typed" in zipfile.ZipFile(wheel).namelist()


def test_reference_pages_are_up_to_date():
    stale = gen_reference().stale()
    assert not stale, f"stale API reference pages (run `python docs/gen_reference.py`): {stale}"


def test_every_reference_page_is_in_the_nav():
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    missing = [page for page in gen_reference().nav_pages() if f" {page}" not in nav]
    assert not missing, f"add these pages to the nav of mkdocs.yml: {missing}"


def test_every_room_has_a_page():
    pages = {p.stem for p in (ROOT / "docs" / "reference").glob("*.md")}
    rooms = {"functional", "neurons", "layers", "models", "data", "kernels", "engine", "tasks", "convert", "build",
             "config", "cli", "registry", "files"}
    assert rooms <= pages
    registries = (ROOT / "docs" / "reference" / "registries.md").read_text(encoding="utf-8")
    for heading in ("## Models", "## Neurons", "## Data sets", "## Representations", "## Transforms", "## Surrogates"):
        assert heading in registries
    for name in ("`vgg_tiny`", "`lif`", "`ndigits`", "`frames`", "`triangle`"):
        assert name in registries


def test_doctest_examples_are_fenced_for_markdown():
    pytest.importorskip("griffe")
    spec = importlib.util.spec_from_file_location("reference_hooks", ROOT / "docs" / "reference_hooks.py")
    hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hooks)
    assert doctest.testmod(hooks).failed == 0
    text = "Example: a list\n>>> [0][0]\n0\n\n```python\n>>> not fenced twice\n```"
    assert hooks.fence_doctests(text).split("\n") == [
        "Example: a list", "", "```pycon", ">>> [0][0]", "0", "```", "", "```python", ">>> not fenced twice", "```"]
    assert hooks.on_page_content("see :func:<code>~a.b</code>", None, None, None) == "see <code>a.b</code>"


@pytest.mark.slow
def test_reference_builds_strict(tmp_path):
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings_handlers.python")
    site = tmp_path / "site"
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(ROOT / "mkdocs.yml"),
                           "-d", str(site)], cwd=ROOT, capture_output=True, text=True)
    warnings = [line for line in (done.stdout + done.stderr).splitlines() if not line.startswith("INFO")]
    assert done.returncode == 0, "mkdocs build --strict failed (a new page or module: run `python " \
        "docs/gen_reference.py`; a docstring: the file and line are named):\n" + "\n".join(warnings)[-3000:]

    def page(name: str) -> str:
        return (site / "reference" / name / "index.html").read_text(encoding="utf-8")

    expected = {"models": ["ltsnn.models.registry.create_model", "SpikingModel"],
                "neurons": ["LIFNeuron", "NeuronSpec", "find_neurons"],
                "engine": ["ltsnn.engine.guard.first_non_finite", "DivergenceGuard"],
                "data": ["ltsnn.data.io", "make_events"],
                "config": ["load_config", "ConfigError"],
                "registries": ["vgg_tiny", "ltsnn.models.MODELS"]}
    for name, words in expected.items():
        html = page(name)
        for word in words:
            assert word in html, f"{word} is not in the reference page {name}"
    # Docstring examples are rendered as Python console code, not as Markdown quotes.
    assert '<span class="gp">&gt;&gt;&gt; </span>' in page("engine")
    assert "<blockquote>" not in page("engine")
    assert ":func:<code>" not in page("engine")
    assert (site / "architecture" / "index.html").is_file()
    assert "ltsnn train" in (site / "index.html").read_text(encoding="utf-8")        # the README is the home page
