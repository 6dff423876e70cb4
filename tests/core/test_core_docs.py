"""The documentation's reference pages are what tools/docs_reference.py makes from the code now.

A flag, product, format, layout or setting changed without regenerating the pages fails here: run
``python tools/docs_reference.py`` and commit docs/reference/. (``mkdocs build --strict`` in tools/test.sh checks the
links between the pages.) The panel tutorial's pictures are the screenshots tools/screenshots.py takes, none other.
"""
import importlib.util
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PANEL_TUTORIAL = ROOT / "docs" / "tutorials" / "blender-panel.md"


def load_tool(name: str):
    """A script of tools/ as a module (tools/ is no package); these scripts do nothing on import."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_generator():
    return load_tool("docs_reference")


def test_reference_pages_are_up_to_date():
    pages = load_generator().pages()
    stale = [path.relative_to(ROOT).as_posix() for path, text in pages.items()
             if not path.is_file() or path.read_text(encoding="utf-8") != text]
    assert not stale, f"run python tools/docs_reference.py: out of date: {', '.join(stale)}"


def test_every_reference_page_is_in_the_site_navigation():
    navigation = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    pages = load_generator().pages()
    assert all(f"reference/{path.name}" in navigation for path in pages)


def test_the_settings_page_lists_every_property_of_the_scene():
    text = (ROOT / "docs" / "reference" / "settings.md").read_text(encoding="utf-8")
    for name in ("output_dir", "frame_gap", "output_formats", "hdf5_compression", "pose_file", "with_image"):
        assert f"| `{name}` |" in text


def test_the_panel_tutorials_images_exist_in_docs():
    """A picture the page names but nobody committed would be a broken image on the site."""
    docs = (ROOT / "docs").resolve()
    referenced = re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", PANEL_TUTORIAL.read_text(encoding="utf-8"))
    assert referenced, "the panel tutorial shows no screenshot"
    paths = [(PANEL_TUTORIAL.parent / name).resolve() for name in referenced]
    missing = [name for name, path in zip(referenced, paths) if not path.is_file() or docs not in path.parents]
    assert not missing, f"not in docs/: {', '.join(missing)}"


def test_the_tutorial_images_are_exactly_the_screenshots_the_script_writes():
    """Every picture in docs/tutorials/images/ comes from tools/screenshots.py, so none is made or edited by hand and
    each is regenerated with the panel; a shot added to the script but not taken fails too."""
    shots = set(load_tool("screenshots").SHOTS)
    images = {path.name for path in (ROOT / "docs" / "tutorials" / "images").iterdir()}
    assert images - shots == set(), f"not written by tools/screenshots.py: {', '.join(sorted(images - shots))}"
    assert shots - images == set(), f"run python tools/screenshots.py: missing {', '.join(sorted(shots - images))}"
