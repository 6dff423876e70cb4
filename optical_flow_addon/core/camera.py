"""Pinhole intrinsics of a Blender camera, in OpenCV's convention."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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

    def intrinsics(self) -> np.ndarray:
        """3×3 K with the centre of pixel (0, 0) at (0, 0), x right, y down."""
        aspect = self.pixel_aspect_y / self.pixel_aspect_x
        fit = self.sensor_fit
        if fit == "AUTO":
            fit = "HORIZONTAL" if self.width * self.pixel_aspect_x >= self.height * self.pixel_aspect_y else "VERTICAL"
        sensor = self.sensor_height if self.sensor_fit == "VERTICAL" else self.sensor_width
        view = self.width if fit == "HORIZONTAL" else aspect * self.height
        fx = self.lens / sensor * view
        fy = fx / aspect
        cx = self.width / 2 - self.shift_x * view - 0.5
        cy = self.height / 2 + self.shift_y * view / aspect - 0.5
        return np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])
