"""``POST /v1/files/upload`` and ``GET /v1/files/{id}/preview`` through a real server, on both databases."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import httpx
import pytest

from tests.conftest import RunningServer, SeededApp, dsl, seed
from tests.files.test_sniff import make_gif, make_jpeg, make_png, make_webp

FILE_KEYS = [
    "id",
    "name",
    "size",
    "extension",
    "mime_type",
    "created_by",
    "created_at",
    "preview_url",
    "source_url",
    "original_url",
    "user_id",
    "tenant_id",
    "conversation_id",
    "file_key",
]


def assert_error(resp: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert resp.status_code == status, resp.text
    body: dict[str, object] = resp.json()
    assert list(body) == ["code", "message", "status"]
    assert body["code"] == code and body["status"] == status
    return body


async def upload(
    client: httpx.AsyncClient, app: SeededApp, files: list[tuple[str, tuple[str, bytes, str]]], user: str = "uploader"
) -> httpx.Response:
    return await client.post(f"{app.base_url}/v1/files/upload", headers=app.headers, files=files, data={"user": user})


@pytest.mark.parametrize(
    ("name", "data", "mime", "extension"),
    [
        ("cat.png", make_png(), "image/png", "png"),
        ("cat.JPG", make_jpeg(), "image/jpeg", "jpg"),
        ("cat.jpeg", make_jpeg(), "image/jpeg", "jpeg"),
        ("cat.gif", make_gif(), "image/gif", "gif"),
        ("cat.webp", make_webp(), "image/webp", "webp"),
    ],
)
async def test_upload_each_image_type_then_preview_it(
    client: httpx.AsyncClient, echo_app: SeededApp, name: str, data: bytes, mime: str, extension: str
) -> None:
    resp = await upload(client, echo_app, [("file", (name, data, "application/octet-stream"))])
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert list(body) == FILE_KEYS
    assert body["name"] == name
    assert body["size"] == len(data)
    assert body["extension"] == extension
    assert body["mime_type"] == mime  # from the content, not from the client's part header
    assert isinstance(body["created_at"], int)

    preview = await client.get(f"{echo_app.base_url}/v1/files/{body['id']}/preview", headers=echo_app.headers)
    assert preview.status_code == 200
    assert preview.content == data
    assert preview.headers["content-type"] == mime
    assert preview.headers["content-length"] == str(len(data))
    assert preview.headers["x-content-type-options"] == "nosniff"
    assert "content-disposition" not in preview.headers

    download = await client.get(
        f"{echo_app.base_url}/v1/files/{body['id']}/preview",
        headers=echo_app.headers,
        params={"as_attachment": "true"},
    )
    assert download.content == data
    assert download.headers["content-type"] == "application/octet-stream"
    assert download.headers["content-disposition"] == f"attachment; filename*=UTF-8''{name}"


async def test_upload_refusals(client: httpx.AsyncClient, echo_app: SeededApp) -> None:
    png = make_png()
    body = assert_error(
        await upload(client, echo_app, [("file", ("cat.jpg", png, "image/jpeg"))]), 415, "unsupported_file_type"
    )
    assert "does not match" in str(body["message"])
    assert_error(
        await upload(client, echo_app, [("file", ("notes.png", b"just some text", "image/png"))]),
        415,
        "unsupported_file_type",
    )
    assert_error(
        await upload(client, echo_app, [("file", ("empty.png", b"", "image/png"))]), 415, "unsupported_file_type"
    )
    assert_error(
        await upload(client, echo_app, [("file", ("doc.pdf", b"%PDF-1.7\n...", "application/pdf"))]),
        415,
        "unsupported_file_type",
    )
    assert_error(
        await upload(client, echo_app, [("file", ("../../etc/cat.png", png, "image/png"))]), 400, "invalid_param"
    )
    two = [("file", ("a.png", png, "image/png")), ("file", ("b.png", png, "image/png"))]
    assert_error(await upload(client, echo_app, two), 400, "too_many_files")
    assert_error(await upload(client, echo_app, [("image", ("a.png", png, "image/png"))]), 400, "no_file_uploaded")
    resp = await client.post(
        f"{echo_app.base_url}/v1/files/upload", headers=echo_app.headers, data={"user": "uploader"}
    )
    assert_error(resp, 400, "no_file_uploaded")
    resp = await client.post(f"{echo_app.base_url}/v1/files/upload", headers=echo_app.headers, json={"file": "x"})
    assert_error(resp, 400, "no_file_uploaded")


async def test_huge_filename_is_shortened(client: httpx.AsyncClient, echo_app: SeededApp) -> None:
    resp = await upload(client, echo_app, [("file", ("k" * 400 + ".png", make_png(), "image/png"))])
    assert resp.status_code == 201, resp.text
    name = resp.json()["name"]
    assert len(name) <= 200 and name.endswith(".png")


async def test_oversize_upload_is_413_naming_the_limit(
    client: httpx.AsyncClient, server_factory: Callable[..., RunningServer]
) -> None:
    running = server_factory(upload_image_file_size_limit=1)
    app = await seed(running, dsl(f"big-{uuid.uuid4().hex[:6]}"))
    just_over = make_png() + b"\0" * (1024 * 1024)  # streamed into storage, then refused there
    body = assert_error(
        await upload(client, app, [("file", ("big.png", just_over, "image/png"))]), 413, "file_too_large"
    )
    assert "1 MB" in str(body["message"])
    far_over = make_png() + b"\0" * (3 * 1024 * 1024)  # cut off by the body limit before it is parsed
    body = assert_error(
        await upload(client, app, [("file", ("big.png", far_over, "image/png"))]), 413, "file_too_large"
    )
    assert "1 MB" in str(body["message"])
    exactly = make_png()
    exactly += b"\0" * (1024 * 1024 - len(exactly))
    assert (await upload(client, app, [("file", ("max.png", exactly, "image/png"))])).status_code == 201


async def test_preview_is_scoped_to_the_app(
    client: httpx.AsyncClient, server: RunningServer, echo_app: SeededApp
) -> None:
    other = await seed(server, dsl(f"other-{uuid.uuid4().hex[:6]}"))
    resp = await upload(client, echo_app, [("file", ("cat.png", make_png(), "image/png"))])
    file_id = resp.json()["id"]
    foreign = await client.get(f"{other.base_url}/v1/files/{file_id}/preview", headers=other.headers)
    assert_error(foreign, 404, "file_not_found")
    unknown = await client.get(f"{echo_app.base_url}/v1/files/{uuid.uuid4()}/preview", headers=echo_app.headers)
    assert_error(unknown, 404, "file_not_found")
    no_key = await client.get(f"{echo_app.base_url}/v1/files/{file_id}/preview")
    assert_error(no_key, 401, "unauthorized")
