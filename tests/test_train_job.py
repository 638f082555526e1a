"""`train: lora` on a declaration: a train job in the plan whose key covers the dataset's bytes,
the keyframes (and through them the clips) of the asset's shots depending on it, and an
end-to-end build on a tiny CPU model whose keyframes the trained LoRA changes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from projects import TINY_KEYFRAMES_TOML

from moviola.compiler.api import compile_file, compile_text
from moviola.compiler.plan import JobRef, plan_in_project

pytestmark = pytest.mark.models

SCRIPT = """\
Title: Trained
Resolution: 96x64
FPS: 12
Seed: 3

[[location ROOM: a small room with striped walls; refs: refs/room/; train: lora, rank 4, 4 steps, learning rate 3e-2, resolution 32]]
[[location HALL: a long hall]]

INT. ROOM - DAY

[[shot: wide, 1s]]
The striped room, empty.

INT. HALL - DAY

[[shot: wide, 1s]]
The hall, empty.
"""

ELSEWHERE = """
INT. HALL - NIGHT

[[shot: close-up, 1s]]
A lamp in the hall.
"""

TOML = TINY_KEYFRAMES_TOML


def write_pictures(folder: Path) -> None:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    # five distinct photos (training needs five; near-duplicates would not count)
    sizes = [(64, 64), (96, 64), (64, 96), (80, 64), (64, 80)]
    for index, (width, height) in enumerate(sizes):
        pixels = np.full((height, width, 3), 40, np.uint8)
        rows, columns = np.mgrid[0:height, 0:width]
        pixels[(rows // (4 + 2 * index) + columns // (6 + 3 * index)) % 2 == 0] = 230
        pixels[:, ::16, 2] = 200 - 30 * index
        Image.fromarray(pixels).save(folder / f"photo{index}.png")
    (folder / "photo0.txt").write_text("striped walls in morning light\n")


def make_project(root: Path, script: str = SCRIPT) -> Path:
    write_pictures(root / "refs" / "room")
    (root / "film.fountain").write_text(script)
    (root / "moviola.toml").write_text(TOML)
    return root


def planned(project: Path, profile: str = "tiny"):
    compilation = compile_file(project / "film.fountain")
    assert not [d for d in compilation.diagnostics if d.severity.name == "ERROR"], compilation.diagnostics
    return plan_in_project(compilation.film, project, profile)


def resolved_keys(render_plan, project: Path) -> dict:
    """Every job's resolved key (the bytes of its files, its inputs' resolved keys)."""
    from moviola.runtime.cache import Cache
    from moviola.runtime.executor import Executor

    executor = Executor(render_plan, project, Cache(project / ".moviola" / "cache"))
    for job in render_plan.jobs:
        executor.keys[job.ref] = executor.resolve_key(job, {})
    return {job.id: executor.keys[job.ref] for job in render_plan.jobs}


TRAIN = JobRef("train", "location/ROOM")


def test_a_trained_location_is_a_train_job_its_shots_depend_on(tmp_path):
    project = make_project(tmp_path)
    render_plan = planned(project)
    train = render_plan.job(TRAIN)
    assert train.backend == "training.lora" and train.model == "models/sd"
    assert train.files == ("refs/room/photo0.png", "refs/room/photo0.txt", "refs/room/photo1.png",
                           "refs/room/photo2.png", "refs/room/photo3.png", "refs/room/photo4.png")
    params = train.params
    assert (params.rank, params.steps, params.learning_rate, params.resolution, params.seed) == \
        (4, 4, 0.03, 32, 0)
    assert params.trigger == "room place" and params.model["model"] == "models/sd"
    room, hall = (cut for cut in render_plan.cuts if cut.card is None)
    assert render_plan.job(JobRef("keyframe", room.id)).inputs == (TRAIN,)
    assert render_plan.job(JobRef("keyframe", hall.id)).inputs == ()
    assert "room place" in room.prompt and "room place" not in hall.prompt
    # training goes before the keyframes that apply it
    order = [job.ref for job in render_plan.jobs]
    assert order.index(TRAIN) < order.index(JobRef("keyframe", room.id))


def test_editing_one_photo_retrains_and_rerenders_only_that_locations_shots(tmp_path):
    project = make_project(tmp_path)
    render_plan = planned(project)
    before = resolved_keys(render_plan, project)
    photo = project / "refs" / "room" / "photo1.png"
    photo.write_bytes(photo.read_bytes() + b"\0")
    after = resolved_keys(render_plan, project)
    changed = {job for job in before if before[job] != after[job]}
    room, hall = (cut for cut in render_plan.cuts if cut.card is None)
    assert changed == {str(TRAIN), f"keyframe:{room.id}", f"clip:{room.id}",
                       "mux:film", "otio:film", "contact_sheet:film"}
    # a caption is part of the dataset too
    (project / "refs" / "room" / "photo0.txt").write_text("bare walls\n")
    assert resolved_keys(render_plan, project)[str(TRAIN)] != after[str(TRAIN)]


def test_adding_a_scene_elsewhere_retrains_nothing(tmp_path):
    project = make_project(tmp_path)
    before = planned(project)
    (project / "film.fountain").write_text(SCRIPT + ELSEWHERE)
    after = planned(project)
    assert after.job(TRAIN).key == before.job(TRAIN).key
    assert len(after.cuts) == len(before.cuts) + 1
    room = next(cut for cut in before.cuts if cut.card is None)
    assert after.job(JobRef("keyframe", room.id)).key == before.job(JobRef("keyframe", room.id)).key


def test_a_changed_setting_retrains(tmp_path):
    project = make_project(tmp_path)
    before = planned(project).job(TRAIN).key
    (project / "film.fountain").write_text(SCRIPT.replace("4 steps", "5 steps"))
    assert planned(project).job(TRAIN).key != before


def test_the_draft_profile_trains_nothing_and_says_so(tmp_path, capsys):
    from moviola.cli import main

    project = make_project(tmp_path)
    render_plan = planned(project, "draft")
    assert not [job for job in render_plan.jobs if job.kind == "train"]
    assert render_plan.notes and "ROOM" in render_plan.notes[0] and "draft" in render_plan.notes[0]
    assert main(["plan", str(project / "film.fountain")]) == 0
    assert "not trained under the draft profile" in " ".join(capsys.readouterr().out.split())
    assert main(["plan", str(project / "film.fountain"), "--json"]) == 0
    assert "ROOM" in json.loads(capsys.readouterr().out)["notes"][0]
    assert main(["plan", str(project / "film.fountain"), "--profile", "tiny"]) == 0
    out = capsys.readouterr().out
    assert "train lora ROOM" in out and "0:32" in out      # 30 s to load + 4 steps × 0.5 s


def codes(text: str, project: Path) -> list:
    return [d for d in compile_text(text, str(project / "film.fountain"), project).diagnostics
            if d.severity.name == "ERROR"]


def test_train_without_refs_and_unknown_options_are_diagnostics(tmp_path):
    project = make_project(tmp_path)
    found = codes(SCRIPT.replace("refs: refs/room/; ", ""), project)
    assert [d.code for d in found] == ["E209"]
    assert found[0].span.line == 6 and "no `refs:`" in found[0].message
    found = codes(SCRIPT.replace("rank 4", "rnak 4").replace("train: lora", "train: lroa", 1)
                  .replace("[[location HALL: a long hall]]",
                           "[[location HALL: a long hall; refs: refs/room/; train: lora, 4 stpes]]"),
                  project)
    assert [(d.code, d.help) for d in found] == [("E208", "did you mean `lora`?"),
                                                 ("E208", "did you mean `steps`?")]
    found = codes(SCRIPT.replace("rank 4", "rank 4.5"), project)
    assert [d.code for d in found] == ["E207"]


# -- end to end, on a tiny random-weight Stable Diffusion ---------------------------------------

@pytest.fixture(scope="module")
def built(tmp_path_factory):
    pytest.importorskip("torch")
    pytest.importorskip("diffusers")
    pytest.importorskip("peft")
    import tiny_models

    root = tmp_path_factory.mktemp("train-job")
    tiny_models.build_text_to_image(root / "models" / "sd")
    return make_project(root)


@pytest.mark.usefixtures("torch_one_thread")
@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_a_build_trains_the_location_and_its_keyframes_use_the_lora(built, tmp_path):
    from test_build import decode

    from moviola.cli import main
    from moviola.runtime.build import Build

    trained_mp4, plain_mp4 = built / "out" / "trained.mp4", tmp_path / "plain" / "out" / "plain.mp4"
    assert main(["build", str(built / "film.fountain"), "--profile", "tiny", "-o", str(trained_mp4),
                 "--quiet"]) == 0
    plain = tmp_path / "plain"
    shutil.copytree(built / "models", plain / "models")
    make_project(plain, SCRIPT.replace("; train: lora, rank 4, 4 steps, learning rate 3e-2, "
                                       "resolution 32", ""))
    assert main(["build", str(plain / "film.fountain"), "--profile", "tiny", "-o", str(plain_mp4),
                 "--quiet"]) == 0
    trained, untrained = decode(trained_mp4), decode(plain_mp4)
    assert (trained["width"], trained["height"], trained["frames"]) == \
        (untrained["width"], untrained["height"], untrained["frames"]) == (96, 64, trained["frames"])
    assert trained["video_sha"] != untrained["video_sha"]

    def keyframes(project: Path) -> dict:
        render_plan = planned(project)
        build = Build(render_plan, project)
        build.run()                                    # all cached: reads the entries back
        from PIL import Image

        return {cut.label: np.asarray(Image.open(build.entry(JobRef("keyframe", cut.id)).path
                                                 / "keyframe.png"), dtype=np.int16)
                for cut in render_plan.cuts}

    with_lora, without = keyframes(built), keyframes(plain)
    room, hall = sorted(label for label in with_lora if label != "0.1")
    assert np.abs(with_lora[room] - without[room]).max() > 0
    assert np.array_equal(with_lora["0.1"], without["0.1"])       # the title card
    assert np.array_equal(with_lora[hall], without[hall])          # the hall is not trained


@pytest.mark.usefixtures("torch_one_thread")
@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_the_keyframe_backend_applies_the_trained_lora(built, tmp_path):
    """The same keyframe task (same prompt, seed) with and without its train input: the LoRA
    is loaded into the model and changes the picture."""
    from PIL import Image

    from moviola.runtime.backends.protocol import Input, Task
    from moviola.runtime.backends.registry import Backends
    from moviola.runtime.build import Build

    render_plan = planned(built)
    build = Build(render_plan, built)
    build.run()
    train = render_plan.job(TRAIN)
    assert (build.entry(TRAIN).path / "lora.safetensors").is_file()
    assert build.entry(TRAIN).meta["pictures"] == 5
    keyframe = render_plan.job(JobRef("keyframe", next(c for c in render_plan.cuts if c.card is None).id))
    backends = Backends(render_plan.config, built)
    backend = backends.get(keyframe.backend, "keyframe")
    backend.validate()
    pictures = []
    try:
        for name, inputs in (("with", [Input.of(train, build.entry(TRAIN))]), ("without", [])):
            folder = tmp_path / name
            folder.mkdir()
            task = Task.of(keyframe, "k" * 64, folder, built, inputs)
            assert len(backend.task_loras(task)) == len(inputs)
            backend.run_batch([task])
            pictures.append(np.asarray(Image.open(folder / "keyframe.png"), dtype=np.int16))
    finally:
        backends.close()
    assert np.abs(pictures[0] - pictures[1]).max() > 0


def test_completion_and_hover_cover_train(tmp_path):
    from moviola.lsp.completion import Names, complete
    from moviola.lsp.features import location_markdown

    def labels(text: str) -> list[str]:
        items = complete(lambda n: text, 0, len(text), Names(), tmp_path, lambda line, col: (line, col))
        return [item.label for item in items]

    assert "train: " in labels("[[location ROOM: a room; tr")
    assert labels("[[location ROOM: a room; refs: refs/room/; train: l") == ["lora"]
    options = labels("[[location ROOM: a room; train: lora, ")
    assert {"rank 16", "1000 steps", "learning rate 0.0001", "seed 0"} <= set(options)
    assert labels("[[location ROOM: a room; train: lora, st") == ["1000 steps"]
    project = make_project(tmp_path)
    film = compile_file(project / "film.fountain").film
    hover = location_markdown(film, "ROOM")
    assert "train: lora (rank 4, steps 4" in hover and "on 5 pictures" in hover
    assert "`room place`" in hover


@pytest.mark.usefixtures("torch_one_thread")
def test_a_dataset_too_small_or_broken_stops_the_build_before_training(built, tmp_path, capsys):
    from moviola.cli import main

    project = tmp_path / "broken"
    shutil.copytree(built / "models", project / "models")
    make_project(project)
    room = project / "refs" / "room"
    (room / "photo3.png").unlink()
    (room / "photo4.png").write_bytes((room / "photo4.png").read_bytes()[:60])   # truncated
    assert main(["build", str(project / "film.fountain"), "--profile", "tiny", "--quiet"]) == 1
    out = " ".join(capsys.readouterr().out.split())
    assert "refs/room/photo4.png" in out and "location ROOM has 3 usable images" in out
    assert "moviola dataset" in out
    assert not (project / ".moviola" / "train").exists()            # no training started


@pytest.mark.usefixtures("torch_one_thread")
@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_a_build_killed_while_training_resumes_to_the_same_lora(built, tmp_path):
    """SIGKILL a `moviola build` once its train job has written a checkpoint; the next build
    resumes that training and ends with the LoRA of an uninterrupted build."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from safetensors.numpy import load_file

    from moviola.cli import main
    from moviola.runtime.build import Build

    longer = SCRIPT.replace("4 steps", "40 steps")          # a checkpoint every 4 steps

    def project(name: str) -> Path:
        root = tmp_path / name
        shutil.copytree(built / "models", root / "models")
        return make_project(root, longer)

    killed, whole = project("killed"), project("whole")
    command = [sys.executable, "-m", "moviola", "build", str(killed / "film.fountain"),
               "--profile", "tiny", "-o", str(killed / "film.mp4"), "--quiet"]
    child = subprocess.Popen(command, env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE",
                                           "OMP_NUM_THREADS": "1"})
    try:
        deadline = time.monotonic() + 600
        while not list((killed / ".moviola" / "train").glob("*/checkpoint.safetensors")):
            assert child.poll() is None, "the build ended before its training wrote a checkpoint"
            assert time.monotonic() < deadline
            time.sleep(0.05)
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(timeout=120)
    assert child.returncode == -signal.SIGKILL
    assert not (killed / "film.mp4").exists()

    for root in (killed, whole):
        assert main(["build", str(root / "film.fountain"), "--profile", "tiny",
                     "-o", str(root / "film.mp4"), "--quiet"]) == 0

    def trained(root: Path):
        build = Build(planned(root), root)
        build.run()                                        # all cached: reads the entries back
        entry = build.entry(TRAIN)
        return entry.meta, load_file(str(entry.path / "lora.safetensors"))

    (resumed_meta, resumed), (whole_meta, uninterrupted) = trained(killed), trained(whole)
    assert 0 < resumed_meta["resumed_from"] < 40 and whole_meta["resumed_from"] == 0
    assert resumed.keys() == uninterrupted.keys()
    assert all(np.array_equal(resumed[name], uninterrupted[name]) for name in resumed)
    assert not list((killed / ".moviola" / "train").glob("*/checkpoint.safetensors"))


@pytest.mark.usefixtures("torch_one_thread")
@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_the_build_reports_each_training_step(built, tmp_path):
    from moviola.runtime.build import Build
    from moviola.runtime.events import JobProgress

    root = tmp_path / "steps"
    shutil.copytree(built / "models", root / "models")
    make_project(root, SCRIPT.replace("4 steps", "6 steps"))
    events = []
    Build(planned(root), root, on_event=events.append).run()
    steps = [event for event in events if isinstance(event, JobProgress)]
    assert [(e.job.ref, e.done, e.total) for e in steps] == [(TRAIN, n, 6) for n in range(1, 7)]
    assert all(e.detail.startswith("loss ") for e in steps)
