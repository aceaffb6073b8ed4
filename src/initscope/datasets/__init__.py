"""Data sets generated locally or shipped inside a package (no downloads)."""

from .shapeset import CLASSES as CLASSES
from .shapeset import SHAPES as SHAPES
from .shapeset import ShapesetConfig as ShapesetConfig
from .shapeset import shapeset as shapeset
from .shapeset import shapeset_stream as shapeset_stream
from .shapeset import shapeset_with_masks as shapeset_with_masks
from .shipped import digits as digits
from .shipped import mnist1d as mnist1d

__all__ = ["CLASSES", "SHAPES", "ShapesetConfig", "digits", "mnist1d", "shapeset",
           "shapeset_stream", "shapeset_with_masks"]
