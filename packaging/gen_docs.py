"""Generate hbd's man pages and shell completions from its argparse parsers.

    python packaging/gen_docs.py OUTDIR

writes, from `hbd.main.build_parser` and `hbd.cli.build_parser` (so they never
drift from the command line):

    OUTDIR/man/man8/hbd.8, hbctl.8         argparse-manpage, plus the hand-written
                                           sections of packaging/man/*.include
    OUTDIR/man/man5/hbd.cf.5               hand-written (packaging/man/hbd.cf.5)
    OUTDIR/completions/bash/hbd, hbctl     shtab
    OUTDIR/completions/zsh/_hbd, _hbctl    shtab

Needs argparse-manpage and shtab (packaging/requirements-build.txt).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import shtab

from hbd import __version__

HERE = Path(__file__).resolve().parent
PAGES = {
    # name: (module, function, one-line description)
    "hbd": ("hbd.main", "build_parser",
            "heartbeat-compatible high-availability cluster daemon and its tools"),
    "hbctl": ("hbd.cli", "build_parser", "ask a running hbd about the cluster, move groups"),
}


def parser_of(module: str, function: str):
    mod = __import__(module, fromlist=[function])
    return getattr(mod, function)()


def man_page(name: str, out: Path) -> Path:
    module, function, description = PAGES[name]
    path = out / "man" / "man8" / f"{name}.8"
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-c", "from argparse_manpage.cli import main; main()",
         "--module", module, "--function", function, "--prog", name,
         "--project-name", "hbd", "--version", __version__,
         "--description", description, "--manual-section", "8",
         "--manual-title", "System Manager's Manual",
         "--include", str(HERE / "man" / f"{name}.8.include"), "--output", str(path)],
        check=True)
    return path


def completions(name: str, out: Path) -> list[Path]:
    module, function, _ = PAGES[name]
    written = []
    for shell, filename in (("bash", name), ("zsh", f"_{name}")):
        parser = parser_of(module, function)
        parser.prog = name
        path = out / "completions" / shell / filename
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(shtab.complete(parser, shell=shell))
        written.append(path)
    return written


def config_page(out: Path) -> Path:
    path = out / "man" / "man5" / "hbd.cf.5"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text((HERE / "man" / "hbd.cf.5").read_text().replace("@VERSION@", __version__))
    return path


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    out = Path(argv[0])
    written = [man_page("hbd", out), man_page("hbctl", out), config_page(out)]
    written += completions("hbd", out) + completions("hbctl", out)
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
