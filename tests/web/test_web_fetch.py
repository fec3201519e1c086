"""Page fetching against a real local HTTP server: every failure is bounded and explained, never a hang."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from web_http import LocalHTTPServer, send

from sandbox.web import FetchLimits, HttpFetcher, WebTools
from sandbox.web.fetch import decode_body

FAST = FetchLimits(
    timeout_s=0.5, total_timeout_s=3.0, max_bytes=1_000_000, max_redirects=4, allow_private=True
)  # the server is local: opt in
PRODUCT_HTML = """<html><head><title>Acme Kettle K2 | Acme Shop</title></head><body>
<nav><a href="/">Home</a> <a href="/cart">Cart</a> <a href="/login">Sign in</a></nav>
<main><h1>Acme Kettle K2</h1>
<p>The Acme Kettle K2 boils 1.7 litres of water in under four minutes and switches off automatically.</p>
<p>Price: $49.99. Free shipping on orders over $35.</p>
<table><tr><th>Capacity</th><td>1.7 L</td></tr><tr><th>Power</th><td>2200 W</td></tr></table>
</main><script>var tracking = function() { return 1; };</script><style>.x { color: red; }</style>
<footer>Copyright Acme Corp. Terms of service.</footer></body></html>"""


@pytest.fixture
def fetcher() -> Iterator[HttpFetcher]:
    with HttpFetcher(FAST, sleep=lambda _s: None) as instance:
        yield instance


def test_html_page_is_read_and_extracted(http_server: LocalHTTPServer, fetcher: HttpFetcher) -> None:
    http_server.add("/kettle", lambda h: send(h, 200, PRODUCT_HTML))
    page = fetcher.read(f"{http_server.url}/kettle")
    assert page.error is None
    assert page.status == 200 and page.content_type == "text/html"
    assert page.title == "Acme Kettle K2"  # the heading, confirmed by <title>, without the shop name
    assert "Price: $49.99" in page.text
    assert "2200 W" in page.text
    for absent in ("tracking", "color: red", "Sign in", "Copyright Acme"):
        assert absent not in page.text


def test_404_is_a_clear_permanent_error(http_server: LocalHTTPServer, fetcher: HttpFetcher) -> None:
    page = fetcher.read(f"{http_server.url}/missing")
    assert page.status == 404
    assert page.error is not None and "HTTP 404" in page.error and "/missing" in page.error
    assert page.transient is False


def test_server_error_is_transient_after_one_retry(
    http_server: LocalHTTPServer, fetcher: HttpFetcher
) -> None:
    http_server.add("/boom", lambda h: send(h, 503, "overloaded"))
    page = fetcher.read(f"{http_server.url}/boom")
    assert page.error is not None and "HTTP 503" in page.error
    assert page.transient is True
    assert len([r for r in http_server.requests if r.path == "/boom"]) == FAST.retry.max_attempts


def test_timeout_gives_an_error_not_a_hang(http_server: LocalHTTPServer, fetcher: HttpFetcher) -> None:
    released = threading.Event()

    def slow(handler):
        released.wait(5)  # far past the 0.5 s read timeout; released at the end of the test
        send(handler, 200, "late")

    http_server.add("/slow", slow)
    try:
        page = fetcher.read(f"{http_server.url}/slow")
    finally:
        released.set()
    assert page.error is not None and "timed out after 0.5 s" in page.error
    assert page.transient is True


def test_trickling_server_hits_the_total_deadline(http_server: LocalHTTPServer) -> None:
    stop = threading.Event()

    def trickle(handler):
        handler.send_response(200)
        handler.send_header("Content-Type", "text/html")
        handler.send_header("Content-Length", "1000")
        handler.end_headers()
        for _ in range(1000):  # one byte every 0.05 s: each read is quick, the whole body would take 50 s
            if stop.is_set():
                return
            handler.wfile.write(b"x")
            handler.wfile.flush()
            time.sleep(0.05)

    http_server.add("/trickle", trickle)
    limits = FetchLimits(timeout_s=0.5, total_timeout_s=1.0, max_bytes=1_000_000, allow_private=True)
    try:
        with HttpFetcher(limits) as fetcher:
            page = fetcher.read(f"{http_server.url}/trickle")
    finally:
        stop.set()
    assert page.error is not None and "total time limit" in page.error


def test_50_mb_body_is_capped_while_streaming(http_server: LocalHTTPServer) -> None:
    total = 50 * 1024 * 1024
    sent = {"bytes": 0}
    finished = threading.Event()
    paragraph = b"<p>Acme spec sheet: capacity 1.7 L, power 2200 W, weight 1.1 kg.</p>\n"
    chunk = b"<html><head><title>Huge page</title></head><body>" + paragraph * 900

    def huge(handler):
        try:
            handler.send_response(200)
            handler.send_header("Content-Type", "text/html; charset=utf-8")
            handler.send_header("Content-Length", str(total))
            handler.end_headers()
            while sent["bytes"] < total:
                piece = chunk[: total - sent["bytes"]]
                handler.wfile.write(piece)
                sent["bytes"] += len(piece)
        finally:
            finished.set()

    http_server.add("/huge", huge)
    limits = FetchLimits(timeout_s=2.0, total_timeout_s=10.0, max_bytes=256 * 1024, allow_private=True)
    with HttpFetcher(limits) as fetcher:
        raw = fetcher.fetch(f"{http_server.url}/huge")
        assert len(raw.body) == limits.max_bytes and raw.truncated
        page = fetcher.read(f"{http_server.url}/huge")
    assert page.error is None and page.truncated
    assert "capacity 1.7 L" in page.text
    assert finished.wait(10), "server never noticed the client hanging up"
    # The client stopped reading at the cap and closed the connection; the server could only push what fits in
    # the socket buffers, far from the 50 MB it wanted to send.
    assert sent["bytes"] < total // 4


@pytest.mark.parametrize(
    ("content_type", "body", "expected"),
    [
        ("image/png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 200, "unsupported content type 'image/png'"),
        (
            "application/octet-stream",
            b"\x00\x01\x02" * 100,
            "unsupported content type 'application/octet-stream'",
        ),
        ("application/pdf", b"%PDF-1.7\n" + b"\x00" * 100, "unsupported content type 'application/pdf'"),
        ("text/html", b"%PDF-1.7 lying about its type\n" + b"\x00" * 100, "binary content"),
        ("", b"GIF89a" + b"\x00" * 100, "binary content"),
    ],
)
def test_binary_content_is_refused(
    http_server: LocalHTTPServer, fetcher: HttpFetcher, content_type: str, body: bytes, expected: str
) -> None:
    http_server.add("/file", lambda h: send(h, 200, body, content_type))
    page = fetcher.read(f"{http_server.url}/file")
    assert page.error is not None and expected in page.error
    assert page.text == ""


def test_redirects_are_followed(http_server: LocalHTTPServer, fetcher: HttpFetcher) -> None:
    http_server.add("/old", lambda h: send(h, 301, "", headers={"Location": "/new"}))
    http_server.add("/new", lambda h: send(h, 200, PRODUCT_HTML))
    page = fetcher.read(f"{http_server.url}/old")
    assert page.error is None
    assert page.final_url == f"{http_server.url}/new"
    assert "Price: $49.99" in page.text


def test_redirect_loop_is_detected(http_server: LocalHTTPServer, fetcher: HttpFetcher) -> None:
    http_server.add("/a", lambda h: send(h, 302, "", headers={"Location": "/b"}))
    http_server.add("/b", lambda h: send(h, 302, "", headers={"Location": f"{http_server.url}/a"}))
    page = fetcher.read(f"{http_server.url}/a")
    assert page.error is not None and page.error.startswith("redirect loop:")
    assert page.error.count("/a") == 2 and "/b" in page.error
    assert len(http_server.requests) == 2  # noticed on the way back to /a, without fetching it again


def test_redirect_chain_is_bounded(http_server: LocalHTTPServer, fetcher: HttpFetcher) -> None:
    for i in range(20):
        http_server.add(f"/hop{i}", lambda h, i=i: send(h, 302, "", headers={"Location": f"/hop{i + 1}"}))
    page = fetcher.read(f"{http_server.url}/hop0")
    assert page.error is not None and "too many redirects (more than 4)" in page.error
    assert len(http_server.requests) == FAST.max_redirects + 1


def test_non_http_urls_are_refused(fetcher: HttpFetcher) -> None:
    for url in ("file:///etc/passwd", "ftp://example.com/x", "not a url"):
        page = fetcher.read(url)
        assert page.error is not None and "only http:// and https://" in page.error


def test_connection_refused_is_an_error(fetcher: HttpFetcher) -> None:
    server = LocalHTTPServer().start()
    url = f"{server.url}/gone"
    server.stop()  # nothing listens on that port any more
    page = fetcher.read(url)
    assert page.error is not None and "could not read" in page.error and page.transient


@pytest.mark.parametrize(
    ("content_type", "text", "encoding"),
    [
        ("text/html; charset=windows-1251", "Цена: 1 999 руб. Чайник стальной", "windows-1251"),
        ("text/html; charset=ISO-8859-1", "Café crème, prix: 12,50 EUR", "iso-8859-1"),
        ("text/html", "Preis: 12,50 \u20ac f\u00fcr den Wasserkocher", "cp1252"),  # no charset anywhere
    ],
)
def test_non_utf8_charsets_are_decoded(
    http_server: LocalHTTPServer, fetcher: HttpFetcher, content_type: str, text: str, encoding: str
) -> None:
    html = f"<html><head><title>t</title></head><body><p>{text}</p><p>{text}</p></body></html>"
    http_server.add("/page", lambda h: send(h, 200, html.encode(encoding), content_type))
    page = fetcher.read(f"{http_server.url}/page")
    assert page.error is None
    assert text in page.text


def test_meta_charset_is_honoured(http_server: LocalHTTPServer, fetcher: HttpFetcher) -> None:
    text = "価格: 3,980円 電気ケトル"
    html = (
        f'<html><head><meta charset="shift_jis"><title>ケトル</title></head><body><p>{text}</p></body></html>'
    )
    http_server.add("/sjis", lambda h: send(h, 200, html.encode("shift_jis"), "text/html"))
    page = fetcher.read(f"{http_server.url}/sjis")
    assert page.error is None
    assert text in page.text and page.title == "ケトル"


def test_plain_text_is_returned_as_is(http_server: LocalHTTPServer, fetcher: HttpFetcher) -> None:
    http_server.add(
        "/notes.txt", lambda h: send(h, 200, "line one\nline two: 42 W\n", "text/plain; charset=utf-8")
    )
    page = fetcher.read(f"{http_server.url}/notes.txt")
    assert page.error is None and page.text == "line one\nline two: 42 W"


def test_utf8_cut_by_the_cap_decodes_cleanly() -> None:
    body = ("é" * 10).encode("utf-8")[:-1]  # the last character lost its second byte
    assert decode_body(body, None, html=False) == "é" * 9


def test_web_visit_turns_fetch_failures_into_error_results(http_server: LocalHTTPServer) -> None:
    http_server.add("/kettle", lambda h: send(h, 200, PRODUCT_HTML))
    tools = WebTools(None, [HttpFetcher(FAST)], mode="live")
    results = tools.web_visit([f"{http_server.url}/kettle", f"{http_server.url}/missing", "ftp://x"], "price")
    assert [r.error is None for r in results] == [True, False, False]
    assert "HTTP 404" in results[1].error
    assert any("$49.99" in passage for passage in results[0].evidence)
    tools.close()
