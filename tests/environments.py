"""The Python of an environment that tools/venv.sh builds once beside the test's own: torchvision and ptlflow
(``torch``), whose dataset classes load the layouts, and BlenderProc 2.8 (``blenderproc``), whose viewer reads our
HDF5 files."""
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def venv_python(name: str) -> str:
    return subprocess.run(["bash", str(ROOT / "tools" / "venv.sh"), name], capture_output=True, text=True,
                          check=True).stdout.strip()
