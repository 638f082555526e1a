"""The edit: mix, subtitles, mux, the OpenTimelineIO export and the contact sheet. These read
the resolved timeline and the finished entries of the jobs before them."""

from __future__ import annotations

import json

from moviola.runtime import mix as mixing
from moviola.runtime import mux as muxing
from moviola.runtime.audio_io import read_wav, write_wav
from moviola.runtime.backends.protocol import BaseBackend


class MixBackend(BaseBackend):
    def run(self, task) -> dict:
        inputs = task.inputs
        speech = {i.ref: read_wav(i.artifact("speech")) for i in inputs.of_kind("speech")}
        music = {i.ref: read_wav(i.artifact("music"))[0] for i in inputs.of_kind("music")}
        sfx = {i.ref: read_wav(i.artifact("sfx"))[0] for i in inputs.of_kind("sfx")}
        audio = mixing.mix(task.timeline, speech, music, sfx)
        write_wav(task.output("mix"), audio, mixing.SAMPLE_RATE)
        # encoded here, beside the clips, so the mux only copies packets
        muxing.encode_aac(task.output("mix_aac"), audio)
        return {"seconds": round(len(audio) / mixing.SAMPLE_RATE, 4),
                "loudness": round(mixing.integrated_loudness(audio), 2),
                "peak": round(float(abs(audio).max()) if audio.size else 0.0, 4)}


class SubtitlesBackend(BaseBackend):
    def run(self, task) -> dict:
        cues = muxing.subtitle_cues(task.timeline.lines)
        task.output("srt").write_text(muxing.srt(cues), "utf-8")
        task.output("vtt").write_text(muxing.vtt(cues), "utf-8")
        task.output("cues").write_text(json.dumps([[c.start, c.end, c.text] for c in cues],
                                                     ensure_ascii=False), "utf-8")
        return {"cues": len(cues)}


class MuxBackend(BaseBackend):
    def run(self, task) -> dict:
        params = task.job.params
        segments = [clip.artifact("clip") for clip in task.inputs.of_kind("clip")]
        audio = task.inputs.one("mix").artifact("mix_aac")
        cues = [muxing.Cue(*c) for c in json.loads(
            task.inputs.one("subtitles").artifact("cues").read_text("utf-8"))]
        facts = muxing.mux(task.output("film"), segments, audio, cues, params.fps,
                           params.title, params.language)
        return facts


class OtioBackend(BaseBackend):
    def run(self, task) -> dict:
        params = task.job.params
        clips = []
        shots = {shot.cut: shot for shot in params.shots}
        for cut_timing in task.timeline.cuts:
            shot = shots[cut_timing.id]
            clips.append({
                "name": f"shot {shot.label}", "url": f"@MEDIA@/shot-{shot.label}.mp4",
                "frames": cut_timing.frames, "transition_in": cut_timing.transition_in,
                "dissolve_frames": int(round(0.75 * task.timeline.fps)),
                "metadata": {"cut": shot.cut, "size": shot.size, "move": shot.move,
                             "prompt": shot.prompt, "line": shot.line},
            })
        text = muxing.otio(params.title, params.fps, clips,
                           {"url": "@MEDIA@/mix.wav", "frames": task.timeline.total_frames})
        task.output("timeline").write_text(text, "utf-8")
        return {"clips": len(clips)}


class ContactSheetBackend(BaseBackend):
    def run(self, task) -> dict:
        from PIL import Image

        fps = task.timeline.fps
        shots = []
        for keyframe, cut_timing in zip(task.inputs.of_kind("keyframe"), task.timeline.cuts):
            image = Image.open(keyframe.artifact("keyframe"))
            shots.append({"image": image, "label": keyframe.params.label,
                          "size": keyframe.params.size,
                          "start": cut_timing.start_frame / fps, "seconds": cut_timing.frames / fps})
        muxing.contact_sheet(task.output("sheet"), task.job.params.title, shots)
        return {"shots": len(shots)}
