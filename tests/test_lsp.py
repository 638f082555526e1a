"""The language server, driven over stdio (`python -m moviola lsp`) by pygls' LanguageClient.

One server process serves a module's tests: :class:`Client` runs the client on an event loop in
a background thread, so the tests stay plain synchronous functions. ``Client`` is shared with
tests/test_lsp_build.py and tests/test_lsp_fuzz.py.
"""

from __future__ import annotations

import asyncio
import struct
import sys
import threading
import time
import wave
from pathlib import Path

import pytest
from lsprotocol import types as t
from pygls.lsp.client import LanguageClient

from moviola.compiler.api import compile_text

# -- the harness ------------------------------------------------------------------------------


class Client:
    """A real ``moviola lsp`` process and a pygls client talking to it."""

    def __init__(self, root: Path, options: dict | None = None):
        self.root = root
        self.diagnostics: dict[str, list[t.PublishDiagnosticsParams]] = {}
        self.progress: list[t.ProgressParams] = []
        self.shown: list[t.ShowDocumentParams] = []
        self.messages: list[t.ShowMessageParams] = []
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.versions: dict[str, int] = {}
        self.run(self._start(options or {"buildWorkers": 1}))

    def run(self, coroutine, timeout: float = 60):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    async def _start(self, options: dict) -> None:
        client = self.client = LanguageClient("moviola-tests", "1")

        @client.feature(t.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        def diagnostics(params: t.PublishDiagnosticsParams):
            self.diagnostics.setdefault(params.uri, []).append(params)

        @client.feature(t.PROGRESS)
        def progress(params: t.ProgressParams):
            self.progress.append(params)

        @client.feature(t.WINDOW_WORK_DONE_PROGRESS_CREATE)
        def create_progress(params):
            return None

        @client.feature(t.WINDOW_SHOW_DOCUMENT)
        def show_document(params: t.ShowDocumentParams):
            self.shown.append(params)
            return t.ShowDocumentResult(success=True)

        @client.feature(t.WINDOW_SHOW_MESSAGE)
        def show_message(params: t.ShowMessageParams):
            self.messages.append(params)

        @client.feature(t.WORKSPACE_CODE_LENS_REFRESH)
        def refresh(params):
            return None

        await client.start_io(sys.executable, "-m", "moviola", "lsp")
        capabilities = t.ClientCapabilities(
            window=t.WindowClientCapabilities(
                work_done_progress=True, show_document=t.ShowDocumentClientCapabilities(support=True)),
            workspace=t.WorkspaceClientCapabilities(
                code_lens=t.CodeLensWorkspaceClientCapabilities(refresh_support=True)),
            text_document=t.TextDocumentClientCapabilities(
                document_symbol=t.DocumentSymbolClientCapabilities(hierarchical_document_symbol_support=True),
                rename=t.RenameClientCapabilities(prepare_support=True)),
        )
        await client.initialize_async(t.InitializeParams(
            capabilities=capabilities, initialization_options=options,
            workspace_folders=[t.WorkspaceFolder(uri=self.root.as_uri(), name="films")]))
        client.initialized(t.InitializedParams())

    async def _notify(self, function, params) -> None:
        function(params)

    def notify(self, function, params) -> None:
        self.run(self._notify(function, params))

    async def _custom(self, method: str, params):
        return await self.client.protocol.send_request_async(method, params)

    def custom(self, method: str, params=None, timeout: float = 60):
        """A request Moviola adds to LSP (``moviola/serverInfo``)."""
        return self.run(self._custom(method, params or {}), timeout)

    def request(self, name: str, params, timeout: float = 60):
        return self.run(getattr(self.client, f"{name}_async")(params), timeout)

    # -- documents ----------------------------------------------------------------------------

    def open(self, path: Path, text: str | None = None) -> str:
        uri = path.as_uri()
        if text is None:
            text = path.read_text("utf-8")
        self.versions[uri] = 1
        self.notify(self.client.text_document_did_open, t.DidOpenTextDocumentParams(
            text_document=t.TextDocumentItem(uri=uri, language_id="fountain", version=1, text=text)))
        return uri

    def change(self, uri: str, *changes) -> int:
        """Each change is a full text (str) or (start line, start char, end line, end char, text),
        positions in UTF-16 units."""
        self.versions[uri] += 1
        events = []
        for change in changes:
            if isinstance(change, str):
                events.append(t.TextDocumentContentChangeWholeDocument(text=change))
            else:
                a, b, c, d, text = change
                events.append(t.TextDocumentContentChangePartial(
                    range=t.Range(start=t.Position(line=a, character=b), end=t.Position(line=c, character=d)),
                    text=text))
        self.notify(self.client.text_document_did_change, t.DidChangeTextDocumentParams(
            text_document=t.VersionedTextDocumentIdentifier(uri=uri, version=self.versions[uri]),
            content_changes=events))
        return self.versions[uri]

    def close_document(self, uri: str) -> None:
        self.notify(self.client.text_document_did_close, t.DidCloseTextDocumentParams(
            text_document=t.TextDocumentIdentifier(uri=uri)))

    def wait_diagnostics(self, uri: str, version: int | None = None, timeout: float = 20) -> list[t.Diagnostic]:
        version = self.versions[uri] if version is None else version
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            published = self.diagnostics.get(uri, [])
            if published and published[-1].version == version:
                return list(published[-1].diagnostics)
            time.sleep(0.005)
        raise AssertionError(f"no diagnostics for {uri} version {version}: "
                             f"{[p.version for p in self.diagnostics.get(uri, [])]}")

    @staticmethod
    def wait_until(condition, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError("timed out")
            time.sleep(0.005)

    def stop(self) -> None:
        try:
            self.request("shutdown", None, timeout=10)
            self.notify(self.client.exit, None)
            self.run(self.client.stop(), timeout=10)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(5)


def doc(uri: str) -> t.TextDocumentIdentifier:
    return t.TextDocumentIdentifier(uri=uri)


def at(uri: str, line: int, character: int) -> dict:
    return {"text_document": doc(uri), "position": t.Position(line=line, character=character)}


def utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def write_wav(path: Path, seconds: float = 0.2) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(struct.pack("<h", 0) * int(16000 * seconds))


PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f"
       b"\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND"
       b"\xaeB`\x82")

# -- the project the tests open -----------------------------------------------------------------

SCRIPT = """\
Title: The Kitchen
Author: Tests

[[location KITCHEN: a small kitchen, flowered oilcloth on the table; refs: refs/]]
[[location GARDEN: a walled garden, pear trees]]
[[character MARIE: a woman of eighty, white bun, navy cardigan; voice: voices/marie.wav]]
[[character JULIE: her granddaughter, yellow raincoat]]
[[theme RIVER: sparse piano and cello, 70 bpm]]

# ONE

INT. KITCHEN - DAY

[[shot: wide, slow push in, 4s]]
[[music: RIVER, fade in 2s]]
MARIE sits at the table. Café au lait, 😀 steam.

MARIE (V.O.)
It was here.

[[shot: close-up, 3s]]
JULIE watches her.

JULIE
Mamie?

/* a boneyard
that runs over lines */

[[Check the light
in the morning]]

EXT. GARDEN - NIGHT

MARIE
Come.
"""

# line numbers (0-based) of SCRIPT
L_KITCHEN_DECL, L_MARIE_DECL, L_HEADING, L_SHOT, L_MUSIC, L_ACTION, L_CUE_VO = 3, 5, 11, 13, 14, 15, 17
L_SHOT2, L_JULIE_CUE, L_GARDEN, L_MARIE_CUE2 = 20, 23, 32, 34

BROKEN = """\
Title: Broken

[[character MARIE: a woman]]
[[theme RIVER: piano]]

INT. HALL - DAY

[[shot: wdie, 4s]]
Café 😀 au lait [[shot: 7x]]

ROSE
Hello.

[[music: RIVR]]

MARIE
Hi.
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("films")
    (root / "kitchen.fountain").write_text(SCRIPT, "utf-8")
    (root / "refs").mkdir()
    (root / "refs" / "table.png").write_bytes(PNG)
    (root / "refs" / "notes.txt").write_text("not an image")
    write_wav(root / "voices" / "marie.wav")
    other = root / "more"
    other.mkdir()
    (other / "ferry.fountain").write_text("INT. FERRY DECK - NIGHT\n\nThe FERRYMAN coils a rope.\n", "utf-8")
    return root


@pytest.fixture(scope="module")
def client(project):
    session = Client(project)
    yield session
    session.stop()


@pytest.fixture(scope="module")
def kitchen(client, project) -> str:
    uri = client.open(project / "kitchen.fountain")
    client.wait_diagnostics(uri, 1)
    return uri


# -- diagnostics ------------------------------------------------------------------------------


def test_the_server_starts_with_the_compiler_alone(project):
    session = Client(project)
    try:
        uri = session.open(project / "kitchen.fountain")
        session.wait_diagnostics(uri, 1)
        session.request("text_document_completion", t.CompletionParams(**at(uri, L_SHOT, 8)))
        session.request("text_document_hover", t.HoverParams(**at(uri, L_CUE_VO, 2)))
        info = session.custom("moviola/serverInfo")
        assert info.runtimeLoaded is False and info.torchLoaded is False
    finally:
        session.stop()


def test_a_clean_script_has_no_diagnostics(client, kitchen):
    assert client.wait_diagnostics(kitchen, 1) == []


def test_diagnostics_match_moviola_check_with_utf16_ranges(client, project):
    path = project / "broken.fountain"
    uri = client.open(path, BROKEN)
    found = client.wait_diagnostics(uri, 1)
    expected = compile_text(BROKEN, str(path), project).diagnostics
    assert [d.code for d in found] == [d.code for d in expected]
    assert {d.source for d in found} == {"moviola"}
    by_code = {d.code: d for d in found}
    assert by_code["E205"].severity == t.DiagnosticSeverity.Error
    assert by_code["W505"].severity == t.DiagnosticSeverity.Warning
    assert "did you mean `wide`" in by_code["E205"].message
    assert by_code["E205"].range == t.Range(start=t.Position(line=7, character=8),
                                            end=t.Position(line=7, character=12))
    # after "Café 😀 au lait [[shot: " the emoji counts two UTF-16 units, é one
    line = BROKEN.splitlines()[8]
    start = utf16(line[:line.index("7x")])
    assert by_code["E301"].range.start == t.Position(line=8, character=start)
    assert by_code["E301"].range.end == t.Position(line=8, character=start + 2)
    assert start == line.index("7x") + 1
    client.close_document(uri)


def test_related_information_for_a_duplicate(client, project):
    text = "[[character MARIE: one]]\n[[character MARIE: two]]\n\nMARIE\nHi.\n"
    uri = client.open(project / "dup.fountain", text)
    found = client.wait_diagnostics(uri, 1)
    duplicate = next(d for d in found if d.code == "E204")
    assert duplicate.range.start.line == 1
    (related,) = duplicate.related_information
    assert related.location.range.start == t.Position(line=0, character=12)
    assert related.message == "first declared here"
    client.close_document(uri)


def test_every_edit_gets_fresh_diagnostics(client, project):
    uri = client.open(project / "edits.fountain", BROKEN)
    assert "E205" in {d.code for d in client.wait_diagnostics(uri, 1)}
    version = client.change(uri, (7, 8, 7, 12, "wide"))             # wdie → wide
    codes = [d.code for d in client.wait_diagnostics(uri, version)]
    assert "E205" not in codes and "E301" in codes
    version = client.change(uri, (0, 0, 0, 0, "\n\n"))               # everything moves down 2 lines
    moved = {d.code: d for d in client.wait_diagnostics(uri, version)}
    assert moved["E301"].range.start.line == 10
    # a burst of edits: only the newest version counts, and it is published
    for _ in range(15):
        version = client.change(uri, (11, 0, 11, 0, "x"))
    final = client.wait_diagnostics(uri, version)
    versions = [p.version for p in client.diagnostics[uri]]
    assert versions == sorted(versions) and versions[-1] == version
    text = "\n\n" + BROKEN.replace("wdie", "wide")
    lines = text.split("\n")
    lines[11] = "x" * 15 + lines[11]
    assert [d.code for d in final] == [d.code for d in compile_text("\n".join(lines), "e", project).diagnostics]
    client.close_document(uri)
    client.wait_until(lambda: not client.diagnostics[uri][-1].diagnostics)


# -- completion -------------------------------------------------------------------------------


def complete(client, uri, line, character) -> list[str]:
    result = client.request("text_document_completion", t.CompletionParams(**at(uri, line, character)))
    items = result.items if isinstance(result, t.CompletionList) else result
    return [item.text_edit.new_text if item.text_edit else item.label for item in items]


@pytest.fixture(scope="module")
def scratch(client, project, kitchen):
    """A document to type into: the kitchen script with a blank line then a line to edit."""
    uri = client.open(project / "scratch.fountain", SCRIPT + "\n\n")
    client.wait_diagnostics(uri, 1)
    return uri


def type_line(client, uri, text: str) -> int:
    """Replace the scratch document's last line with ``text``; returns its line number."""
    line = SCRIPT.count("\n") + 1
    version = client.change(uri, (line, 0, line + 1, 0, text))
    client.wait_diagnostics(uri, version)
    return line


def test_completion_of_character_cues(client, scratch):
    line = type_line(client, scratch, "")
    names = complete(client, scratch, line, 0)
    assert "MARIE" in names and "JULIE" in names and "INT. " in names
    line = type_line(client, scratch, "JU")
    assert complete(client, scratch, line, 2) == ["JULIE"]


def test_completion_in_scene_headings(client, scratch):
    line = type_line(client, scratch, "IN")
    assert "INT. " in complete(client, scratch, line, 2)
    line = type_line(client, scratch, "INT. ")
    assert {"KITCHEN", "GARDEN"} <= set(complete(client, scratch, line, 5))
    line = type_line(client, scratch, "EXT. GARDEN - ")
    times = complete(client, scratch, line, 14)
    assert "NIGHT" in times and "DAWN" in times
    line = type_line(client, scratch, "EXT. GARDEN - NI")
    assert complete(client, scratch, line, 16) == ["NIGHT"]


def test_completion_of_directive_keywords_and_properties(client, scratch):
    line = type_line(client, scratch, "[[")
    words = complete(client, scratch, line, 2)
    assert {"shot: ", "music: ", "sfx: ", "voice: ", "location ", "character ", "theme "} <= set(words)
    line = type_line(client, scratch, "[[sh")
    assert complete(client, scratch, line, 4) == ["shot: "]
    line = type_line(client, scratch, "[[shot: wide; ")
    assert set(complete(client, scratch, line, 14)) == {"from: ", "seed: "}
    line = type_line(client, scratch, "[[character ROSE: a washerwoman; ")
    assert set(complete(client, scratch, line, 33)) == {"voice: ", "refs: ", "lora: ", "train: ", "seed: "}


def test_completion_of_shot_sizes_moves_and_themes(client, scratch):
    line = type_line(client, scratch, "[[shot: ")
    terms = complete(client, scratch, line, 8)
    assert {"wide", "close-up", "extreme close-up", "push in", "pan left", "static"} <= set(terms)
    line = type_line(client, scratch, "[[shot: wide, slow p")
    assert {"slow push in", "slow pull out", "slow pan left"} <= set(complete(client, scratch, line, 20))
    line = type_line(client, scratch, "[[music: ")
    assert {"RIVER", "stop"} <= set(complete(client, scratch, line, 9))


def test_completion_and_hover_of_a_matching_cut(client, scratch):
    line = type_line(client, scratch, "[[shot: close-up, cont")
    assert complete(client, scratch, line, 22) == ["continues"]
    line = type_line(client, scratch, "[[shot: close-up, continues]]")
    assert "starts from the previous shot's last frame" in hover(client, scratch, line, 10)


def test_completion_offers_the_camera_language(client, scratch):
    line = type_line(client, scratch, "[[shot: wide, ")
    terms = set(complete(client, scratch, line, 14))
    assert {"low angle", "dutch angle", "overhead", "35mm", "telephoto lens", "rack focus",
            "shallow focus", "low-key", "silhouette"} <= terms
    line = type_line(client, scratch, "[[shot: wide, ste")
    assert "steadicam" in complete(client, scratch, line, 17)
    line = type_line(client, scratch, "[[shot: wide, bird")
    assert "bird's eye" in complete(client, scratch, line, 18)


def test_hover_on_a_shot_shows_its_camera_language(client, scratch):
    line = type_line(client, scratch, "[[shot: medium, low angle, 85mm, rack focus, backlit]]")
    text = hover(client, scratch, line, 10)
    assert "camera: low angle, 85mm lens, rack focus, backlit" in text
    assert "low angle shot" in text and "85mm lens" in text     # and the prompt says them


def test_completion_of_project_files(client, scratch):
    line = type_line(client, scratch, "[[location ATTIC: dusty; refs: ")
    assert complete(client, scratch, line, 31) == ["more/", "refs/", "voices/"]
    line = type_line(client, scratch, "[[location ATTIC: dusty; refs: refs/")
    assert complete(client, scratch, line, 36) == ["refs/table.png"]     # not notes.txt
    line = type_line(client, scratch, "[[character ROSE: loud; voice: voices/m")
    assert complete(client, scratch, line, 39) == ["voices/marie.wav"]
    for outside in ("../", "/", "refs/../../", "~/"):
        text = f"[[shot: wide; from: {outside}"
        line = type_line(client, scratch, text)
        assert complete(client, scratch, line, len(text)) == []


# -- hover ------------------------------------------------------------------------------------


def hover(client, uri, line, character) -> str:
    result = client.request("text_document_hover", t.HoverParams(**at(uri, line, character)))
    return result.contents.value if result else ""


def test_hover_on_a_cue_shows_the_character(client, kitchen):
    text = hover(client, kitchen, L_CUE_VO, 2)
    assert "MARIE" in text and "white bun, navy cardigan" in text and "voices/marie.wav" in text


def test_hover_on_a_heading_shows_the_location(client, kitchen):
    text = hover(client, kitchen, L_HEADING, 1)
    assert "KITCHEN" in text and "flowered oilcloth" in text and "refs/" in text and "DAY" in text


def test_hover_on_a_declaration_shows_its_seed_base(client, scratch):
    line = type_line(client, scratch, "[[character ROSE: loud; seed: 5]]")
    assert "seed: 5, the seed base of its close shots" in hover(client, scratch, line, 13)
    line = type_line(client, scratch, "[[character ROSE: loud]]")
    assert "seed base" not in hover(client, scratch, line, 13)


def test_hover_on_a_shot_shows_the_resolved_shot(client, kitchen):
    text = hover(client, kitchen, L_SHOT, 10)
    assert "wide" in text and "slow push in" in text and "4s" in text
    assert "prompt:" in text and "flowered oilcloth" in text       # the location is in the prompt
    assert "nothing rendered yet" in text


# -- navigation ---------------------------------------------------------------------------------


def test_document_symbols_nest_sections_scenes_and_shots(client, kitchen):
    symbols = client.request("text_document_document_symbol", t.DocumentSymbolParams(text_document=doc(kitchen)))
    names = [s.name for s in symbols]
    assert names[:5] == ["MARIE", "JULIE", "KITCHEN", "GARDEN", "RIVER"]
    (section,) = [s for s in symbols if s.name == "ONE"]
    assert [s.name for s in section.children] == ["INT. KITCHEN - DAY", "EXT. GARDEN - NIGHT"]
    kitchen_scene = section.children[0]
    assert [s.name for s in kitchen_scene.children] == ["shot: wide, slow push in, 4s", "shot: close-up, 3s"]
    assert kitchen_scene.children[0].selection_range.start.line == L_SHOT


def test_definition_and_references_of_a_character(client, kitchen):
    (target,) = client.request("text_document_definition", t.DefinitionParams(**at(kitchen, L_CUE_VO, 1)))
    assert target.range.start == t.Position(line=L_MARIE_DECL, character=12)
    found = client.request("text_document_references", t.ReferenceParams(
        **at(kitchen, L_MARIE_DECL, 13), context=t.ReferenceContext(include_declaration=True)))
    lines = sorted(r.range.start.line for r in found)
    assert lines == [L_MARIE_DECL, L_ACTION, L_CUE_VO, L_MARIE_CUE2]


def test_definition_and_references_of_a_location_and_a_theme(client, kitchen):
    (target,) = client.request("text_document_definition", t.DefinitionParams(**at(kitchen, L_HEADING, 7)))
    assert target.range.start.line == L_KITCHEN_DECL
    (target,) = client.request("text_document_definition", t.DefinitionParams(**at(kitchen, L_MUSIC, 11)))
    assert target.range.start.line == 7
    found = client.request("text_document_references", t.ReferenceParams(
        **at(kitchen, 7, 9), context=t.ReferenceContext(include_declaration=False)))
    assert [(r.range.start.line, r.range.start.character) for r in found] == [(L_MUSIC, 9)]


def test_rename_a_character_everywhere(client, kitchen):
    prepared = client.request("text_document_prepare_rename", t.PrepareRenameParams(**at(kitchen, L_CUE_VO, 2)))
    assert prepared.placeholder == "MARIE"
    edit = client.request("text_document_rename", t.RenameParams(**at(kitchen, L_CUE_VO, 2), new_name="Rosa"))
    edits = sorted(edit.changes[kitchen], key=lambda e: (e.range.start.line, e.range.start.character))
    assert [(e.range.start.line, e.range.start.character, e.range.end.character, e.new_text) for e in edits] == [
        (L_MARIE_DECL, 12, 17, "ROSA"),
        (L_ACTION, 0, 5, "ROSA"),
        (L_CUE_VO, 0, 5, "ROSA"),          # "MARIE (V.O.)" keeps its extension
        (L_MARIE_CUE2, 0, 5, "ROSA"),
    ]


def test_rename_refuses_what_is_not_a_name(client, kitchen):
    from pygls.exceptions import JsonRpcException

    with pytest.raises(JsonRpcException, match="not a name"):
        client.request("text_document_rename", t.RenameParams(**at(kitchen, L_CUE_VO, 2), new_name="A: B"))
    assert client.request("text_document_prepare_rename", t.PrepareRenameParams(**at(kitchen, 0, 2))) is None


def test_rename_a_location_in_headings_and_declarations(client, kitchen):
    edit = client.request("text_document_rename", t.RenameParams(**at(kitchen, L_HEADING, 6), new_name="scullery"))
    edits = sorted((e.range.start.line, e.range.start.character, e.new_text) for e in edit.changes[kitchen])
    assert edits == [(L_KITCHEN_DECL, 11, "SCULLERY"), (L_HEADING, 5, "SCULLERY")]


def test_folding_ranges(client, kitchen):
    ranges = client.request("text_document_folding_range", t.FoldingRangeParams(text_document=doc(kitchen)))
    spans = {(r.start_line, r.end_line, r.kind) for r in ranges}
    assert (0, 1, "region") in spans                             # title page
    assert (L_HEADING, 30, "region") in spans                    # the kitchen scene
    assert (26, 27, "comment") in spans                          # boneyard
    assert (29, 30, "comment") in spans                          # a note over two lines
    assert any(r.start_line == 9 and r.end_line >= L_MARIE_CUE2 for r in ranges)   # section ONE


def test_workspace_symbols_cover_open_documents_and_files_on_disk(client, kitchen):
    found = client.request("workspace_symbol", t.WorkspaceSymbolParams(query="kitch"))
    names = {(s.name, s.location.uri.rsplit("/", 1)[-1]) for s in found}
    assert ("KITCHEN", "kitchen.fountain") in names and ("INT. KITCHEN - DAY", "kitchen.fountain") in names
    found = client.request("workspace_symbol", t.WorkspaceSymbolParams(query="ferry"))
    assert [s.name for s in found] == ["INT. FERRY DECK - NIGHT"]


# -- code actions and lenses ------------------------------------------------------------------


def test_code_actions_declare_and_did_you_mean(client, project):
    uri = client.open(project / "actions.fountain", BROKEN)
    found = client.wait_diagnostics(uri, 1)
    rose = next(d for d in found if d.code == "W505")
    actions = client.request("text_document_code_action", t.CodeActionParams(
        text_document=doc(uri), range=rose.range, context=t.CodeActionContext(diagnostics=[rose])))
    (declare,) = [a for a in actions if a.title == "Declare character ROSE"]
    (insert,) = declare.edit.changes[uri]
    assert insert.range.start == t.Position(line=2, character=28)   # after the other character
    assert insert.new_text == "\n[[character ROSE: ]]"
    typo = next(d for d in found if d.code == "E205")
    actions = client.request("text_document_code_action", t.CodeActionParams(
        text_document=doc(uri), range=typo.range, context=t.CodeActionContext(diagnostics=[typo])))
    (fix,) = [a for a in actions if a.title == "Replace with wide"]
    (edit,) = fix.edit.changes[uri]
    assert edit.new_text == "wide" and edit.range == typo.range and fix.is_preferred
    theme = next(d for d in found if d.code == "E203")
    actions = client.request("text_document_code_action", t.CodeActionParams(
        text_document=doc(uri), range=theme.range, context=t.CodeActionContext(diagnostics=[theme])))
    assert {a.title for a in actions} == {"Replace with RIVER", "Declare theme RIVR"}
    # applying the declaration silences the warning
    version = client.change(uri, (2, 28, 2, 28, "\n[[character ROSE: ]]"))
    assert "W505" not in {d.code for d in client.wait_diagnostics(uri, version)}
    client.close_document(uri)


def test_code_lenses_on_headings_and_shots(client, kitchen):
    lenses = client.request("text_document_code_lens", t.CodeLensParams(text_document=doc(kitchen)))
    by_line: dict[int, list[str]] = {}
    for lens in lenses:
        by_line.setdefault(lens.range.start.line, []).append(lens.command.title)
    assert "▶ render film" in by_line[0]
    assert "▶ render scene" in by_line[L_HEADING]
    assert by_line[L_SHOT] == ["▶ render shot", "not rendered"]
    scene = next(lens for lens in lenses if lens.command.title == "▶ render scene")
    assert scene.command.command == "moviola.buildScene" and list(scene.command.arguments) == [kitchen, 1]


def test_a_saved_script_is_checked_against_the_profiles_moviola_toml_now_defines(client, tmp_path):
    path = tmp_path / "film.fountain"
    text = "Title: X\nProfile: mine\n\nINT. HALL - DAY\n\nShe waits.\n"
    path.write_text(text, "utf-8")
    uri = client.open(path, text)
    assert [d.code for d in client.wait_diagnostics(uri, 1)] == ["E304"]       # unknown profile
    (tmp_path / "moviola.toml").write_text("[profiles.mine]\nbase = \"draft\"\n", "utf-8")
    published = len(client.diagnostics[uri])
    client.notify(client.client.text_document_did_save, t.DidSaveTextDocumentParams(
        text_document=t.TextDocumentIdentifier(uri=uri)))
    client.wait_until(lambda: len(client.diagnostics[uri]) > published)
    assert list(client.diagnostics[uri][-1].diagnostics) == []
    client.close_document(uri)
