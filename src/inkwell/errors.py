"""One exception tree for everything a client can be told (SPEC §5).

    InkwellError                      status, code, message -> {"code", "message", "status"}
    ├── InvalidParam                  400 invalid_param
    ├── Unauthorized                  401 unauthorized (+ WWW-Authenticate: Bearer)
    ├── Forbidden                     403 forbidden
    ├── NotFound                      404 not_found
    ├── MethodNotAllowed              405 method_not_allowed
    ├── RequestTooLarge               413 request_too_large
    ├── UnsupportedMediaType          415 unsupported_media_type
    ├── AppUnavailable                400 app_unavailable
    ├── NotCompletionApp              400 not_completion_app
    ├── TooManyRequests               429 too_many_requests (+ Retry-After)
    ├── RateLimitExceeded             429 rate_limit_error (+ Retry-After)
    ├── ServiceUnavailable            503 service_unavailable
    ├── InternalServerError           500 internal_server_error
    └── ProviderError                 an upstream model failure
        ├── ProviderNotInitialize     400 provider_not_initialize
        ├── ProviderQuotaExceeded     400 provider_quota_exceeded
        ├── ModelCurrentlyNotSupport  400 model_currently_not_support
        └── CompletionRequestError    400 completion_request_error

Errors that belong to one domain live beside it and extend this tree:
``inkwell.files.sniff.UnsupportedFileType`` (415 unsupported_file_type),
``inkwell.files.storage.FileTooLarge`` (413 file_too_large), ``...StoredFileNotFound`` (404 file_not_found),
``inkwell.files.fetch.RemoteFetchError`` (400 invalid_param, a refused ``remote_url``),
``inkwell.files.s3.S3ConnectionFailed`` / ``S3PermissionDenied`` / ``S3FileTooLarge`` (503),
``inkwell.moderation.base.ModerationFailed`` (400 invalid_param, a moderation service that could not decide),
``inkwell.audio.errors`` (400 no_audio_uploaded, 413 audio_too_large, 415 unsupported_audio_type,
400 provider_not_support_speech_to_text, 400 invalid_param for a text with nothing to say).

Raised before a stream opens, an error becomes a plain JSON response; raised inside a stream it
becomes an ``error`` event with the same code, status and message.
"""

from __future__ import annotations

from typing import Any, ClassVar


class InkwellError(Exception):
    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_server_error"
    default_message: ClassVar[str] = "Internal Server Error, please contact support."

    def __init__(self, message: str | None = None, *, headers: dict[str, str] | None = None) -> None:
        self.message = message if message is not None else self.default_message
        self.headers = headers or {}
        super().__init__(self.message)

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "status": self.status}


class InvalidParam(InkwellError):
    status = 400
    code = "invalid_param"
    default_message = "Invalid parameter."


class Unauthorized(InkwellError):
    status = 401
    code = "unauthorized"
    default_message = "Access token is invalid"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message, headers={"WWW-Authenticate": 'Bearer realm="api"'})


class Forbidden(InkwellError):
    status = 403
    code = "forbidden"
    default_message = "Forbidden."


class NotFound(InkwellError):
    status = 404
    code = "not_found"
    default_message = "Not found."


class MessageNotFound(NotFound):
    code = "message_not_found"
    default_message = "Message Not Exists."


class MethodNotAllowed(InkwellError):
    status = 405
    code = "method_not_allowed"
    default_message = "The method is not allowed for the requested URL."


class RequestTooLarge(InkwellError):
    status = 413
    code = "request_too_large"
    default_message = "Request body is too large."


class UnsupportedMediaType(InkwellError):
    status = 415
    code = "unsupported_media_type"
    default_message = "Did not attempt to load JSON data because the request Content-Type was not 'application/json'."


class AppUnavailable(InkwellError):
    status = 400
    code = "app_unavailable"
    default_message = "App unavailable, please check your app configurations."


class NotCompletionApp(InkwellError):
    status = 400
    code = "not_completion_app"
    default_message = "Please check if your Completion app mode matches the right API route."


class TooManyRequests(InkwellError):
    status = 429
    code = "too_many_requests"
    default_message = "Too many requests. Please try again later."


class RateLimitExceeded(InkwellError):
    status = 429
    code = "rate_limit_error"
    default_message = "Rate limit exceeded. Please try again later."


class ServiceUnavailable(InkwellError):
    status = 503
    code = "service_unavailable"
    default_message = "The service is temporarily unavailable. Please try again later."


class InternalServerError(InkwellError):
    pass


class ProviderError(InkwellError):
    status = 400
    code = "completion_request_error"
    default_message = "Completion request failed."


class ProviderNotInitialize(ProviderError):
    code = "provider_not_initialize"
    default_message = (
        "No valid model provider credentials found. "
        "Please go to Settings -> Model Provider to complete your provider credentials."
    )


class ProviderQuotaExceeded(ProviderError):
    code = "provider_quota_exceeded"
    default_message = (
        "Your quota for Dify Hosted Model Provider has been exhausted. "
        "Please go to Settings -> Model Provider to complete your own provider credentials."
    )


class ModelCurrentlyNotSupport(ProviderError):
    code = "model_currently_not_support"
    default_message = "Dify Hosted OpenAI trial currently not support the GPT-4 model."


class CompletionRequestError(ProviderError):
    code = "completion_request_error"
    default_message = "Completion request failed."
