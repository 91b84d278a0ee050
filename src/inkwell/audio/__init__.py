"""Audio: text-to-audio, audio-to-text and speech while streaming (SPEC §2, §6 step 9).

tts.py        speech providers: embedded (eSpeak NG + LAME, offline) and openai_compatible
asr.py        transcription provider: openai_compatible
espeak.py     eSpeak NG through ctypes, from the espeakng-loader wheel
text.py       sentences for synthesis
sniff.py      what a recording is, by its first bytes
config.py     providers from the providers file; an app's speech features
streaming.py  tts_message events while an answer streams
service.py    the three operations; views.py the two endpoints
"""
