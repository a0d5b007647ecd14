"""The `qa` command: ingest articles, ask questions, look at what is stored, evaluate, serve the chat."""

from __future__ import annotations

import errno
import functools
import json
import sys
from pathlib import Path

import click
from click_default_group import DefaultGroup
from pydantic import ValidationError

from qa.settings import Settings


def _store_options(command):
    """Where the index lives; every command takes these (they override QA_* environment variables)."""

    @click.option("--home", type=click.Path(path_type=Path), help="data directory [env QA_HOME]")
    @click.option("--chroma-host", help="use the Chroma server on this host [env QA_CHROMA_HOST]")
    @click.option("--chroma-port", type=int, help="port of the Chroma server [env QA_CHROMA_PORT]")
    @click.option("--collection", help="prefix of the Chroma collections [env QA_COLLECTION]")
    @functools.wraps(command)
    def wrapper(home, chroma_host, chroma_port, collection, **kwargs):
        # Commands' own settings flags (serve's --host, --port) join the same one Settings.
        own = {name: kwargs.pop(name) for name in ("host", "port", "auth", *_BACKEND_FLAGS) if name in kwargs}
        flags = dict(home=home, chroma_host=chroma_host, chroma_port=chroma_port, collection=collection, **own)
        try:
            settings = Settings.from_flags(**flags)
        except ValidationError as exc:

            def named(field: str) -> str:
                """The flag when the value came from it, else the environment variable."""
                return f"--{field.replace('_', '-')}" if flags.get(field) is not None else f"QA_{field.upper()}"

            problems = "; ".join(
                f"{named('_'.join(map(str, e['loc'])))}: {e['msg'].removeprefix('Value error, ')}"
                for e in exc.errors()
            )
            raise click.ClickException(f"invalid setting {problems}") from exc
        return command(settings, **kwargs)

    return wrapper


_BACKEND_FLAGS = ("backend", "llm_model", "llm_base_url", "llm_gguf")


def _backend_options(command):
    """Who writes the answers; these join the one Settings too."""
    command = click.option("--llm-base-url", help="the model server's URL [env QA_LLM_BASE_URL]")(command)
    command = click.option(
        "--llm-gguf", type=click.Path(path_type=Path),
        help="GGUF model file the llamacpp backend runs in this process [env QA_LLM_GGUF]",
    )(command)
    command = click.option("--llm-model", help="chat model name [env QA_LLM_MODEL]")(command)
    return click.option(
        "--backend",
        type=click.Choice(["extractive", "ollama", "openai", "llamacpp"]),
        help="extractive (offline, the default), or a chat model: ollama, openai (any OpenAI-compatible server), "
        "llamacpp (a GGUF file run in this process, --llm-gguf) [env QA_BACKEND]",
    )(command)


def _service(settings: Settings):
    from qa.service import QAService

    return QAService(settings)


def _fail_cleanly(command):
    """Known failures (model missing, server unreachable, bad input) end in one clear line, not a trace."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        from index.store import StoreError

        try:
            return command(*args, **kwargs)
        except StoreError as exc:
            raise click.ClickException(" ".join(str(exc).split())) from exc
        except Exception as exc:
            if isinstance(exc, _known_failures()):
                raise click.ClickException(str(exc)) from exc
            line = _storage_failure(exc, args)
            if line is None:
                raise
            raise click.ClickException(line) from exc

    return wrapper


def _known_failures() -> tuple[type[Exception], ...]:
    """Bad input, a missing model, an unreachable chat model. Only a module already imported can have
    raised its error: importing qa.generators (LangChain's chat models) just to catch one costs seconds."""
    found: list[type[Exception]] = [ValueError]
    for module, name in (("index.embedders", "ModelNotFoundError"), ("qa.generators", "GeneratorError")):
        if module in sys.modules:
            found.append(getattr(sys.modules[module], name))
    return tuple(found)


# A full or read-only disk, or no permission: the storage's fault, said in one line. Other OSErrors are bugs.
_STORAGE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EIO}


def _storage_failure(exc: Exception, args: tuple) -> str | None:
    """The one line for a storage failure that escaped the store (the BM25 index's files, say); None
    for anything else. Most are already StoreErrors: ChromaStore translates its own (index/store.py)."""
    from index.store import STORAGE_FAILURES, explain_failure

    if not isinstance(exc, STORAGE_FAILURES) or (isinstance(exc, OSError) and exc.errno not in _STORAGE_ERRNOS):
        return None
    settings = next((a for a in args if isinstance(a, Settings)), None)
    if settings is None:
        return explain_failure(exc, "store")
    if settings.chroma_host:
        location = f"Chroma server at {settings.chroma_host}:{settings.chroma_port}"
        return explain_failure(exc, location, None, settings.chroma_timeout)
    folder = None if isinstance(exc, OSError) else settings.chroma_path  # an OSError names its own file
    return explain_failure(exc, f"embedded Chroma in {settings.chroma_path}", folder)


def _print_json(value) -> None:
    click.echo(json.dumps(value, ensure_ascii=False, indent=2))


@click.group()
@click.version_option(package_name="qa")
def main():
    """Answers from news articles, every sentence cited to the exact characters."""


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--prune", is_flag=True, help="drop stored articles from under PATHS whose files are gone")
@click.option("--if-empty", is_flag=True, help="only ingest when the index holds no article yet")
@click.option("--json", "as_json", is_flag=True, help="print the report as JSON")
@_store_options
@_fail_cleanly
def ingest(settings, paths, prune, if_empty, as_json):
    """Add or update articles from files and directories (.txt, .md, .html, .jsonl)."""
    service = _service(settings)
    if if_empty and (stored := service.stats()["articles"]) > 0:
        click.echo(f"the index already holds {stored} articles; nothing ingested")
        return
    report = service.ingest(list(paths), prune=prune)
    _echo_problems(report)
    if as_json:
        _print_json(report.to_dict() | {"summary": report.summary()})
    else:
        click.echo(report.summary())
    if report.failed:
        sys.exit(1)


def _date(ctx, param, value: str | None) -> str | None:
    """--since/--until take YYYY-MM-DD, YYYY-MM or YYYY (the whole month or year); --date a full date."""
    if value is None:  # click calls this for absent flags too: no need to import the loaders then
        return None
    from index.loaders import normalize_date
    from qa.types import parse_filter_date

    try:
        if param.name in ("since", "until"):
            return parse_filter_date(value, param.name)
        return normalize_date(value)
    except ValueError:
        formats = "YYYY-MM-DD, YYYY-MM or YYYY" if param.name in ("since", "until") else "YYYY-MM-DD"
        raise click.BadParameter(f"{value!r} is not a date (use {formats})") from None


def _article_filters(command):
    """--source, --since and --until: which stored articles a command reads (`qa ask`, `qa people`, `qa list`)."""
    command = click.option(
        "--until",
        callback=_date,
        help="only articles published on or before this date (the same forms); `qa ask` also reads a sentence "
        "whose relative dates (“last month”) all fall by then",
    )(command)
    command = click.option(
        "--since",
        callback=_date,
        help="only articles published on or after this date (YYYY-MM-DD, YYYY-MM, YYYY); `qa ask` also reads a "
        "sentence whose relative dates (“yesterday”, “last week”) all fall then or later",
    )(command)
    return click.option(
        "--source", "sources", multiple=True, help="only articles from this source (repeat for several)"
    )(command)


@main.command()
@click.argument("question", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="print the answer as JSON")
@click.option("--markdown", "as_markdown", is_flag=True, help="print the answer and its sources as Markdown")
@_article_filters
@click.option(
    "--article", "article_ids", multiple=True, metavar="ID",
    help="answer only from this stored article (repeat for several: a selection, as the Library's \"Ask about these\")",
)
@click.option(
    "--matching", metavar="WORDS",
    help="answer only from the articles `qa list WORDS` lists (with the other filters): the Library's "
    "\"Ask about these\" with nothing chosen",
)
@click.option(
    "--oldest-first", is_flag=True, help='"What did X say?": the oldest report first (default: the newest first)'
)
@_backend_options
@_store_options
@_fail_cleanly
def ask(settings, question, as_json, as_markdown, sources, since, until, article_ids, matching, oldest_first):
    """Answer QUESTION from the stored articles."""
    from qa.types import Answer, Filters

    service = _service(settings)
    if matching:
        listed = service.list_articles(Filters.build(sources, since, until, article_ids), matching)
        if not listed:
            raise click.ClickException(f"no stored article matches {matching!r} (see `qa list {matching}`)")
        article_ids = tuple(a["id"] for a in listed)
    filters = Filters.build(sources, since, until, article_ids)
    if filters.article_ids and not as_json:  # the selection asked about, in a line (the chat shows it above the answer)
        click.echo(_selection_line(service, filters.article_ids), err=True)
    stream = service.ask_stream(" ".join(question), filters=filters, oldest_first=oldest_first)
    if as_json:
        *_, answer = stream
        _print_json(answer.to_dict())  # the one place character offsets are shown
        return
    if as_markdown:
        *_, answer = stream
        click.echo(answer.to_markdown(service.cited_articles([answer])), nl=False)
        return
    if settings.backend == "extractive":
        # The extractive answer is whole at once: its short answer (or the day a "When" answer means) comes first.
        *_, answer = stream
        click.echo(answer.to_text(service.cited_articles([answer])))
    else:
        for piece in stream:
            if isinstance(piece, Answer):
                answer = piece
            else:
                click.echo(piece, nl=False)  # as the model writes it
        click.echo()
        if answer.backend != "extractive":
            # What the model wrote is not the answer until it is checked against the passages.
            click.echo(f"\nChecked against the articles: {answer.answer}")
            for s in answer.sentences:
                if s.unsupported:
                    click.echo(f"  ! not supported by the passages it cites: {s.text}")
        click.echo(answer.sources_text(service.cited_articles([answer])))
    if answer.abstained and service.stats()["articles"] == 0:
        click.echo("(no articles are stored yet: run `qa ingest PATH`)", err=True)


def _selection_line(service, article_ids) -> str:
    """"Asking 3 articles: …" for a selection of article ids (qa/suggestions.py: the chat says the same)."""
    from qa.suggestions import selection_line
    from qa.types import Filters

    return selection_line(service.list_articles(Filters(article_ids=tuple(article_ids))), len(article_ids))


@main.command()
@click.option("--json", "as_json", is_flag=True, help="print the list as JSON")
@_article_filters
@_store_options
@_fail_cleanly
def people(settings, as_json, sources, since, until):
    """Who the stored articles quote: name, roles, statements, first and last date; most quoted first."""
    from qa.types import Filters

    found = _service(settings).people(Filters(tuple(sources), since, until))
    if as_json:
        _print_json(found)
        return
    for p in found:
        roles = f" ({', '.join(p['roles'])})" if p["roles"] else ""
        dates = " to ".join(dict.fromkeys(d for d in (p["first"], p["last"]) if d)) or "undated"
        n, r = p["statements"], p["reports"]
        click.echo(f"{p['name']}{roles}: {n} statement{'s' if n != 1 else ''} in {r} report{'s' if r != 1 else ''}, {dates}")
    if not found:
        click.echo("nobody is quoted in the stored articles" + (" that the filters allow" if sources or since or until else ""))


@main.command()
@click.argument("text_file", metavar="[FILE]", type=click.File("r", encoding="utf-8"), default="-")
@click.option("--title", default="", help="the article's title (default: its first words)")
@click.option("--date", "published", callback=_date, help="publication date (YYYY-MM-DD)")
@click.option("--source", help="outlet (default: pasted)")
@_store_options
@_fail_cleanly
def add(settings, text_file, title, published, source):
    """Add an article from plain text (FILE, or standard input); the same title and date update it."""
    report = _service(settings).add_text(title, text_file.read(), published, source)
    click.echo(report.summary())


@main.command()
@click.argument("ids", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="print the articles as a JSON list")
@_store_options
@_fail_cleanly
def article(settings, ids, as_json):
    """Show stored articles by id."""
    found = _service(settings).articles(list(ids))
    missing = sorted(set(ids) - {a.id for a in found})
    if as_json:
        _print_json([a.to_dict() for a in found])
    else:
        for a in found:
            click.echo(f"{a.title}\n{a.published or 'undated'} · {a.source or ''} · {a.url or ''}\n\n{a.text}\n")
    if missing:
        raise click.ClickException(f"no article with id {', '.join(missing)}")


@main.command(name="list")
@click.argument("search", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="print the articles as a JSON list")
@_article_filters
@_store_options
@_fail_cleanly
def list_articles(settings, search, as_json, sources, since, until):
    """List the stored articles, newest first: id, date, source, title, chunks, people quoted.

    SEARCH: words the title (or id) must all hold, in any case."""
    from qa.types import Filters

    found = _service(settings).list_articles(Filters(tuple(sources), since, until), " ".join(search))
    if as_json:
        _print_json(found)
        return
    for a in found:
        people = f"; quotes {', '.join(a['people'][:4])}" + (" …" if len(a["people"]) > 4 else "") if a["people"] else ""
        n = a["chunks"]
        chunks = f"{n} chunk{'s' if n != 1 else ''}" if isinstance(n, int) else "chunks not counted"
        click.echo(f"{a['id']}  {a['published'] or 'undated'}  {a['source'] or '-'}  {a['title']}  ({chunks}{people})")
    n = len(found)
    filtered = " that the filters and search allow" if sources or since or until or search else ""
    click.echo(f"{n} article{'s' if n != 1 else ''}{filtered}" if n else f"no stored article{filtered or ''}")


@main.command()
@click.argument("ids", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="print what was deleted as JSON")
@_store_options
@_fail_cleanly
def delete(settings, ids, as_json):
    """Delete stored articles by id: their rows, their BM25 entries, and their uploaded file.

    An unknown id deletes nothing (exit code 1)."""
    done = _service(settings).delete_articles(list(ids))
    for warning in done["warnings"]:
        click.echo(f"warning: {warning}", err=True)
    if as_json:
        _print_json(done)
        return
    for a in done["deleted"]:
        click.echo(f"deleted {a['id']}: {a['title']} ({a['published'] or 'undated'})")
    for name in done["files_removed"]:
        click.echo(f"removed the uploaded file {name}")


def _echo_problems(report) -> None:
    """An ingest report's errors and warnings, one line each, on stderr."""
    for error in report.errors:
        click.echo(f"error: {error}", err=True)
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)


@main.command()
@click.argument("ids", nargs=-1, required=True)
@click.option("--force", is_flag=True, help="rewrite unchanged (and pasted) articles too, from their stored text")
@click.option("--json", "as_json", is_flag=True, help="print the report as JSON")
@_store_options
@_fail_cleanly
def reingest(settings, ids, force, as_json):
    """Read the articles IDS again from the files they came from (uploads too) and update the changed ones."""
    service = _service(settings)
    report = service.reingest_articles(list(ids), force=force)
    _echo_problems(report)
    if as_json:
        _print_json(report.to_dict())
    else:
        named = {a.id: a for a in service.articles([*report.updated, *report.unchanged])}
        for said, ids_ in (("updated", report.updated), ("unchanged", report.unchanged)):
            for i in ids_:
                a = named.get(i)
                click.echo(f"{said} {i}: {a.title} ({a.published or 'undated'})" if a else f"{said} {i}")
        click.echo(report.summary())
    if report.failed:
        sys.exit(1)


@main.group(name="conversations", cls=DefaultGroup, default="list", default_if_no_args=True)
def conversations_group():
    """The chat's saved conversations (kept in QA_HOME/conversations/): list, show, export, delete."""


@conversations_group.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="print the list as JSON")
@_store_options
@_fail_cleanly
def conversations_list(settings, as_json):
    """List the saved conversations, the last changed first: id, date, questions, title (its first question).

    A file that cannot be read is named on standard error; the others are listed all the same."""
    found = _service(settings).conversations()
    for problem in found.problems:
        click.echo(f"warning: {problem}", err=True)
    if as_json:
        _print_json(found.conversations)
        return
    for c in found.conversations:
        n = c["questions"]
        click.echo(f"{c['id']}  {c['updated'][:16].replace('T', ' ')}  {n} question{'s' if n != 1 else ''}  {c['title']}")
    if not found.conversations:
        click.echo("no saved conversations")


@conversations_group.command(name="show")
@click.argument("conversation_id", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="print the conversation, every turn, as JSON")
@_store_options
@_fail_cleanly
def conversations_show(settings, conversation_id, as_json):
    """Show a saved conversation: each question, its answer and its sources."""
    service = _service(settings)
    conversation = service.conversation(conversation_id)
    if as_json:
        _print_json(conversation.to_dict())
    else:
        click.echo(conversation.to_markdown(service.cited_articles([t.answer for t in conversation.turns])), nl=False)


@conversations_group.command(name="export")
@click.argument("conversation_id", metavar="ID")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="write the Markdown to FILE (default: print it)")
@_store_options
@_fail_cleanly
def conversations_export(settings, conversation_id, out):
    """Export a saved conversation as Markdown, with the sources of every answer."""
    markdown = _service(settings).export_conversation(conversation_id)
    if out is None:
        click.echo(markdown, nl=False)
        return
    out.write_text(markdown, encoding="utf-8")
    click.echo(f"wrote {out}")


@conversations_group.command(name="delete")
@click.argument("conversation_id", metavar="ID")
@_store_options
@_fail_cleanly
def conversations_delete(settings, conversation_id):
    """Delete a saved conversation. An unknown id deletes nothing (exit code 1)."""
    done = _service(settings).delete_conversation(conversation_id)
    click.echo(f"deleted {done['id']}: {done['title'] or '(unreadable file)'}")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="print the overview as JSON")
@_store_options
@_fail_cleanly
def overview(settings, as_json):
    """What the collection holds, in a line, and example questions drawn from it (the chat's first screen)."""
    found = _service(settings).overview()
    if as_json:
        _print_json(found)
        return
    click.echo(found["line"])
    for example in found["examples"]:
        click.echo(f"  {example['question']}  ({example['why']})")


@main.command()
@click.option("--repair", is_flag=True, help="rewrite the damaged articles from their stored text, drop stale rows")
@click.option("--json", "as_json", is_flag=True, help="print the findings as JSON")
@_store_options
@_fail_cleanly
def check(settings, repair, as_json):
    """Read every stored row's embedding and metadata; report what is unreadable or inconsistent.

    Exits 1 when something is wrong (after --repair: when something is still wrong)."""
    service = _service(settings)
    found = service.check(repair=repair)
    unreadable = sum(len(ids) for ids in found["unreadable"].values())
    damaged = found["damaged"]
    if as_json:
        _print_json(found | {"store": service.location})
    else:
        if repair:
            before = found["before"]
            click.echo(
                f"before: {len(before['damaged'])} damaged articles, "
                f"{sum(len(v) for v in before['unreadable'].values())} unreadable rows, {before['stale_rows']} stale rows; "
                f"repaired {len(found['repaired'])}, removed {found['swept']} stale rows"
            )
            for error in found["repair_errors"]:
                click.echo(f"error: {error}", err=True)
        click.echo(
            f"{found['articles']} articles, {found['chunks']} chunk rows, {found['sentences']} sentence rows read "
            f"in {service.location}: {unreadable} unreadable, {len(damaged)} damaged articles, "
            f"{found['stale_rows']} stale rows (left by an interrupted write; readers skip them)"
        )
        for role, ids in found["unreadable"].items():
            for row_id in ids[:20]:
                click.echo(f"unreadable {role[:-1]}: {row_id}")
        for article_id, problems in sorted(damaged.items())[:50]:
            click.echo(f"damaged {article_id}: {'; '.join(problems[:3])}" + (" …" if len(problems) > 3 else ""))
        if damaged and not repair:
            click.echo("run `qa check --repair` to rewrite them from their stored text")
    if unreadable or damaged:
        sys.exit(1)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="print the counts as JSON")
@_store_options
@_fail_cleanly
def stats(settings, as_json):
    """Count the stored articles and chunks."""
    service = _service(settings)
    counts = service.stats()
    if as_json:
        _print_json(counts | {"store": service.location})
    else:
        updated = f", last updated {counts['last_updated']}" if counts.get("last_updated") else ""
        click.echo(f"{counts['articles']} articles, {counts['chunks']} chunks in {service.location}{updated}")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="print the list as JSON")
@click.option(
    "--models-dir", type=click.Path(path_type=Path), help="folder of GGUF models (default ./models) [env QA_MODELS_DIR]"
)
@click.option("--ollama-url", default=None, help="where to look for an Ollama server (default http://127.0.0.1:11434)")
@click.option("--timeout", type=float, default=None, help="seconds the Ollama server has to answer (default 0.5)")
@_store_options
@_fail_cleanly
def answerers(settings, as_json, models_dir, ollama_url, timeout):
    """List what can answer now: extractive, each checked GGUF model in the models folder, an Ollama server's
    models; each with the flags that select it, then the files skipped and why."""
    from qa.answerers import OLLAMA_TIMEOUT, OLLAMA_URL, describe, discover

    if models_dir is not None:
        settings = settings.model_copy(update={"models_dir": models_dir})
    found = discover(settings, ollama_url=ollama_url or OLLAMA_URL, timeout=timeout or OLLAMA_TIMEOUT)
    if as_json:
        _print_json(found.to_dict())
    else:
        click.echo("\n".join(describe(found)))


@main.group(name="eval", cls=DefaultGroup, default="run")
def eval_group():
    """Evaluate answers on a set of questions (`qa eval SET.jsonl --out DIR`), or compare two runs."""


@eval_group.command(name="run")
@click.argument("set_path", metavar="SET.jsonl", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--out", type=click.Path(file_okay=False, path_type=Path), required=True, help="directory for the results"
)
@click.option(
    "--format",
    "set_format",
    type=click.Choice(["jsonl", "rgb"]),
    default="jsonl",
    show_default=True,
    help="jsonl: our evaluation sets; rgb: an RGB benchmark file, whose passages are ingested first",
)
@click.option(
    "--article", "article_ids", multiple=True, metavar="ID",
    help="evaluate on these stored articles only (repeat for several): a selection, as the Library's",
)
@click.option(
    "--own-articles", is_flag=True,
    help="evaluate on the stored articles that hold the set's evidence only: others neither answer nor count as misses",
)
@click.option(
    "--own-index", is_flag=True,
    help="evaluate on a fresh index (in OUT/index) of the set's own corpus: --corpus, or a bundled set's own",
)
@click.option(
    "--corpus", "corpus", multiple=True, type=click.Path(exists=True, path_type=Path),
    help="the files of the set's own corpus, for --own-index (repeat for several)",
)
@_backend_options
@_store_options
@_fail_cleanly
def eval_run(settings, set_path, out, set_format, article_ids, own_articles, own_index, corpus):
    """Answer every question of SET; write results, metrics, report.md and plots to OUT."""
    from tqdm import tqdm

    from eval.importers import read_rgb
    from eval.report import metrics_table, tags_table
    from eval.runner import evidence_articles, own_index as fresh_index, run_set, scope_phrase, set_corpus
    from eval.sets import load_set
    from qa.types import Filters

    if sum([bool(article_ids), own_articles, own_index or bool(corpus)]) > 1:
        raise click.UsageError("choose one of --article, --own-articles and --own-index")
    service = _service(settings)
    if set_format == "rgb":
        questions, articles = read_rgb(set_path)
        where = service.location
        click.echo(f"{len(questions)} questions; ingesting their {len(articles)} passages into {where}", err=True)
        click.echo(service.ingest_articles(articles).summary(), err=True)
    else:
        questions = load_set(set_path)
    filters, scope = None, None
    if own_index or corpus:
        files = list(corpus) or set_corpus(set_path.name)
        if not files:
            raise click.UsageError(f"{set_path.name} has no corpus of its own here: name its files with --corpus")
        click.echo(f"building a fresh index of {', '.join(p.name for p in files)} in {out / 'index'}", err=True)
        service, summary = fresh_index(service, files, out / "index")
        click.echo(summary, err=True)
        scope = scope_phrase("fresh-index", files=files)
    elif own_articles:
        ids = evidence_articles(service, questions)
        if not ids:
            raise click.ClickException("no stored article holds the set's evidence")
        filters = Filters(article_ids=tuple(ids))
        scope = scope_phrase("own-articles", len(ids))
        click.echo(f"evaluating on {scope}", err=True)
    elif article_ids:
        filters = Filters.build(article_ids=article_ids)
        click.echo(_selection_line(service, filters.article_ids), err=True)
        scope = scope_phrase("selection", len(filters.article_ids))
    with tqdm(total=len(questions), desc="evaluating", unit="question", file=sys.stderr) as bar:
        run = run_set(
            service, questions, out, set_name=set_path.name, progress=lambda done, _: bar.update(done - bar.n),
            filters=filters, scope=scope,
        )
    if scope:
        click.echo(f"evaluated on {scope}")
    click.echo(metrics_table(run.metrics))
    if run.metrics.get("by_tag"):
        click.echo("\n" + tags_table(run.metrics))
    for warning in run.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"\nreport: {out / 'report.md'}")


@eval_group.command(name="compare")
@click.argument("run_a", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("run_b", type=click.Path(exists=True, file_okay=False, path_type=Path))
@_fail_cleanly
def eval_compare(run_a, run_b):
    """Each metric of two runs side by side with its delta, and the questions whose outcome changed."""
    from eval.compare import compare_runs, comparison_text

    click.echo(comparison_text(compare_runs(run_a, run_b), run_a, run_b))


@main.command()
@click.option("--host", help="address to bind (default 127.0.0.1) [env QA_HOST]")
@click.option("--port", type=int, help="port (default 7860) [env QA_PORT]")
@click.option("--auth", help="USER:PASS the screen asks for (for a shared deployment) [env QA_AUTH]")
@_backend_options
@_store_options
@_fail_cleanly
def serve(settings):
    """Start the chat screen."""
    from ui.app import serve as serve_ui

    serve_ui(_service(settings))


if __name__ == "__main__":
    main()
