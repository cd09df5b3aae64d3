"""The offline voice: eSpeak NG through its C API (ctypes), from the espeakng-loader wheel (the library and its
voice data, no system packages). Always available where the wheel is installed, so it closes the provider chain.

The library is one global synthesizer: it is initialised once per process, in synchronous mode (espeak_Synth
returns when the text is spoken, its callback having received every sample), and every call holds one lock.
"""

from __future__ import annotations

import ctypes
import os
import struct
import tempfile
import threading
from pathlib import Path

import numpy as np

from pytoon.config import TtsSettings
from pytoon.tts.base import Line, SpeakContext, SpeechError, SpeechProvider, wav_bytes

# espeak_AUDIO_OUTPUT, espeak_Initialize options, espeak_PARAMETER, espeak_POSITION_TYPE and espeak_Synth flags
# from speak_lib.h.
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000  # report a missing data file instead of exiting the process
_PARAMETER_RATE = 1
_POSITION_CHARACTER = 1
_CHARS_UTF8 = 1
_EE_NOT_FOUND = 2

_SYNTH_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)

# The wheel's library asks for exp and pow at version GLIBC_2.29 (their faster builds, same signature); Amazon
# Linux 2 (Lambda python3.11) has glibc 2.26, whose libm offers them at GLIBC_2.2.5 only.
_NEW_MATH_VERSION = b"GLIBC_2.29"
_NEW_MATH_GLIBC = (2, 29)
_SHT_GNU_VERNEED = 0x6FFFFFFE


def espeak_unavailable(settings: TtsSettings) -> str | None:
    try:
        import espeakng_loader
    except ImportError:
        return "the espeakng-loader package is not installed"
    if not Path(espeakng_loader.get_library_path()).is_file():
        return "the espeakng-loader package has no eSpeak NG library for this platform"
    return None


def _glibc_version() -> tuple[int, int] | None:
    try:
        name, version = os.confstr("CS_GNU_LIBC_VERSION").split()  # "glibc 2.36"
        major, minor = version.split(".")[:2]
        return (int(major), int(minor)) if name == "glibc" else None
    except (ValueError, OSError, AttributeError):  # not glibc (musl, macOS)
        return None


def without_new_math_versions(image: bytes) -> bytes:
    """The shared library `image` asking for libm's exp and pow at GLIBC_2.2.5 instead of GLIBC_2.29: its
    version requirement on libm is rewritten to the GLIBC_2.2.5 one it already has (an ELF64 little-endian
    library; returned unchanged when it asks for nothing newer)."""
    data = bytearray(image)
    if data[:6] != b"\x7fELF\x02\x01":
        raise SpeechError("the eSpeak NG library is not a 64-bit little-endian ELF file")
    (section_table,) = struct.unpack_from("<Q", data, 0x28)
    entry_size, count = struct.unpack_from("<HH", data, 0x3A)
    sections = [struct.unpack_from("<IIQQQQIIQQ", data, section_table + n * entry_size) for n in range(count)]
    for _name, kind, _flags, _address, offset, _size, link, needed_count, _align, _entsize in sections:
        if kind != _SHT_GNU_VERNEED:
            continue
        strings = sections[link][4]

        def text(at: int, strings: int = strings) -> bytes:
            return bytes(data[strings + at : data.index(b"\0", strings + at)])

        need = offset
        for _ in range(needed_count):
            _version, aux_count, file_name, aux_offset, next_need = struct.unpack_from("<HHIII", data, need)
            entries, aux = [], need + aux_offset
            for _ in range(aux_count):
                entries.append(aux)
                aux += struct.unpack_from("<IHHII", data, aux)[4]
            if text(file_name).startswith(b"libm.so"):
                by_name = {text(struct.unpack_from("<I", data, e + 8)[0]): e for e in entries}
                new, old = by_name.get(_NEW_MATH_VERSION), by_name.get(b"GLIBC_2.2.5")
                if new is not None and old is not None:
                    # vna_hash and vna_name of the old version; vna_other (the index symbols point at) stays.
                    data[new : new + 4] = data[old : old + 4]
                    data[new + 8 : new + 12] = data[old + 8 : old + 12]
            need += next_need
    return bytes(data)


class _Engine:
    """The initialised library and the samples its callback collects for the sentence being spoken."""

    def __init__(self) -> None:
        import espeakng_loader

        try:
            self.library = _load(Path(espeakng_loader.get_library_path()))
        except OSError as exc:  # a dependency it links against is missing
            raise SpeechError(f"eSpeak NG could not be loaded ({exc})") from None
        self.library.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        self.library.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        self.library.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        self.library.espeak_SetSynthCallback.argtypes = [_SYNTH_CALLBACK]
        self.library.espeak_Synth.argtypes = [
            ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint, ctypes.c_uint,
            ctypes.c_void_p, ctypes.c_void_p,
        ]  # fmt: skip
        data = espeakng_loader.get_data_path().encode()
        self.sample_rate = self.library.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data, _INITIALIZE_DONT_EXIT)
        if self.sample_rate <= 0:
            raise SpeechError(f"eSpeak NG could not start (error {self.sample_rate})")
        self._chunks: list[bytes] = []
        # Kept on the engine: the library calls it for as long as the process lives.
        self._callback = _SYNTH_CALLBACK(self._collect)
        self.library.espeak_SetSynthCallback(self._callback)

    def _collect(self, wav: ctypes._Pointer[ctypes.c_short], count: int, _events: int | None) -> int:
        if count > 0:
            self._chunks.append(ctypes.string_at(wav, count * 2))
        return 0  # go on

    def speak(self, text: str, voice: str, rate_wpm: int) -> np.ndarray:
        status = self.library.espeak_SetVoiceByName(voice.encode())
        if status == _EE_NOT_FOUND:
            raise SpeechError(f"eSpeak NG has no voice {voice!r}")
        if status != 0:
            raise SpeechError(f"eSpeak NG could not select voice {voice!r} (error {status})")
        self.library.espeak_SetParameter(_PARAMETER_RATE, rate_wpm, 0)
        encoded = text.encode()
        self._chunks = []
        status = self.library.espeak_Synth(
            encoded, len(encoded) + 1, 0, _POSITION_CHARACTER, 0, _CHARS_UTF8, None, None
        )
        self.library.espeak_Synchronize()
        if status != 0:
            raise SpeechError(f"eSpeak NG could not speak the sentence (error {status})")
        return np.frombuffer(b"".join(self._chunks), dtype=np.int16)


def _load(library: Path) -> ctypes.CDLL:
    glibc = _glibc_version()
    if glibc is None or glibc >= _NEW_MATH_GLIBC:
        return ctypes.CDLL(str(library))
    return load_compatible_copy(library)


def load_compatible_copy(library: Path) -> ctypes.CDLL:
    """The library loaded from a copy that runs on glibc older than 2.29 (the copy is removed once loaded)."""
    descriptor, name = tempfile.mkstemp(prefix="libespeak-ng-", suffix=".so")
    try:
        with os.fdopen(descriptor, "wb") as copy:
            copy.write(without_new_math_versions(library.read_bytes()))
        return ctypes.CDLL(name)
    finally:
        os.unlink(name)


_lock = threading.Lock()
_engine: _Engine | None = None


def espeak_samples(text: str, voice: str, rate_wpm: int) -> tuple[np.ndarray, int]:
    """`text` spoken by eSpeak NG: mono int16 samples and their rate (22050 Hz)."""
    global _engine
    with _lock:
        if _engine is None:
            _engine = _Engine()
        return _engine.speak(text, voice, rate_wpm), _engine.sample_rate


def _speak(line: Line, context: SpeakContext) -> bytes:
    settings = context.settings
    samples, rate = espeak_samples(line.text, settings.espeak_voice, settings.espeak_rate_wpm)
    return wav_bytes(samples, rate)


# The lock serialises synthesis; sentences are still decoded in parallel.
ESPEAK = SpeechProvider(name="espeak", unavailable=espeak_unavailable, speak=_speak, workers=4)
