"""The loaders under Hypothesis: generated files (arbitrary bytes, broken UTF-8, broken front matter,
broken JSONL lines, hostile HTML) are written to a temporary directory and loaded for real.

Properties: loading never raises (nor hits the loaders' last-resort "unexpected problem" error, which
would hide a crash); a file that gives no article gives an error; every error is one line that names
its file; every article has non-empty text, and ids are unique.

`QA_FUZZ_EXAMPLES` sets the examples per property: ~50 in the default run, 1,000 in `make fuzz`.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from index.loaders import discover, load_file

EXAMPLES = int(os.environ.get("QA_FUZZ_EXAMPLES", "50"))
# No deadline: timing is not a property here (a hang would still show as a run that never ends).
fuzz = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,  # keep the work tree clean; a failure prints its example
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
SMALL_LIMIT = 5_000  # a small QA_MAX_ARTICLE_CHARS, so the size check is exercised too

SUFFIXES = [".txt", ".md", ".html", ".jsonl", ".pdf", ".docx"]


def check_loaded(path: Path, max_chars: int = SMALL_LIMIT) -> None:
    loaded = load_file(path, max_chars=max_chars)
    messages = [str(e) for e in loaded.errors + loaded.warnings]
    for message in messages:
        assert message.startswith(f"{path}:"), message
        assert "\n" not in message and "\r" not in message, message
        assert "unexpected problem" not in message, message
    if not loaded.articles:
        assert loaded.errors, f"{path}: no article and no error"
    ids = [a.id for a in loaded.articles]
    assert len(ids) == len(set(ids))
    for article in loaded.articles:
        assert article.text.strip() and article.text == article.text.strip()
        assert len(article.text) <= max_chars
        article.text.encode("utf-8")  # no lone surrogates: the store must be able to keep it
        article.title.encode("utf-8")
        assert article.url is None or article.url.startswith(("http://", "https://"))


def write(data: bytes, suffix: str) -> tuple[tempfile.TemporaryDirectory, Path]:
    folder = tempfile.TemporaryDirectory()
    path = Path(folder.name) / f"fuzz{suffix}"
    path.write_bytes(data)
    return folder, path


# --- strategies -----------------------------------------------------------------------------------

# Text that stresses the parsers: Markdown, YAML, HTML and JSON syntax, odd white space and line
# separators (U+2028/9, NEL, form feed), BOMs, NBSP, combining marks and astral characters.
SYNTAX = list("[]()<>!#*_`-=:{}|\\\"'&;/., \t\n\r") + [
    "\u2028",
    "\u2029",
    "\x85",
    "\x0c",
    "\ufeff",
    "\u00a0",
    "\u0301",
    "\U0001f600",
    "---",
    "```",
    "](",
    "](javascript:alert(1))",
    "&#xd800;",
    "&amp;",
    "<!--",
    "-->",
    "<script>",
    "</p>",
    "http://",
    "\x00",
]
text_pieces = st.one_of(st.sampled_from(SYNTAX), st.text(min_size=1, max_size=8))
wild_text = st.lists(text_pieces, max_size=40).map("".join)
encodings = st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-32", "latin-1"])


def encoded(text: str, encoding: str) -> bytes:
    return text.encode(encoding, "surrogatepass") if "utf" in encoding else text.encode(encoding, "replace")


@st.composite
def broken_utf8(draw) -> bytes:
    data = bytearray(draw(wild_text).encode("utf-8", "surrogatepass"))
    for _ in range(draw(st.integers(0, 4))):
        at = draw(st.integers(0, len(data)))
        data[at:at] = draw(
            st.sampled_from([b"\xff", b"\xc3", b"\xe2\x80", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\x80"])
        )
    return bytes(data)


yaml_values = st.one_of(
    wild_text,
    st.sampled_from(
        [
            "[a, b",
            "{x: 1",
            "&a [1, 2]",
            "*a",
            "2023-02-30",
            "2023-03-20",
            "!!python/object:os.system",
            "|",
            ">",
            "- x",
            "1" * 5000,
            "? ]",
        ]
    ),
)


@st.composite
def front_matter(draw) -> str:
    keys = st.sampled_from(["title", "date", "published", "source", "url", "tags", "a: b", "", "- x"])
    lines = [f"{draw(keys)}: {draw(yaml_values)}" for _ in range(draw(st.integers(0, 5)))]
    opening = draw(st.sampled_from(["---", "---  ", "+++", "{", "----"]))
    closing = draw(st.sampled_from(["---", "", "...", "}", "+++"]))
    return f"{opening}\n" + "\n".join(lines) + f"\n{closing}\n" + draw(wild_text)


json_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), wild_text)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(wild_text, inner, max_size=3),
    max_leaves=8,
)


@st.composite
def jsonl_line(draw) -> str:
    kind = draw(st.integers(0, 4))
    if kind == 0:  # a plausible record with hostile values
        record = {
            key: draw(st.one_of(wild_text, json_values))
            for key in draw(
                st.lists(st.sampled_from(["id", "title", "text", "published", "source", "url", "extra"]), unique=True)
            )
        }
        return json.dumps(record, ensure_ascii=draw(st.booleans()))
    if kind == 1:  # a good record, to check good lines survive next to bad ones
        return json.dumps(
            {"id": draw(st.text(min_size=1, max_size=6)), "title": "T", "text": draw(wild_text) + " words"}
        )
    if kind == 2:  # known killers: huge integers, deep nesting, lone surrogates, over-long text
        return draw(
            st.sampled_from(
                [
                    '{"id": 1, "title": "t", "text": "x", "n": ' + "9" * 5000 + "}",
                    "[" * 50_000 + "]" * 50_000,
                    '{"id": "a", "title": "t", "text": "lone \\ud800 surrogate"}',
                    '{"id": "\\udfff", "title": "t", "text": "ok"}',
                    json.dumps({"id": "big", "title": "t", "text": "word " * 2_000}),
                    '{"id": "n", "title": "t", "text": "NaN", "published": NaN}',
                ]
            )
        )
    if kind == 3:
        return json.dumps(draw(json_values))
    return draw(wild_text)


@st.composite
def hostile_html(draw) -> str:
    tags = [
        "p",
        "div",
        "article",
        "main",
        "script",
        "style",
        "li",
        "h1",
        "title",
        "time",
        "table",
        "td",
        "svg",
        "template",
        "a",
        "b",
    ]
    parts = [draw(st.sampled_from(["", "<!DOCTYPE html>", "<?xml version='1.0'?>", "\ufeff"]))]
    charset = draw(st.sampled_from(["", "utf-8", "ascii", "utf-16", "x-unknown", "latin-1", "shift_jis"]))
    if charset:
        parts.append(f'<meta charset="{charset}">')
    for _ in range(draw(st.integers(0, 12))):
        choice = draw(st.integers(0, 5))
        tag = draw(st.sampled_from(tags))
        if choice == 0:
            parts.append(f"<{tag}>")
        elif choice == 1:
            parts.append(f"</{tag}>")
        elif choice == 2:
            name = draw(st.sampled_from(["og:title", "article:published_time", "og:url", "og:site_name", "date"]))
            parts.append(f'<meta property="{name}" content="{draw(wild_text)}">')
        elif choice == 3:
            parts.append(
                f'<link rel="canonical" href="{draw(st.sampled_from(["javascript:alert(1)", "/rel", "http://[::1", "https://ok.example/a"]))}">'
            )
        elif choice == 4:
            parts.append(f'<time datetime="{draw(wild_text)}">')
        else:
            parts.append(draw(wild_text))
    if draw(st.booleans()):
        parts.append("<div>" * 2_000 + "deep" + "</div>" * 2_000)
    return "".join(parts)


# --- properties -----------------------------------------------------------------------------------


@fuzz
@given(data=st.binary(max_size=2_000), suffix=st.sampled_from(SUFFIXES))
def test_arbitrary_bytes(data, suffix):
    folder, path = write(data, suffix)
    with folder:
        check_loaded(path)


@fuzz
@given(data=broken_utf8(), suffix=st.sampled_from(SUFFIXES))
def test_broken_utf8(data, suffix):
    folder, path = write(data, suffix)
    with folder:
        check_loaded(path)


@fuzz
@given(text=st.one_of(front_matter(), wild_text), encoding=encodings, suffix=st.sampled_from([".md", ".txt"]))
def test_text_and_markdown_with_broken_front_matter(text, encoding, suffix):
    folder, path = write(encoded(text, encoding), suffix)
    with folder:
        check_loaded(path)


@st.composite
def text_with_headers(draw) -> str:
    keys = st.sampled_from(["Title", "Date", "Published", "Source", "URL", "url ", " title", "date"])
    values = st.one_of(
        wild_text,
        st.sampled_from(["javascript:alert(1)", "https://ok.example/a", "2023-03-20", "not a date", " " * 3000 + "x"]),
    )
    headers = [f"{draw(keys)}:{draw(values)}" for _ in range(draw(st.integers(0, 4)))]
    links = st.sampled_from(
        ['[click](https://x.example/a_(b) "t")', "![alt](p.png)", "[a](", "[](x)", "[x]( y )", "[[a](b)](c)"]
    )
    body = draw(st.lists(st.one_of(text_pieces, links), max_size=30).map("".join))
    prefix = draw(st.sampled_from(["", "date 2023-03-20 ", "date" + "\n" * 500, "Date: 2023-13-45\n"]))
    return "\n".join(headers) + draw(st.sampled_from(["\n", "\n\n", "\r\n"])) + prefix + body


@fuzz
@given(text=text_with_headers(), suffix=st.sampled_from([".txt", ".md"]))
def test_text_headers_and_link_syntax(text, suffix):
    folder, path = write(text.encode("utf-8", "surrogatepass"), suffix)
    with folder:
        check_loaded(path)


@fuzz
@given(
    lines=st.lists(jsonl_line(), max_size=8), newline=st.sampled_from(["\n", "\r\n", "\u2028\n"]), encoding=encodings
)
def test_broken_jsonl_lines(lines, newline, encoding):
    folder, path = write(encoded(newline.join(lines), encoding), ".jsonl")
    with folder:
        check_loaded(path)
        loaded = load_file(path, max_chars=SMALL_LIMIT)
        good = [line for line in lines if _is_good_record(line)]
        # Every good record loads (unless it repeats an id), and no line gives both an article and an error.
        if encoding not in ("latin-1", "utf-16-le") and "\x00" not in "".join(lines):  # else the file is refused whole
            assert len(loaded.articles) >= len({json.loads(line)["id"] for line in good})
        lines_with_errors = {e.line for e in loaded.errors if e.line is not None}
        written = encoded(newline.join(lines), encoding).decode(encoding, "surrogatepass")  # latin-1 replaced some
        assert len(loaded.articles) + len(lines_with_errors) <= max(1, len([x for x in written.split("\n") if x.strip()]))


def _is_good_record(line: str) -> bool:
    try:
        record = json.loads(line)
    except (ValueError, RecursionError):
        return False
    return (
        isinstance(record, dict)
        and set(record) == {"id", "title", "text"}
        and all(isinstance(v, str) and v.strip() for v in record.values())
        and any(ch.isalnum() for ch in record["text"])
        and not any("\x00" in v or any(0xD800 <= ord(c) <= 0xDFFF for c in v) for v in record.values())
        and len(record["text"]) <= SMALL_LIMIT
        and "\n" not in line
    )


@fuzz
@given(html=hostile_html(), encoding=encodings)
def test_hostile_html(html, encoding):
    folder, path = write(encoded(html, encoding), ".html")
    with folder:
        check_loaded(path)


@fuzz
@given(
    files=st.lists(
        st.tuples(st.binary(max_size=300) | broken_utf8(), st.sampled_from(SUFFIXES + [".odt", ""])), max_size=6
    )
)
def test_discover_then_load_a_folder(files):
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        for i, (data, suffix) in enumerate(files):
            sub = root / ("sub" if i % 2 else "") / f"f{i}{suffix}"
            sub.parent.mkdir(exist_ok=True)
            sub.write_bytes(data)
        found, errors = discover([root, root / "missing.txt"])
        assert [str(e) for e in errors] == [f"{root / 'missing.txt'}: no such file or directory"]
        assert len(found) == sum(1 for _, suffix in files if suffix in SUFFIXES)
        ids = []
        for path in found:
            check_loaded(path)
            ids.extend(a.id for a in load_file(path).articles if path.suffix != ".jsonl")
        assert len(ids) == len(set(ids))
