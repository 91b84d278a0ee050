"""Every table, imported in one place so Alembic and the test schema see the whole metadata."""

from sqlmodel import SQLModel

from inkwell.apps.models import ApiKey, App
from inkwell.completion.models import Message
from inkwell.endusers.models import EndUser
from inkwell.files.models import MessageFile, UploadFile

metadata = SQLModel.metadata

__all__ = ["ApiKey", "App", "EndUser", "Message", "MessageFile", "UploadFile", "metadata"]
