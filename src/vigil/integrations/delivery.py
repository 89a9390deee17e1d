"""HTTP delivery shared by webhooks and HTTP signs: one POST, its failures in operators' words.

A failure says whether a retry can help: a refused connection, a timeout, 5xx, 408 and 429 can
pass; any other 4xx, a redirect or a malformed request will fail the same way next time.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import httpx

from vigil.rules.actions import ActionError

# Answers that say "try again later" although they are 4xx.
RETRYABLE_4XX = frozenset({408, 425, 429})
# How much of a failing receiver's answer goes into the error message.
DETAIL_CHARS = 200
TIMEOUT = httpx.Timeout(10.0, connect=5.0)


def display_url(url: str) -> str:
    """The URL as operators may see it: no credentials, no query (tokens often live there).

    >>> display_url("https://user:pw@hooks.example.com/a/b?token=x")
    'https://hooks.example.com/a/b'
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # IPv6
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _detail(response: httpx.Response) -> str:
    text = " ".join(response.text.split())[:DETAIL_CHARS]
    return f": {text}" if text else ""


async def post(
    client: httpx.AsyncClient,
    url: str,
    *,
    what: str,
    content: bytes,
    headers: httpx.Headers,
) -> httpx.Response:
    """POST ``content`` and return the (2xx) response, else raise :class:`ActionError`.

    Args:
        client: the integrations' shared HTTP client.
        url: where to POST.
        what: the receiver as operators know it ("webhook", "sign").
        content: the exact body (already signed, when signing).
        headers: request headers.
    """
    shown = f"{what} {display_url(url)}"
    try:
        response = await client.post(url, content=content, headers=headers)
    except httpx.TimeoutException:
        raise ActionError(f"{shown} did not answer within {TIMEOUT.read:g} s") from None
    except httpx.ConnectError as exc:
        reason = str(exc) or type(exc).__name__
        raise ActionError(f"cannot connect to {shown}: {reason}") from None
    except (httpx.UnsupportedProtocol, httpx.InvalidURL, httpx.LocalProtocolError) as exc:
        raise ActionError(f"cannot send to {shown}: {exc}", retry=False) from None
    except httpx.HTTPError as exc:
        raise ActionError(f"sending to {shown} failed: {exc}") from None
    status = response.status_code
    if response.is_success:
        return response
    if response.is_redirect:
        where = display_url(response.headers.get("location", "?"))
        raise ActionError(
            f"{shown} redirected ({status}) to {where}; redirects are not followed: "
            "configure the final URL",
            retry=False,
        )
    permanent = 400 <= status < 500 and status not in RETRYABLE_4XX
    raise ActionError(
        f"{shown} returned {status} {response.reason_phrase}{_detail(response)}",
        retry=not permanent,
    )
