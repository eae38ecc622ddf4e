"""The hand-written HTTP/1.1 request reader, checked against h11 and RFC 9112."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import anyio
import h11
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anylambda.core.http1 import HttpError, RequestHead, RequestReader, parse_head, response_head

CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
TCHAR = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
#: Header names given their own strategies (or, for h11, changing the exchange).
SPECIAL = {"host", "content-length", "transfer-encoding", "connection", "expect", "upgrade"}


class Peer:
    """A connection's far end: hands out ``pieces`` one by one, then ``b""``, and records sends."""

    def __init__(self, pieces: Sequence[bytes]) -> None:
        self.pieces = list(pieces)
        self.sent: list[bytes] = []
        self.receives = 0

    async def receive(self) -> bytes:
        self.receives += 1
        return self.pieces.pop(0) if self.pieces else b""

    async def send(self, data: bytes) -> None:
        self.sent.append(data)

    def reader(self, max_head: int = 16384) -> RequestReader:
        return RequestReader(self.receive, self.send, max_head=max_head)


def reader_of(*pieces: bytes, max_head: int = 16384) -> RequestReader:
    return Peer(pieces).reader(max_head)


async def refusal(*pieces: bytes, max_head: int = 16384) -> HttpError:
    """The error reading ``pieces`` as one request (head and body) raises."""
    with pytest.raises(HttpError) as caught:
        await read_request(reader_of(*pieces, max_head=max_head))
    return caught.value


async def read_request(reader: RequestReader) -> None:
    head = await reader.head()
    assert head is not None
    await reader.body(head)


async def only_head(data: bytes) -> RequestHead:
    head = await reader_of(data).head()
    assert head is not None
    return head


# -- The h11 oracle -------------------------------------------------------------------------

token = st.text(TCHAR, min_size=1, max_size=12).map(str.encode)
vchar = st.sampled_from([bytes([b]) for b in [*range(0x21, 0x7F), *range(0x80, 0x100)]])
word = st.lists(vchar, min_size=1, max_size=8).map(b"".join)
inner_space = st.lists(st.sampled_from([b" ", b"\t"]), min_size=1, max_size=3).map(b"".join)
ows = st.lists(st.sampled_from([b" ", b"\t"]), max_size=3).map(b"".join)


@st.composite
def field_values(draw: st.DrawFn) -> bytes:
    """A field value (maybe empty, with obs-text and inner whitespace), without OWS."""
    words = draw(st.lists(word, max_size=4))
    value = words[0] if words else b""
    for more in words[1:]:
        value += draw(inner_space) + more
    return value


@st.composite
def chunk_extensions(draw: st.DrawFn) -> bytes:
    extensions = b""
    for name in draw(st.lists(token, max_size=2)):
        value = draw(st.one_of(st.none(), token, st.text("abc \t!=;\\", max_size=6)))
        if value is None:
            extensions += b";" + name
        elif isinstance(value, bytes):
            extensions += b";%s=%s" % (name, value)
        else:
            quoted = value.replace("\\", "\\\\").encode()
            extensions += b';%s="%s"' % (name, quoted)
    return extensions


@st.composite
def hex_sizes(draw: st.DrawFn, size: int) -> bytes:
    digits = b"%x" % size
    if draw(st.booleans()):
        digits = digits.upper()
    return b"0" * draw(st.integers(0, 2)) + digits


@st.composite
def requests(draw: st.DrawFn, last: bool) -> bytes:
    """One valid request; unless ``last``, HTTP/1.1 leaving the connection open (as h11 needs)."""
    version = draw(st.sampled_from([b"1.1", b"1.0"])) if last else b"1.1"
    method = draw(token)
    target = b"/" + draw(st.text(TCHAR + "/?=:@", max_size=20)).encode()
    headers = [
        (name, draw(field_values()))
        for name in draw(st.lists(token, max_size=5))
        if name.decode().lower() not in SPECIAL
    ]
    if version == b"1.1" or draw(st.booleans()):
        headers.append((draw(st.sampled_from([b"Host", b"host", b"HOST"])), b"example.com"))
    options = [b"keep-alive", b"Upgrade", b"x-custom"] + ([b"close"] if last else [])
    connection = draw(st.lists(st.sampled_from(options), max_size=3))
    if connection:
        separator = draw(st.sampled_from([b",", b", ", b" ,\t"]))
        headers.append((b"Connection", separator.join(connection)))
    body = draw(st.binary(max_size=200))
    framing = draw(st.sampled_from(["none", "length", "chunked"]))
    if framing == "none":
        body = b""
    elif framing == "length":
        headers.append((b"Content-Length", b"%d" % len(body)))
    else:
        # (h11 lowercases this value, so other spellings are left to example tests.)
        headers.append(
            (draw(st.sampled_from([b"Transfer-Encoding", b"TRANSFER-ENCODING"])), b"chunked")
        )
    order = draw(st.permutations(range(len(headers))))
    data = b"%s %s HTTP/%s\r\n" % (method, target, version)
    for index in order:
        name, value = headers[index]
        data += b"%s:%s%s%s\r\n" % (name, draw(ows), value, draw(ows))
    data += b"\r\n"
    if framing != "chunked":
        return data + body
    while body:
        size = draw(st.integers(1, len(body)))
        data += b"%s%s\r\n%s\r\n" % (draw(hex_sizes(size)), draw(chunk_extensions()), body[:size])
        body = body[size:]
    data += b"%s%s\r\n" % (draw(hex_sizes(0)), draw(chunk_extensions()))
    for name in draw(st.lists(token, max_size=2)):
        data += b"%s:%s%s\r\n" % (name, draw(ows), draw(field_values()))
    return data + b"\r\n"


@st.composite
def connections(draw: st.DrawFn) -> tuple[bytes, list[bytes]]:
    """Pipelined requests, and the pieces the connection delivers them in."""
    count = draw(st.integers(1, 3))
    data = b"".join(draw(requests(last=i == count - 1)) for i in range(count))
    cuts = sorted(draw(st.sets(st.integers(1, max(1, len(data) - 1)), max_size=8)))
    bounds = [0, *cuts, len(data)]
    return data, [data[start:end] for start, end in itertools.pairwise(bounds)]


Exchange = tuple[bytes, bytes, bytes, list[tuple[bytes, bytes]], bool, bytes]


def h11_reads(data: bytes) -> list[Exchange]:
    """What h11, as a server, reads off ``data``: each request, keep-alive, and its body."""
    connection = h11.Connection(h11.SERVER)
    connection.receive_data(data)
    connection.receive_data(b"")
    exchanges: list[Exchange] = []
    while True:
        event = connection.next_event()
        if isinstance(event, h11.ConnectionClosed):
            return exchanges
        assert isinstance(event, h11.Request)
        body = b""
        while not isinstance(part := connection.next_event(), h11.EndOfMessage):
            assert isinstance(part, h11.Data)
            body += part.data
        connection.send(h11.Response(status_code=404, headers=[(b"content-length", b"0")]))
        connection.send(h11.EndOfMessage())
        keep_alive = connection.our_state is not h11.MUST_CLOSE
        headers = list(event.headers)  # names lowercased (raw_items() would keep their case)
        exchanges.append(
            (event.method, event.target, event.http_version, headers, keep_alive, body)
        )
        if not keep_alive:
            return exchanges
        connection.start_next_cycle()


async def http1_reads(pieces: list[bytes], whole: bool) -> list[Exchange]:
    """What RequestReader reads off ``pieces``, bodies by ``body()`` or by ``chunks()``."""
    reader = reader_of(*pieces)
    exchanges: list[Exchange] = []
    while (head := await reader.head()) is not None:
        if whole:
            body, size = await reader.body(head)
            assert size == len(body)
        else:
            body = b"".join([piece async for piece in reader.chunks(head)])
        assert head.has_body == (head.chunked or bool(body))
        exchanges.append(
            (head.method, head.target, head.version, head.headers, head.keep_alive, body)
        )
    return exchanges


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(connections(), st.booleans())
def test_reads_what_h11_reads(connection: tuple[bytes, list[bytes]], whole: bool) -> None:
    data, pieces = connection
    expected = h11_reads(data)
    got = anyio.run(http1_reads, pieces, whole)
    # h11 never keeps an HTTP/1.0 connection alive, even asked with Connection: keep-alive.
    got = [(*exchange[:4], exchange[4] and exchange[2] == b"1.1", exchange[5]) for exchange in got]
    assert got == expected


# -- Refusals -------------------------------------------------------------------------------

HOST = b"Host: h\r\n"


@pytest.mark.parametrize(
    ("request_line", "status"),
    [
        (b"GET /", 400),
        (b"GET  / HTTP/1.1", 400),
        (b"GET / HTTP/1.1 ", 400),
        (b"G(T / HTTP/1.1", 400),
        (b"GET / http/1.1", 400),
        (b"GET / HTTP/1.10", 400),
        (b"GET /\x7f HTTP/1.1", 400),
        (b"GET / HTTP/2.0", 505),
        (b"GET / HTTP/1.2", 505),
        (b"GET / HTTP/0.9", 505),
    ],
)
async def test_refuses_request_line(request_line: bytes, status: int) -> None:
    error = await refusal(request_line + b"\r\n" + HOST + b"\r\n")
    assert error.status == status


@pytest.mark.parametrize(
    "header",
    [
        b"NoColon",
        b"Name : value",
        b"Na me: value",
        b": value",
        b" folded",
        b"\tfolded",
        b"X: a\x00b",
        b"X: a\x7fb",
        b"X: a\x1bb",
        b"X: a\rb",
        b"X: a\nb",
    ],
)
async def test_refuses_malformed_header_lines(header: bytes) -> None:
    error = await refusal(b"GET / HTTP/1.1\r\nHost: h\r\nX: y\r\n" + header + b"\r\n\r\n")
    assert error.status == 400


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        (b"Content-Length: 3\r\nContent-Length: 4\r\n", 400),
        (b"Content-Length: 3, 3\r\n", 400),
        (b"Content-Length: +3\r\n", 400),
        (b"Content-Length: 0x3\r\n", 400),
        (b"Content-Length: -1\r\n", 400),
        (b"Content-Length: \r\n", 400),
        (b"Content-Length: 1234567890123456789\r\n", 400),
        (b"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n", 400),
        (b"Transfer-Encoding: chunked\r\nContent-Length: 3\r\n", 400),
        (b"Transfer-Encoding: gzip\r\n", 501),
        (b"Transfer-Encoding: gzip, chunked\r\n", 501),
        (b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", 501),
    ],
)
async def test_refuses_ambiguous_framing(headers: bytes, status: int) -> None:
    error = await refusal(b"POST / HTTP/1.1\r\nHost: h\r\n" + headers + b"\r\nabc")
    assert error.status == status


async def test_takes_identical_content_lengths() -> None:
    reader = reader_of(
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\ncontent-length: 3\r\n\r\nabc"
    )
    head = await reader.head()
    assert head is not None
    assert await reader.body(head) == (b"abc", 3)


@pytest.mark.parametrize(
    "head",
    [
        b"GET / HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n",
        b"GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n",
    ],
)
async def test_refuses_missing_or_repeated_host(head: bytes) -> None:
    assert (await refusal(head)).status == 400


async def test_takes_http10_without_host() -> None:
    head = await only_head(b"GET / HTTP/1.0\r\n\r\n")
    assert (head.version, head.headers) == (b"1.0", [])


async def test_refuses_head_over_max_head_that_never_ends() -> None:
    peer = Peer([b"GET / HTTP/1.1\r\nX: " + b"a" * 100] + [b"a" * 100] * 1000)
    with pytest.raises(HttpError) as caught:
        await peer.reader(max_head=1000).head()
    assert caught.value.status == 431
    assert peer.receives < 20


async def test_refuses_head_over_max_head_that_ends_late() -> None:
    data = b"GET / HTTP/1.1\r\nHost: h\r\nX: " + b"a" * 1100 + b"\r\n\r\n"
    assert (await refusal(data, max_head=1000)).status == 431
    assert (await refusal(data[:990], data[990:], max_head=1000)).status == 431


async def test_takes_head_of_exactly_max_head() -> None:
    data = b"GET / HTTP/1.1\r\nHost: h\r\nX: " + b"a" * 100
    head = await reader_of(data + b"\r\n\r\n", max_head=len(data)).head()
    assert head is not None


@pytest.mark.parametrize(
    "data",
    [
        b"G",
        b"GET / HTTP/1.1\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\n\r",
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nabc",
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nab",
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n",
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: y\r\n",
    ],
)
async def test_refuses_connection_closed_mid_request(data: bytes) -> None:
    assert (await refusal(data)).status == 400


@pytest.mark.parametrize("pieces", [[], [b"\r\n"], [b"\r\n", b"\r\n\r\n"]])
async def test_clean_end_before_a_request_is_none(pieces: list[bytes]) -> None:
    assert await reader_of(*pieces).head() is None


@pytest.mark.parametrize(
    "pieces",
    [
        [b"\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n"],
        [b"\r", b"\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n"],
    ],
)
async def test_ignores_leading_blank_lines(pieces: list[bytes]) -> None:
    head = await reader_of(*pieces).head()
    assert head is not None
    assert (head.method, head.target) == (b"GET", b"/")


CHUNKED = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"


@pytest.mark.parametrize(
    "body",
    [
        b"x\r\n",
        b"\r\n",
        b"-1\r\n",
        b" 2\r\nab\r\n0\r\n\r\n",
        b"0x2\r\nab\r\n0\r\n\r\n",
        b"12345678901234567\r\n",
        b"2;\r\nab\r\n0\r\n\r\n",
        b"2;a=\r\nab\r\n0\r\n\r\n",
        b'2;a="b\r\nab\r\n0\r\n\r\n',
        b"2;a\nb\r\nab\r\n0\r\n\r\n",
        b"2;a\x00\r\nab\r\n0\r\n\r\n",
        b"2\nab\r\n0\r\n\r\n",
        b"2\r\nabc\r\n0\r\n\r\n",
        b"2\r\nab0\r\n\r\n",
        b"2\r\nab\r\n0\r\nX: y\nZ: z\r\n\r\n",
        b"2\r\nab\r\n0\r\nnot a field\r\n\r\n",
    ],
)
async def test_refuses_malformed_chunks(body: bytes) -> None:
    assert (await refusal(CHUNKED + body)).status == 400
    assert (await refusal(CHUNKED, *[bytes([b]) for b in body])).status == 400


@pytest.mark.parametrize("terminated", [True, False])
async def test_refuses_long_chunk_line(terminated: bool) -> None:
    line = b"2;" + b"a" * 9000 + (b"\r\nab\r\n0\r\n\r\n" if terminated else b"")
    assert (await refusal(CHUNKED + line)).status == 400
    assert (await refusal(CHUNKED, line[:4000], line[4000:])).status == 400


async def test_takes_chunk_extensions_with_whitespace() -> None:
    reader = reader_of(
        CHUNKED.replace(b"chunked", b"Chunked")
        + b'2 ; a = "q \\" s" ;b\t\r\nab\r\n0;z=1\r\nT: v\r\n\r\n'
    )
    head = await reader.head()
    assert head is not None
    assert await reader.body(head) == (b"ab", 2)


# -- Keep-alive -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "connection", "keep_alive"),
    [
        (b"1.1", None, True),
        (b"1.1", b"close", False),
        (b"1.1", b"Close", False),
        (b"1.1", b"keep-alive, close", False),
        (b"1.1", b"keep-alive, Upgrade", True),
        (b"1.1", b"Upgrade,\tclose", False),
        (b"1.0", None, False),
        (b"1.0", b"keep-alive", True),
        (b"1.0", b"Keep-Alive", True),
        (b"1.0", b"Upgrade , keep-alive", True),
        (b"1.0", b"keep-alive, close", False),
        (b"1.0", b"close", False),
    ],
)
async def test_keep_alive(version: bytes, connection: bytes | None, keep_alive: bool) -> None:
    data = b"GET / HTTP/%s\r\nHost: h\r\n" % version
    if connection is not None:
        data += b"Connection: %s\r\n" % connection
    assert (await only_head(data + b"\r\n")).keep_alive is keep_alive


async def test_two_connection_headers_combine() -> None:
    data = b"GET / HTTP/1.0\r\nConnection: keep-alive\r\nConnection: Upgrade\r\n\r\n"
    assert (await only_head(data)).keep_alive is True
    data = b"GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nConnection: close\r\n\r\n"
    assert (await only_head(data)).keep_alive is False


async def test_http10_chunked_closes() -> None:
    data = b"POST / HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n"
    assert (await only_head(data)).keep_alive is False


# -- Expect: 100-continue -------------------------------------------------------------------

EXPECTING = b"POST / HTTP/%s\r\nHost: h\r\nExpect: 100-Continue\r\n%s\r\n"


@pytest.mark.parametrize("framing", [b"Content-Length: 6\r\n", b"Transfer-Encoding: chunked\r\n"])
@pytest.mark.parametrize("whole", [True, False])
async def test_continue_sent_once_when_body_not_buffered(framing: bytes, whole: bool) -> None:
    body = b"6\r\nabcdef\r\n0\r\n\r\n" if b"chunked" in framing else b"abcdef"
    peer = Peer([EXPECTING % (b"1.1", framing), body[:3], body[3:]])
    reader = peer.reader()
    head = await reader.head()
    assert head is not None
    assert head.expects_continue
    assert peer.sent == []
    if whole:
        assert await reader.body(head) == (b"abcdef", 6)
    else:
        assert b"".join([piece async for piece in reader.chunks(head)]) == b"abcdef"
    assert peer.sent == [CONTINUE]


@pytest.mark.parametrize("framing", [b"Content-Length: 6\r\n", b"Transfer-Encoding: chunked\r\n"])
async def test_no_continue_when_body_buffered(framing: bytes) -> None:
    body = b"6\r\nabcdef\r\n0\r\n\r\n" if b"chunked" in framing else b"abcdef"
    peer = Peer([EXPECTING % (b"1.1", framing) + body])
    reader = peer.reader()
    head = await reader.head()
    assert head is not None
    assert await reader.body(head) == (b"abcdef", 6)
    assert await reader.head() is None
    assert peer.sent == []


async def test_no_continue_for_http10() -> None:
    peer = Peer([EXPECTING % (b"1.0", b"Content-Length: 6\r\n"), b"abcdef"])
    reader = peer.reader()
    head = await reader.head()
    assert head is not None
    assert not head.expects_continue
    assert await reader.body(head) == (b"abcdef", 6)
    assert peer.sent == []


@pytest.mark.parametrize("framing", [b"", b"Content-Length: 0\r\n"])
async def test_no_continue_without_body(framing: bytes) -> None:
    peer = Peer([EXPECTING % (b"1.1", framing), b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"])
    reader = peer.reader()
    head = await reader.head()
    assert head is not None
    assert not head.has_body
    assert await reader.body(head) == (b"", 0)
    assert await reader.head() is not None
    assert peer.sent == []


# -- body(limit) ----------------------------------------------------------------------------

NEXT = b"GET /next HTTP/1.1\r\nHost: h\r\n\r\n"


@pytest.mark.parametrize(
    "request_",
    [
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n0123456789",
        CHUNKED + b"3\r\n012\r\n7;x=y\r\n3456789\r\n0\r\n\r\n",
    ],
)
@pytest.mark.parametrize("split", [False, True])
async def test_body_over_limit_is_read_and_dropped(request_: bytes, split: bool) -> None:
    data = request_ + NEXT
    pieces = [data[i : i + 5] for i in range(0, len(data), 5)] if split else [data]
    for limit, kept in [(10, b"0123456789"), (9, b""), (0, b"")]:
        reader = reader_of(*pieces)
        head = await reader.head()
        assert head is not None
        assert await reader.body(head, limit) == (kept, 10)
        following = await reader.head()
        assert following is not None
        assert following.target == b"/next"
        assert await reader.head() is None


async def test_skip_leaves_next_request() -> None:
    reader = reader_of(CHUNKED + b"3\r\nabc\r\n0\r\n\r\n" + NEXT)
    head = await reader.head()
    assert head is not None
    await reader.skip(head)
    following = await reader.head()
    assert following is not None
    assert following.target == b"/next"


# -- Heads and responses --------------------------------------------------------------------


def test_parse_head_fields() -> None:
    head = parse_head(
        b"PUT /a?b=c HTTP/1.1\r\nHOST: h\r\nX-Thing:\t a \t b\x80 \r\nEmpty:\r\nContent-Length: 07"
    )
    assert (head.method, head.target, head.version) == (b"PUT", b"/a?b=c", b"1.1")
    assert head.headers == [
        (b"host", b"h"),
        (b"x-thing", b"a \t b\x80"),
        (b"empty", b""),
        (b"content-length", b"07"),
    ]
    assert (head.content_length, head.chunked, head.has_body) == (7, False, True)
    assert head.header(b"x-thing") == b"a \t b\x80"
    assert head.header(b"missing") is None


def test_response_head() -> None:
    assert response_head(200, [(b"Content-Length", b"2"), (b"X-A", b"b")]) == (
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A: b\r\n\r\n"
    )
    assert response_head(413, []) == b"HTTP/1.1 413 Request Entity Too Large\r\n\r\n"
    assert response_head(202, [], b"Fine") == b"HTTP/1.1 202 Fine\r\n\r\n"
    assert response_head(599, []) == b"HTTP/1.1 599 \r\n\r\n"
