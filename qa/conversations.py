"""Saved conversations: one small JSON file each under `$QA_HOME/conversations/`.

A file is only ever replaced whole (written to a temporary file beside it, then `os.replace`), so a
reader, another server or a crash never sees half of one. Changes (a turn added, a delete) read,
change and write under one lock file of the folder (`filelock`), so two servers adding turns at once
lose none. A file that cannot be read is reported by name, and the others are still listed.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import secrets
import tempfile
from pathlib import Path

from filelock import FileLock

from qa.types import Answer, Conversation, ConversationList, ConversationTurn

FORMAT = 1
# An id is a file name we made: nothing that could climb out of the folder ("../x") or hide (".x").
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,99}")
LOCK_TIMEOUT_S = 30.0


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def new_id() -> str:
    """Sortable by time, and unique across servers: "20240501-140312-3f9a1c"."""
    return f"{dt.datetime.now(dt.timezone.utc):%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


class ConversationStore:
    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def _lock(self) -> FileLock:
        self.folder.mkdir(parents=True, exist_ok=True)
        return FileLock(self.folder / ".lock", timeout=LOCK_TIMEOUT_S)

    def path(self, conversation_id: str) -> Path:
        """The file of a conversation; ValueError for an id that is not one of ours."""
        if not isinstance(conversation_id, str) or not _ID.fullmatch(conversation_id):
            raise ValueError(f"{conversation_id!r} is not a conversation id (see `qa conversations`)")
        return self.folder / f"{conversation_id}.json"

    # -- reading -------------------------------------------------------------------------------

    def list(self) -> ConversationList:
        """Every saved conversation (id, title, created, updated, questions), the last changed first; a
        file that cannot be read is left out and named in `problems`."""
        found = ConversationList()
        if not self.folder.is_dir():
            return found
        for path in sorted(self.folder.glob("*.json")):
            try:
                found.conversations.append(self._read(path).summary())
            except ValueError as exc:
                found.problems.append(str(exc))
        found.conversations.sort(key=lambda c: (c["updated"], c["id"]), reverse=True)
        return found

    def get(self, conversation_id: str) -> Conversation:
        path = self.path(conversation_id)
        if not path.is_file():
            raise ValueError(f"no saved conversation with id {conversation_id}")
        return self._read(path)

    def _read(self, path: Path) -> Conversation:
        """ValueError naming the file and what is wrong with it."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except UnicodeDecodeError:
            raise ValueError(f"{path.name}: not UTF-8 text; skipped") from None
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path.name}: not valid JSON ({exc.msg}, line {exc.lineno}); skipped") from None
        except OSError as exc:
            raise ValueError(f"{path.name}: cannot be read ({exc.strerror or exc}); skipped") from None
        try:
            if data.get("format") != FORMAT:
                raise ValueError(f"format {data.get('format')!r}, not {FORMAT}")
            conversation = Conversation.from_dict(data)
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            problem = f"missing {exc}" if isinstance(exc, KeyError) else str(exc) or type(exc).__name__
            raise ValueError(f"{path.name}: not a saved conversation ({problem}); skipped") from None
        if conversation.id != path.stem:
            raise ValueError(f"{path.name}: holds conversation {conversation.id!r}, not {path.stem!r}; skipped")
        return conversation

    # -- changing --------------------------------------------------------------------------------

    def add_turn(self, answer: Answer, conversation_id: str | None = None) -> Conversation:
        """Keep a question and its answer: in the conversation `conversation_id`, or in a new one (None,
        or an id whose file was deleted meanwhile: its turns so far are gone, this one starts it again)."""
        with self._lock():
            conversation = None
            if conversation_id is not None:
                path = self.path(conversation_id)
                conversation = self._read(path) if path.is_file() else None
            when = now()
            if conversation is None:
                conversation = Conversation(conversation_id or new_id(), answer.question, when, when)
            conversation.turns.append(ConversationTurn(when, answer))
            conversation.updated = when
            self._write(conversation)
            return conversation

    def delete(self, conversation_id: str) -> dict:
        """Remove a saved conversation; its summary. ValueError when there is none of that id."""
        path = self.path(conversation_id)
        with self._lock():
            if not path.is_file():
                raise ValueError(f"no saved conversation with id {conversation_id}")
            try:
                summary = self._read(path).summary()
            except ValueError:  # a damaged file can still be deleted
                summary = {"id": conversation_id, "title": "", "created": "", "updated": "", "questions": 0}
            path.unlink()
            return summary

    def _write(self, conversation: Conversation) -> None:
        path = self.path(conversation.id)
        data = {"format": FORMAT} | conversation.to_dict()
        handle, temporary = tempfile.mkstemp(dir=self.folder, prefix=f".{conversation.id}.", suffix=".tmp")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                json.dump(data, out, ensure_ascii=False, indent=1)
                out.flush()
                os.fsync(out.fileno())  # on disk before it takes the name: a crash leaves the old file or the new
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
