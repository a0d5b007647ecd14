"""Loaders on real files: metadata, text, ids, and every kind of bad input."""

from __future__ import annotations

import json

import pytest
from conftest import SAMPLE

from index.loaders import discover, file_article_id, load_file


def only_article(path):
    loaded = load_file(path)
    assert loaded.errors == []
    assert len(loaded.articles) == 1
    return loaded.articles[0]


def test_sample_article_date_prefix_becomes_metadata():
    article = only_article(SAMPLE)
    assert article.published == "2023-03-20"
    assert article.text.startswith("China's President Xi Jinping has arrived in Moscow")
    assert "date 2023" not in article.text
    assert article.title.startswith("China's President Xi Jinping has arrived in Moscow")
    assert article.source == SAMPLE.name  # no source given: the file name
    assert article.path == str(SAMPLE.resolve())
    assert article.url is None


def test_text_header_lines(tmp_path):
    path = tmp_path / "story.txt"
    path.write_text("Title: Talks in Moscow\nDate: March 21, 2023\nURL: https://example.org/a\n\nXi met Putin.\n")
    article = only_article(path)
    assert (article.title, article.published, article.url) == ("Talks in Moscow", "2023-03-21", "https://example.org/a")
    assert article.text == "Xi met Putin."


def test_markdown_front_matter_and_heading(tmp_path):
    with_meta = tmp_path / "a.md"
    with_meta.write_text("---\ntitle: Front matter title\ndate: 2023-03-22\nsource: Wire\n---\n# Heading\n\nBody text.\n")
    article = only_article(with_meta)
    assert (article.title, article.published, article.source) == ("Front matter title", "2023-03-22", "Wire")
    assert article.text == "# Heading\n\nBody text."
    plain = tmp_path / "b.md"
    plain.write_text("# Only a heading\n\nBody.\n")
    assert only_article(plain).title == "Only a heading"


def test_html_metadata_and_body_text(tmp_path):
    path = tmp_path / "page.html"
    path.write_text(
        """<html><head><title>Site | Xi in Moscow</title>
        <meta property="og:title" content="Xi arrives in Moscow">
        <meta property="article:published_time" content="2023-03-20T09:30:00Z">
        <meta property="og:site_name" content="Example News">
        <link rel="canonical" href="https://news.example/xi">
        <script>var tracking = "do not index";</script><style>p{}</style></head>
        <body><nav><a href="/">Home</a></nav>
        <article><h1>Xi arrives</h1><p>Kremlin spokesman <a href="/p">Dmitry Peskov</a>'s remarks
        came on <b>Monday</b>.</p><ul><li><p>Nested point.</p></li></ul></article>
        <footer>Copyright</footer></body></html>"""
    )
    article = only_article(path)
    assert article.title == "Xi arrives in Moscow"
    assert article.published == "2023-03-20"
    assert article.url == "https://news.example/xi"
    assert article.source == "Example News"
    assert article.text == "Xi arrives\n\nKremlin spokesman Dmitry Peskov's remarks came on Monday.\n\nNested point."


def test_jsonl_good_lines_load_and_bad_lines_are_named(tmp_path):
    path = tmp_path / "feed.jsonl"
    lines = [
        {"id": "a1", "title": "One", "text": "First article.", "published": "2023-03-20", "source": "Wire"},
        "{not json",
        {"id": "a2", "title": "Two"},
        {"id": "a3", "title": "Three", "text": "Third.", "published": "someday"},
        {"id": "a1", "title": "Again", "text": "Duplicate."},
        {"id": 7, "title": "Seven", "text": "Numeric id.", "url": "https://x.example/7"},
    ]
    path.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n\n")
    loaded = load_file(path)
    assert [(a.id, a.source, a.published) for a in loaded.articles] == [("a1", "Wire", "2023-03-20"), ("7", path.name, None)]
    messages = [str(e) for e in loaded.errors]
    assert messages[0].startswith(f"{path}:2: invalid JSON")
    assert messages[1] == f"{path}:3: missing field 'text'"
    assert messages[2].startswith(f"{path}:4: field 'published'")
    assert messages[3] == f"{path}:5: duplicate id 'a1' in this file"
    assert len(messages) == 4


@pytest.mark.parametrize(
    "name, content, problem",
    [
        ("binary.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary file"),
        ("empty.txt", b"", "empty file"),
        ("blank.md", b"   \n\n  ", "empty file"),
        ("header-only.txt", b"Title: Nothing follows\n", "empty article"),
        ("latin1.txt", "Caf\xe9 in Moscow".encode("latin-1"), "not UTF-8 text (byte 0xe9 at offset 3)"),
        ("empty-feed.jsonl", b"\n\n", "empty file"),
    ],
)
def test_bad_files_give_an_error_naming_the_file(tmp_path, name, content, problem):
    path = tmp_path / name
    path.write_bytes(content)
    loaded = load_file(path)
    assert loaded.articles == []
    assert len(loaded.errors) == 1
    assert str(loaded.errors[0]).startswith(f"{path}: ")
    assert problem in str(loaded.errors[0])


def test_unreadable_paths_are_reported_not_raised(tmp_path):
    broken = tmp_path / "gone.txt"
    broken.symlink_to(tmp_path / "nowhere.txt")
    unsupported = tmp_path / "report.pdf"
    unsupported.write_bytes(b"%PDF-1.4")
    files, errors = discover([broken, tmp_path / "missing-dir", unsupported])
    assert files == []
    assert [str(e) for e in errors] == [
        f"{broken}: cannot read: broken symbolic link",
        f"{tmp_path / 'missing-dir'}: no such file or directory",
        f"{unsupported}: unsupported file type (supported: .htm, .html, .jsonl, .markdown, .md, .txt)",
    ]


def test_discover_walks_directories_and_skips_hidden_and_other_files(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / ".git").mkdir()
    for rel in ["a.txt", "sub/b.html", "sub/c.jsonl", ".git/d.txt", "notes.pdf", "sub/.e.md"]:
        (tmp_path / rel).write_text("x")
    files, errors = discover([tmp_path, tmp_path / "a.txt"])
    assert errors == []
    assert [f.relative_to(tmp_path).as_posix() for f in files] == ["a.txt", "sub/b.html", "sub/c.jsonl"]


def test_file_ids_are_stable_and_distinct_per_location(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "y").mkdir()
    a, b = tmp_path / "x" / "Story One.txt", tmp_path / "y" / "Story One.txt"
    assert file_article_id(a) == file_article_id(a)
    assert file_article_id(a).startswith("story-one-")
    assert file_article_id(a) != file_article_id(b)
