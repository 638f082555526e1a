"""The language server: wires LSP requests to the compiler (see docs/editors.md).

Threads: document sync and completion run on pygls' event loop and return at once; the
requests that compile the whole script (hover, outline, navigation, code actions and lenses) run
in pygls' thread pool, so edits keep flowing while they work. Diagnostics are computed on one
worker thread, for the newest version of each document only: an edit that arrives while an older
version is being checked makes that check stop at the next chunk and publish nothing (there is
no fixed delay). Builds run on their own thread and report through work-done progress.

Only ``moviola.compiler`` is imported at start-up; ``builds.py`` imports the runtime when a
build runs or a project's cache is looked at.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import os
import sys
import threading
import uuid
from pathlib import Path

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol, lsp_method

from moviola import __version__
from moviola.compiler.api import Session, Stale, compile_text, profile_names, read_script, session
from moviola.compiler.profiles import ProfileError

from . import builds, features
from .completion import Names, complete
from .documents import Document, Units

log = logging.getLogger("moviola.lsp")

COMMANDS = ("moviola.build", "moviola.buildScene", "moviola.buildShot", "moviola.openFrame")
_SKIP_FOLDERS = {".git", ".moviola", "node_modules", "__pycache__", ".venv", "venv", "out"}
_MAX_WORKSPACE_FILES = 300
_MAX_WORKSPACE_FOLDERS = 2000


class _Protocol(LanguageServerProtocol):
    """pygls' protocol, except that documents live in the server's own store (LSP line rules,
    and no second copy to update on every keystroke), and commands see their whole params (the
    work-done token)."""

    @lsp_method(types.TEXT_DOCUMENT_DID_OPEN)
    def lsp_text_document__did_open(self, params):
        if (handler := self.fm.features.get(types.TEXT_DOCUMENT_DID_OPEN)) is not None:
            yield handler, (params,), None

    @lsp_method(types.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(self, params):
        if (handler := self.fm.features.get(types.TEXT_DOCUMENT_DID_CHANGE)) is not None:
            yield handler, (params,), None

    @lsp_method(types.TEXT_DOCUMENT_DID_CLOSE)
    def lsp_text_document__did_close(self, params):
        if (handler := self.fm.features.get(types.TEXT_DOCUMENT_DID_CLOSE)) is not None:
            yield handler, (params,), None

    @lsp_method(types.WORKSPACE_EXECUTE_COMMAND)
    async def lsp_workspace__execute_command(self, params: types.ExecuteCommandParams):
        return await self._server.execute(params)


class Analysis:
    """One version of a document, compiled, with what features derive from it (lazily)."""

    def __init__(self, document: Document):
        self.version = document.version
        self.text = document.text
        # positions convert against this version's text, even if an edit lands meanwhile
        self.document = Document.snapshot(document.uri, self.text, document.units)
        self.document.path, self.document.project = document.path, document.project
        self.compilation = compile_text(self.text, document.path, document.project)
        self._index = None
        self._plan = None
        self.plan_error: str | None = None
        self._view = False

    @property
    def index(self) -> features.Index:
        if self._index is None:
            self._index = features.Index(self.compilation)
        return self._index

    @property
    def plan(self):
        """This version's render plan, or None when its profile cannot be resolved (a broken
        moviola.toml, an unknown profile: ``plan_error`` says why)."""
        if self._plan is None and self.plan_error is None:
            try:
                self._plan = builds.make_plan(self.compilation.film, self.document.project)
            except ProfileError as error:
                self.plan_error = str(error)
        return self._plan

    @property
    def cache(self) -> builds.CacheView | None:
        """The cache's view of this version's plan (None: nothing rendered, runtime not loaded)."""
        if self._view is False:
            plan = self.plan
            self._view = builds.look(plan, self.document.project) if plan is not None else None
        return self._view


class _Diagnostics(threading.Thread):
    """Checks the newest version of each changed document and publishes its diagnostics."""

    def __init__(self, server: "MoviolaServer"):
        super().__init__(name="moviola-diagnostics", daemon=True)
        self.server = server
        self.condition = threading.Condition()
        self.pending: dict[str, tuple] = {}
        self.latest: dict[str, object] = {}
        self.converted: dict[str, dict] = {}     # per document: the last publish's conversions

    def submit(self, document: Document, checker: Session) -> None:
        with self.condition:
            self.latest[document.uri] = document.version
            self.pending[document.uri] = (document.version, document.text, checker, document)
            self.condition.notify()

    def forget(self, uri: str) -> None:
        with self.condition:
            self.latest.pop(uri, None)
            self.pending.pop(uri, None)
            self.converted.pop(uri, None)

    def run(self) -> None:
        quiet = True
        while True:
            with self.condition:
                while not self.pending:
                    # edits have paused for a second: the moment for a rare whole-heap collection
                    if not self.condition.wait(None if quiet else HEAP.PAUSE) and not quiet:
                        HEAP.reclaim_if_grown()
                        quiet = True
                uri, (version, text, checker, document) = self.pending.popitem()
            quiet = False

            def stale(uri=uri, version=version) -> bool:
                return self.latest.get(uri, version) != version or uri not in self.latest

            try:
                converted = editor_diagnostics(checker, uri, text, document.units,
                                               self.server.docs_page, stale,
                                               self.converted.setdefault(uri, {}))
            except Stale:
                continue
            except Exception:  # noqa: BLE001 - a checker bug must not stop diagnostics
                log.exception("checking %s failed", uri)
                continue
            self.server.call_soon(self._publish, uri, version, converted)

    def _publish(self, uri: str, version, converted: list) -> None:
        self.server.publish(uri, version, converted)
        HEAP.settle()       # once the diagnostics are out, never between an edit and them


def editor_diagnostics(checker: Session, uri: str, text: str, units: Units, docs: str | None,
                       stale=lambda: False, memo: dict | None = None) -> list[types.Diagnostic]:
    """One version's diagnostics as the editor gets them: what the diagnostics thread does per
    edit (benchmarks/lsp.py times it in process). Raises :class:`Stale` when ``stale()`` says a
    newer version is waiting. ``memo`` (kept per document between calls) holds the last
    call's conversions: a diagnostic whose lines are unchanged is not converted again (most
    of them, after an edit)."""
    found = checker.check(text, stale)
    if stale():
        raise Stale
    snapshot = Document.snapshot(uri, text, units)
    if memo is None:
        return [features.lsp_diagnostic(snapshot, d, docs) for d in found]
    previous = dict(memo)
    memo.clear()                                 # only this version's: it never grows
    lines = snapshot.lines
    converted = []
    for diagnostic in found:
        # a position is the code point column counted in client units on its line
        spans = (diagnostic.span, *(r.span for r in diagnostic.related))
        key = (diagnostic, docs, units.encoding, tuple(
            lines[n - 1] if 0 < n <= len(lines) else len(lines)
            for span in spans for n in (span.line, span.end_line)))
        lsp = previous.get(key)
        if lsp is None:
            lsp = features.lsp_diagnostic(snapshot, diagnostic, docs)
        memo[key] = lsp
        converted.append(lsp)
    return converted


class Heap:
    """Keeps Python's cycle collector off the edit → diagnostics path.

    The server's heap is large and long-lived: the imported protocol types (lsprotocol's
    classes alone make a full collection cost about 35 ms) and the checked script. Left to
    itself the collector walks all of it every twenty edits or so, and that full collection is
    the tail of edit → diagnostics (40-55 ms of CPU on an 8,000-line script). So after each
    publish everything alive is frozen (``gc.freeze``: out of the collector's reach, still freed
    by reference counting) once the garbage of that version is collected, which then costs well
    under a millisecond: only what was made since the last freeze is walked.

    An object frozen while alive that later dies inside a reference cycle is never freed while
    frozen. The session's checks make no cycles, but other threads (a hover's whole compile
    reading the profiles, a build) may. So when the frozen heap has grown by a quarter since the
    last whole-heap collection (the collector's own rule for full collections), the next pause
    in editing unfreezes and collects everything once."""

    PAUSE = 1.0             # seconds without an edit before a whole-heap collection may run
    GROWTH = 1.25

    def __init__(self):
        self.frozen_after_reclaim = 0

    def settle(self) -> None:
        gc.collect()
        gc.freeze()

    def reclaim(self) -> None:
        gc.unfreeze()
        gc.collect()
        gc.freeze()
        self.frozen_after_reclaim = gc.get_freeze_count()

    def reclaim_if_grown(self) -> None:
        if gc.get_freeze_count() > self.frozen_after_reclaim * self.GROWTH:
            self.reclaim()


HEAP = Heap()


def _safe(default=None):
    """Handlers answer even when something goes wrong: the error is logged, the editor gets an
    empty answer, and the server lives on."""
    def wrap(function):
        @functools.wraps(function)
        def run(*args, **kwargs):
            try:
                return function(*args, **kwargs)
            except features.RenameError:
                raise
            except Exception:  # noqa: BLE001
                log.exception("%s failed", function.__name__)
                return default() if callable(default) else default
        return run
    return wrap


class MoviolaServer(LanguageServer):
    def __init__(self):
        super().__init__("moviola", __version__, protocol_cls=_Protocol,
                         text_document_sync_kind=types.TextDocumentSyncKind.Incremental)
        self.documents: dict[str, Document] = {}
        self.checkers: dict[str, Session] = {}
        self.analyses: dict[str, Analysis] = {}
        self.lock = threading.RLock()
        self.diagnostics = _Diagnostics(self)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.docs_page = features.diagnostics_page()
        self.build_workers = builds.default_workers()
        self.cancels: dict[object, threading.Event] = {}
        self.workspace_cache: dict[str, tuple] = {}
        self.active: str | None = None        # the document opened or edited last

    # -- plumbing -----------------------------------------------------------------------------

    def call_soon(self, function, *args) -> None:
        """Run ``function`` on the event loop (where notifications from the diagnostics and
        build threads are sent from)."""
        if self.loop is not None:
            self.loop.call_soon_threadsafe(function, *args)

    def units(self) -> Units:
        try:
            return Units(self.workspace.position_encoding)
        except RuntimeError:
            return Units()

    def publish(self, uri: str, version, diagnostics: list) -> None:
        document = self.documents.get(uri)
        if document is None or document.version != version:
            return          # a newer version is on its way
        self.text_document_publish_diagnostics(types.PublishDiagnosticsParams(
            uri=uri, diagnostics=diagnostics, version=version))

    def analysis(self, uri: str) -> Analysis | None:
        """The compiled current version of an open document."""
        with self.lock:
            document = self.documents.get(uri)
            if document is None:
                return None
            current = self.analyses.get(uri)
            if current is None or current.version != document.version or current.text != document.text:
                current = self.analyses[uri] = Analysis(document)
            return current

    def names(self, uri: str) -> Names:
        """Names for completion, from the last check (no recompiling)."""
        checker = self.checkers.get(uri)
        if checker is None:
            return Names()
        declared = checker.declared
        return Names(characters=[c.name for c in declared["character"].values()],
                     locations=[l.name for l in declared["location"].values()],
                     themes=[t.name for t in declared["theme"].values()],
                     speakers=list(checker.speakers), places=list(checker.places))

    # -- documents ----------------------------------------------------------------------------

    def open(self, params: types.DidOpenTextDocumentParams) -> None:
        item = params.text_document
        document = Document(item.uri, item.text, item.version, self.units(), item.language_id)
        self.documents[item.uri] = document
        self.active = item.uri
        self.checkers[item.uri] = session(document.path, document.project)
        self._check(document)

    def change(self, params: types.DidChangeTextDocumentParams) -> None:
        document = self.documents.get(params.text_document.uri)
        if document is None:
            return
        for change in params.content_changes:
            document.apply(change)
        document.version = params.text_document.version
        self.active = document.uri
        self._check(document)

    def close(self, params: types.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        self.documents.pop(uri, None)
        self.checkers.pop(uri, None)
        self.analyses.pop(uri, None)
        self.diagnostics.forget(uri)
        if self.active == uri:
            self.active = next(reversed(self.documents), None)
        self.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=[]))

    def _check(self, document: Document) -> None:
        if not self.diagnostics.is_alive():
            self.diagnostics.start()
        self.diagnostics.submit(document, self.checkers[document.uri])

    # -- commands -----------------------------------------------------------------------------

    async def execute(self, params: types.ExecuteCommandParams):
        handlers = {"moviola.build": "film", "moviola.buildScene": "scene", "moviola.buildShot": "shot"}
        if params.command == "moviola.openFrame":
            return await self.open_frame(params.arguments or [])
        if params.command not in handlers:
            raise ValueError(f"unknown command {params.command!r}")
        return await self.build(params, handlers[params.command])

    async def open_frame(self, arguments: list):
        if not arguments:
            return None
        target = str(arguments[0])
        path = Path(_path_of(target))
        if path.suffix.lower() != ".png" or ".moviola" not in path.parts:
            raise ValueError("moviola.openFrame opens a rendered frame from a project's cache")
        uri = path.as_uri()
        if _capability(self.client_capabilities, "window", "show_document", "support"):
            await self.window_show_document_async(types.ShowDocumentParams(uri=uri, take_focus=True))
        return uri

    async def build(self, params: types.ExecuteCommandParams, scope: str) -> dict:
        arguments = list(params.arguments or [])
        uri = str(arguments[0]) if arguments else self.active
        if uri is None:
            return {"ok": False, "error": "no script to build"}
        document = self.documents.get(uri)
        if document is None:
            text = read_script(_path_of(uri))
            document = Document(uri, text, None, self.units())
        if document.project is None:
            return {"ok": False, "error": "save the script to a file first: a film builds in its folder"}
        compilation = compile_text(document.text, document.path, document.project)
        if compilation.errors:
            count = len(compilation.errors)
            message = f"{Path(document.path).name}: {count} error{'s' * (count != 1)}; fix them to build"
            self.window_show_message(types.ShowMessageParams(type=types.MessageType.Error, message=message))
            return {"ok": False, "error": message}
        try:
            plan = builds.make_plan(compilation.film, document.project)
        except ProfileError as error:
            self.window_show_message(types.ShowMessageParams(type=types.MessageType.Error,
                                                             message=f"Moviola: {error}"))
            return {"ok": False, "error": str(error)}
        cut_ids: tuple[str, ...] = ()
        output = None
        if scope == "film":
            title = "the film"
            output = document.project / "out" / f"{Path(document.path).stem}.mp4"
        else:
            target = arguments[1] if len(arguments) > 1 else None
            cuts = _cuts_for(compilation.film, plan, scope, target)
            if not cuts:
                return {"ok": False, "error": f"no {scope} at {target!r}"}
            cut_ids = tuple(cut.id for cut in cuts)
            title = (f"scene {cuts[0].scene_index}" if scope == "scene"
                     else "shot " + ", ".join(cut.label for cut in cuts))
            plan = builds.select(plan, set(cut_ids))
        token = params.work_done_token
        if token is None and _capability(self.client_capabilities, "window", "work_done_progress"):
            token = f"moviola-build-{uuid.uuid4().hex[:8]}"
            try:
                await self.work_done_progress.create_async(token)
            except Exception:  # noqa: BLE001 - the client refused: build without progress
                token = None
        cancel = threading.Event()
        if token is not None:
            self.cancels[token] = cancel
            self.work_done_progress.begin(token, types.WorkDoneProgressBegin(
                title=f"Moviola: rendering {title}", cancellable=True,
                message=f"{len(plan.jobs)} jobs", percentage=0))

        def progress(message: str, percent: int) -> None:
            if token is not None:
                self.call_soon(self.work_done_progress.report, token,
                               types.WorkDoneProgressReport(message=message, percentage=percent))

        request = builds.Request(title, plan, document.project, output, self.build_workers, cut_ids)
        loop = asyncio.get_running_loop()
        try:
            result = await loop.run_in_executor(None, builds.run, request, progress, cancel)
        except asyncio.CancelledError:          # $/cancelRequest: stop after the current job
            cancel.set()
            if token is not None:
                self.work_done_progress.end(token, types.WorkDoneProgressEnd(
                    message="cancelled: finished jobs are cached"))
            raise
        finally:
            self.cancels.pop(token, None)
        if token is not None:
            if result.get("ok"):
                done = (f"built {result['output']}" if result.get("output")
                        else f"rendered {title}") + f": {result['executed']} jobs rendered, {result['cached']} cached"
            else:
                done = "cancelled: finished jobs are cached" if result.get("cancelled") else f"failed: {result.get('error')}"
            self.work_done_progress.end(token, types.WorkDoneProgressEnd(message=done))
        if not result.get("ok") and not result.get("cancelled"):
            self.window_show_message(types.ShowMessageParams(
                type=types.MessageType.Error, message=f"Moviola: {result.get('error')}"))
        with self.lock:
            for analysis in self.analyses.values():
                if analysis.document.project == document.project:
                    analysis._view = False
        if _capability(self.client_capabilities, "workspace", "code_lens", "refresh_support"):
            try:
                self.workspace_code_lens_refresh(None)
            except Exception:  # noqa: BLE001
                pass
        return result


def _capability(capabilities, *path) -> bool:
    value = capabilities
    for name in path:
        value = getattr(value, name, None)
        if value is None:
            return False
    return bool(value)


def _path_of(uri_or_path: str) -> str:
    if uri_or_path.startswith("file:"):
        from pygls.uris import to_fs_path

        return to_fs_path(uri_or_path) or uri_or_path
    return uri_or_path


def _cuts_for(film, plan, scope: str, target) -> list:
    """The plan's cuts of a scene or a shot. ``target`` is what the code lenses send (a scene's
    index; a shot directive's 1-based line) or ``{"line": N}``: the scene, or the explicit shot,
    that holds 1-based line N (what an editor command sends for the cursor)."""
    line = target.get("line") if isinstance(target, dict) else None
    try:
        number = int(line if line is not None else target)
    except (TypeError, ValueError):
        return []
    if scope == "scene":
        if line is not None:
            scene = next((s for s in reversed(film.scenes) if s.span.line <= number), None)
            number = scene.index if scene is not None else -1
        return [cut for cut in plan.cuts if cut.scene_index == number]
    found = features.shot_at(film, number) if line is None else features.shot_holding(film, number)
    if found is None:
        return []
    ref, _ = found
    return features.cuts_of(plan.cuts, ref)


# -- features ---------------------------------------------------------------------------------

server = None


def create() -> MoviolaServer:
    ls = MoviolaServer()

    @ls.feature(types.INITIALIZE)
    def initialize(params: types.InitializeParams):
        ls.loop = asyncio.get_running_loop()
        options = params.initialization_options
        if isinstance(options, dict) and isinstance(options.get("buildWorkers"), int):
            ls.build_workers = max(1, options["buildWorkers"])

    @ls.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(params: types.DidOpenTextDocumentParams):
        ls.open(params)

    @ls.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(params: types.DidChangeTextDocumentParams):
        ls.change(params)

    @ls.feature(types.TEXT_DOCUMENT_DID_SAVE)
    def did_save(params: types.DidSaveTextDocumentParams):
        document = ls.documents.get(params.text_document.uri)
        if document is not None:
            ls.analyses.pop(document.uri, None)      # files it names may have appeared
            if profile_names(document.project) != ls.checkers[document.uri].profiles:
                # moviola.toml changed its profiles: the title page is checked against the new ones
                ls.checkers[document.uri] = session(document.path, document.project)
            ls._check(document)

    @ls.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(params: types.DidCloseTextDocumentParams):
        ls.close(params)

    @ls.feature(types.TEXT_DOCUMENT_COMPLETION, types.CompletionOptions(
        trigger_characters=["[", ":", ",", ";", " ", "/", "@", "-"]))
    @_safe(default=list)
    def completion(params: types.CompletionParams):
        document = ls.documents.get(params.text_document.uri)
        if document is None:
            return []
        line, col = document.server_position(params.position)
        items = complete(document.line, line - 1, col - 1, ls.names(document.uri), document.project,
                         lambda l, c: document.lsp_position(l + 1, c + 1))
        return types.CompletionList(is_incomplete=False, items=items)

    @ls.feature(types.TEXT_DOCUMENT_HOVER)
    @ls.thread()
    @_safe()
    def hover(params: types.HoverParams):
        analysis = ls.analysis(params.text_document.uri)
        if analysis is None:
            return None
        return _hover(analysis, *analysis.document.server_position(params.position))

    @ls.feature(types.TEXT_DOCUMENT_DEFINITION)
    @ls.thread()
    @_safe(default=list)
    def definition(params: types.DefinitionParams):
        analysis = ls.analysis(params.text_document.uri)
        if analysis is None:
            return []
        line, col = analysis.document.server_position(params.position)
        return features.definition(analysis.document, analysis.index, line, col)

    @ls.feature(types.TEXT_DOCUMENT_REFERENCES)
    @ls.thread()
    @_safe(default=list)
    def references(params: types.ReferenceParams):
        analysis = ls.analysis(params.text_document.uri)
        if analysis is None:
            return []
        line, col = analysis.document.server_position(params.position)
        include = params.context.include_declaration if params.context else True
        return features.references(analysis.document, analysis.index, line, col, include)

    @ls.feature(types.TEXT_DOCUMENT_PREPARE_RENAME)
    @ls.thread()
    @_safe()
    def prepare_rename(params: types.PrepareRenameParams):
        analysis = ls.analysis(params.text_document.uri)
        if analysis is None:
            return None
        line, col = analysis.document.server_position(params.position)
        return features.prepare_rename(analysis.document, analysis.index, line, col)

    @ls.feature(types.TEXT_DOCUMENT_RENAME, types.RenameOptions(prepare_provider=True))
    @ls.thread()
    @_safe()
    def rename(params: types.RenameParams):
        analysis = ls.analysis(params.text_document.uri)
        if analysis is None:
            return None
        line, col = analysis.document.server_position(params.position)
        return features.rename(analysis.document, analysis.index, line, col, params.new_name)

    @ls.feature(types.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
    @ls.thread()
    @_safe(default=list)
    def document_symbol(params: types.DocumentSymbolParams):
        analysis = ls.analysis(params.text_document.uri)
        if analysis is None:
            return []
        return features.document_symbols(analysis.document, analysis.compilation)

    @ls.feature(types.TEXT_DOCUMENT_FOLDING_RANGE)
    @ls.thread()
    @_safe(default=list)
    def folding_range(params: types.FoldingRangeParams):
        analysis = ls.analysis(params.text_document.uri)
        if analysis is None:
            return []
        return features.folding_ranges(analysis.document, analysis.compilation)

    @ls.feature(types.WORKSPACE_SYMBOL)
    @ls.thread()
    @_safe(default=list)
    def workspace_symbol(params: types.WorkspaceSymbolParams):
        return _workspace_symbols(ls, params.query)

    @ls.feature(types.TEXT_DOCUMENT_CODE_ACTION, types.CodeActionOptions(
        code_action_kinds=[types.CodeActionKind.QuickFix]))
    @ls.thread()
    @_safe(default=list)
    def code_action(params: types.CodeActionParams):
        analysis = ls.analysis(params.text_document.uri)
        if analysis is None:
            return []
        document = analysis.document
        first = document.server_position(params.range.start)
        last = document.server_position(params.range.end)
        return features.code_actions(document, analysis.compilation, first, last, ls.docs_page)

    @ls.feature(types.TEXT_DOCUMENT_CODE_LENS)
    @ls.thread()
    @_safe(default=list)
    def code_lens(params: types.CodeLensParams):
        analysis = ls.analysis(params.text_document.uri)
        if analysis is None:
            return []
        return _code_lenses(analysis)

    @ls.feature(types.WINDOW_WORK_DONE_PROGRESS_CANCEL)
    def cancel_progress(params: types.WorkDoneProgressCancelParams):
        event = ls.cancels.get(params.token)
        if event is not None:
            event.set()

    @ls.feature("moviola/serverInfo")
    def server_info(params):
        """Moviola's own request: the version, and whether the heavy parts are loaded (the
        server starts with the compiler alone; tests/test_lsp.py checks it stays that way)."""
        return {"version": __version__, "documents": len(ls.documents),
                "runtimeLoaded": "moviola.runtime" in sys.modules, "torchLoaded": "torch" in sys.modules}

    for name in COMMANDS:     # advertised; _Protocol.lsp_workspace__execute_command runs them
        ls.command(name)(lambda *args: None)
    return ls


def _hover(analysis: Analysis, line: int, col: int) -> types.Hover | None:
    document, film = analysis.document, analysis.compilation.film
    item = analysis.index.at(line, col)
    text = None
    span = None
    if item is not None:
        span = item.span
        if item.role == "heading":
            scene = features.scene_at(film, line)
            text = features.scene_markdown(film, scene) if scene else features.location_markdown(film, item.text)
        elif item.kind == "character":
            text = features.character_markdown(film, item.text)
        elif item.kind == "location":
            text = features.location_markdown(film, item.text)
        else:
            text = features.theme_markdown(film, item.text)
    elif (scene := features.scene_at(film, line)) is not None:
        text, span = features.scene_markdown(film, scene), scene.span
    elif (found := features.shot_directive_at(film, line, col)) is not None:
        ref, shot = found
        plan = analysis.plan
        if plan is None:
            return types.Hover(contents=types.MarkupContent(
                kind=types.MarkupKind.Markdown, value=f"cannot plan: {analysis.plan_error}"),
                range=document.lsp_range(shot.span))
        cuts = features.cuts_of(plan.cuts, ref)
        view = analysis.cache
        note_text = "cache: nothing rendered yet (no `.moviola/cache` in the project)" \
            if document.project is not None else "cache: save the script to build it"
        text = features.shot_markdown(cuts, view.states if view else None, note_text)
        span = shot.span
    if not text:
        return None
    return types.Hover(contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=text),
                       range=document.lsp_range(span) if span else None)


def _code_lenses(analysis: Analysis) -> list[types.CodeLens]:
    document, film = analysis.document, analysis.compilation.film
    if document.project is None:
        return []           # an unsaved buffer has no project folder to build in
    uri = document.uri
    plan = analysis.plan
    view = analysis.cache
    if plan is None:
        anchor = film.title_span if film.settings.title else (film.scenes[0].span if film.scenes else None)
        if anchor is None:
            return []
        position = document.lsp_position(anchor.line, 1)
        return [types.CodeLens(range=types.Range(start=position, end=position),
                               command=types.Command(title=f"⚠ {analysis.plan_error}", command=""))]

    def lens(span, title: str, command: str = "", arguments=None) -> types.CodeLens:
        position = document.lsp_position(span.line, 1)
        return types.CodeLens(range=types.Range(start=position, end=position),
                              command=types.Command(title=title, command=command, arguments=arguments))

    def rendered(cut) -> bool:
        return view is not None and view.rendered(cut.id)

    out = []
    first = film.title_span if film.settings.title else None
    if first is not None or film.scenes:
        anchor = first or film.scenes[0].span
        out.append(lens(anchor, "▶ render film", "moviola.build", [uri]))
    by_scene: dict[int, list] = {}
    for cut in plan.cuts:
        by_scene.setdefault(cut.scene_index, []).append(cut)
    for scene in film.scenes:
        if not scene.heading:
            continue
        cuts = by_scene.get(scene.index, [])
        out.append(lens(scene.span, "▶ render scene", "moviola.buildScene", [uri, scene.index]))
        done = sum(1 for cut in cuts if rendered(cut))
        if cuts and done == len(cuts):
            status = f"rendered ✓ ({len(cuts)} shots)"
        elif view is not None and view.built_before:
            status = f"stale: {done}/{len(cuts)} shots rendered"
        else:
            status = f"not rendered ({len(cuts)} shots)"
        out.append(lens(scene.span, status))
        for ref, shot in features.shots_of(scene):
            if not shot.explicit:
                continue
            shot_cuts = features.cuts_of(cuts, ref)
            out.append(lens(shot.span, "▶ render shot", "moviola.buildShot", [uri, shot.span.line]))
            frames = [view.frames[c.id] for c in shot_cuts if view and c.id in view.frames]
            if frames:
                out.append(lens(shot.span, "open rendered frame", "moviola.openFrame", [frames[0].as_uri()]))
            if shot_cuts and all(rendered(c) for c in shot_cuts):
                out.append(lens(shot.span, "rendered ✓"))
            elif view is not None and view.built_before:
                out.append(lens(shot.span, "stale"))
            else:
                out.append(lens(shot.span, "not rendered"))
    return out


def _workspace_symbols(ls: MoviolaServer, query: str) -> list[types.WorkspaceSymbol]:
    out = []
    seen = set()
    for uri in list(ls.documents):
        analysis = ls.analysis(uri)
        if analysis is None:
            continue
        seen.add(analysis.document.path)
        out += _symbols_of(analysis.document, analysis.compilation, query)
    try:
        folders = [f.uri for f in ls.workspace.folders.values()] or (
            [ls.workspace.root_uri] if ls.workspace.root_uri else [])
    except RuntimeError:
        folders = []
    files = []
    visited = 0
    for folder in folders:
        root = _path_of(folder)
        for directory, names, filenames in os.walk(root):
            names[:] = [n for n in names if n not in _SKIP_FOLDERS and not n.startswith(".")]
            files += [os.path.join(directory, f) for f in filenames if f.endswith(".fountain")]
            visited += 1
            if len(files) > _MAX_WORKSPACE_FILES or visited > _MAX_WORKSPACE_FOLDERS:
                break       # a workspace that is a whole home folder: the first scripts only
    for path in sorted(set(files))[:_MAX_WORKSPACE_FILES]:
        if path in seen or str(Path(path)) in seen:
            continue
        try:
            stat = os.stat(path)
        except OSError:
            continue
        key = (stat.st_mtime_ns, stat.st_size)
        cached = ls.workspace_cache.get(path)
        if cached is None or cached[0] != key:
            text = read_script(path)
            uri = Path(path).resolve().as_uri()
            document = Document(uri, text, None, ls.units())
            cached = ls.workspace_cache[path] = (key, document, compile_text(
                document.text, document.path, document.project))
        _, document, compilation = cached
        out += _symbols_of(document, compilation, query)
    return out


def _symbols_of(document: Document, compilation, query: str) -> list[types.WorkspaceSymbol]:
    return [types.WorkspaceSymbol(name=name, kind=kind, container_name=container,
                                  location=types.Location(uri=document.uri, range=document.lsp_range(span)))
            for name, kind, span, container in features.symbol_entries(compilation)
            if features.matches(query, name)]


def serve() -> None:
    """Run on stdio. The protocol gets its own copy of stdout; file descriptor 1 then points at
    stderr, so nothing a renderer or library prints can corrupt the JSON-RPC stream."""
    log_file = os.environ.get("MOVIOLA_LSP_LOG")       # editors often hide stderr
    logging.basicConfig(level=logging.WARNING, format="moviola lsp: %(levelname)s %(name)s: %(message)s",
                        **({"filename": log_file} if log_file else {"stream": sys.stderr}))
    channel = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    sys.stdout.flush()
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    global server
    server = create()
    HEAP.reclaim()          # the imported modules and classes, frozen before the first edit
    server.start_io(sys.stdin.buffer, channel)
