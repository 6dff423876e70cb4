"""``pip install .``: the ``optical-flow`` command and ``python -m optical_flow_addon`` from any folder."""
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.packaging
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The package as pip installs it from the repository (its dependencies are this environment's)."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
                    "--target", str(target), str(ROOT)], check=True, capture_output=True, timeout=600)
    return target


def test_the_package_holds_the_add_on_and_pins_the_tested_bpy(site):
    assert (site / "optical_flow_addon" / "core" / "formats" / "hdf5.py").is_file()
    assert not (site / "tests").exists() and not (site / "tools").exists()
    (metadata,) = site.glob("optical_flow_for_blender-*.dist-info/METADATA")
    pinned = re.search(r"\[4\.5\]=\"bpy==([\d.]+)\"", (ROOT / "tools" / "venv.sh").read_text()).group(1)
    assert f'Requires-Dist: bpy=={pinned}; extra == "bpy"' in metadata.read_text()


def test_the_command_and_the_module_run_from_any_folder(site, tmp_path):
    flow = np.zeros((12, 16, 2), np.float32)
    flow[..., 0] = 3
    np.save(tmp_path / "forward_flow_0001.npy", flow)
    environment = {"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"}
    command = subprocess.run([str(site / "bin" / "optical-flow"), "vis", "forward_flow_0001.npy", "--output", "a.png"],
                             cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=120)
    assert command.returncode == 0, command.stderr
    assert (tmp_path / "a.png").read_bytes().startswith(b"\x89PNG")
    module = subprocess.run([sys.executable, "-m", "optical_flow_addon", "vis", "forward_flow_0001.npy", "--output",
                             "b.png"], cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=120)
    assert module.returncode == 0, module.stderr
    assert (tmp_path / "b.png").read_bytes() == (tmp_path / "a.png").read_bytes()
    usage = subprocess.run([str(site / "bin" / "optical-flow"), "--help"], env=environment,
                           capture_output=True, text=True)
    assert usage.stdout.startswith("usage: optical-flow ")
