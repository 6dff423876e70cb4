"""What a bake makes for a frame, by the names used in memory, in HDF5 datasets and in file names alike.

``colors``, ``depth`` and ``normals`` are BlenderProc's keys; ``segmentation`` is its ``segmap`` in HDF5, and HDF5
holds ``normals`` as BlenderProc's colours, (n + 1) / 2 (formats/hdf5.py). Each flow has masks named after it
(``forward_flow_valid``, ``forward_flow_occluded``) and its scene flow (``forward_scene_flow``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FLOW_NAMES = ("forward_flow", "backward_flow")
FLOW_STEPS = {"forward_flow": 1, "backward_flow": -1}  # times the frame gap: the frame each flow points to


@dataclass(frozen=True)
class ProductKind:
    """Dtype and per-pixel shape of a product: ``()`` for H×W, ``(2,)`` for H×W×2; ``colors`` allow 3 or 4."""

    description: str
    dtype: np.dtype
    channels: tuple[tuple[int, ...], ...]

    def fits(self, array: np.ndarray) -> bool:
        return (array.dtype == self.dtype and array.ndim >= 2 and array.shape[2:] in self.channels
                and 0 not in array.shape)


FLOW = ProductKind("float32 H×W×2", np.dtype(np.float32), ((2,),))
MASK = ProductKind("bool H×W", np.dtype(bool), ((),))
SCENE_FLOW = ProductKind("float32 H×W×3 (metres, camera axes)", np.dtype(np.float32), ((3,),))
DISPARITY = ProductKind("float32 H×W (px: x in the left image − x in the right; no surface: a point at infinity's, "
                        "0 for a parallel rig)", np.dtype(np.float32),
                        ((),))
DISPARITY_CHANGE = ProductKind("float32 H×W (px: the point's disparity at t±K − at t)", np.dtype(np.float32), ((),))


def scene_flow_name(flow: str) -> str:
    """``forward_flow`` → ``forward_scene_flow``."""
    return flow.replace("_flow", "_scene_flow")


def disparity_change_name(flow: str) -> str:
    """``forward_flow`` → ``forward_disparity_change``: the same point's disparity at that flow's frame minus now."""
    return flow.replace("_flow", "_disparity_change")


# A view's disparity and its masks (the right view's names are prefixed ``right_``).
DISPARITIES = {"disparity": DISPARITY, "disparity_valid": MASK, "disparity_outside": MASK, "disparity_occluded": MASK}


PRODUCTS: dict[str, ProductKind] = {
    "colors": ProductKind("uint8 H×W×3 (H×W×4 with a transparent film)", np.dtype(np.uint8), ((3,), (4,))),
    "depth": ProductKind("float32 H×W (metres along the view axis)", np.dtype(np.float32), ((),)),
    "segmentation": ProductKind("uint16 H×W (instance index, 0: background)", np.dtype(np.uint16), ((),)),
    "normals": ProductKind("float32 H×W×3 (unit vectors, camera axes; zero: background)", np.dtype(np.float32),
                           ((3,),)),
    **{name: kind for flow in FLOW_NAMES for name, kind in (
        (flow, FLOW), (f"{flow}_valid", MASK), (f"{flow}_occluded", MASK), (scene_flow_name(flow), SCENE_FLOW))},
    # stereo: the right view's image, and per view (the right one's prefixed ``right_``) disparity with its masks and
    # the disparity change of each flow (core/stereo.py)
    "right_colors": ProductKind("uint8 H×W×3, the right view's image", np.dtype(np.uint8), ((3,), (4,))),
    **{f"right_{flow}{mask}": kind for flow in FLOW_NAMES
       for mask, kind in (("", FLOW), ("_valid", MASK), ("_occluded", MASK))},
    **{f"{view}{name}": kind for view in ("", "right_") for name, kind in (
        *DISPARITIES.items(), *((disparity_change_name(flow), DISPARITY_CHANGE) for flow in FLOW_NAMES))},
}
# Occlusion masks and scene flow: options of the bake, stored by the formats that hold any product
# (.npy, .npz, HDF5).
OCCLUSION = tuple(f"{flow}_occluded" for flow in FLOW_NAMES)
SCENE_FLOWS = tuple(scene_flow_name(flow) for flow in FLOW_NAMES)

# The renders of a frame in the order they run: the flow bake's render (Vector and Depth passes), then the scene's
# own image, so that the render window ends on the frame's image as F12 leaves it; and which of them makes each
# product.
RENDERS = ("flow", "flow_right", "image_right", "image")
# the right view's flow, disparity of both views and its masks and change: what the right view's flow render adds
STEREO = tuple(name for name in PRODUCTS if "disparity" in name or name.startswith("right_") and name != "right_colors")
RENDER_OF = {name: {"colors": "image", "right_colors": "image_right"}.get(name, "flow_right" if name in STEREO
                                                                         else "flow") for name in PRODUCTS}


def at_image_size(name: str) -> bool:
    """Images keep the scene's resolution; every other product is truth, truth_scale times it per axis."""
    return RENDER_OF.get(name, "flow").startswith("image")  # a foreign file's plain ``flow`` is truth


IN_PIXELS = tuple(name for name, kind in PRODUCTS.items() if kind in (FLOW, DISPARITY, DISPARITY_CHANGE))


def kind_of(name: str) -> ProductKind:
    """A name outside the bake's own (a plain ``flow`` file from elsewhere) is flow, or a mask if named ``*_valid``."""
    return PRODUCTS.get(name) or (MASK if name.endswith(("_valid", "_occluded")) else FLOW)


def flow_of(name: str) -> str:
    """The flow a product belongs to (``forward_flow_valid`` → ``forward_flow``); other products stand alone."""
    return next((flow for flow in FLOW_NAMES if name.startswith(f"{flow}_") or name == scene_flow_name(flow)), name)


def flow_products(flows: tuple[str, ...], occlusion: bool = False, scene_flow: bool = False) -> list[str]:
    """Each flow with its validity mask, and if asked its occlusion mask and scene flow."""
    left_out = (() if occlusion else OCCLUSION) + (() if scene_flow else SCENE_FLOWS)
    return [name for name in PRODUCTS if flow_of(name) in flows and name not in left_out]
