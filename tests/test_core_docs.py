"""The documentation's reference pages are what tools/docs_reference.py makes from the code now.

A flag, product, format, layout or setting changed without regenerating the pages fails here: run
``python tools/docs_reference.py`` and commit docs/reference/. (``mkdocs build --strict`` in tools/test.sh checks the
links between the pages.)
"""
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def load_generator():
    spec = importlib.util.spec_from_file_location("docs_reference", ROOT / "tools" / "docs_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
