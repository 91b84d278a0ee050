"""Every table, imported in one place so Alembic and the test schema see the whole metadata."""

from sqlmodel import SQLModel

from inkwell.apps.models import ApiKey, App
from inkwell.completion.models import Message
from inkwell.endusers.models import EndUser
from inkwell.feedback.models import MessageFeedback
from inkwell.files.models import MessageFile, UploadFile
from inkwell.retrieval.models import Dataset, DatasetDocument, DatasetSegment
from inkwell.sites.models import SavedMessage, Site

metadata = SQLModel.metadata

__all__ = [
    "ApiKey",
    "App",
    "Dataset",
    "DatasetDocument",
    "DatasetSegment",
    "EndUser",
    "Message",
    "MessageFeedback",
    "MessageFile",
    "SavedMessage",
    "Site",
    "UploadFile",
    "metadata",
]
