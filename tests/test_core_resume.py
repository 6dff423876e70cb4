"""Files that a resumed bake writes again are the same files (no bpy): the kept image drops Blender's render date."""
import numpy as np

import png_files
from optical_flow_addon.core.flow_files import IMAGE_FILES

H, W = 6, 8


def test_the_kept_image_drops_blenders_render_date(tmp_path):
    """Two renders of one frame differ only in Blender's date and time chunk: colors_*.png must not."""
    pixels = np.arange(H * W * 3, dtype=np.uint8).reshape(H, W, 3)
    plain = png_files.write(pixels)
    renders = []
    for minute in (1, 2):
        render = tmp_path / f"render_{minute}.png"
        text = png_files.chunk(b"tEXt", f"Date\x002026/01/01 12:0{minute}:00".encode())
        render.write_bytes(plain[:33] + text + plain[33:])
        renders.append(render)
    out = tmp_path / "out"
    out.mkdir()
    written = [IMAGE_FILES.keep(render, out, 1)[0].read_bytes() for render in renders]
    assert written == [plain, plain]
