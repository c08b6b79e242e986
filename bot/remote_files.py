"""Evidence that lives at a URL (a Zalo photo), made fit for moderators: downloaded with limits, then cleaned.

The core keeps evidence by reference and never downloads anything; an adapter that must re-send another
channel's file (Telegram re-uploading a Zalo photo under a tip's card) fetches it here: at most 20 MB, a short
timeout, http(s) only, and the bytes go through ``tipline.privacy.media`` (in a worker thread) before anyone
sees them. Messages and log lines never carry the URL.
"""

from __future__ import annotations

import asyncio

import httpx

from tipline.privacy.media import MAX_FILE_BYTES, CleanFile, clean_image

TIMEOUT = httpx.Timeout(15.0, connect=5.0)
ATTEMPTS = 2  # a second try after a network error; a refusal (4xx) is not tried again


class FetchFailed(Exception):
    """The file could not be downloaded (the message says why, without the URL)."""


async def fetch(url: str, max_bytes: int = MAX_FILE_BYTES, http: httpx.AsyncClient | None = None) -> bytes:
    """The body at ``url``, refused as soon as it proves larger than ``max_bytes``."""
    if not url.startswith(("https://", "http://")):
        raise FetchFailed("not an http(s) URL")
    client = http or httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=True, max_redirects=3)
    try:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return await _download(client, url, max_bytes)
            except httpx.TransportError as exc:
                if attempt == ATTEMPTS:
                    raise FetchFailed(f"network error ({type(exc).__name__})") from None
                await asyncio.sleep(0.5)
        raise AssertionError("unreachable")  # pragma: no cover
    finally:
        if http is None:
            await client.aclose()


async def _download(client: httpx.AsyncClient, url: str, max_bytes: int) -> bytes:
    try:
        async with client.stream("GET", url) as response:
            if response.status_code != 200:
                raise FetchFailed(f"HTTP {response.status_code}")
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise FetchFailed("too large")
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > max_bytes:
                    raise FetchFailed("too large")
            return bytes(body)
    except httpx.TransportError:
        raise
    except httpx.HTTPError as exc:  # too many redirects, an invalid URL ...
        raise FetchFailed(type(exc).__name__) from None


async def cleaned_image(url: str, http: httpx.AsyncClient | None = None) -> CleanFile:
    """The picture at ``url`` re-encoded without metadata (raises FetchFailed or privacy.media.UnsafeFile)."""
    data = await fetch(url, http=http)
    return await asyncio.to_thread(clean_image, data)
