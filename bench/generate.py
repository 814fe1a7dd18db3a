"""Deterministic movie-like CSV data for the benchmark, in UTF-8 and Windows-1252.

Rows look like ``id|title|original_title|year|runtime_minutes|genres|description`` with Portuguese,
Spanish and French titles and descriptions: about 10% of the characters of the text fields are
non-ASCII (accented letters, plus the typographic quotes, dashes and ellipses that exist in
Windows-1252 but not in Latin-1), lines end in CRLF by default.

Speed: one block of a few MiB of rows is built once with ``random.Random(seed)``; a file is that block
written over and over, each copy with a different id prefix (one C-level ``bytes.join`` per copy),
so generation runs at disk speed (well above 200 MB/s).

Both variants hold the same text: the UTF-8 file has exactly the requested size and the
Windows-1252 file transcodes to exactly the UTF-8 file, so the UTF-8 size is the expected object
size for every tool. Fields never contain quotes or the separator and no value reads as NaN, so a
pandas ``read_csv``/``to_csv`` round trip is byte-identical too.

Datasets are cached in the work folder with a manifest; they are regenerated only when missing, of
the wrong size, or made by another generator version or seed.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

GENERATOR_VERSION = 1
DEFAULT_SEED = 20240605
BLOCK_BYTES = 4 * 1024 * 1024  # one block of rows, repeated with new ids
HEADER = "id|title|original_title|year|runtime_minutes|genres|description"
ID_BASE = 100_000  # block number prefix: no leading zero, so ids stay integers through pandas
ROW_DIGITS = 5  # row number within a block; a block holds fewer than 10**5 rows
TAIL_RESERVE = 96  # bytes kept for the final filler row that makes the size exact
TAIL_FILLER = "fim da amostra, sem acentos, apenas para completar o tamanho exato do arquivo. "


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_TITLE_WORDS = _words(
    "Coração Sertão Árvore Noite Ação Solidão Canção Ilusão Memória História Família Verão Inverno "
    "Ciudad Niña Años Corazón Mañana Pasión Leyenda Señor Montaña Último Invierno Camión Jardín "
    "Été Rêve Château Fenêtre Mémoire Lumière Frère Forêt Âme Côte Bête Étoile Épée Garçon Où "
    "Amor Vida Mar Sol Lua Rio Casa Tempo Homem Mulher Cidade Fogo Vento Terra Sombra Caminho "
    "Vento Cielo Tierra Noche Fuego Camino Hombre Mujer Nuit Vent Terre Ombre Chemin Homme Femme"
)
_GLUE_WORDS = _words("de da do dos das e em no na la el los las del y en le les du des et au aux à")
_DESCRIPTION_WORDS = _words(
    "após anos de ausência um músico volta à cidade natal onde reencontra a família e o passado "
    "numa história de perdão memória e esperança durante o verão no sertão nordestino "
    "una joven médica viaja a la montaña para cuidar de su abuela y descubre un secreto que cambia "
    "su corazón mientras el invierno llega al pueblo y la pasión despierta viejos rencores "
    "un garçon rêveur quitte la côte pour Paris où il découvre la lumière du théâtre et une amitié "
    "qui résiste à l'épreuve du temps entre la forêt le château et les étoiles de l'été "
    "ação drama comédia romance suspense mistério aventura ficção família polícia coração ilusão "
    "the film follows a small crew across the river while the city sleeps and the wind rises "
    "cada personagem enfrenta escolhas difíceis e a câmera acompanha tudo com paciência e humor"
)
_ACCENTED_WORDS = _words(
    "não então também coração ação família história memória música câmera é à está já até através "
    "após você lá só avó irmão mãe pão órfão difícil fácil último único próximo período política "
    "está más también corazón canción pequeño niño señora después según allí aquí había tenía "
    "été où déjà très après père mère frère fenêtre forêt château théâtre lumière même bientôt"
)
ACCENTED_SHARE = 0.33  # share of description words drawn from _ACCENTED_WORDS: ~10% non-ASCII chars
_TYPOGRAPHY = ("“", "”", "–", "…", "’")  # Windows-1252 0x80-0x9F: three bytes each in UTF-8
_GENRES = _words(
    "Drama Comédia Ação Animação Documentário Romance Suspense Terror Família Policial Fantasia "
    "Aventura Musical Mistério Ficção Crime Biografia Guerra Faroeste História"
)


@dataclass(frozen=True)
class Block:
    """The rows of one block, split so that ``prefix.join(parts)`` renders a copy with new ids."""

    utf8_parts: tuple[bytes, ...]
    cp1252_parts: tuple[bytes, ...]

    @property
    def rows(self) -> int:
        return len(self.utf8_parts) - 1

    def render(self, copy: int, encoding: str) -> bytes:
        parts = self.utf8_parts if encoding == "utf-8" else self.cp1252_parts
        return block_prefix(copy).join(parts)

    def row(self, copy: int, index: int, encoding: str) -> bytes:
        parts = self.utf8_parts if encoding == "utf-8" else self.cp1252_parts
        return block_prefix(copy) + parts[index + 1]


def block_prefix(copy: int) -> bytes:
    return b"%d" % (ID_BASE + copy)


def _title(rng: random.Random) -> str:
    words = [rng.choice(_TITLE_WORDS)]
    for _ in range(rng.randint(0, 3)):
        words += [rng.choice(_GLUE_WORDS), rng.choice(_TITLE_WORDS)]
    return " ".join(words)


def _word(rng: random.Random) -> str:
    return rng.choice(_ACCENTED_WORDS if rng.random() < ACCENTED_SHARE else _DESCRIPTION_WORDS)


def _description(rng: random.Random) -> str:
    sentences = []
    for _ in range(rng.randint(2, 5)):
        words = [_word(rng) for _ in range(rng.randint(8, 22))]
        if rng.random() < 0.35:
            words.insert(rng.randrange(len(words)), rng.choice(_TYPOGRAPHY))
        sentence = " ".join(words)
        sentences.append(sentence[:1].upper() + sentence[1:] + rng.choice((".", ".", ";", "!", " …")))
    return " ".join(sentences)


def make_row_body(rng: random.Random) -> str:
    """One row without its id, e.g. 'Coração do Mar|Amor|1987|104|Drama,Romance|Após anos...'."""
    genres = ",".join(rng.sample(_GENRES, rng.randint(1, 3)))
    return "|".join(
        (
            _title(rng),
            _title(rng),
            str(rng.randint(1920, 2024)),
            str(rng.randint(70, 190)),
            genres,
            _description(rng),
        )
    )


def build_block(seed: int, newline: str, target_bytes: int = BLOCK_BYTES) -> Block:
    """Rows of about target_bytes (UTF-8); part i+1 is row i from its in-block number on."""
    rng = random.Random(seed)
    utf8: list[bytes] = [b""]
    cp1252: list[bytes] = [b""]
    size = 0
    while size < target_bytes and len(utf8) <= 10**ROW_DIGITS - 1:
        text = f"{len(utf8) - 1:0{ROW_DIGITS}d}|{make_row_body(rng)}{newline}"
        utf8.append(text.encode("utf-8"))
        cp1252.append(text.encode("cp1252"))
        size += len(utf8[-1]) + len(block_prefix(0))
    return Block(tuple(utf8), tuple(cp1252))


def non_ascii_share(block: Block) -> float:
    """Share of non-ASCII characters in the text of a block (a sanity figure for the README)."""
    text = b"".join(block.utf8_parts).decode("utf-8")
    return sum(1 for c in text if ord(c) > 127) / max(1, len(text))


class _Writer:
    """Writes the same rows to a UTF-8 file and (optionally) a Windows-1252 file."""

    def __init__(self, utf8: BinaryIO, cp1252: BinaryIO | None) -> None:
        self.utf8, self.cp1252 = utf8, cp1252
        self.utf8_bytes = self.cp1252_bytes = 0

    def write(self, utf8: bytes, cp1252: bytes) -> None:
        self.utf8.write(utf8)
        self.utf8_bytes += len(utf8)
        if self.cp1252 is not None:
            self.cp1252.write(cp1252)
            self.cp1252_bytes += len(cp1252)


def _rows_from(block: Block, copy: int, start: int) -> Iterator[tuple[int, int]]:
    index = start
    while True:
        yield copy, index
        index += 1
        if index == block.rows:
            copy, index = copy + 1, 0


def write_csv(
    writer: _Writer, block: Block, size: int, first_copy: int, newline: str, start_row: int = 0
) -> None:
    """Header, whole blocks, single rows, then one ASCII filler row: exactly size UTF-8 bytes."""
    header = (HEADER + newline).encode("ascii")
    writer.write(header, header)
    remaining = size - len(header)
    copy = first_copy
    block_len = sum(map(len, block.utf8_parts)) + block.rows * len(block_prefix(copy))
    reserve = max(map(len, block.utf8_parts)) + 2 * TAIL_RESERVE
    while start_row == 0 and remaining >= block_len + reserve:
        data = block.render(copy, "utf-8")
        writer.write(data, block.render(copy, "cp1252"))
        remaining -= len(data)
        copy += 1
    rows = _rows_from(block, copy, start_row)
    last = (copy, start_row)
    for last in rows:
        row = block.row(*last, "utf-8")
        if remaining - len(row) < TAIL_RESERVE:
            break
        writer.write(row, block.row(*last, "cp1252"))
        remaining -= len(row)
    tail = _tail_row(last, remaining, newline)
    writer.write(tail, tail)


def _tail_row(position: tuple[int, int], size: int, newline: str) -> bytes:
    copy, index = position
    head = f"{block_prefix(copy).decode()}{index:0{ROW_DIGITS}d}|Fim|Fin|2000|90|Drama|"
    filler_len = size - len(head) - len(newline)
    filler = (TAIL_FILLER * (filler_len // len(TAIL_FILLER) + 1))[:filler_len].rstrip() or "x"
    filler = filler.ljust(filler_len, ".")
    row = (head + filler + newline).encode("ascii")
    assert len(row) == size, (len(row), size)
    return row


# --- datasets: files in the work folder, with a manifest -----------------------------------------


@dataclass(frozen=True)
class DataSpec:
    """What to generate; the manifest records it so that a cached dataset can be trusted."""

    seed: int = DEFAULT_SEED
    newline: str = "\r\n"

    def manifest(self, **extra: object) -> dict[str, object]:
        return {"version": GENERATOR_VERSION, "seed": self.seed, "newline": self.newline, **extra}


class DataFactory:
    """Generates (or reuses) the benchmark inputs under one folder."""

    def __init__(self, root: Path, spec: DataSpec) -> None:
        self.root = root
        self.spec = spec
        self._block: Block | None = None

    @property
    def block(self) -> Block:
        if self._block is None:
            self._block = build_block(self.spec.seed, self.spec.newline)
        return self._block

    def _cached(self, manifest_path: Path, expected: dict[str, object]) -> bool:
        try:
            recorded = json.loads(manifest_path.read_text())
        except (OSError, ValueError):
            return False
        files: dict[str, int] = recorded.get("files", {})
        if {k: v for k, v in recorded.items() if k != "files"} != expected or not files:
            return False
        return all(
            (self.root / name).is_file() and (self.root / name).stat().st_size == size
            for name, size in files.items()
        )

    def _save(self, manifest_path: Path, expected: dict[str, object], files: dict[str, int]) -> None:
        manifest_path.write_text(json.dumps({**expected, "files": files}, indent=1))

    def single(self, size: int, label: str) -> tuple[Path, Path]:
        """movies-<label>-utf8.csv and movies-<label>-cp1252.csv (the same rows)."""
        folder = self.root / f"single-{label}"
        utf8, cp1252 = folder / f"movies-{label}-utf8.csv", folder / f"movies-{label}-cp1252.csv"
        manifest, expected = folder / "manifest.json", self.spec.manifest(kind="single", size=size)
        if not self._cached(manifest, expected):
            folder.mkdir(parents=True, exist_ok=True)
            manifest.unlink(missing_ok=True)
            with open(utf8, "wb") as fu, open(cp1252, "wb") as fc:
                writer = _Writer(fu, fc)
                write_csv(writer, self.block, size, first_copy=0, newline=self.spec.newline)
            files = {str(p.relative_to(self.root)): p.stat().st_size for p in (utf8, cp1252)}
            self._save(manifest, expected, files)
        return utf8, cp1252

    def folder(self, count: int, size: int, label: str, encoding: str = "utf-8") -> Path:
        """A folder of count files with distinct ids, each of size bytes once in UTF-8; in encoding
        (utf-8 or cp1252: the same text, so the Windows-1252 files are a little smaller)."""
        folder = self.root / label
        manifest = self.root / f"{label}.manifest.json"
        cp1252 = {} if encoding == "utf-8" else {"encoding": encoding}  # UTF-8 folders keep their cache
        expected = self.spec.manifest(kind="folder", count=count, size=size, **cp1252)
        if not self._cached(manifest, expected):
            folder.mkdir(parents=True, exist_ok=True)
            manifest.unlink(missing_ok=True)
            for old in folder.glob("*.csv"):
                old.unlink()
            files = {}
            copies_per_file = size // BLOCK_BYTES + 2
            for i in range(count):
                path = folder / f"movies-{i + 1:05d}.csv"
                with open(path, "wb") as out, open(os.devnull, "wb") as discard:
                    start = (i * 37) % self.block.rows if size < BLOCK_BYTES else 0
                    # A Windows-1252 file is cut where its UTF-8 twin (counted, not kept) reaches size.
                    writer = _Writer(out, None) if encoding == "utf-8" else _Writer(discard, out)
                    write_csv(writer, self.block, size, i * copies_per_file, self.spec.newline, start)
                files[str(path.relative_to(self.root))] = size
            self._save(manifest, expected, files)
        return folder
