"""The header fields the live MDA matches its recipes against: Python's email parser's fields,
unfolded (RFC 5322 2.2.3), read without the parser's cost (a property test compares them)."""

from __future__ import annotations

from email.parser import BytesHeaderParser
from email.policy import compat32

from hypothesis import given
from hypothesis import strategies as st

from mailsim.live.spool import _headers

_NAME = st.sampled_from(["Subject", "From", "To", "X-Spam", "List-Id", "a-b_c", "", "Sub ject"])
_VALUE = st.text(alphabet="ab [].:-\t", max_size=12)
_LINE = st.one_of(
    st.builds(lambda n, v: f"{n}:{v}", _NAME, _VALUE),  # a field
    st.builds(lambda v: " " + v, _VALUE),  # a continuation
    st.builds(lambda v: "\t" + v, _VALUE),
    st.builds(lambda v: "From " + v, _VALUE),  # an envelope line in the wrong place
    st.builds(lambda v: "no colon " + v.replace(":", ""), _VALUE),  # not a header line
    st.just(""),  # the end of the header section
)


def reference(message: bytes) -> tuple[tuple[str, str], ...]:
    parsed = BytesHeaderParser(policy=compat32).parsebytes(message)
    return tuple((name, str(value).replace("\r\n", "")) for name, value in parsed.items())


@given(first=_NAME, lines=st.lists(_LINE, max_size=8), body=_VALUE)
def test_fields_are_the_email_parsers_unfolded(first: str, lines: list[str], body: str) -> None:
    header = "\r\n".join([f"{first}: x", *lines])
    message = f"{header}\r\n\r\n{body}\r\n".encode()
    assert _headers(message) == reference(message)


def test_unfolding_and_utf8() -> None:
    message = "Subject: [SPAM]\r\n levne\r\n\thodinky\r\nTo: jura@firma1.intr\r\n\r\nbody"
    assert _headers(message.encode()) == (
        ("Subject", "[SPAM] levne\thodinky"),
        ("To", "jura@firma1.intr"),
    )
    assert _headers("Subject: café\r\n\r\n".encode()) == (("Subject", "café"),)
