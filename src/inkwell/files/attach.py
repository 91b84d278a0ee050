"""Files in completion requests: checked against the app's ``file_upload`` config, resolved to bytes
(``local_file``: an upload of this app *and* this end user; ``remote_url``: through the SSRF-safe
fetcher), sniffed, and handed to the model as image content parts. Nothing is dropped silently: every
refusal is a 400 ``invalid_param`` that says why.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from inkwell.completion.prompt import Prompt
from inkwell.errors import InvalidParam
from inkwell.files.fetch import SafeFetcher
from inkwell.files.service import FileNotFound, FileService
from inkwell.files.sniff import IMAGE_EXTENSIONS, sniff

METHODS = ("local_file", "remote_url")


@dataclass(frozen=True, slots=True)
class FilePolicy:
    enabled: bool
    allowed_types: tuple[str, ...]
    methods: tuple[str, ...]
    number_limits: int
    detail: str

    @classmethod
    def of(cls, raw: Any) -> FilePolicy:
        """From the app's ``file_upload`` block, current form or legacy image-only form."""
        raw = raw if isinstance(raw, dict) else {}
        image = raw.get("image") if isinstance(raw.get("image"), dict) else {}
        enabled = bool(raw.get("enabled") or image.get("enabled"))
        types = raw.get("allowed_file_types") or (["image"] if image.get("enabled") or raw.get("enabled") else [])
        methods = image.get("transfer_methods") or raw.get("allowed_file_upload_methods") or list(METHODS)
        limit = image.get("number_limits") or raw.get("number_limits") or 3
        return cls(
            enabled=enabled,
            allowed_types=tuple(str(t) for t in types),
            methods=tuple(str(m) for m in methods),
            number_limits=int(limit),
            detail=str(image.get("detail") or "high"),
        )


@dataclass(frozen=True, slots=True)
class Attachment:
    transfer_method: str
    label: str  # the file name (local) or the URL (remote)
    filename: str
    extension: str
    mime_type: str
    data: bytes
    upload_file_id: str | None = None
    url: str | None = None

    def record(self) -> dict[str, Any]:
        """``message_end.files`` entry (the reference's keys)."""
        return {
            "related_id": self.upload_file_id,
            "extension": self.extension,
            "filename": self.filename,
            "size": len(self.data),
            "mime_type": self.mime_type,
            "transfer_method": self.transfer_method,
            "type": "image",
            "url": self.url,
            "upload_file_id": self.upload_file_id,
            "remote_url": self.url,
        }


async def resolve_files(
    files: list[Any],
    *,
    file_upload: Any,
    app_id: str,
    end_user_id: str,
    service: FileService,
    fetcher: SafeFetcher,
) -> list[Attachment]:
    if not files:
        return []
    policy = FilePolicy.of(file_upload)
    if not policy.enabled:
        raise InvalidParam("File upload is not enabled for this app.")
    if len(files) > policy.number_limits:
        raise InvalidParam(f"Number of image files exceeds the maximum limit {policy.number_limits}")
    attachments: list[Attachment] = []
    for index, item in enumerate(files):
        where = f"files[{index}]"
        if item.type not in ("image", "custom"):
            raise InvalidParam(f"{where}: file type '{item.type}' is not supported (images only)")
        if "image" not in policy.allowed_types:
            raise InvalidParam(f"{where}: images are not allowed for this app")
        if item.transfer_method not in policy.methods:
            raise InvalidParam(f"{where}: transfer method '{item.transfer_method}' is not allowed for this app")
        if item.transfer_method == "local_file":
            attachments.append(await _local(item, where, app_id, end_user_id, service))
        else:
            attachments.append(await _remote(item, where, fetcher))
    return attachments


async def _local(item: Any, where: str, app_id: str, end_user_id: str, service: FileService) -> Attachment:
    if not item.upload_file_id:
        raise InvalidParam(f"{where}: upload_file_id is required for local_file")
    try:
        row = await service.get(app_id=app_id, file_id=str(item.upload_file_id))
    except FileNotFound:
        row = None
    if row is None or row.end_user_id != end_user_id:  # another app's or another end user's file
        raise InvalidParam(f"{where}: invalid upload file {item.upload_file_id}")
    data = b"".join([chunk async for chunk in service.storage.open(row.storage_key)])
    return Attachment(
        transfer_method="local_file",
        label=row.name,
        filename=row.name,
        extension=row.extension,
        mime_type=row.mime_type,
        data=data,
        upload_file_id=row.id,
    )


async def _remote(item: Any, where: str, fetcher: SafeFetcher) -> Attachment:
    url = item.url or (item.model_extra or {}).get("remote_url")
    if not url or not isinstance(url, str):
        raise InvalidParam(f"{where}: url is required for remote_url")
    fetched = await fetcher.fetch(url)
    kind = sniff(fetched.content[:16])
    if kind is None or kind.extension not in IMAGE_EXTENSIONS:
        raise InvalidParam(f"{where}: remote_url is not an image (png, jpeg, gif or webp)")
    return Attachment(
        transfer_method="remote_url",
        label=url,
        filename=fetched.filename,
        extension=kind.extension,
        mime_type=kind.mime_type,
        data=fetched.content,
        url=url,
    )


def attach(prompt: Prompt, attachments: list[Attachment], *, detail: str, send_urls: bool) -> None:
    """Images become content parts of the last user message (after its text)."""
    if not attachments:
        return
    target = next((m for m in reversed(prompt.messages) if m.role == "user"), None)
    if target is None:
        return
    for item in attachments:
        if send_urls and item.url:
            url = item.url
        else:
            url = f"data:{item.mime_type};base64,{base64.b64encode(item.data).decode()}"
        target.parts.append({"type": "image_url", "image_url": {"url": url, "detail": detail}})
        target.labels.append(item.label)
