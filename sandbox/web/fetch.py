"""Reading web pages over HTTP: bounded in time, size and redirects, text content only.

An agent may ask for any url, so every way a fetch can go wrong has a bound and a clear message: a per-read
timeout and a deadline for the whole fetch (a server trickling bytes cannot hold it forever), a byte cap
enforced while streaming (a 50 MB page costs the cap, not 50 MB), at most ``max_redirects`` hops with loop
detection, and a content-type check that refuses images, PDFs and other binaries before reading them. Bodies
are decoded by the declared charset (header, then ``<meta>``), then UTF-8, then windows-1252, the web's
historical default.
"""

from __future__ import annotations

import codecs
import re
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field

from sandbox.retry import RetryPolicy, is_retryable_status, parse_retry_after
from sandbox.web.addresses import FETCH_DEADLINE, AddressPolicy, BlockedAddressError, GuardedBackend
from sandbox.web.errors import FetchError
from sandbox.web.extract import extract_html
from sandbox.web.models import FetchedPage
from sandbox.web.providers.base import USER_AGENT
from sandbox.web.quoting import quote_data

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
TEXT_TYPES = frozenset(
    {
        "text/plain",
        "text/markdown",
        "text/x-markdown",
        "text/csv",
        "text/xml",
        "application/xml",
        "application/json",
        "application/ld+json",
        "application/rss+xml",
        "application/atom+xml",
    }
)
_NOT_TEXT = frozenset({"text/css", "text/javascript", "application/javascript"})
_BINARY_MAGIC = (
    b"%PDF",
    b"\x89PNG",
    b"GIF8",
    b"\xff\xd8\xff",
    b"PK\x03\x04",
    b"\x1f\x8b",
    b"RIFF",
    b"\x00\x00\x01\x00",
)
_META_CHARSET = re.compile(rb"""<meta[^>]+?charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
_XML_ENCODING = re.compile(rb"""^<\?xml[^>]+encoding\s*=\s*["']([A-Za-z0-9_.:-]+)""", re.IGNORECASE)


def _quoted(exc: BaseException) -> str:
    """An HTTP library's message as data: it can carry the server's text (an invalid ``Location``, say)."""
    return quote_data(str(exc), 300)


class FetchLimits(BaseModel):
    """Bounds of one page fetch."""

    model_config = ConfigDict(frozen=True)

    timeout_s: float = Field(default=10.0, gt=0, description="Connect / per-read timeout.")
    total_timeout_s: float = Field(default=30.0, gt=0, description="Deadline for the whole fetch.")
    max_bytes: int = Field(
        default=5_000_000, ge=1024, description="Body bytes read at most; the rest is dropped."
    )
    max_redirects: int = Field(default=5, ge=0, le=20)
    retry: RetryPolicy = RetryPolicy(max_attempts=2, base_delay_s=0.5, max_retry_after_s=5.0)
    allow_private: bool = Field(
        default=False,
        description="Also read loopback/private/link-local/... addresses (tests, intranets); see "
        "sandbox.web.addresses. $PRGYM_WEB_ALLOW_PRIVATE=1 does the same.",
    )
    allow_networks: tuple[str, ...] = Field(
        default=(), description="Non-public networks or addresses that may be read, e.g. ('10.0.0.0/8',)."
    )


MAX_ENCODINGS = 2
"""More content-encoding layers than this are refused (``gzip, gzip, gzip`` is a bomb, not a page)."""


@dataclass
class _Layer:
    """One content-encoding layer: its inflater, and whether a headerless ("raw") deflate retry is still open."""

    inflater: zlib._Decompress
    raw_fallback: bool


class _Decoder:
    """Undoes ``Content-Encoding`` layers while counting every decoded byte against one budget.

    httpx's own decoders inflate a whole network chunk at once, so 1.8 KB of ``gzip, gzip`` became 2 GB in
    memory before any cap could apply. Here each layer inflates at most what the budget has left, and the bytes
    of every layer count (an inner layer cannot make the outer one's output free).
    """

    def __init__(self, encodings: list[str], budget: int) -> None:
        self.budget = budget
        self.layers: list[_Layer] = []
        for name in reversed(encodings):  # the last encoding listed was applied last: undo it first
            wbits = {"gzip": 31, "x-gzip": 31, "deflate": 15}[name]
            self.layers.append(_Layer(zlib.decompressobj(wbits), raw_fallback=wbits == 15))
        self.exhausted = False

    def feed(self, data: bytes) -> bytes:
        for layer in self.layers:
            if not data or self.exhausted:
                return b""
            obj = layer.inflater
            try:
                out = obj.decompress(data, self.budget + 1)
            except zlib.error:
                if not layer.raw_fallback:
                    raise
                layer.inflater = obj = zlib.decompressobj(-15)  # "deflate" sent without the zlib header
                layer.raw_fallback = False
                out = obj.decompress(data, self.budget + 1)
            self.budget -= len(out)
            if self.budget < 0 or obj.unconsumed_tail:
                self.exhausted = True
                out = out[: len(out) + min(0, self.budget)]
            data = out
        return data


@dataclass
class RawPage:
    """The bytes of a page as served, before decoding."""

    url: str
    final_url: str
    status: int
    mime: str
    charset: str | None
    body: bytes
    truncated: bool


def _is_text_type(mime: str) -> bool:
    if mime in _NOT_TEXT:
        return False
    return mime in HTML_TYPES or mime in TEXT_TYPES or mime.startswith("text/") or mime.endswith("+json")


def _codec(name: str | None) -> str | None:
    if not name:
        return None
    try:
        return codecs.lookup(name.strip().strip("\"'")).name
    except LookupError:
        return None


def sniff_charset(body: bytes) -> str | None:
    """Charset declared inside the document: a ``<meta charset>`` / ``http-equiv`` or an XML declaration."""
    head = body[:4096]
    match = _XML_ENCODING.match(head) or _META_CHARSET.search(head)
    return _codec(match.group(1).decode("ascii", "ignore")) if match else None


def decode_body(body: bytes, charset: str | None, *, html: bool) -> str:
    """Text of ``body``: BOM, declared charset, in-document charset (HTML), UTF-8, then windows-1252."""
    for bom, name in (
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if body.startswith(bom):
            return body.decode(name, errors="replace")
    declared = _codec(charset) or (sniff_charset(body) if html else None)
    if declared:
        return body.decode(declared, errors="replace")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start >= len(body) - 4:  # a multi-byte character cut by the size cap
            return body[: exc.start].decode("utf-8", errors="replace")
    return body.decode("cp1252", errors="replace")


class HttpFetcher:
    """Fetches pages under :class:`FetchLimits`; :meth:`read` never raises, :meth:`fetch` raises ``FetchError``."""

    def __init__(
        self,
        limits: FetchLimits | None = None,
        *,
        client: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.limits = limits or FetchLimits()
        self.policy = AddressPolicy.build(self.limits.allow_private, self.limits.allow_networks)
        self._owns_client = client is None
        if client is None:
            transport = httpx.HTTPTransport()
            # connections open only to checked addresses, and every socket read honours the total deadline
            transport._pool._network_backend = GuardedBackend(self.policy)
            client = httpx.Client(
                transport=transport,
                timeout=httpx.Timeout(self.limits.timeout_s),
                follow_redirects=False,
                headers={
                    "User-Agent": USER_AGENT,
                    "Accept": "text/html,application/xhtml+xml,text/plain;q=0.9,*/*;q=0.5",
                    "Accept-Encoding": "gzip, deflate",
                },
            )
        self._client = client
        self._sleep = sleep

    # -- raw fetch ----------------------------------------------------------------------------------------------------

    def fetch(self, url: str) -> RawPage:
        """The page at ``url`` after redirects, its body capped at ``max_bytes``."""
        limits = self.limits
        deadline = time.monotonic() + limits.total_timeout_s
        token = FETCH_DEADLINE.set(deadline)
        try:
            return self._follow(url, deadline)
        finally:
            FETCH_DEADLINE.reset(token)

    def _check_hop(self, url: str, current: str) -> None:
        """Refuse a hop before any request: bad url, not http(s), userinfo, or a non-public address."""
        shown = quote_data(current, 300)
        try:
            parts = urlsplit(current)
            host, port = parts.hostname, parts.port
        except ValueError as exc:
            raise FetchError(url, f"cannot visit {shown}: not a valid url ({exc})") from None
        if parts.scheme not in ("http", "https") or not host:
            raise FetchError(url, f"cannot visit {shown}: only http:// and https:// urls can be read")
        if parts.username is not None or parts.password is not None:
            raise FetchError(url, f"cannot visit {shown}: urls with user:password@ are not read")
        try:
            self.policy.resolve(host, port or (443 if parts.scheme == "https" else 80))
        except BlockedAddressError as exc:
            raise FetchError(url, str(exc)) from None
        except OSError as exc:
            raise FetchError(url, f"cannot visit {shown}: {exc}", transient=True) from None

    def _follow(self, url: str, deadline: float) -> RawPage:
        limits = self.limits
        current = url.strip()
        chain = [current]
        for _hop in range(limits.max_redirects + 1):
            self._check_hop(url, current)  # every hop, redirects included
            page_or_location = self._fetch_once(url, current, deadline)
            if isinstance(page_or_location, RawPage):
                return page_or_location
            try:
                target = urljoin(current, page_or_location)
            except ValueError:
                raise FetchError(url, f"redirect to an invalid url {quote_data(page_or_location)}") from None
            if target in chain:
                loop = " -> ".join([*chain[chain.index(target) :], target])
                raise FetchError(url, f"redirect loop: {loop}")
            chain.append(target)
            current = target
        raise FetchError(url, f"too many redirects (more than {limits.max_redirects}): {' -> '.join(chain)}")

    def _fetch_once(self, url: str, current: str, deadline: float) -> RawPage | str:
        """One hop with retries on transient failures: a page, or the ``Location`` of a redirect."""
        limits = self.limits
        attempts = limits.retry.max_attempts
        for attempt in range(1, attempts + 1):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise FetchError(
                    url, f"gave up after {limits.total_timeout_s:g} s (total time limit)", transient=True
                )
            timeout = httpx.Timeout(min(limits.timeout_s, remaining))
            try:
                with self._client.stream("GET", current, timeout=timeout) as response:
                    status = response.status_code
                    if is_retryable_status(status) and attempt < attempts:
                        wait = parse_retry_after(response.headers)
                        if wait is None or wait <= limits.retry.max_retry_after_s:
                            self._sleep(
                                min(wait if wait is not None else limits.retry.base_delay_s, remaining)
                            )
                            continue
                    return self._handle(url, current, response, deadline)
            except httpx.TimeoutException as exc:
                if time.monotonic() >= deadline - 0.05:
                    message = f"gave up after {limits.total_timeout_s:g} s (total time limit)"
                else:
                    message = f"timed out after {limits.timeout_s:g} s waiting for {current}"
                raise FetchError(url, message, transient=True) from exc
            except (httpx.InvalidURL, httpx.UnsupportedProtocol, ValueError, UnicodeError) as exc:
                raise FetchError(
                    url, f"cannot visit {quote_data(current, 300)}: not a valid url ({_quoted(exc)})"
                ) from exc
            except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError) as exc:
                if attempt < attempts:
                    self._sleep(min(limits.retry.base_delay_s, max(0.0, deadline - time.monotonic())))
                    continue
                raise FetchError(
                    url,
                    f"could not read {quote_data(current, 300)}: {type(exc).__name__}: {_quoted(exc)}",
                    transient=True,
                ) from exc
            except httpx.HTTPError as exc:
                raise FetchError(
                    url,
                    f"could not read {quote_data(current, 300)}: {type(exc).__name__}: {_quoted(exc)}",
                    transient=True,
                ) from exc
        raise AssertionError("unreachable")

    def _handle(self, url: str, current: str, response: httpx.Response, deadline: float) -> RawPage | str:
        status = response.status_code
        if 300 <= status < 400 and status != 304:
            location = response.headers.get("Location")
            if not location:
                raise FetchError(url, f"HTTP {status} redirect without a Location header", status=status)
            return location
        if status >= 400:
            reason = response.reason_phrase or ""
            transient = status in (408, 425, 429) or status >= 500
            shown = f" (reason given by the server: {quote_data(reason, 80)})" if reason else ""
            raise FetchError(url, f"HTTP {status} for {current}{shown}", status=status, transient=transient)
        content_type = response.headers.get("Content-Type", "")
        mime = content_type.split(";", 1)[0].strip().lower()
        if mime and not _is_text_type(mime):
            raise FetchError(
                url,
                f"unsupported content type {mime!r}: web_visit reads HTML and text pages only",
                status=status,
            )
        body, truncated = self._read_capped(url, response, deadline)
        head = body[:1024]
        if head.startswith(_BINARY_MAGIC) or b"\x00" in head:
            raise FetchError(
                url,
                f"binary content (declared {mime or 'no content type'}): not a readable page",
                status=status,
            )
        return RawPage(
            url=url,
            final_url=str(response.url),
            status=status,
            mime=mime or "text/html",
            charset=response.charset_encoding,
            body=body,
            truncated=truncated,
        )

    def _decoder(self, url: str, response: httpx.Response) -> _Decoder | None:
        header = response.headers.get("Content-Encoding", "")
        encodings = [
            e.strip().lower() for e in header.split(",") if e.strip() and e.strip().lower() != "identity"
        ]
        if not encodings:
            return None
        if len(encodings) > MAX_ENCODINGS:
            raise FetchError(
                url, f"refused: {len(encodings)} content encodings (at most {MAX_ENCODINGS} are read)"
            )
        unknown = [e for e in encodings if e not in ("gzip", "x-gzip", "deflate")]
        if unknown:
            raise FetchError(url, f"unsupported content encoding {quote_data(unknown[0], 40)}")
        return _Decoder(encodings, self.limits.max_bytes)

    def _read_capped(self, url: str, response: httpx.Response, deadline: float) -> tuple[bytes, bool]:
        """The decoded body, at most ``max_bytes`` of it, and whether it was cut."""
        cap = self.limits.max_bytes
        decoder = self._decoder(url, response)
        chunks: list[bytes] = []
        size = 0
        for raw in response.iter_raw():  # as the bytes arrive: the deadline is checked every read
            if time.monotonic() > deadline:
                raise FetchError(
                    url,
                    f"gave up after {self.limits.total_timeout_s:g} s reading the page (total time limit)",
                    transient=True,
                )
            try:
                chunk = decoder.feed(raw) if decoder is not None else raw
            except zlib.error as exc:
                raise FetchError(url, f"the page's compressed body is corrupt ({exc})") from None
            if size + len(chunk) >= cap or (decoder is not None and decoder.exhausted):
                chunks.append(chunk[: cap - size])
                return b"".join(chunks), True
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks), False

    # -- page reading -------------------------------------------------------------------------------------------------

    def read(self, url: str) -> FetchedPage:
        """The page at ``url`` as text (main text for HTML); failures come back as ``FetchedPage.error``."""
        try:
            raw = self.fetch(url)
        except FetchError as exc:
            return FetchedPage(url=url, status=exc.status, error=str(exc), transient=exc.transient)
        return page_from_raw(raw)

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> HttpFetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def page_from_raw(raw: RawPage) -> FetchedPage:
    """Decode and extract: HTML becomes title + structured facts + main text, other text types stay as they are."""
    is_html = raw.mime in HTML_TYPES
    text = decode_body(raw.body, raw.charset, html=is_html)
    if is_html:
        extracted = extract_html(text, url=raw.final_url)
        title, body = extracted.title, extracted.full_text()
    else:
        title, body = "", "\n".join(line.rstrip() for line in text.strip().splitlines())
    return FetchedPage(
        url=raw.url,
        final_url=raw.final_url,
        status=raw.status,
        content_type=raw.mime,
        title=title,
        text=body,
        truncated=raw.truncated,
    )
