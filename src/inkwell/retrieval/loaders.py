"""Reading a document file into text: plain text and Markdown (and HTML, reduced to its text).

The kind is decided by the extension; the bytes must be UTF-8 (a BOM is allowed).
"""

from __future__ import annotations

from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

TEXT_EXTENSIONS = frozenset({".txt", ".text", ".log", ".csv", ".tsv", ".rst"})
MARKDOWN_EXTENSIONS = frozenset({".md", ".markdown", ".mdx"})
HTML_EXTENSIONS = frozenset({".html", ".htm"})
SUPPORTED = sorted(TEXT_EXTENSIONS | MARKDOWN_EXTENSIONS | HTML_EXTENSIONS)
MAX_FILE_BYTES = 50 * 1024 * 1024


class DocumentError(ValueError):
    """A file that cannot be added; the message names the file and the reason."""


@dataclass(frozen=True, slots=True)
class LoadedDocument:
    name: str
    text: str
    markdown: bool


class _HTMLText(HTMLParser):
    _SKIP = frozenset({"script", "style", "head", "template", "noscript"})
    _BLOCK = frozenset(
        {"p", "div", "br", "li", "ul", "ol", "tr", "table", "section", "article", "header", "footer", "pre"}
        | {"h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "hr"}
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skipping += 1
        elif tag in self._BLOCK:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self._skipping = max(0, self._skipping - 1)
        elif tag in self._BLOCK:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(" ".join(data.split()) if data.strip() else " ")


def html_text(html: str) -> str:
    parser = _HTMLText()
    parser.feed(html)
    parser.close()
    return "".join(parser.parts)


def load_file(path: Path) -> LoadedDocument:
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED:
        kind = f"'{suffix}'" if suffix else "without an extension"
        raise DocumentError(f"{path}: unsupported file type {kind} (supported: {', '.join(SUPPORTED)})")
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise DocumentError(f"{path}: larger than {MAX_FILE_BYTES // (1024 * 1024)} MB")
        text = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise DocumentError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise DocumentError(f"{path} is a directory") from None
    except UnicodeDecodeError:
        raise DocumentError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise DocumentError(f"cannot read {path}: {exc.strerror or exc}") from None
    if suffix in HTML_EXTENSIONS:
        text = html_text(text)
    return LoadedDocument(name=path.name, text=text, markdown=suffix in MARKDOWN_EXTENSIONS)
