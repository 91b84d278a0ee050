"""Uploads: name checked, type sniffed from the content (and agreeing with the extension), bytes
streamed to storage under a server-made key with the size limit enforced on the way."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator
from typing import Any, Protocol

from sqlalchemy import insert, select
from sqlmodel import col

from inkwell.db import Database, utcnow
from inkwell.errors import InkwellError
from inkwell.files.models import UploadFile
from inkwell.files.sniff import IMAGE_EXTENSIONS, SNIFF_BYTES, check_upload_name, sniff, verify
from inkwell.files.storage import Storage

CHUNK = 64 * 1024


class NoFileUploaded(InkwellError):
    status = 400
    code = "no_file_uploaded"
    default_message = "Please upload your file."


class TooManyFiles(InkwellError):
    status = 400
    code = "too_many_files"
    default_message = "Only one file is allowed."


class FileNotFound(InkwellError):
    status = 404
    code = "file_not_found"
    default_message = "File not found."


class Readable(Protocol):
    async def read(self, size: int = -1) -> bytes: ...


class FileService:
    def __init__(self, db: Database, storage: Storage, *, image_limit_bytes: int) -> None:
        self.db = db
        self.storage = storage
        self.image_limit_bytes = image_limit_bytes
        self._table = UploadFile.__table__  # type: ignore[attr-defined]

    async def upload(self, *, app_id: str, end_user_id: str, filename: str, source: Readable) -> UploadFile:
        name, extension = check_upload_name(filename)
        head = await source.read(SNIFF_BYTES)
        kind = verify(extension, sniff(head), IMAGE_EXTENSIONS)
        key = f"{app_id}/{uuid.uuid4().hex}.{kind.extension}"
        digest = hashlib.sha256()

        async def chunks() -> AsyncIterator[bytes]:
            data = head
            while data:
                digest.update(data)
                yield data
                data = await source.read(CHUNK)

        size = await self.storage.save(key, chunks(), max_bytes=self.image_limit_bytes)
        row = UploadFile(
            app_id=app_id,
            end_user_id=end_user_id,
            name=name,
            size=size,
            extension=extension,
            mime_type=kind.mime_type,
            storage_key=key,
            sha256=digest.hexdigest(),
            created_at=utcnow(),
        )
        try:
            async with self.db.engine.begin() as conn:
                await conn.execute(insert(self._table).values(**row.model_dump()))
        except BaseException:
            await self.storage.delete(key)
            raise
        return row

    async def get(self, *, app_id: str, file_id: str) -> UploadFile:
        """The file if it belongs to this app; 404 otherwise (no hint whether it exists elsewhere)."""
        async with self.db.session() as session:
            row = (
                await session.execute(
                    select(UploadFile).where(col(UploadFile.id) == file_id, col(UploadFile.app_id) == app_id)
                )
            ).scalar_one_or_none()
        if row is None:
            raise FileNotFound()
        return row


def file_object(row: UploadFile) -> dict[str, Any]:
    """The reference's file object (upload response)."""
    return {
        "id": row.id,
        "name": row.name,
        "size": row.size,
        "extension": row.extension,
        "mime_type": row.mime_type,
        "created_by": row.end_user_id,
        "created_at": int(row.created_at.timestamp()),
        "preview_url": None,
        "source_url": f"/v1/files/{row.id}/preview",
        "original_url": None,
        "user_id": None,
        "tenant_id": None,
        "conversation_id": None,
        "file_key": None,
    }
