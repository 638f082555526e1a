"""The edit: mix, subtitles, mux, the OpenTimelineIO export and the contact sheet. These read
the resolved timeline and the finished entries of the jobs before them."""

from __future__ import annotations

import json

from moviola.runtime import mix as mixing
from moviola.runtime import mux as muxing
from moviola.runtime.audio_io import read_wav, write_wav


class MixBackend:
    def run(self, task) -> dict:
        speech, music, sfx = {}, {}, {}
        for job_id, entry in task.inputs.items():
            if job_id.startswith("speech:"):
                speech[job_id] = read_wav(entry.file("speech.wav"))
            elif job_id.startswith("music:"):
                music[job_id] = read_wav(entry.file("music.wav"))[0]
            elif job_id.startswith("sfx:"):
                sfx[job_id] = read_wav(entry.file("sfx.wav"))[0]
        audio = mixing.mix(task.timeline, speech, music, sfx)
        write_wav(task.file("mix.wav"), audio, mixing.SAMPLE_RATE)
        # encoded here, beside the clips, so the mux only copies packets
        muxing.encode_aac(task.file("mix.m4a"), audio)
        return {"seconds": round(len(audio) / mixing.SAMPLE_RATE, 4),
                "loudness": round(mixing.integrated_loudness(audio), 2),
                "peak": round(float(abs(audio).max()) if audio.size else 0.0, 4)}


class SubtitlesBackend:
    def run(self, task) -> dict:
        cues = muxing.subtitle_cues(task.timeline.lines)
        task.file("film.srt").write_text(muxing.srt(cues), "utf-8")
        task.file("film.vtt").write_text(muxing.vtt(cues), "utf-8")
        task.file("cues.json").write_text(json.dumps([[c.start, c.end, c.text] for c in cues],
                                                     ensure_ascii=False), "utf-8")
        return {"cues": len(cues)}


class MuxBackend:
    def run(self, task) -> dict:
        params = task.job.params
        segments = [task.inputs[i].file("clip.mp4") for i in task.job.inputs if i.startswith("clip:")]
        audio = task.inputs["mix:film"].file("mix.m4a")
        cues = [muxing.Cue(*c) for c in json.loads(task.inputs["subtitles:film"].file("cues.json").read_text("utf-8"))]
        facts = muxing.mux(task.file("film.mp4"), segments, audio, cues, params["fps"],
                           params["title"], params["language"])
        return facts


class OtioBackend:
    def run(self, task) -> dict:
        params = task.job.params
        plan = task.plan
        clips = []
        by_cut = {cut.id: cut for cut in plan.cuts}
        for cut_timing in task.timeline.cuts:
            cut = by_cut[cut_timing.id]
            clips.append({
                "name": f"shot {cut.label}", "url": f"@MEDIA@/shot-{cut.label}.mp4",
                "frames": cut_timing.frames, "transition_in": cut.transition_in,
                "dissolve_frames": int(round(0.75 * task.timeline.fps)),
                "metadata": {"cut": cut.id, "size": cut.size.value, "move": str(cut.move),
                             "prompt": cut.prompt, "line": cut.span.line},
            })
        text = muxing.otio(params["title"], params["fps"], clips,
                           {"url": "@MEDIA@/mix.wav", "frames": task.timeline.total_frames})
        task.file("film.otio").write_text(text, "utf-8")
        return {"clips": len(clips)}


class ContactSheetBackend:
    def run(self, task) -> dict:
        from PIL import Image

        plan = task.plan
        fps = task.timeline.fps
        shots = []
        for cut, cut_timing in zip(plan.cuts, task.timeline.cuts):
            image = Image.open(task.inputs[f"keyframe:{cut.id}"].file("keyframe.png"))
            shots.append({"image": image, "label": cut.label, "size": cut.size.value,
                          "start": cut_timing.start_frame / fps, "seconds": cut_timing.frames / fps})
        muxing.contact_sheet(task.file("sheet.png"), task.job.params["title"], shots)
        return {"shots": len(shots)}
