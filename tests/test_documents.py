"""PDF and Word articles: real files written with fpdf2 and python-docx, read by the loaders, stored in a
real Chroma with the real embedding model, asked about, and each citation checked against the stored text.

The ingest time of the 50-page PDF is printed (shown with `pytest -s`), never asserted: these machines are noisy.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from pathlib import Path

import docx
import pytest
from conftest import assert_quotes_exact
from fpdf import FPDF
from PIL import Image

from index.loaders import load_file

# One sentence on page 47 of 50, long enough that the page wraps it over two lines.
PDF_SENTENCE = (
    "The Kestrel lighthouse on the north pier of Varna was relit on 14 March, after a winter storm had "
    "shattered its lamp and flooded the keeper's cottage beside it."
)
PDF_QUESTION = "When was the Kestrel lighthouse relit?"
PDF_PAGES, PDF_PAGE = 50, 47
DOCX_SENTENCE = "The Oriel ferry between Sligo and Inishmurray carried 4,200 passengers in its first summer."
DOCX_QUESTION = "How many passengers did the Oriel ferry carry?"

_TOWNS = ["Tarnow", "Elvas", "Kilrush", "Mostar", "Bergen", "Ghent", "Nafplio", "Oulu", "Trieste", "Zadar"]
_TOPICS = ["school", "bus", "water", "library", "housing", "clinic", "road", "park", "market", "museum"]
_PEOPLE = ["Anna Lind", "Pavel Novak", "Maria Costa", "Jon Berg", "Ines Duarte", "Luka Horvat"]


def filler(rng: random.Random, count: int) -> list[str]:
    """Paragraphs of plausible council news that say nothing about lighthouses or ferries."""
    paragraphs = []
    for _ in range(count):
        town, topic, person = rng.choice(_TOWNS), rng.choice(_TOPICS), rng.choice(_PEOPLE)
        n = rng.randint(2, 90)
        paragraphs.append(
            f"The council of {town} voted to spend {n} million euros on its {topic} plan, the mayor's office said. "
            f"{person}, who chairs the {topic} committee, said the work would take {n % 7 + 2} years. "
            f"Residents of {town} had waited {n % 11 + 3} months for the vote."
        )
    return paragraphs


def write_pdf(path: Path, pages: int = PDF_PAGES, late_page: int = PDF_PAGE, sentence: str = PDF_SENTENCE) -> Path:
    """A text PDF of `pages` pages with a title and creation date in its metadata; `sentence` opens the
    second paragraph of page `late_page`."""
    rng = random.Random(7)
    pdf = FPDF()
    pdf.set_title("Harbour towns of the Black Sea")
    pdf.set_creation_date(dt.datetime(2023, 3, 21, 9, 30, tzinfo=dt.timezone.utc))
    pdf.set_font("Helvetica", size=11)
    for number in range(1, pages + 1):
        pdf.add_page()
        paragraphs = filler(rng, 4)
        if number == late_page:
            paragraphs.insert(1, sentence)
        for paragraph in paragraphs:
            pdf.multi_cell(0, 6, paragraph)
            pdf.ln(4)
    pdf.output(str(path))
    return path


def write_image_pdf(path: Path, folder: Path, text_pages: int = 0) -> Path:
    """A PDF of one image-only page (a scan, as far as its text layer goes), after `text_pages` text pages."""
    picture = folder / "scan.png"
    Image.new("RGB", (600, 800), "lightgray").save(picture)
    pdf = FPDF()
    pdf.set_font("Helvetica", size=11)
    for _ in range(text_pages):
        pdf.add_page()
        pdf.multi_cell(0, 6, "The harbour of Odessa reopened on Monday after months of repairs.")
    pdf.add_page()
    pdf.image(str(picture), x=10, y=10, w=150)
    pdf.output(str(path))
    return path


def write_docx(path: Path) -> Path:
    rng = random.Random(11)
    document = docx.Document()
    document.core_properties.title = "Ferries of the west coast"
    document.core_properties.created = dt.datetime(2023, 6, 2, 8, 0)
    document.add_heading("Ferries of the west coast", level=1)
    paragraphs = filler(rng, 40)
    paragraphs.insert(35, DOCX_SENTENCE)
    for paragraph in paragraphs:
        document.add_paragraph(paragraph)
    document.save(str(path))
    return path


# -- loading -------------------------------------------------------------------------------------


def test_pdf_text_is_its_pages_joined_with_blank_lines_and_wrapped_lines_rejoined(tmp_path):
    loaded = load_file(write_pdf(tmp_path / "harbours.pdf"))
    assert loaded.errors == [] and loaded.warnings == []
    (article,) = loaded.articles
    assert article.title == "Harbour towns of the Black Sea"
    assert article.published == "2023-03-21"
    assert article.source == "harbours.pdf"
    assert len(article.text.split("\n\n")) == PDF_PAGES
    assert PDF_SENTENCE in article.text  # one line again, though the page wrapped it
    pages = article.text.split("\n\n")
    assert PDF_SENTENCE in pages[PDF_PAGE - 1]


def test_pdf_without_metadata_takes_its_first_line_as_title_and_its_date_from_its_name(tmp_path):
    pdf = FPDF()
    pdf.set_font("Helvetica", size=11)
    pdf.add_page()
    pdf.multi_cell(0, 6, "Harbour reopens")
    pdf.ln(4)
    pdf.multi_cell(0, 6, "The harbour of Odessa reopened on Monday after months of repairs, the port said.")
    # fpdf2 always writes a creation date: its key is renamed in place (same length, so offsets hold).
    data = pdf.output().replace(b"/CreationDate", b"/XreationDate")
    (tmp_path / "odessa-2023-03-20.pdf").write_bytes(data)
    (article,) = load_file(tmp_path / "odessa-2023-03-20.pdf").articles
    assert article.title == "Harbour reopens"  # a short heading line is not joined to the paragraph
    assert article.published == "2023-03-20"
    assert article.text.startswith("Harbour reopens\nThe harbour of Odessa reopened on Monday")


def test_pdf_pages_without_text_are_skipped_with_a_warning_naming_them(tmp_path):
    loaded = load_file(write_image_pdf(tmp_path / "mixed.pdf", tmp_path, text_pages=2))
    (article,) = loaded.articles
    assert article.text.count("The harbour of Odessa reopened") == 2
    assert [str(w) for w in loaded.warnings] == [
        f"{tmp_path / 'mixed.pdf'}: page 3 had no text (scanned or image-only?) and was skipped"
    ]


def test_docx_text_is_its_paragraphs_joined_with_blank_lines(tmp_path):
    loaded = load_file(write_docx(tmp_path / "ferries.docx"))
    assert loaded.errors == []
    (article,) = loaded.articles
    assert article.title == "Ferries of the west coast"
    assert article.published == "2023-06-02"
    assert article.source == "ferries.docx"
    paragraphs = article.text.split("\n\n")
    assert len(paragraphs) == 42 and paragraphs[0] == "Ferries of the west coast"
    assert paragraphs[36] == DOCX_SENTENCE


def test_docx_tables_are_read_in_place_and_a_docx_without_a_title_takes_its_first_paragraph(tmp_path):
    document = docx.Document()
    document.add_paragraph("Ferry timetable   for\tMay")
    table = document.add_table(rows=2, cols=2)
    for (r, c), text in {(0, 0): "Sligo", (0, 1): "09:00", (1, 0): "Inishmurray", (1, 1): "11:30"}.items():
        table.cell(r, c).text = text
    document.add_paragraph("Crossings resume on Monday.")
    document.save(str(tmp_path / "timetable.docx"))
    (article,) = load_file(tmp_path / "timetable.docx").articles
    assert article.text == "Ferry timetable for May\n\nSligo | 09:00\n\nInishmurray | 11:30\n\nCrossings resume on Monday."
    assert article.title == "Ferry timetable for May"


# -- ingested and asked --------------------------------------------------------------------------


def cited(service, answer, sentence: str):
    """The citation of `answer` whose span of the stored article text is `sentence`."""
    assert_quotes_exact(service, answer)
    texts = {a.id: a.text for a in service.articles([c.article_id for c in answer.citations])}
    spans = [texts[c.article_id][c.start : c.end] for c in answer.citations]
    assert sentence in spans, (answer.text, spans)
    return answer.citations[spans.index(sentence)]


def test_a_sentence_on_a_late_page_of_a_50_page_pdf_is_answered_and_cited_exactly(service, tmp_path):
    path = write_pdf(tmp_path / "harbours.pdf")
    started = time.perf_counter()
    report = service.ingest([path])
    seconds = time.perf_counter() - started
    assert report.errors == [] and len(report.added) == 1
    steps = ", ".join(f"{k} {v:.2f}" for k, v in report.timings.items())
    print(f"\n50-page PDF ({path.stat().st_size:,} bytes) ingested in {seconds:.2f} s ({steps})")

    answer = service.ask(PDF_QUESTION)
    citation = cited(service, answer, PDF_SENTENCE)
    (article,) = service.articles([citation.article_id])
    assert article.text.index(PDF_SENTENCE) == citation.start
    # Page 47 of 50: the span lies in the 47th blank-line-separated page of the text.
    assert article.text[: citation.start].count("\n\n") == PDF_PAGE - 1
    assert article.source == "harbours.pdf" and article.published == "2023-03-21"


def test_a_sentence_of_a_docx_is_answered_and_cited_exactly(service, tmp_path):
    report = service.ingest([write_docx(tmp_path / "ferries.docx")])
    assert report.errors == [] and len(report.added) == 1
    citation = cited(service, service.ask(DOCX_QUESTION), DOCX_SENTENCE)
    (article,) = service.articles([citation.article_id])
    assert article.text.index(DOCX_SENTENCE) == citation.start and article.title == "Ferries of the west coast"


# -- refused -------------------------------------------------------------------------------------


def refused(service, folder: Path, *files: Path) -> list[str]:
    """Ingest `files` beside what `folder`'s articles stored; their errors, with nothing stored lost."""
    service.ingest([folder])
    before = {a.id: a.text for a in service.articles(list(service.store.versions(None)))}
    counts = service.stats()
    report = service.ingest([*files])
    assert report.added == [] and report.updated == []
    after = {a.id: a.text for a in service.articles(list(service.store.versions(None)))}
    assert after == before and service.stats()["chunks"] == counts["chunks"]
    return report.errors


def test_a_pdf_without_a_text_layer_is_refused_naming_the_file(service, two_articles, tmp_path):
    path = write_image_pdf(tmp_path / "scanned.pdf", tmp_path)
    assert refused(service, two_articles, path) == [
        f"{path}: no text layer in its 1 page (scanned or image-only PDF?): nothing to ingest; run OCR on it first"
    ]


def test_a_corrupt_pdf_is_refused_naming_the_file(service, two_articles, tmp_path):
    good = write_pdf(tmp_path / "good.pdf", pages=2, late_page=1).read_bytes()
    truncated = tmp_path / "truncated.pdf"
    truncated.write_bytes(good[: len(good) // 3])
    garbage = tmp_path / "garbage.pdf"
    garbage.write_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 40)
    errors = refused(service, two_articles, truncated, garbage)
    assert len(errors) == 2
    for path, error in zip((truncated, garbage), errors):
        assert error.startswith(f"{path}: not a readable PDF (corrupt or truncated): "), error


def test_a_password_locked_pdf_is_refused_naming_the_file(service, two_articles, tmp_path):
    pdf = FPDF()
    pdf.set_font("Helvetica", size=11)
    pdf.add_page()
    pdf.multi_cell(0, 6, "The harbour of Odessa reopened on Monday.")
    pdf.set_encryption(owner_password="owner", user_password="reader")
    pdf.output(str(tmp_path / "locked.pdf"))
    assert refused(service, two_articles, tmp_path / "locked.pdf") == [
        f"{tmp_path / 'locked.pdf'}: encrypted PDF that needs a password to open: save an unprotected copy and add that"
    ]


def test_a_damaged_or_old_word_file_is_refused_naming_the_file(service, two_articles, tmp_path):
    old = tmp_path / "old.docx"
    old.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600)  # a Word 97 .doc, renamed
    cut = tmp_path / "cut.docx"
    cut.write_bytes(write_docx(tmp_path / "whole.docx").read_bytes()[:5000])
    errors = refused(service, two_articles, old, cut)
    assert errors == [
        f"{old}: an old Word .doc (Word 97-2003) named .docx: save it as .docx in Word and add that",
        f"{cut}: a damaged Word .docx file: its ZIP package cannot be opened (cut short?)",
    ]


def test_a_stored_pdf_that_became_corrupt_keeps_its_article(service, tmp_path):
    folder = tmp_path / "papers"
    folder.mkdir()
    path = write_pdf(folder / "short.pdf", pages=2, late_page=2)
    assert len(service.ingest([folder]).added) == 1
    (article,) = service.articles(list(service.store.versions(None)))
    path.write_bytes(path.read_bytes()[:400])
    report = service.ingest([folder], prune=True)
    assert report.pruned == [] and report.errors[0].startswith(f"{path}: not a readable PDF")
    assert [a.text for a in service.articles([article.id])] == [article.text]


@pytest.mark.parametrize("name", ["report.PDF", "report.Docx"])
def test_the_suffix_is_matched_whatever_its_case(tmp_path, name):
    path = tmp_path / name
    (write_pdf if name.lower().endswith(".pdf") else write_docx)(tmp_path / ("x" + path.suffix.lower())).rename(path)
    loaded = load_file(path)
    assert loaded.errors == [] and len(loaded.articles) == 1
