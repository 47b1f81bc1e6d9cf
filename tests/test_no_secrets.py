"""No credential ever reaches a notebook output or the built book.

Three checks:

1. notebook 06 (the one that touches IBM Quantum credentials) is executed at the smoke
   preset with ``QISKIT_IBM_TOKEN`` set to a random planted value; the executed notebook
   (outputs, metadata, everything) must not contain it, and must show that the kernel did
   see a token (so the credential code paths ran);
2. every committed notebook and every page of the book built from them is scanned for secret-looking strings and for the token of the environment running
   the tests, if any;
3. the scanner itself finds planted secrets (so the checks above can fail).

Failure messages name files and pattern kinds only, never the matched text.
"""

import json
import os
import random
import re
import secrets
import string
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "06_noise_hardware.ipynb"

SECRET_PATTERNS = {
    "IBM Quantum API token (128 hex digits)": re.compile(r"(?<![0-9A-Fa-f])[0-9A-Fa-f]{128}(?![0-9A-Fa-f])"),
    "QISKIT_IBM_TOKEN with a value": re.compile(
        r"QISKIT_IBM_TOKEN['\"]?\]?\s*[:=]\s*['\"]?(?![<$.{])[A-Za-z0-9_\-]{8,}"
    ),
    "quoted key/token/secret/password value": re.compile(
        r"(?i)\b(?:api[_-]?key|apikey|token|secret|password|passwd)['\"]?\s*[:=]\s*['\"][A-Za-z0-9_\-+/.=]{16,}['\"]"
    ),
    "bearer token": re.compile(r"(?i)\bbearer\s+[A-Za-z0-9_\-.=]{20,}"),
    "private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "AWS access key id": re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
    "GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b"),
    "PyPI token": re.compile(r"\bpypi-AgE[A-Za-z0-9_\-]{50,}"),
    "Slack token": re.compile(r"\bxox[abprs]-[A-Za-z0-9\-]{10,}"),
}

_DATA_URI = re.compile(r"data:[a-z]+/[a-z0-9.+\-]+;base64,[A-Za-z0-9+/=\s\\n]+")


def _notebook_text(path: Path) -> str:
    """The notebook's JSON without embedded images (their base64 is noise for the regexes)."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    for cell in nb.get("cells", []):
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            for key in list(data):
                if key.startswith("image/"):
                    data[key] = "<image>"
    return json.dumps(nb, ensure_ascii=False)


def _page_text(path: Path) -> str:
    return _DATA_URI.sub("data:<image>", path.read_text(encoding="utf-8", errors="replace"))


def secret_kinds(text: str) -> list[str]:
    """Kinds of secret-looking strings in ``text`` (never the strings themselves)."""
    return [kind for kind, pattern in SECRET_PATTERNS.items() if pattern.search(text)]


def _files_with(paths, reader, value=None) -> list[str]:
    """``"file: kind"`` for each secret-looking string, and ``"file: token"`` where
    ``value`` occurs. ``value`` stays inside this helper (pytest's --showlocals prints
    the locals of failing test frames, never of helpers that returned)."""
    found = []
    for path in paths:
        text = reader(path)
        found += [f"{path.relative_to(ROOT)}: {kind}" for kind in secret_kinds(text)]
        if value and value in text:
            found.append(f"{path.relative_to(ROOT)}: the token of QISKIT_IBM_TOKEN")
    return found


def _environment_token():
    token = os.environ.get("QISKIT_IBM_TOKEN")
    return token if token and len(token) >= 8 else None


# ---------------------------------------------------------------------------------------
# 1. execute notebook 06 with a planted token
# ---------------------------------------------------------------------------------------


def test_notebook_06_with_a_planted_token_never_shows_it(tmp_path, monkeypatch):
    from cfmimo.notebooks import execute_notebook

    assert NOTEBOOK.is_file()
    planted = "cfmimo" + secrets.token_hex(32)  # 70 characters, random per run
    monkeypatch.setenv("QISKIT_IBM_TOKEN", planted)
    monkeypatch.setenv("QISKIT_IBM_INSTANCE", "crn:v1:planted:" + secrets.token_hex(8))
    out = tmp_path / "06_executed.ipynb"
    execute_notebook(
        NOTEBOOK,
        out,
        parameters={
            "preset": "smoke",
            "n_samples": 24,
            "n_noisy": 4,
            "shots_grid": [1000, 10],
            "noisy_shots": 100,
            "compare_backends": ["fake_melbourne", "fake_guadalupe"],
        },
    )
    text = out.read_text(encoding="utf-8")
    assert "IBM Quantum credentials: environment" in text  # the kernel saw the planted token
    assert planted not in text
    assert planted[:16] not in text and planted[-16:] not in text  # nor a part of it
    assert secret_kinds(_notebook_text(out)) == []


# ---------------------------------------------------------------------------------------
# 2. committed notebooks and the built book
# ---------------------------------------------------------------------------------------


def test_committed_notebooks_hold_no_secrets():
    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    assert NOTEBOOK in notebooks
    assert _files_with(notebooks, _notebook_text, _environment_token()) == []


def test_built_book_holds_no_secrets(built_book_html):
    """The book built from the committed notebooks (conftest's ``built_book_html``)."""
    HTML = built_book_html
    pages = sorted(HTML.rglob("*.html"))
    assert pages, "the book build produced no pages"
    sources = sorted((HTML / "_sources").rglob("*")) if (HTML / "_sources").is_dir() else []
    sources = [p for p in sources if p.is_file()]
    assert _files_with(pages + sources, _page_text, _environment_token()) == []


# ---------------------------------------------------------------------------------------
# 3. the scanner works
# ---------------------------------------------------------------------------------------


# Planted values: random-looking but seeded, so that every pytest-xdist worker collects the
# same test ids (the ids carry the parameters).
_PLANT = random.Random(2026)
_URLSAFE = string.ascii_letters + string.digits + "-_"


def _token(n: int) -> str:
    return "".join(_PLANT.choice(_URLSAFE) for _ in range(n))


_KINDS = {
    "IBM Quantum API token (128 hex digits)", "QISKIT_IBM_TOKEN with a value", "quoted key/token/secret/password value",
    "bearer token", "private key", "AWS access key id", "GitHub token", "PyPI token", "Slack token",
}


@pytest.mark.parametrize(
    "text, kind",
    [
        ("token = " + _PLANT.randbytes(64).hex(), "IBM Quantum API token (128 hex digits)"),
        ("export QISKIT_IBM_TOKEN=abcDEF123_xyz987", "QISKIT_IBM_TOKEN with a value"),
        ("os.environ['QISKIT_IBM_TOKEN'] = 'abcDEF123_xyz987'", "QISKIT_IBM_TOKEN with a value"),
        ("save_account(token='" + _token(44) + "')", "quoted key/token/secret/password value"),
        ('{"apikey": "' + _token(44) + '"}', "quoted key/token/secret/password value"),
        ("Authorization: Bearer " + _token(40), "bearer token"),
        ("-----BEGIN RSA PRIVATE KEY-----", "private key"),
        ("AKIA" + "ABCDEFGHIJKLMNOP", "AWS access key id"),
        ("ghp_" + "a" * 36, "GitHub token"),
        ("pypi-AgE" + "x" * 60, "PyPI token"),
        ("xoxb-1234567890-abc", "Slack token"),
    ],
    ids=lambda value: value if value in _KINDS else "planted",
)
def test_scanner_finds_planted_secrets(text, kind):
    assert kind in secret_kinds(text)


@pytest.mark.parametrize(
    "text",
    [
        'export QISKIT_IBM_TOKEN="<your IBM Quantum API key>"',
        "QiskitRuntimeService.save_account(token=..., instance=..., set_as_default=True)",
        "QISKIT_IBM_TOKEN=$TOKEN",
        "sha256 " + "0" * 64,
        "cache key 3f2a" * 4,
    ],
)
def test_scanner_ignores_placeholders(text):
    assert secret_kinds(text) == []


def test_images_are_not_scanned(tmp_path):
    # base64 image data can contain long runs of hex digits by chance
    page = tmp_path / "page.html"
    page.write_text('<img src="data:image/png;base64,' + "A+" * 100 + "0f" * 64 + '==">')
    assert secret_kinds(_page_text(page)) == []
    assert secret_kinds(page.read_text()) == ["IBM Quantum API token (128 hex digits)"]
