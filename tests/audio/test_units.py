"""Sentence cutting, recording sniffing and the embedded voice catalogue, without a server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from inkwell.audio.espeak import engine
from inkwell.audio.sniff import AMR, M4A, MP3, MPGA, WAV, WEBM, sniff_audio
from inkwell.audio.text import SentenceSplitter, split_text
from inkwell.audio.tts import EmbeddedSpeech
from tests.audio.conftest import decode, wav_bytes
from tests.fakes.openai_upstream import tone_mp3


def test_sentences_complete_as_text_streams() -> None:
    splitter = SentenceSplitter(min_chars=1, max_chars=400)
    assert splitter.feed("Hello wor") == []
    assert splitter.feed("ld. How") == ["Hello world."]  # the space after the stop confirms the end
    assert splitter.feed(" are you?") == []  # could still be followed by a closing quote
    assert splitter.feed(" Pi is 3.14 today") == ["How are you?"]  # no cut inside 3.14
    assert splitter.feed("。你好！再") == ["Pi is 3.14 today。", "你好！"]  # CJK ends need no space
    assert splitter.flush() == ["再"]
    assert splitter.flush() == []


def test_short_sentences_wait_and_long_runs_are_cut() -> None:
    splitter = SentenceSplitter(min_chars=12, max_chars=40)
    assert splitter.feed("Hi. Yes. ") == []  # both too short alone
    assert splitter.feed("That is right. ") == ["Hi. Yes. That is right."]
    pieces = splitter.feed("a very long run of words without any end at all and more words ")
    assert pieces and all(len(p) <= 40 for p in pieces)
    assert (
        " ".join([*pieces, *splitter.flush()]).split()
        == "a very long run of words without any end at all and more words".split()
    )


def test_split_text_packs_sentences_up_to_the_limit() -> None:
    text = "One. Two. Three. " * 30
    pieces = split_text(text, max_chars=100)
    assert all(len(p) <= 100 for p in pieces)
    assert " ".join(pieces).split() == text.split()
    assert split_text("", max_chars=100) == []


def test_sniff_audio() -> None:
    assert sniff_audio(tone_mp3(0.1)[:64]) == MP3  # LAME output: a bare frame header
    assert sniff_audio(b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\x00" * 54) == MP3
    assert sniff_audio(bytes([0xFF, 0xFD, 0x90, 0x00])) == MPGA  # MPEG-1 layer II
    assert sniff_audio(bytes([0xFF, 0xF1, 0x50, 0x80])) is None  # ADTS AAC (layer bits 00)
    assert sniff_audio(wav_bytes(0.01)[:64]) == WAV
    assert sniff_audio(b"\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00") == M4A
    assert sniff_audio(b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00") == M4A
    assert sniff_audio(b"\x00\x00\x00\x18ftypqt  \x00\x00\x00\x00") is None
    assert sniff_audio(b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm") == WEBM
    assert sniff_audio(b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x88matroska") is None
    assert sniff_audio(b"#!AMR\n\x3c") == AMR
    assert sniff_audio(b"#!AMR-WB\n") == AMR
    assert sniff_audio(b"OggS\x00\x02") is None
    assert sniff_audio(b"") is None


@pytest.fixture
async def embedded() -> AsyncIterator[EmbeddedSpeech]:
    speech = EmbeddedSpeech(engine())
    try:
        yield speech
    finally:
        await speech.aclose()


async def test_voice_catalogue(embedded: EmbeddedSpeech) -> None:
    catalogue = await embedded.catalogue()
    assert {"en-us", "de", "fr-fr", "cmn", "ja", "pt-br"} <= set(catalogue.languages.values())
    assert {"f1", "f3", "m1", "m7", "klatt", "whisper"} <= {v.lower() for v in catalogue.variants.values()}
    cases = {
        (None, None): "en-us",
        (None, "en-US"): "en-us",
        (None, "zh-Hans"): "cmn",
        (None, "fr-FR"): "fr-fr",
        (None, "fr"): "fr-fr",
        (None, "de-DE"): "de",
        (None, "pt-BR"): "pt-br",
        (None, "tlh-KL"): "en-us",
        ("nova", "en-US"): "en-us+f3",
        ("NOVA", "de-DE"): "de+f3",
        ("onyx", None): "en-us+m7",
        ("de+F3", "en-US"): "de+f3",
        ("klatt", "ja-JP"): "ja+klatt",
        ("fr", "en-US"): "fr-fr",
        ("zh-CN-XiaoxiaoNeural", "zh-Hans"): "cmn",
        ("", "en-US"): "en-us",
    }
    for (voice, language), expected in cases.items():
        assert catalogue.voice(voice, language) == expected, (voice, language)


async def test_embedded_speech_is_mp3_and_cancellable(embedded: EmbeddedSpeech) -> None:
    chunks = [c async for c in embedded.stream("A first sentence. And a second one, a little longer.", "en-us")]
    assert len(chunks) >= 2 and all(chunks)
    assert decode(b"".join(chunks)).duration > 2.0
    # a long text cancelled after its first clip: the worker thread is free again at once
    long_text = "This sentence is spoken again and again. " * 200
    stream = embedded.stream(long_text, "en-us")
    assert await anext(stream)
    task = asyncio.ensure_future(anext(stream))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await stream.aclose()
    again = [c async for c in embedded.stream("Still working.", "en-us")]
    assert decode(b"".join(again)).duration > 0.5
