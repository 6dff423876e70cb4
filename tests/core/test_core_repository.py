"""The repository holds everything its tests, tools and benchmarks read: a fresh clone runs them (no bpy)."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# A path built above the repository root (from ROOT's parent, or ``../``), or into a shared folder beside it.
OUTSIDE = re.compile(r"ROOT\.parent\b|[\"']\.\./|\.\./shared|[\"']shared[\"'] /")


def test_no_test_tool_or_benchmark_reads_a_file_outside_the_repository():
    found = []
    for folder in ("tests", "tools", "benchmarks", "optical_flow_addon"):
        for path in sorted((ROOT / folder).rglob("*")):
            if path.suffix not in {".py", ".sh", ".toml", ".ini", ".cfg", ".txt"} or not path.is_file():
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if OUTSIDE.search(line) and path.name != Path(__file__).name:
                    found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert found == []
