"""The edit: mix, subtitles, mux, the OpenTimelineIO export and the contact sheet. These read
the resolved timeline and the finished entries of the jobs before them."""

from __future__ import annotations

import json

from moviola.runtime import mix as mixing
from moviola.runtime import mux as muxing
from moviola.runtime import nle, timeline
from moviola.runtime import subtitles
from moviola.runtime.contact_sheet import SheetShot, contact_sheet


class MixBackend:
    def run(self, task) -> dict:
        sources: dict[str, dict] = {"speech": {}, "music": {}, "sfx": {}}
        for job_id, entry in task.inputs.items():
            kind = job_id.split(":", 1)[0]
            if kind in sources:
                sources[kind][job_id] = entry.file(f"{kind}.wav")
        film = mixing.FilmMix(task.timeline, sources["speech"], sources["music"], sources["sfx"])
        # encoded here, beside the clips
        return mixing.write_files(film, task.file)


class SubtitlesBackend:
    def run(self, task) -> dict:
        cues = subtitles.subtitle_cues(task.timeline.lines)
        task.file("film.srt").write_text(subtitles.srt(cues), "utf-8")
        task.file("film.vtt").write_text(subtitles.vtt(cues), "utf-8")
        task.file("cues.json").write_text(json.dumps([[c.start, c.end, c.text] for c in cues],
                                                     ensure_ascii=False), "utf-8")
        return {"cues": len(cues)}


class MuxBackend:
    def run(self, task) -> dict:
        params = task.job.params
        segments = [task.inputs[i].file("clip.mp4") for i in task.job.inputs if i.startswith("clip:")]
        audio = task.inputs["mix:film"].file("mix.m4a")
        cues = [subtitles.Cue(*c) for c in json.loads(task.inputs["subtitles:film"].file("cues.json").read_text("utf-8"))]
        facts = muxing.mux(task.file("film.mp4"), segments, audio, cues, params["fps"],
                           params["title"], params["language"])
        return facts


class OtioBackend:
    def run(self, task) -> dict:
        params = task.job.params
        line = task.timeline
        by_cut = {cut.id: cut for cut in task.plan.cuts}
        shots, markers = [], []
        headings = dict(params["scenes"])
        for cut_timing in line.cuts:
            cut = by_cut[cut_timing.id]
            shots.append(nle.ShotClip(
                f"shot {cut.label}", nle.shot_media(cut.label), cut_timing.frames, cut.transition_in,
                timeline.dissolve_frames(cut_timing, line.fps),
                {"cut": cut.id, "size": cut.size.value, "move": str(cut.move), "prompt": cut.prompt,
                 "line": cut.span.line}))
            if cut.id in headings:
                markers.append(nle.Marker(cut_timing.start_frame, headings[cut.id], "scene"))
        captions = [nle.Caption(int(round(cue.start * line.fps)),
                                int(round((cue.end - cue.start) * line.fps)), cue.text)
                    for cue in subtitles.subtitle_cues(line.lines)]
        audio = {stem.capitalize(): f"{stem}.wav" for stem in mixing.STEMS + ("mix",)}
        result = nle.build_timeline(params["title"], params["fps"], shots, markers, captions, audio,
                                    line.total_frames)
        nle.write_cached(task.file("film.otio"), result)
        return {"clips": len(shots), "markers": len(markers), "captions": len(captions)}


class ContactSheetBackend:
    def run(self, task) -> dict:
        fps = task.timeline.fps
        shots = [SheetShot(task.inputs[f"keyframe:{cut.id}"].file("keyframe.png"), cut.label,
                           cut.size.value, cut_timing.start_frame / fps, cut_timing.frames / fps)
                 for cut, cut_timing in zip(task.plan.cuts, task.timeline.cuts)]
        contact_sheet(task.file("sheet.png"), task.job.params["title"], shots)
        return {"shots": len(shots)}
