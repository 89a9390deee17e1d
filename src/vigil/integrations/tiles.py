"""Street map tiles from the tile server the installation is configured with, relayed to
browsers through the server and kept in a bounded memory cache.

Relayed, not linked: a phone outside the city network reaches Vigil but not the tile
server, and the web client's content policy allows images from Vigil's own origin only.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from dataclasses import dataclass

import httpx

from vigil.config import MapSettings
from vigil.integrations.delivery import display_url

TIMEOUT_S = 10.0
TILE_MAX_BYTES = 2 * 1024 * 1024
IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp")


class TileError(Exception):
    """The tile server did not give the tile; says why, in words for an administrator."""

    def __init__(self, message: str, status: int = 502) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class Tile:
    content_type: str
    data: bytes


class TileRelay:
    """Fetches ``{z}/{x}/{y}`` from the configured server, keeping the latest tiles."""

    def __init__(self, settings: MapSettings) -> None:
        assert settings.tile_url is not None
        self._template = settings.tile_url
        self._max_zoom = settings.max_zoom
        self._budget = settings.cache_mb * 1024 * 1024
        self._cache: OrderedDict[tuple[int, int, int], Tile] = OrderedDict()
        self._size = 0
        self._lock = asyncio.Lock()
        self._client = httpx.AsyncClient(timeout=TIMEOUT_S, follow_redirects=True)

    async def close(self) -> None:
        await self._client.aclose()

    async def tile(self, z: int, x: int, y: int) -> Tile:
        """The tile, from the cache or the server; :class:`TileError` when it cannot be had."""
        if not 0 <= z <= self._max_zoom or not (0 <= x < 2**z and 0 <= y < 2**z):
            raise TileError(f"no tile {z}/{x}/{y} (zoom 0-{self._max_zoom})", 404)
        key = (z, x, y)
        async with self._lock:
            if (cached := self._cache.get(key)) is not None:
                self._cache.move_to_end(key)
                return cached
        tile = await self._fetch(z, x, y)
        async with self._lock:
            self._keep(key, tile)
        return tile

    async def _fetch(self, z: int, x: int, y: int) -> Tile:
        url = self._template.replace("{z}", str(z)).replace("{x}", str(x)).replace("{y}", str(y))
        shown = f"tile server {display_url(url)}"
        try:
            r = await self._client.get(url)
        except httpx.HTTPError as exc:
            raise TileError(f"cannot reach {shown}: {exc or type(exc).__name__}") from None
        if r.status_code == 404:
            raise TileError(f"{shown} has no tile {z}/{x}/{y}", 404)
        if not r.is_success:
            raise TileError(f"{shown} returned {r.status_code} {r.reason_phrase}")
        content_type = r.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type not in IMAGE_TYPES:
            raise TileError(f"{shown} sent {content_type or 'no type'}, not a PNG, JPEG or WebP")
        if len(r.content) > TILE_MAX_BYTES:
            raise TileError(f"{shown} sent a tile over {TILE_MAX_BYTES // 1024} KiB")
        return Tile(content_type, r.content)

    def _keep(self, key: tuple[int, int, int], tile: Tile) -> None:
        if key in self._cache or len(tile.data) > self._budget:
            return
        self._cache[key] = tile
        self._size += len(tile.data)
        while self._size > self._budget:
            _, dropped = self._cache.popitem(last=False)
            self._size -= len(dropped.data)
