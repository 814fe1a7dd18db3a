"""The data-shape corpus of issue 22: the CSV shapes that make per-byte work slow or fast, written to a
folder given on the command line (never committed).

    python -m bench.shapes OUT_DIR [--mib 8] [--seed 22]

Shapes: plain fields; RFC 4180 quoting everywhere; quotes inside unquoted fields (a
`["Médica", "Jornalista"]` column, `;`-separated); doubled quotes with line breaks in quoted free text;
200-column rows; one long free-text column; a single column. Each with non-ASCII density none, 1 in 40,
1 in 10 and 1 in 4 characters, in UTF-8 and Windows-1252: OUT_DIR/<shape>-<density>.<encoding>.csv.
A 1 MiB block of rows is generated, then repeated up to the size (throughput does not need more entropy).
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Callable
from pathlib import Path

BLOCK_CHARS = 1 << 20
DENSITIES = {"ascii": 0.0, "1in40": 1 / 40, "1in10": 1 / 10, "1in4": 1 / 4}
ENCODINGS = ("utf-8", "cp1252")
ACCENTED = "áàâãäéèêëíìîïóòôõöúùûüçñÁÀÂÃÉÊÍÓÔÕÚÇÑ€“”–—«»ºª"  # all in Windows-1252
WORDS = ("dados", "cliente", "pedido", "valor", "cidade", "estado", "nome", "texto", "livre", "campo")
PROFESSIONS = ("Médica", "Jornalista", "Engenheira", "Professor", "Advogada", "Pedreiro")


def _words(rng: random.Random, count: int) -> str:
    return " ".join(rng.choices(WORDS, k=count))


def plain(rng: random.Random) -> str:
    return (
        ",".join(
            [
                str(rng.randrange(10**6)),
                _words(rng, 2),
                f"{rng.random() * 1000:.2f}",
                "2026-12-06",
                _words(rng, 1),
                str(rng.randrange(100)),
                _words(rng, 3),
                "SP",
            ]
        )
        + "\n"
    )


def rfc4180(rng: random.Random) -> str:
    fields = [
        str(rng.randrange(10**6)),
        f"{_words(rng, 2)}, {_words(rng, 1)}",
        f"{rng.random():.4f}",
        _words(rng, 3),
        "2026-12-06",
        _words(rng, 1),
    ]
    return ",".join(f'"{field}"' for field in fields) + "\r\n"


def quotes_in_unquoted(rng: random.Random) -> str:
    jobs = ", ".join(f'"{job}"' for job in rng.sample(PROFESSIONS, rng.randrange(1, 4)))
    return ";".join([str(rng.randrange(10**6)), _words(rng, 2), f"[{jobs}]", str(rng.randrange(99))]) + "\n"


def doubled_quotes_multiline(rng: random.Random) -> str:
    text = f'{_words(rng, 6)} ""{_words(rng, 2)}""\n{_words(rng, 5)}\r\n{_words(rng, 3)}'
    return f'{rng.randrange(10**6)},"{text}",{_words(rng, 1)}\n'


def wide_200(rng: random.Random) -> str:
    return ",".join(str(rng.randrange(1000)) if i % 4 else rng.choice(WORDS) for i in range(200)) + "\n"


def long_text(rng: random.Random) -> str:
    return f'{rng.randrange(10**6)},"{_words(rng, rng.randrange(150, 400))}"\n'


def single_column(rng: random.Random) -> str:
    return _words(rng, rng.randrange(1, 4)) + "\n"


SHAPES: dict[str, tuple[str, Callable[[random.Random], str]]] = {
    "plain": ("id,a,b,c,d,e,f,g\n", plain),
    "rfc4180": ('"id","a","b","c","d","e"\r\n', rfc4180),
    "quotes-in-unquoted": ("id;nome;profissoes;idade\n", quotes_in_unquoted),
    "doubled-quotes-multiline": ("id,texto,tag\n", doubled_quotes_multiline),
    "wide-200": (",".join(f"c{i}" for i in range(200)) + "\n", wide_200),
    "long-text": ("id,texto\n", long_text),
    "single-column": ("nome\n", single_column),
}


def accent(rng: random.Random, text: str, density: float) -> str:
    """Exactly `density` of all characters non-ASCII (as far as letters allow), at random letters."""
    if not density:
        return text
    chars = list(text)
    letters = [i for i, char in enumerate(chars) if char.isalpha() and char.isascii()]
    for i in rng.sample(letters, min(len(letters), round(density * len(chars)))):
        chars[i] = rng.choice(ACCENTED)
    return "".join(chars)


def block(shape: str, density: float, seed: int) -> str:
    rng = random.Random(f"{seed}-{shape}")
    rows: list[str] = []
    size = 0
    _, row = SHAPES[shape]
    while size < BLOCK_CHARS:
        rows.append(row(rng))
        size += len(rows[-1])
    return accent(random.Random(f"{seed}-{shape}-{density}"), "".join(rows), density)


def write_corpus(out: Path, mib: int, seed: int) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for shape, (header, _) in SHAPES.items():
        for density_name, density in DENSITIES.items():
            text = block(shape, density, seed)
            for encoding in ENCODINGS:
                body = text.encode(encoding)
                path = out / f"{shape}-{density_name}.{encoding}.csv"
                with path.open("wb") as file:
                    file.write(header.encode(encoding))
                    for _ in range(max(1, mib * (1 << 20) // len(body))):
                        file.write(body)
                written.append(path)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("out", type=Path, help="folder to write the corpus into")
    parser.add_argument("--mib", type=int, default=8, help="size of each file in MiB (default 8)")
    parser.add_argument("--seed", type=int, default=22)
    args = parser.parse_args()
    for path in write_corpus(args.out, args.mib, args.seed):
        print(path)


if __name__ == "__main__":
    main()
