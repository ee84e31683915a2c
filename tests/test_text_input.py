"""What ``ruvector index`` reads: text decided by content, passages the model reads whole.

The sniffing and window rules are checked directly; what a user sees (exit codes,
messages, the store's contents afterwards) through the command in a separate process."""

from __future__ import annotations

import codecs
import gzip
import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from test_cli import ruvector

import ruvector_core as rv
from ruvector_core.corpus import stdlib_passages
from ruvector_core.memory import Memory, index_files
from ruvector_core.memory.passages import split_passages, windows
from ruvector_core.memory.sniff import NotText, Text, sniff
from ruvector_core.memory.walk import walk

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01"


@pytest.fixture(scope="module")
def embedder() -> rv.Embedder:
    return rv.Runtime.initialize().embedder()


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("a.txt", "hello")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("data", "kind", "words"),
    [
        (PNG, "binary", "PNG"),
        (b"%PDF-1.7\n%\xe2\xe3\n1 0 obj", "binary", "PDF"),
        (_zip(), "binary", "ZIP"),
        (gzip.compress(b"plain text inside"), "binary", "gzip"),
        (b"text with a \x00 NUL in it", "binary", "NUL"),
        (bytes(range(1, 32)) * 10 + b"some letters", "binary", "control characters"),
        ("café au lait".encode("latin-1"), "undecodable", "not valid UTF-8"),
        (codecs.BOM_UTF16_LE + b"\x00\xd8", "undecodable", "UTF-16"),  # a lone surrogate
        (b"  \n\n\t ", "empty", "no text"),
    ],
)
def test_what_is_not_text(data: bytes, kind: str, words: str) -> None:
    result = sniff(data)
    assert isinstance(result, NotText) and result.reason == kind and words in result.detail


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        ("plain ünïcode text\n".encode(), "UTF-8"),
        (codecs.BOM_UTF8 + b"with a BOM", "UTF-8 with BOM"),
        (codecs.BOM_UTF16_LE + "little-endian UTF-16".encode("utf-16-le"), "UTF-16 with BOM"),
        (codecs.BOM_UTF16_BE + "big-endian UTF-16".encode("utf-16-be"), "UTF-16 with BOM"),
        (codecs.BOM_UTF32_LE + "UTF-32 too".encode("utf-32-le"), "UTF-32 with BOM"),
        (b"tabs\tand\fform feeds and \x1b[1mcolour\x1b[0m codes", "UTF-8"),
    ],
)
def test_what_is_text(data: bytes, encoding: str) -> None:
    result = sniff(data)
    assert isinstance(result, Text) and result.encoding == encoding
    assert "\ufeff" not in result.text and result.text.strip()


def test_long_paragraphs_become_windows_the_model_reads_whole(embedder: rv.Embedder) -> None:
    paragraph = " ".join(text for _, text in zip(range(150), (t for _, t in stdlib_passages()), strict=False))
    (spans,) = embedder.token_spans([paragraph])
    parts = windows(paragraph, spans, embedder.max_tokens)
    assert len(parts) > len(spans) / embedder.max_tokens  # overlapping windows cover it all
    counts = [embedder.token_count(part) for part in parts]
    assert max(counts) <= embedder.max_tokens, "every window fits the model"
    assert min(counts[:-1]) >= embedder.max_tokens * 3 // 4, "windows are not needlessly short"
    starts = [paragraph.index(part) for part in parts]
    ends = [start + len(part) for start, part in zip(starts, parts, strict=True)]
    assert starts[0] == 0 and ends[-1] == len(paragraph), "the first and last words are in a passage"
    assert all(s < e for s, e in zip(starts[1:], ends, strict=False)), "consecutive windows overlap"
    assert all(paragraph[s - 1] == " " for s in starts[1:]), "windows start at a word"
    assert sum(part.endswith((".", "!", "?")) for part in parts[:-1]) > len(parts) // 2, "mostly at sentence ends"


def test_paragraphs_stay_apart_and_short_ones_whole(embedder: rv.Embedder) -> None:
    long = "word " * 600
    passages = split_passages(f"A short one.\n\n{long}\n\nAnother short one.", embedder.token_spans, 254)
    assert passages[0].text == "A short one." and passages[0].paragraph == 1
    assert passages[-1].text == "Another short one." and passages[-1].paragraph == 3
    assert {p.paragraph for p in passages[1:-1]} == {2} and len(passages) > 4


def test_a_word_longer_than_any_window_is_bounded(embedder: rv.Embedder) -> None:
    blob = "x" * 200_000  # one "word": the tokenizer reads it as one unknown token
    (spans,) = embedder.token_spans([blob])
    parts = windows(blob, spans, embedder.max_tokens)
    assert all(len(p) <= 16 * embedder.max_tokens for p in parts)


def _facts_folder(tmp_path: Path) -> Path:
    docs = tmp_path / "docs"
    (docs / "sub").mkdir(parents=True)
    (docs / "tea.txt").write_text("Green tea is brewed from the leaves of Camellia sinensis.", "utf-8")
    (docs / "bom.md").write_bytes(codecs.BOM_UTF8 + b"Espresso is coffee forced through fine grounds.")
    (docs / "utf16.txt").write_bytes(codecs.BOM_UTF16_LE + "Glaciers carve valleys into mountains.".encode("utf-16-le"))
    (docs / "picture.md").write_bytes(PNG + bytes(range(256)) * 4)
    (docs / "random.txt").write_bytes(np.random.default_rng(0).bytes(4000))
    (docs / "latin1.txt").write_bytes("Crème brûlée".encode("latin-1"))
    (docs / "script.py").write_text("print('not a document')", "utf-8")
    (docs / "sub" / "up").symlink_to(docs, target_is_directory=True)  # a loop
    return docs


def test_index_skips_what_is_not_text_and_says_why(tmp_path: Path) -> None:
    docs, db = _facts_folder(tmp_path), tmp_path / "store"
    result = ruvector("index", str(docs), "--db", str(db), "--no-progress")
    assert result.returncode == 0, result.stderr
    first, second = result.stdout.splitlines()[:2]
    assert first.startswith("indexed 3 files (3 passages)") and "3 items in" in first
    assert second == (
        "skipped 5 paths: 2 binary, 1 link not followed, 1 not a text type, 1 undecodable (--verbose lists them)"
    )
    with Memory.open(db, progress=False, create=False) as memory:
        sources = {Path(s).name for (s,) in memory.distinct("source")}
        assert sources == {"tea.txt", "bom.md", "utf16.txt"}
        assert memory.search("ice shaping the land", k=1)[0].text == "Glaciers carve valleys into mountains."

    verbose = ruvector("index", str(docs), "--db", str(db), "--no-progress", "--verbose")
    assert verbose.returncode == 0, verbose.stderr
    assert verbose.stdout.startswith("indexed 0 files (0 passages), 3 unchanged")
    notes = {line.split(": ", 1)[0].removeprefix("  skipped "): line for line in verbose.stdout.splitlines()[2:]}
    assert "a PNG image" in notes[str(docs / "picture.md")]
    assert "NUL bytes" in notes[str(docs / "random.txt")]
    assert "not valid UTF-8 (byte 0xe8 at offset 2)" in notes[str(docs / "latin1.txt")]
    assert "symbolic link loop" in notes[str(docs / "sub" / "up")]
    assert "suffix .py" in notes[str(docs / "script.py")]

    (docs / "tea.txt").write_bytes(PNG)  # indexed before, binary now: its passage goes
    again = ruvector("index", str(docs), "--db", str(db), "--no-progress")
    assert again.returncode == 0 and "1 removed" in again.stdout and "3 binary" in again.stdout
    with Memory.open(db, progress=False, create=False) as memory:
        assert memory.count() == 2


def test_singular_and_only_unsupported_files(tmp_path: Path) -> None:
    one = tmp_path / "one.txt"
    one.write_text("Just one sentence here.", "utf-8")
    result = ruvector("index", str(one), "--db", str(tmp_path / "a"), "--no-progress")
    assert result.returncode == 0, result.stderr
    expected = "indexed 1 file (1 passage), 0 unchanged, 0 removed, 0 old passages replaced; 1 item in"
    assert result.stdout.startswith(expected)
    code = tmp_path / "code"
    code.mkdir()
    (code / "a.py").write_text("x = 1", "utf-8")
    (code / "b.json").write_text("{}", "utf-8")
    result = ruvector("index", str(code), "--db", str(tmp_path / "b"), "--no-progress")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1] == "skipped 2 paths: 2 not a text type (--verbose lists them)"


def test_a_missing_path_creates_no_store(tmp_path: Path) -> None:
    db = tmp_path / "store"
    result = ruvector("index", str(tmp_path / "does_not_exist"), "--db", str(db))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    expected = f"error: {tmp_path / 'does_not_exist'} is neither a file nor a folder; nothing was indexed"
    assert result.stderr.strip() == expected
    assert not db.exists()


def test_the_end_of_a_long_single_line_file_is_found_by_meaning(tmp_path: Path) -> None:
    """One line of about 60,000 characters (hundreds of windows' worth of tokens before the
    last sentence): its last sentence must be embedded, in a passage of its own window."""
    filler = " ".join(text for _, text in zip(range(400), (t for _, t in stdlib_passages()), strict=False))
    ending = "The lighthouse keeper paints the tower bright orange every spring."
    (tmp_path / "long.txt").write_text(f"{filler} {ending}", "utf-8")
    db = tmp_path / "store"
    result = ruvector("index", str(tmp_path / "long.txt"), "--db", str(db), "--no-progress")
    assert result.returncode == 0, result.stderr
    query = ruvector("query", "who paints the lighthouse orange?", "--db", str(db), "-k", "1", "--json")
    assert query.returncode == 0, query.stderr
    (hit,) = json.loads(query.stdout)["results"]
    assert hit["text"].endswith(ending) and hit["metadata"]["passage"] > 10
    assert hit["id"] == f"{(tmp_path / 'long.txt').resolve()}#{hit['metadata']['passage']}"
    table = ruvector("query", "who paints the lighthouse orange?", "--db", str(db), "-k", "1")
    assert f"long.txt #{hit['metadata']['passage']}" in table.stdout, "the table numbers passages as --json does"
    assert len(table.stdout) < 2_000 and "chars)" in table.stdout, "the table shows a trimmed preview"


def test_queries_empty_long_and_with_a_model(tmp_path: Path) -> None:
    db = tmp_path / "store"
    assert ruvector("add", "--db", str(db), "Ana prefers green tea in the morning.").returncode == 0
    for empty in ("", "   \n"):
        result = ruvector("query", empty, "--db", str(db))
        assert result.returncode == 1 and result.stderr == "error: the query is empty: give the text to look for\n"
    long = "what does Ana drink in the morning " * 120
    result = ruvector("query", long, "--db", str(db), "-k", "1")
    assert result.returncode == 0, result.stderr
    assert "note: the query is" in result.stderr and "the model reads 254" in result.stderr
    title = result.stdout.splitlines()[0]
    assert len(title.strip()) < 120 and "chars)" in title
    assert "Ana prefers green tea" in result.stdout
    named = ruvector("query", "tea", "--db", str(db), "--model", "all-MiniLM-L6-v2", "--json")
    assert named.returncode == 0 and json.loads(named.stdout)["results"][0]["text"].startswith("Ana")
    other = ruvector("query", "tea", "--db", str(db), "--model", str(tmp_path / "no-such-model"))
    assert other.returncode == 1 and other.stderr.startswith("error:") and "Traceback" not in other.stderr


def test_links_are_followed_once_and_loops_reported(tmp_path: Path) -> None:
    shared, notes = tmp_path / "shared", tmp_path / "notes"
    (shared / "deep").mkdir(parents=True)
    notes.mkdir()
    (shared / "deep" / "a.md").write_text("a", "utf-8")
    (notes / "b.txt").write_text("b", "utf-8")
    (notes / "shared").symlink_to(shared, target_is_directory=True)  # outside: followed when asked
    (notes / "shared-again").symlink_to(shared, target_is_directory=True)  # walked already
    (shared / "deep" / "back").symlink_to(shared, target_is_directory=True)  # a loop inside the target
    (notes / "gone").symlink_to(tmp_path / "nowhere")
    (notes / "b-link.txt").symlink_to(notes / "b.txt")  # the same file twice: once
    inside = walk([notes])  # links out of the folder are reported, not followed
    assert inside.files == [(notes / "b.txt").resolve()]
    assert {path.name for path, why in inside.links if why.startswith("links out of")} == {"shared", "shared-again"}
    found = walk([notes], follow_symlinks=True)
    assert found.files == [(notes / "b.txt").resolve(), (shared / "deep" / "a.md").resolve()]
    reasons = {path.name: why for path, why in found.links}
    assert reasons.keys() == {"back", "gone", "shared-again"}
    assert reasons["back"].startswith("symbolic link loop") and "walked already" in reasons["shared-again"]
    assert reasons["gone"].startswith("broken symbolic link")
    assert shared.resolve() in found.folders


class _NoTokenizer:
    """An embedder as the LangChain and LlamaIndex wrappers are: vectors, no view of the
    model's tokenizer (here ruvector's own model behind it, so the vectors are real)."""

    def __init__(self, inner: rv.Embedder) -> None:
        self._inner = inner
        self.dimensions = inner.dimensions

    def embed_batch(self, texts: list[str]) -> np.ndarray:
        return self._inner.embed_batch(texts)

    def close(self) -> None:
        """The inner embedder is the fixture's."""


def test_an_embedder_that_does_not_tell_its_window_gets_whole_paragraphs(tmp_path: Path, embedder) -> None:
    plain = rv.Embedder(_NoTokenizer(embedder), "plain", rv.EmbedderConfig())
    assert plain.max_tokens is None and plain.token_count("tea") is None
    with pytest.raises(rv.CapabilityUnavailableError, match="does not tell its tokens"):
        plain.token_spans(["tea"])
    long = "word " * 600
    (tmp_path / "notes.txt").write_text(f"Tea is brewed from leaves.\n\n{long}", "utf-8")
    with Memory.open(tmp_path / "store", embedder=plain, progress=False) as memory:
        report = index_files(memory, [tmp_path / "notes.txt"])
        assert report.passages_added == 2  # each paragraph whole: the window is unknown
        assert {s for (s,) in memory.distinct("split")} == {"windows-1/paragraphs"}
