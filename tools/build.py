"""Build the release zips into build/dist/.

- One extension zip per platform (Blender 4.2+), made by Blender's own extension tool with
  ``--split-platforms``. Each bundles the OpenEXR, h5py and isal wheels (and their dependencies except
  numpy, which Blender ships) for Python 3.11 (Blender 4.2-5.0) and 3.13 (Blender 5.1+).
- One legacy add-on zip (top-level folder with ``bl_info``) for Blender 3.4-4.1, without wheels:
  its preferences install the missing modules.

Wheels are downloaded with pip into build/wheels/ (kept as a cache) and never committed. The
committed blender_manifest.toml lists no wheels or platforms: they depend on what PyPI offers, so
the build writes them into a staging copy of the add-on.

    python tools/build.py [--dist DIR] [--blender-ext PATH] [--allow-missing] [--legacy-only]

Blender's tool is ``bpy/<version>/scripts/addons_core/bl_pkg/cli/blender_ext.py`` from the ``bpy``
module; the build takes it from the running Python's ``bpy``, else from ``tools/venv.sh 4.2``.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "build"
ADDON_FILES = ("__init__.py", "optical_flow_addon", "LICENSE")  # every zip carries the licence text
BUNDLED = ("OpenEXR", "h5py", "isal")  # versions pinned in tools/requirements.txt
SHIPPED_WITH_BLENDER = {"numpy"}
PYTHON_VERSIONS = ("3.11", "3.13")
# Blender platform -> pip platform tags. Blender 4.2+ needs glibc 2.28 and macOS 11.2;
# pip also accepts older macOS tags than the one given.
PLATFORMS = {
    "linux-x64": ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64"),
    "linux-arm64": ("manylinux_2_28_aarch64", "manylinux_2_17_aarch64", "manylinux2014_aarch64"),
    "windows-x64": ("win_amd64",),
    "macos-arm64": ("macosx_11_0_arm64",),
    "macos-x64": ("macosx_11_0_x86_64",),
}


def pinned_requirements() -> list[str]:
    """The ``name==version`` lines of tools/requirements.txt for the bundled modules."""
    lines = (ROOT / "tools" / "requirements.txt").read_text(encoding="utf-8").splitlines()
    pins = [line.split("#")[0].strip() for line in lines if line.split("==")[0].strip() in BUNDLED]
    if len(pins) != len(BUNDLED):
        sys.exit(f"tools/requirements.txt must pin each of {', '.join(BUNDLED)} with ==")
    return pins


def pip(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", *arguments],
                          capture_output=True, text=True)


def download_wheels(platform: str, python: str, pins: list[str]) -> list[Path] | None:
    """Wheels of ``pins`` and their dependencies (not numpy) for one platform and Python; None if PyPI has none."""
    folder = BUILD / "wheels" / f"{platform}-py{python}"
    stamp = folder / "wheels.json"
    key = {"pins": pins, "tags": list(PLATFORMS[platform])}
    if stamp.exists() and json.loads(stamp.read_text())["key"] == key:
        return [folder / name for name in json.loads(stamp.read_text())["wheels"]]
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    target = ["--only-binary=:all:", "--python-version", python, "--implementation", "cp",
              *(f"--platform={tag}" for tag in PLATFORMS[platform])]
    report = folder / "report.json"
    # Resolve from package metadata only (no download), so numpy's wheel is never fetched.
    resolved = pip("install", "--dry-run", "--ignore-installed", "--quiet", "--report", str(report),
                   "--target", str(folder / "unused"), *target, *pins)
    if resolved.returncode != 0:
        print(f"  {platform} Python {python}: no wheels on PyPI\n    {resolved.stderr.strip().splitlines()[-1]}")
        return None
    install = json.loads(report.read_text())["install"]
    wanted = [f"{item['metadata']['name']}=={item['metadata']['version']}" for item in install
              if item["metadata"]["name"].lower() not in SHIPPED_WITH_BLENDER]
    downloaded = pip("download", "--no-deps", "--quiet", "--dest", str(folder), *target, *wanted)
    if downloaded.returncode != 0:
        sys.exit(f"pip download failed for {platform} Python {python}:\n{downloaded.stderr}")
    wheels = sorted(folder.glob("*.whl"))
    stamp.write_text(json.dumps({"key": key, "wheels": [w.name for w in wheels]}))
    return wheels


def manifest_with_wheels(manifest: str, platforms: list[str], wheels: list[str]) -> str:
    """Insert ``platforms`` and ``wheels`` before the first table, where top-level keys must go."""
    head, table, tail = manifest.partition("\n[")
    listing = lambda values: "[\n" + "".join(f'  "{v}",\n' for v in values) + "]"  # noqa: E731
    return f"{head}\nplatforms = {listing(platforms)}\nwheels = {listing(wheels)}\n{table}{tail}"


def stage_addon(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for name in ADDON_FILES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, folder / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, folder / name)


def find_blender_ext() -> Path:
    """Blender's extension tool from the ``bpy`` of this Python, else of tools/venv.sh 4.2."""
    spec = importlib.util.find_spec("bpy")
    if spec is None or not spec.submodule_search_locations:
        python = subprocess.run(["bash", str(ROOT / "tools" / "venv.sh"), "4.2"], check=True,
                                capture_output=True, text=True).stdout.strip()
        found = subprocess.run([python, "-c", "import importlib.util; print(importlib.util.find_spec('bpy').origin)"],
                               check=True, capture_output=True, text=True).stdout.strip()
        package = Path(found).parent
    else:
        package = Path(spec.submodule_search_locations[0])
    tools = sorted(package.glob("*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))
    if not tools:
        sys.exit(f"No blender_ext.py in {package}: pass --blender-ext")
    return tools[0]


def blender_ext(tool: Path, *arguments: str) -> str:
    result = subprocess.run([sys.executable, str(tool), *arguments], capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"blender_ext.py {' '.join(arguments)} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


def build_legacy_zip(dist: Path, version: str) -> Path:
    """Top-level ``optical_flow/`` folder with bl_info, as Blender 3.4-4.1 installs add-ons."""
    path = dist / f"optical_flow-{version}-legacy.zip"
    stage = BUILD / "legacy"
    stage_addon(stage)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(stage.rglob("*")):
            if file.is_file():
                archive.write(file, Path("optical_flow") / file.relative_to(stage))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dist", type=Path, default=BUILD / "dist", help="output folder (build/dist)")
    parser.add_argument("--blender-ext", type=Path, help="path of Blender's blender_ext.py")
    parser.add_argument("--allow-missing", action="store_true",
                        help="build even when PyPI has no wheels for a platform/Python (they are left out)")
    parser.add_argument("--legacy-only", action="store_true", help="only the legacy zip (no wheels, no Blender tool)")
    args = parser.parse_args()
    manifest = (ROOT / "blender_manifest.toml").read_text(encoding="utf-8")
    version = re.search(r'^version = "(.+)"', manifest, re.MULTILINE).group(1)
    dist = args.dist.resolve()
    shutil.rmtree(dist, ignore_errors=True)
    dist.mkdir(parents=True)
    legacy = build_legacy_zip(dist, version)
    if args.legacy_only:
        print(f"Built {legacy}")
        return
    tool = args.blender_ext or find_blender_ext()
    pins = pinned_requirements()
    print(f"Wheels for {', '.join(pins)} (+ dependencies but numpy):")
    wheels: dict[str, Path] = {}
    missing = []
    for platform in PLATFORMS:
        for python in PYTHON_VERSIONS:
            found = download_wheels(platform, python, pins)
            if found is None:
                missing.append(f"{platform} Python {python}")
                continue
            print(f"  {platform} Python {python}: {', '.join(w.name for w in found)}")
            wheels.update((w.name, w) for w in found)
    if missing and not args.allow_missing:
        sys.exit(f"No wheels for {'; '.join(missing)}. Rerun with --allow-missing to leave them out.")

    stage = BUILD / "extension"
    stage_addon(stage)
    (stage / "wheels").mkdir()
    for name, wheel in sorted(wheels.items()):
        shutil.copy2(wheel, stage / "wheels" / name)
    (stage / "blender_manifest.toml").write_text(
        manifest_with_wheels(manifest, list(PLATFORMS), [f"./wheels/{name}" for name in sorted(wheels)]),
        encoding="utf-8")

    blender_ext(tool, "build", "--source-dir", str(stage), "--output-dir", str(dist), "--split-platforms")
    zips = sorted(set(dist.glob("*.zip")) - {legacy})
    for path in zips:
        blender_ext(tool, "validate", str(path))
    zips.append(legacy)
    print(f"Built with {tool} (extension zips validated):")
    for path in zips:
        print(f"  {path}  {path.stat().st_size / 1e6:.2f} MB")
    if missing:
        print(f"Left out (no wheels on PyPI): {'; '.join(missing)}")


if __name__ == "__main__":
    main()
