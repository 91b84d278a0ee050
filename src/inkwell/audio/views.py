"""``POST /v1/text-to-audio`` and ``POST /v1/audio-to-text``."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.datastructures import UploadFile as FormFile
from starlette.responses import Response, StreamingResponse

from inkwell.audio.errors import NoAudioUploaded
from inkwell.audio.protocol import TextToAudioRequest
from inkwell.auth.deps import AppDep, RuntimeDep
from inkwell.errors import InvalidParam
from inkwell.http import JSONResponse, multipart_form, read_json_object
from inkwell.openapi import MP3_RESPONSE, body_of, error_responses, json_response, multipart_file_body

router = APIRouter(prefix="/v1", tags=["audio"])


@router.post(
    "/text-to-audio",
    summary="Read a message's answer or a text aloud (MP3)",
    description="`message_id` (a message of this app) wins over `text`. The app's `text_to_speech` must be "
    "enabled; the voice is the request's, else the app's (see the README for the embedded voices). The body is "
    "`audio/mpeg`, streamed as it is synthesized.",
    openapi_extra=body_of("TextToAudioRequest"),
    responses={200: MP3_RESPONSE, **error_responses(400, 401, 403, 404, 413, 415)},
)
async def text_to_audio(request: Request, loaded: AppDep, runtime: RuntimeDep) -> Response:
    body = TextToAudioRequest.parse(await read_json_object(request))
    chunks = await runtime.audio.text_to_audio(loaded.app, message_id=body.message_id, text=body.text, voice=body.voice)
    return StreamingResponse(chunks, media_type="audio/mpeg", headers={"Cache-Control": "no-store"})


@router.post(
    "/audio-to-text",
    summary="Transcribe a recording (multipart: `file`, optional `user`)",
    description="mp3, m4a, wav, webm, mpga or amr, decided by the content; at most `INKWELL_ASR_FILE_SIZE_LIMIT` "
    "MB (default 30). The app's `speech_to_text` must be enabled and a speech-to-text provider configured.",
    openapi_extra=multipart_file_body(with_user=True),
    responses={200: {"content": json_response("AudioToTextResponse")}, **error_responses(400, 401, 403, 413, 415)},
)
async def audio_to_text(request: Request, loaded: AppDep, runtime: RuntimeDep) -> Response:
    too_many = InvalidParam("Only one file can be transcribed at a time.")
    async with multipart_form(request, max_files=1, not_multipart=NoAudioUploaded(), too_many_files=too_many) as form:
        upload = form.get("file")
        if not isinstance(upload, FormFile):
            raise NoAudioUploaded()
        user = form.get("user")
        if user is not None and not isinstance(user, str):
            raise InvalidParam("user: Input should be a valid string")
        text = await runtime.audio.audio_to_text(loaded.app, upload)
    return JSONResponse({"text": text})
