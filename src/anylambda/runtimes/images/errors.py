"""The one error of image building."""

from __future__ import annotations


class ImageBuildError(Exception):
    """An image could not be built; the message says why and what to do about it."""
