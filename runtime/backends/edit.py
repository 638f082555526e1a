"""The edit: mix, subtitles, mux, the OpenTimelineIO export and the contact sheet. These read
the resolved timeline and the finished entries of the jobs before them."""

from __future__ import annotations

import json

from moviola.runtime import mix as mixing
from moviola.runtime import mux as muxing
from moviola.runtime import nle, subtitles, timeline
from moviola.runtime.backends.protocol import BaseBackend
from moviola.runtime.contact_sheet import SheetShot, contact_sheet


class MixBackend(BaseBackend):
    def run(self, task) -> dict:
        inputs = task.inputs
        sources = {kind: {i.ref: i.artifact(kind) for i in inputs.of_kind(kind)}
                   for kind in ("speech", "music", "sfx")}
        film = mixing.FilmMix(task.timeline, sources["speech"], sources["music"], sources["sfx"])
        # encoded here, beside the clips, so the mux only copies packets
        return mixing.write_files(film, task.output)


class SubtitlesBackend(BaseBackend):
    def run(self, task) -> dict:
        cues = subtitles.subtitle_cues(task.timeline.lines)
        task.output("srt").write_text(subtitles.srt(cues), "utf-8")
        task.output("vtt").write_text(subtitles.vtt(cues), "utf-8")
        task.output("cues").write_text(json.dumps([[c.start, c.end, c.text] for c in cues],
                                                     ensure_ascii=False), "utf-8")
        return {"cues": len(cues)}


class MuxBackend(BaseBackend):
    def run(self, task) -> dict:
        params = task.job.params
        segments = [clip.artifact("clip") for clip in task.inputs.of_kind("clip")]
        audio = task.inputs.one("mix").artifact("mix_aac")
        cues = [subtitles.Cue(*c) for c in json.loads(
            task.inputs.one("subtitles").artifact("cues").read_text("utf-8"))]
        facts = muxing.mux(task.output("film"), segments, audio, cues, params.fps,
                           params.title, params.language)
        return facts


class OtioBackend(BaseBackend):
    def run(self, task) -> dict:
        params = task.job.params
        line = task.timeline
        by_cut = {shot.cut: shot for shot in params.shots}
        headings = dict(params.scenes)
        clips, markers = [], []
        for cut_timing in line.cuts:
            shot = by_cut[cut_timing.id]
            clips.append(nle.ShotClip(
                f"shot {shot.label}", nle.shot_media(shot.label), cut_timing.frames,
                cut_timing.transition_in, timeline.dissolve_frames(cut_timing, line.fps),
                {"cut": shot.cut, "size": shot.size, "move": shot.move, "prompt": shot.prompt,
                 "line": shot.line}))
            if shot.cut in headings:
                markers.append(nle.Marker(cut_timing.start_frame, headings[shot.cut], "scene"))
        captions = [nle.Caption(int(round(cue.start * line.fps)),
                                int(round((cue.end - cue.start) * line.fps)), cue.text)
                    for cue in subtitles.subtitle_cues(line.lines)]
        audio = {stem.capitalize(): f"{stem}.wav" for stem in mixing.STEMS + ("mix",)}
        result = nle.build_timeline(params.title, params.fps, clips, markers, captions, audio,
                                    line.total_frames)
        nle.write_cached(task.output("timeline"), result)
        return {"clips": len(clips), "markers": len(markers), "captions": len(captions)}


class ContactSheetBackend(BaseBackend):
    def run(self, task) -> dict:
        fps = task.timeline.fps
        params = task.job.params
        shots = [SheetShot(keyframe.artifact("keyframe"),
                           keyframe.artifact("thumbnail") if keyframe.has("thumbnail") else None,
                           label, keyframe.params.size,
                           cut_timing.start_frame / fps, cut_timing.frames / fps)
                 for keyframe, label, cut_timing in zip(task.inputs.of_kind("keyframe"), params.labels,
                                                        task.timeline.cuts)]
        contact_sheet(task.output("sheet"), params.title, shots)
        return {"shots": len(shots)}
