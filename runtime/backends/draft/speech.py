"""Draft text-to-speech: espeak-ng (from the `espeakng-loader` wheel) driven through ctypes.

espeak-ng keeps synthesis state in C statics (pitch flutter index, wave phase, AGC) that carry
from one utterance into the next, so in-process calls give slightly different samples for the
same text. To keep "same inputs, same bytes", espeak runs in one small helper process per Python
process: it loads and initializes the library once, never speaks itself, and forks a child per
utterance, so every utterance starts from the same freshly initialized state (about 5 ms per
fork). Requests are serialized by a lock; espeak is not thread-safe anyway.

The voices with breath (f2, f3, f5) and the Klatt-style generators mix in noise from random
generators that `espeak_Initialize` seeds with the clock (`time(NULL)`): espeak-ng's own generator
and libc's `rand()`. Forking from one initialized state makes a process repeat itself, but two
processes started in different seconds breathe differently. So each utterance reseeds both
generators with one fixed seed before it speaks.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import subprocess
import sys
import threading
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path

import numpy as np

from .audio_util import bandlimit, rng_for, stable_hash, words

log = logging.getLogger(__name__)

__all__ = ["VoiceSpec", "voice_for", "synthesize", "sample_rate"]


@dataclass(frozen=True)
class VoiceSpec:
    """An espeak voice: language, variant (m1–m7, f1–f5), pitch and range 0–99, rate in words/min."""

    language: str = "en"
    variant: str = "m3"
    pitch: int = 50
    rate: int = 165
    range: int = 50


FEMALE_VARIANTS = ("f1", "f2", "f3", "f4", "f5")
MALE_VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7")

_FEMALE_WORDS = frozenset("""
    woman women girl girls lady ladies she her hers herself mother mom mum mama mommy grandmother
    grandma granny daughter sister aunt auntie wife widow bride girlfriend queen princess duchess
    niece actress waitress hostess madame madam mrs ms miss mademoiselle female nun matron heroine
""".split())
_MALE_WORDS = frozenset("""
    man men boy boys gentleman he him his himself father dad daddy papa grandfather grandpa son
    brother uncle husband widower groom boyfriend king prince duke nephew actor waiter host monsieur
    sir mr male monk priest lad hero
""".split())
_PRONOUNS = frozenset("she her hers herself he him his himself".split())
_CHILD_WORDS = frozenset("child kid little young girl boy teen teenage teenager".split())
_OLD_WORDS = frozenset("old elderly aged ancient grandmother grandfather grandma grandpa granny".split())
_LOW_WORDS = frozenset("deep gravelly gruff low husky booming".split())
_HIGH_WORDS = frozenset("shrill squeaky high bright piping".split())

# espeak_PARAMETER ids from speak_lib.h
_RATE, _VOLUME, _PITCH, _RANGE, _PUNCTUATION, _CAPITALS, _WORDGAP = 1, 2, 3, 4, 5, 6, 7

# Rate lanes: rate = base + (index * 11) % 41 is one-to-one for 41 consecutive indexes (11 and 41
# are coprime), so two characters of one film never share a voice; past 41 the pitch moves too.
_LANES = 41


def _gender_weight(word: str, vocabulary: frozenset[str], *suffixes: str) -> int:
    # Nouns outweigh pronouns: in "her son, a fisherman" the man is the character, not "her".
    if word in vocabulary:
        return 1 if word in _PRONOUNS else 2
    if word.endswith(suffixes) and not (suffixes[0] == "man" and word.endswith(("woman", "women"))):
        return 2  # washerwoman, fisherman, policewoman
    return 0


def voice_for(character: str, description: str, index: int) -> VoiceSpec:
    """A distinct, stable voice for a character from its description and its order in the film."""
    text = words(description)
    female = sum(_gender_weight(w, _FEMALE_WORDS, "woman", "women") for w in text)
    male = sum(_gender_weight(w, _MALE_WORDS, "man", "men") for w in text)
    h = stable_hash("voice", character.strip().upper())
    if female == male:  # no clue (or a tie): let the name decide, stably
        female, male = (1, 0) if h & 1 else (0, 1)
    variants = FEMALE_VARIANTS if female > male else MALE_VARIANTS
    variant = variants[(h >> 8) % len(variants)]

    pitch = 50 + ((h >> 16) % 25) - 12             # ±12 around the variant's own pitch
    pitch += 14 * any(w in _CHILD_WORDS for w in text) - 8 * any(w in _OLD_WORDS for w in text)
    pitch += 12 * any(w in _HIGH_WORDS for w in text) - 12 * any(w in _LOW_WORDS for w in text)
    pitch += 7 * ((index // _LANES) % 5)           # only for very large casts
    spread = 50 + ((h >> 24) % 31) - 15
    rate = 148 + (index * 11) % _LANES               # 148–188 wpm, unique per index
    return VoiceSpec(
        language="en",
        variant=variant,
        pitch=int(np.clip(pitch, 5, 95)),
        rate=rate,
        range=int(np.clip(spread, 10, 90)),
    )


# --- delivery ---------------------------------------------------------------------------------

from moviola.compiler.vocabulary import DELIVERY

_WHISPER, _SHOUT, _SLOW, _FAST, _SAD, _HAPPY = (
    DELIVERY[k] for k in ("whisper", "shout", "slow", "fast", "sad", "happy"))


@dataclass(frozen=True)
class _Render:
    rate: float
    pitch: float
    range: float
    volume: float = 100.0
    breath: float = 0.0     # amount of shaped noise mixed in (whisper)


def _apply_delivery(voice: VoiceSpec, delivery: tuple[str, ...]) -> _Render:
    said = {w for item in delivery for w in words(item)}
    r = _Render(rate=voice.rate, pitch=voice.pitch, range=voice.range)
    if said & _WHISPER:
        r = replace(r, volume=r.volume * 0.4, range=r.range * 0.4, pitch=r.pitch - 4,
                    rate=r.rate * 0.95, breath=0.5)
    if said & _SHOUT:
        r = replace(r, volume=r.volume * 1.6, pitch=r.pitch + 15, range=r.range + 30, rate=r.rate * 1.05)
    if said & _SLOW:
        r = replace(r, rate=r.rate * 0.78)
    if said & _FAST:
        r = replace(r, rate=r.rate * 1.3)
    if said & _SAD:
        r = replace(r, pitch=r.pitch - 10, rate=r.rate * 0.88, range=r.range - 15, volume=r.volume * 0.9)
    if said & _HAPPY:
        r = replace(r, pitch=r.pitch + 10, range=r.range + 20, rate=r.rate * 1.06)
    return r


# --- locating espeak-ng and its voices ---------------------------------------------------------

def _locate() -> tuple[str, str]:
    try:
        import espeakng_loader
    except ImportError as exc:
        raise RuntimeError(
            "draft speech needs espeak-ng: the Python package 'espeakng-loader' is not installed "
            "(pip install espeakng-loader)") from exc
    lib = espeakng_loader.get_library_path()
    if not Path(lib).is_file():
        raise RuntimeError(f"draft speech needs espeak-ng: the library {lib} is missing "
                           "(reinstall espeakng-loader)")
    try:
        data = espeakng_loader.get_data_path()
    except RuntimeError as exc:
        raise RuntimeError(f"draft speech needs espeak-ng's data folder: {exc} "
                           "(reinstall espeakng-loader)") from exc
    return lib, data


@cache
def _language_index(data_path: str) -> dict[str, str]:
    """Language tag (lower case) → espeak voice identifier such as 'gmw/en', best priority first."""
    root = Path(data_path) / "lang"
    best: dict[str, tuple[int, int, str]] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        ident = path.relative_to(root).as_posix()
        try:
            lines = path.read_text("utf-8", errors="replace").splitlines()
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if len(parts) >= 2 and parts[0] == "language":
                prio = int(parts[2]) if len(parts) > 2 and parts[2].isdigit() else 5
                key = (prio, len(ident), ident)  # lower priority number wins, then the plainest file
                tag = parts[1].lower()
                if tag not in best or key < best[tag]:
                    best[tag] = key
    return {tag: key[2] for tag, key in best.items()}


_warned_languages: set[str] = set()


def _voice_name(language: str, variant: str, data_path: str) -> tuple[str, bool]:
    """The espeak voice name for a BCP-47 tag plus variant; False when it fell back to English."""
    index = _language_index(data_path)
    tag = language.strip().lower().replace("_", "-")
    parts = tag.split("-")
    while parts:  # en-gb-x-rp → en-gb → en
        ident = index.get("-".join(parts))
        if ident:
            return f"{ident}+{variant}", True
        parts.pop()
    if language not in _warned_languages:
        _warned_languages.add(language)
        log.warning("espeak-ng has no voice for language %r; speaking English instead", language)
    return f"{index.get('en', 'en')}+{variant}", False


# --- the helper process ------------------------------------------------------------------------

_WORKER = r'''
import ctypes, json, os, sys

NOISE_SEED = 1  # any fixed value: the same breath noise for the same request, in every process

def write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]

def reply(header, payload=b""):
    write_all(1, json.dumps(header).encode() + b"\n" + payload)

def main():
    lib_path, data_path = sys.argv[1], sys.argv[2]
    try:
        lib = ctypes.CDLL(lib_path)
    except OSError as exc:
        reply({"ok": False, "error": "cannot load the espeak-ng library %s: %s" % (lib_path, exc)})
        return
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
                                 ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
    try:  # espeak-ng >= 1.52: the seed of its own noise generator, which Initialize takes from the clock
        set_noise_seed = lib.espeak_ng_SetRandSeed
    except AttributeError:
        reply({"ok": False, "error": "the espeak-ng library %s is older than 1.52: it has no "
               "espeak_ng_SetRandSeed, so its breathy voices cannot be reproduced" % lib_path})
        return
    set_noise_seed.argtypes = [ctypes.c_long]
    # libc's rand() feeds the Klatt-style generators; on POSIX its srand is in the global namespace.
    libc_srand = ctypes.CDLL(None).srand if os.name == "posix" else None
    # AUDIO_OUTPUT_SYNCHRONOUS = 2; options 0x8000 = espeakINITIALIZE_DONT_EXIT (report, no exit())
    rate = lib.espeak_Initialize(2, 0, data_path.encode(), 0x8000)
    if rate <= 0:
        reply({"ok": False, "error": "espeak-ng could not initialize with its data at %s" % data_path})
        return
    chunks = []
    callback_type = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                                     ctypes.c_void_p)

    def collect(wav, n, events):
        if wav and n > 0:
            chunks.append(ctypes.string_at(wav, n * 2))
        return 0  # 0 = keep going

    callback = callback_type(collect)
    lib.espeak_SetSynthCallback(callback)
    reply({"ok": True, "sample_rate": rate})

    def speak(req):
        used = req["voice"]
        if lib.espeak_SetVoiceByName(used.encode()) != 0:
            used = req["fallback"]
            if lib.espeak_SetVoiceByName(used.encode()) != 0:
                return {"ok": False, "error": "espeak-ng has no voice %r" % req["voice"]}, b""
        for key, value in req["params"]:
            lib.espeak_SetParameter(key, value, 0)
        set_noise_seed(NOISE_SEED)
        if libc_srand is not None:
            libc_srand(NOISE_SEED)
        text = req["text"].encode("utf-8") + b"\0"
        # position 0, POS_CHARACTER = 1, no end, espeakCHARS_UTF8 = 1
        err = lib.espeak_Synth(text, len(text), 0, 1, 0, 1, None, None)
        lib.espeak_Synchronize()
        if err != 0:
            return {"ok": False, "error": "espeak_Synth failed with code %d" % err}, b""
        data = b"".join(chunks)
        return {"ok": True, "voice": used, "bytes": len(data)}, data

    stdin = sys.stdin.buffer
    while True:
        line = stdin.readline()
        if not line:
            return
        req = json.loads(line)
        if not hasattr(os, "fork"):  # no fork: answer once and exit, the parent starts a fresh one
            reply(*speak(req))
            return
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child speaks from the pristine post-initialize state, then vanishes
            try:
                os.close(r)
                header, data = speak(req)
                write_all(w, json.dumps(header).encode() + b"\n" + data)
            finally:
                os._exit(0)
        os.close(w)
        with os.fdopen(r, "rb") as f:
            result = f.read()
        _, status = os.waitpid(pid, 0)
        if status != 0 or not result:
            reply({"ok": False, "error": "espeak-ng crashed (wait status %d)" % status})
        else:
            write_all(1, result)

main()
'''


class _Engine:
    """The espeak helper process and the lock that serializes requests to it."""

    def __init__(self) -> None:
        self.lib_path, self.data_path = _locate()
        self.pid = os.getpid()
        self.lock = threading.Lock()
        self.proc: subprocess.Popen | None = None
        self.sample_rate = 0
        with self.lock:
            self._start()
        atexit.register(self.close)

    def _start(self) -> None:
        proc = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", _WORKER, self.lib_path, self.data_path],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        line = proc.stdout.readline()
        try:
            header = json.loads(line)
        except ValueError:
            header = {"ok": False, "error": "the espeak-ng helper process did not start"}
        if not header.get("ok"):
            proc.kill()
            proc.wait()
            raise RuntimeError(f"draft speech: {header.get('error')}")
        self.proc, self.sample_rate = proc, int(header["sample_rate"])

    def close(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and self.pid == os.getpid() and proc.poll() is None:
            proc.stdin.close()
            try:
                proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def speak(self, request: dict) -> tuple[dict, bytes]:
        line = json.dumps(request).encode() + b"\n"
        with self.lock:
            for attempt in range(2):
                if self.proc is None or self.proc.poll() is not None:
                    self._start()
                proc = self.proc
                try:
                    proc.stdin.write(line)
                    proc.stdin.flush()
                    header = json.loads(proc.stdout.readline())
                    data = proc.stdout.read(int(header.get("bytes", 0)))
                    if len(data) != int(header.get("bytes", 0)):
                        raise OSError("short read from the espeak-ng helper")
                    return header, data
                except (OSError, ValueError):
                    proc.kill()
                    proc.wait()
                    self.proc = None
                    if attempt:
                        raise RuntimeError("draft speech: the espeak-ng helper process died") from None
        raise AssertionError("unreachable")


_engine_lock = threading.Lock()
_engine_instance: _Engine | None = None


def _engine() -> _Engine:
    global _engine_instance
    with _engine_lock:
        # A forked copy of this process must not share the parent's pipes: it gets its own helper.
        if _engine_instance is None or _engine_instance.pid != os.getpid():
            _engine_instance = _Engine()
        return _engine_instance


def sample_rate() -> int:
    """espeak-ng's output sample rate (22050 Hz), starting the engine if needed."""
    return _engine().sample_rate


# --- synthesis -------------------------------------------------------------------------------

def _trim(x: np.ndarray, sr: int, keep: float = 0.05) -> np.ndarray:
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if peak <= 0.0:
        return x
    loud = np.flatnonzero(np.abs(x) > peak * 0.02)
    pad = int(keep * sr)
    return x[max(loud[0] - pad, 0):min(loud[-1] + pad + 1, len(x))]


def _breathe(x: np.ndarray, sr: int, amount: float, key: tuple) -> np.ndarray:
    """Mix in high-passed noise that follows the speech envelope: a breathy, whispered colour."""
    win = max(1, int(0.012 * sr))
    power = np.concatenate(([0.0], np.cumsum(x.astype(np.float64) ** 2)))
    env = np.sqrt(np.maximum(power[win:] - power[:-win], 0.0) / win)
    env = np.concatenate((env, np.full(win - 1, env[-1] if env.size else 0.0)))
    noise = rng_for(0, "breath", *key).standard_normal(len(x))
    noise = bandlimit(noise, sr, lo=1200.0, hi=min(7000.0, sr * 0.45))
    noise /= float(np.sqrt(np.mean(noise ** 2))) + 1e-9
    return (x * (1.0 - 0.5 * amount) + amount * 1.4 * env * noise).astype(np.float32)


def synthesize(text: str, voice: VoiceSpec, delivery: tuple[str, ...] = (),
               language: str | None = None) -> tuple[np.ndarray, int]:
    """Speak `text`: mono float32 in [-1, 1] at espeak's rate (22050 Hz), edges trimmed to ~50 ms.

    `language` (a BCP-47 tag such as "en-GB" or "fr") overrides `voice.language`; a language
    espeak lacks falls back to English with a logged warning. Text with no letters or digits
    gives 0.3 s of silence.
    """
    engine = _engine()
    sr = engine.sample_rate
    if not any(ch.isalnum() for ch in text):
        return np.zeros(int(0.3 * sr), np.float32), sr
    lang = language or voice.language
    r = _apply_delivery(voice, tuple(delivery))
    name, _ = _voice_name(lang, voice.variant, engine.data_path)
    fallback, _ = _voice_name("en", voice.variant, engine.data_path)
    params = [
        (_RATE, int(np.clip(round(r.rate), 80, 450))),
        # Above 100 espeak clips hard; louder deliveries are made with a soft saturation below.
        (_VOLUME, int(np.clip(round(r.volume), 0, 100))),
        (_PITCH, int(np.clip(round(r.pitch), 0, 99))),
        (_RANGE, int(np.clip(round(r.range), 0, 99))),
        (_PUNCTUATION, 0),
        (_CAPITALS, 0),
        (_WORDGAP, 0),
    ]
    # Line breaks inside a line of dialogue are layout, not pauses.
    clean = " ".join(text.split())
    header, data = engine.speak({"voice": name, "fallback": fallback, "params": params, "text": clean})
    if not header.get("ok"):
        raise RuntimeError(f"draft speech: {header.get('error')}")
    audio = np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0
    audio = _trim(audio, sr)
    if audio.size == 0:
        return np.zeros(int(0.3 * sr), np.float32), sr
    if r.breath > 0:
        audio = _breathe(audio, sr, r.breath, (clean, voice, lang))
    if r.volume > 100:
        audio = np.tanh(audio * (r.volume / 100.0))
    return np.clip(audio, -1.0, 1.0).astype(np.float32), sr
