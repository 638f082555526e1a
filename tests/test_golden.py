"""Golden tests: each tests/golden/X.fountain has X.parse.json (elements), X.ir.json (IR) and
X.diag (diagnostics as `moviola check` prints them, without colour)."""

import json
from pathlib import Path

import pytest
from rich.console import Console

from moviola import render
from moviola.compiler.api import compile_file
from moviola.compiler.ir import dump

GOLDEN = Path(__file__).parent / "golden"
SCRIPTS = sorted(GOLDEN.glob("*.fountain"))


def _relative(path: Path) -> str:
    return path.name


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_parse_golden(script, golden):
    result = compile_file(script)
    text = json.dumps(result.script.to_json(), indent=1, ensure_ascii=False) + "\n"
    golden(script.with_suffix(".parse.json"), text)


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_ir_golden(script, golden):
    result = compile_file(script)
    film = dump(result.film)
    film["path"] = _relative(script)
    golden(script.with_suffix(".ir.json"), json.dumps(film, indent=1, ensure_ascii=False) + "\n")


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_diagnostics_golden(script, golden):
    result = compile_file(script)
    console = Console(width=120, no_color=True, record=True, file=open("/dev/null", "w"))
    for diagnostic in result.diagnostics:
        console.print(render.human(diagnostic, result.script.source, script.name))
    golden(script.with_suffix(".diag"), console.export_text())


def test_every_code_has_a_golden_case():
    """Each diagnostic code the compiler can emit appears in at least one golden .diag file."""
    from moviola.compiler.diagnostics import CODES

    seen = "".join(p.read_text() for p in GOLDEN.glob("*.diag"))
    # W506 needs invalid UTF-8 bytes: tested in test_cli.py instead.
    missing = [code for code in CODES if f"[{code}]" not in seen and code != "W506"]
    assert not missing, f"no golden case for {missing}"
