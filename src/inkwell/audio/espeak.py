"""eSpeak NG through ctypes, from the library and voice data that the ``espeakng-loader`` wheel ships.

Nothing is downloaded and no system package is needed: ``pip install`` brings ``libespeak-ng.so`` and
``espeak-ng-data``. The engine is one global state per process (eSpeak NG is not re-entrant), so every
call runs under one lock, on whatever thread the caller picked (the TTS provider gives it a thread of
its own, off the event loop). Output is 16-bit mono PCM at :attr:`Engine.sample_rate` (22050 Hz).
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import espeakng_loader

# espeak_AUDIO_OUTPUT: AUDIO_OUTPUT_SYNCHRONOUS - espeak_Synth returns when the text is spoken, the
# samples handed to the callback on the calling thread
_AUDIO_OUTPUT_SYNCHRONOUS = 2
# espeakINITIALIZE_DONT_EXIT: report errors instead of calling exit() inside the library
_INITIALIZE_DONT_EXIT = 0x8000
_CHARS_UTF8 = 1
_POS_CHARACTER = 1
_EE_OK = 0
_VARIANT_PREFIX = "!v/"

_SynthCallback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


class _Voice(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_void_p),  # (priority byte, NUL-terminated name)*, then a NUL
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    ]


class EngineError(RuntimeError):
    """The library could not be loaded or initialised, or a synthesis call failed."""


@dataclass(frozen=True, slots=True)
class Language:
    """One eSpeak NG language voice: ``code`` is what selects it (``en-us``, ``de``, ``cmn``)."""

    code: str
    name: str
    codes: tuple[str, ...]  # every language code the voice declares, lower case
    priorities: tuple[int, ...]  # of each code: lower is a better match for that code


class Cancelled(Exception):
    """The synthesis was aborted through its ``cancelled`` callable."""


class Engine:
    """The process's eSpeak NG: loaded and initialised on first use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lib: ctypes.CDLL | None = None
        self.sample_rate = 0
        self._pcm = bytearray()
        self._abort: Callable[[], bool] | None = None
        # kept referenced for as long as the library may call it
        self._callback = _SynthCallback(self._on_samples)
        self._languages: list[Language] = []
        self._variants: list[str] = []

    def _on_samples(self, wav: ctypes._Pointer[ctypes.c_short], count: int, _events: int | None) -> int:
        if wav and count > 0:
            self._pcm.extend(ctypes.string_at(wav, count * 2))
        abort = self._abort
        return 1 if abort is not None and abort() else 0

    def _load(self) -> ctypes.CDLL:
        if self._lib is not None:
            return self._lib
        try:
            lib = ctypes.CDLL(espeakng_loader.get_library_path())
            data_path = espeakng_loader.get_data_path()
        except (OSError, RuntimeError) as exc:
            raise EngineError(f"eSpeak NG is not available: {exc}") from exc
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetSynthCallback.argtypes = [_SynthCallback]
        lib.espeak_SetSynthCallback.restype = None
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        lib.espeak_Synth.restype = ctypes.c_int
        lib.espeak_ListVoices.argtypes = [ctypes.c_void_p]
        lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_Voice))
        rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, str(Path(data_path)).encode(), _INITIALIZE_DONT_EXIT)
        if rate <= 0:
            raise EngineError(f"eSpeak NG did not initialise (data at {data_path}): error {rate}")
        lib.espeak_SetSynthCallback(self._callback)
        self.sample_rate = rate
        self._languages = self._list_languages(lib)
        self._variants = self._list_variants(lib)
        self._lib = lib
        return lib

    @staticmethod
    def _list(lib: ctypes.CDLL, spec: _Voice | None) -> list[_Voice]:
        voices = lib.espeak_ListVoices(ctypes.byref(spec) if spec is not None else None)
        found: list[_Voice] = []
        i = 0
        while voices[i]:
            found.append(voices[i].contents)
            i += 1
        return found

    @classmethod
    def _list_languages(cls, lib: ctypes.CDLL) -> list[Language]:
        languages: list[Language] = []
        for voice in cls._list(lib, None):
            codes: list[str] = []
            priorities: list[int] = []
            offset = 0
            while voice.languages:
                priority = ctypes.string_at(voice.languages + offset, 1)[0]
                if priority == 0:
                    break
                raw = ctypes.string_at(voice.languages + offset + 1)
                codes.append(raw.decode("utf-8", "replace").lower())
                priorities.append(priority)
                offset += len(raw) + 2
            if not codes:
                continue
            name = (voice.name or b"").decode("utf-8", "replace")
            languages.append(Language(code=codes[0], name=name, codes=tuple(codes), priorities=tuple(priorities)))
        return languages

    @classmethod
    def _list_variants(cls, lib: ctypes.CDLL) -> list[str]:
        spec = _Voice()
        keep = ctypes.c_char_p(b"variant")
        spec.languages = ctypes.cast(keep, ctypes.c_void_p)
        variants: list[str] = []
        for voice in cls._list(lib, spec):
            identifier = (voice.identifier or b"").decode("utf-8", "replace")
            if identifier.startswith(_VARIANT_PREFIX):
                variants.append(identifier[len(_VARIANT_PREFIX) :])
        return variants

    def languages(self) -> list[Language]:
        with self._lock:
            self._load()
            return list(self._languages)

    def variants(self) -> list[str]:
        with self._lock:
            self._load()
            return list(self._variants)

    def synthesize(self, text: str, voice: str, *, cancelled: Callable[[], bool] | None = None) -> bytes:
        """16-bit mono PCM of ``text`` spoken by ``voice`` (``language`` or ``language+variant``).

        Raises :class:`Cancelled` when ``cancelled()`` turned true meanwhile, :class:`EngineError` when
        the library fails."""
        data = text.encode("utf-8") + b"\0"
        with self._lock:
            lib = self._load()
            if lib.espeak_SetVoiceByName(voice.encode("utf-8")) != _EE_OK:
                raise EngineError(f"eSpeak NG has no voice {voice!r}")
            self._pcm = bytearray()
            self._abort = cancelled
            try:
                result = lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
            finally:
                self._abort = None
                pcm = bytes(self._pcm)
                self._pcm = bytearray()
        if cancelled is not None and cancelled():
            raise Cancelled()
        if result != _EE_OK:
            raise EngineError(f"eSpeak NG synthesis failed: error {result}")
        return pcm


_engine: Engine | None = None
_engine_lock = threading.Lock()


def engine() -> Engine:
    """The process's one engine (eSpeak NG keeps global state)."""
    global _engine
    with _engine_lock:
        if _engine is None:
            _engine = Engine()
        return _engine
