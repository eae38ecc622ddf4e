"""Marker-based paging, as the Lambda API's List operations do it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")

#: Items per page when the caller sets no ``MaxItems`` (AWS's default).
DEFAULT_PAGE_SIZE = 50


def page(
    items: Sequence[T],
    key: Callable[[T], str],
    marker: str | None,
    max_items: int | None,
) -> tuple[list[T], str | None]:
    """One page of ``items`` (in their order) starting at the item whose ``key`` is ``marker``,
    and the marker of the next page (``None`` on the last page).

    A marker that names no item starts the page at the first item whose key sorts
    after it, so a marker from a page whose first item was since deleted still works.
    """
    start = 0
    if marker:
        keys = [key(item) for item in items]
        start = keys.index(marker) if marker in keys else len(items)
        if start == len(items):
            start = next((i for i, k in enumerate(keys) if k > marker), len(items))
    limit = max_items or DEFAULT_PAGE_SIZE
    chosen = list(items[start : start + limit])
    following = items[start + limit : start + limit + 1]
    return chosen, (key(following[0]) if following else None)
