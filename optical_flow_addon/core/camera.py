"""Pinhole intrinsics of a Blender camera, in OpenCV's convention, and the way back."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .errors import FlowError


@dataclass(frozen=True)
class Intrinsics:
    """A pinhole camera in pixels, as pose files give it; the centre of pixel (0, 0) is at (0, 0).

    COLMAP and NeRF put the image corner at (0, 0) instead: their cx, cy are ours + 0.5.
    """

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float

    def matrix(self) -> np.ndarray:
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    @classmethod
    def from_matrix(cls, k: np.ndarray, width: int, height: int) -> Intrinsics:
        return cls(width, height, float(k[0, 0]), float(k[1, 1]), float(k[0, 2]), float(k[1, 2]))

    @classmethod
    def from_field_of_view(cls, angle_x: float, width: int, height: int, pixel_aspect: float = 1.0) -> Intrinsics:
        """Centred camera seeing ``angle_x`` radians across; ``pixel_aspect`` is fx / fy."""
        fx = width / 2 / math.tan(angle_x / 2)
        return cls(width, height, fx, fx / pixel_aspect, width / 2 - 0.5, height / 2 - 0.5)

    def scaled_to(self, width: int, height: int) -> Intrinsics:
        """The same camera for an image resized to ``width`` × ``height``."""
        sx, sy = width / self.width, height / self.height
        return Intrinsics(width, height, self.fx * sx, self.fy * sy,
                          (self.cx + 0.5) * sx - 0.5, (self.cy + 0.5) * sy - 0.5)


@dataclass(frozen=True)
class BlenderCamera:
    """The camera and render settings that decide the projection (lens and sensor in mm)."""

    lens: float
    sensor_width: float
    sensor_height: float
    sensor_fit: str  # 'AUTO', 'HORIZONTAL' or 'VERTICAL'
    shift_x: float
    shift_y: float
    width: int
    height: int
    pixel_aspect_x: float = 1.0
    pixel_aspect_y: float = 1.0

    def view_size(self) -> tuple[float, float, float]:
        """(sensor size in mm, image size in pixels it spans, pixel aspect y/x), as Blender fits the sensor."""
        aspect = self.pixel_aspect_y / self.pixel_aspect_x
        fit = self.sensor_fit
        if fit == "AUTO":
            fit = "HORIZONTAL" if self.width * self.pixel_aspect_x >= self.height * self.pixel_aspect_y else "VERTICAL"
        sensor = self.sensor_height if self.sensor_fit == "VERTICAL" else self.sensor_width
        return sensor, (self.width if fit == "HORIZONTAL" else aspect * self.height), aspect

    def intrinsics(self) -> np.ndarray:
        """3×3 K with the centre of pixel (0, 0) at (0, 0), x right, y down."""
        sensor, view, aspect = self.view_size()
        fx = self.lens / sensor * view
        fy = fx / aspect
        cx = self.width / 2 - self.shift_x * view - 0.5
        cy = self.height / 2 + self.shift_y * view / aspect - 0.5
        return np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])

    def with_intrinsics(self, intrinsics: Intrinsics, keep_pixel_aspect: bool = False) -> BlenderCamera:
        """Lens, shift, image size and (unless kept) pixel aspect that reproduce ``intrinsics``; sensor kept.

        With ``keep_pixel_aspect`` the vertical focal length follows from fx and this pixel aspect.
        """
        aspect_x, aspect_y = self.pixel_aspect_x, self.pixel_aspect_y
        if not keep_pixel_aspect:  # Blender's pixel aspect is ≥ 1 on both axes
            ratio = intrinsics.fx / intrinsics.fy
            aspect_x, aspect_y = (1.0, ratio) if ratio >= 1 else (1 / ratio, 1.0)
            if max(aspect_x, aspect_y) > 200:
                raise FlowError(f"Focal lengths fx={intrinsics.fx:g} and fy={intrinsics.fy:g} differ more than "
                                "Blender's pixel aspect allows (at most 200:1).")
        camera = BlenderCamera(self.lens, self.sensor_width, self.sensor_height, self.sensor_fit, 0.0, 0.0,
                               intrinsics.width, intrinsics.height, aspect_x, aspect_y)
        sensor, view, aspect = camera.view_size()
        lens = intrinsics.fx * sensor / view
        if lens < 1:
            raise FlowError(f"Focal length fx={intrinsics.fx:g} px on a {intrinsics.width} px wide image needs a lens "
                            f"of {lens:.3g} mm on the {sensor:g} mm sensor; Blender's lens is at least 1 mm.")
        return BlenderCamera(lens, self.sensor_width, self.sensor_height, self.sensor_fit,
                             (intrinsics.width / 2 - 0.5 - intrinsics.cx) / view,
                             (intrinsics.cy + 0.5 - intrinsics.height / 2) * aspect / view,
                             intrinsics.width, intrinsics.height, aspect_x, aspect_y)
