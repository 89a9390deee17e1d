"""HTTPS to a registered site, as the token its administrator issued, trusting only the
pinned certificate. Every failure names the site and what to do."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any

import httpx

from vigil.federation.pinning import PinError, check_presented, pinned_context
from vigil.federation.store import SiteLink


class SiteError(RuntimeError):
    """A site could not be asked, or answered with an error."""

    status = 503


class SiteUnreachable(SiteError):
    """The link is cut, or the site is down."""


class SiteRefused(SiteError):
    """The site refused the link: its certificate changed or it refused the token."""


class SiteAnswered(SiteError):
    """The site answered a request with an error (its status and detail are kept)."""

    def __init__(self, message: str, status: int, detail: Any) -> None:
        super().__init__(message)
        self.status, self.detail = status, detail


def _detail(response: httpx.Response) -> Any:
    try:
        body = response.json()
    except ValueError:
        return response.text[:500]
    return body.get("detail", body) if isinstance(body, dict) else body


class SiteClient:
    """One site's API, over a connection pool that lives as long as the ``async with``."""

    def __init__(self, link: SiteLink, *, timeout: float = 10.0) -> None:
        self.link = link
        self._timeout = timeout
        self._http = httpx.AsyncClient(
            base_url=link.url,
            verify=pinned_context(link.certificate),
            headers={"Authorization": f"Bearer {link.token}"},
            timeout=timeout,
        )

    async def __aenter__(self) -> SiteClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._http.aclose()

    async def _failed(self, exc: httpx.TransportError) -> SiteError:
        name, url = self.link.name, self.link.url
        if "CERTIFICATE_VERIFY_FAILED" in str(exc):
            try:
                await asyncio.to_thread(
                    check_presented, name, url, self.link.fingerprint, timeout=self._timeout
                )
            except PinError as pin:
                return SiteRefused(str(pin))
            return SiteRefused(f"site {name} at {url}: the pinned certificate was refused: {exc}")
        return SiteUnreachable(f"site {name} unreachable at {url}: {exc or type(exc).__name__}")

    def _check(self, response: httpx.Response) -> None:
        if response.is_success:
            return
        name, detail = self.link.name, _detail(response)
        if response.status_code == 401:
            raise SiteRefused(
                f"site {name} refused the token (401: {detail}): ask its administrator for "
                "a new one, then remove and add the site again"
            )
        raise SiteAnswered(
            f"site {name} answered {response.status_code}: {detail}", response.status_code, detail
        )

    async def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """A request's JSON answer; raises :class:`SiteError`."""
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise await self._failed(exc) from None
        self._check(response)
        return response.json() if response.content else None

    @asynccontextmanager
    async def stream(
        self, path: str, params: dict[str, Any], *, json: Any = None
    ) -> AsyncIterator[httpx.Response]:
        """A GET (a POST of ``json`` when given) whose answer's body is read as it comes
        (video, an evidence package), for relaying."""
        method = "GET" if json is None else "POST"
        try:
            async with self._http.stream(method, path, params=params, json=json) as response:
                if not response.is_success:
                    await response.aread()
                self._check(response)
                yield response
        except httpx.TransportError as exc:
            raise await self._failed(exc) from None
