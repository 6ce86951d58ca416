"""The documentation: generated tables match the templates, `generate.py --docs`, and `make bench`'s report."""

from __future__ import annotations

import importlib.util
import re
import textwrap
from pathlib import Path

import pytest

import generate
from patchcompliance import docs

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"


def _load_report():
    spec = importlib.util.spec_from_file_location("bench_report", BENCH / "report.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("path", sorted(docs.DOCUMENTS))
def test_docs_tables_match_the_templates(central, member, path):
    text = (ROOT / path).read_text(encoding="utf-8")
    regions = docs.documents(central, member)[path]
    assert docs.update_regions(text, regions, path) == text, f"run 'make templates' (it refreshes the tables in {path})"


def test_every_generated_table_has_exactly_one_home(central, member):
    placed = [name for names in docs.DOCUMENTS.values() for name in names]
    assert sorted(placed) == sorted(docs.sections(central, member))


def test_a_missing_marker_is_an_error():
    with pytest.raises(ValueError, match="needs exactly one '<!-- BEGIN t -->'"):
        docs.update_regions("# title\n", {"t": "body"}, "x.md")


def test_a_region_nothing_writes_is_an_error_unless_partial():
    text = "<!-- BEGIN t -->\n<!-- END t -->\n<!-- BEGIN old -->\nstale\n<!-- END old -->\n"
    with pytest.raises(ValueError, match="x.md has generated regions nothing writes: old"):
        docs.update_regions(text, {"t": "body"}, "x.md")
    assert docs.update_regions(text, {"t": "body"}, "x.md", complete=False).startswith(
        "<!-- BEGIN t -->\nbody\n<!-- END t -->\n<!-- BEGIN old -->\nstale\n"
    )


def test_markers_mentioned_inline_are_not_regions():
    text = "Regions are `<!-- BEGIN name -->` ... `<!-- END name -->`.\n<!-- BEGIN t -->\nold\n<!-- END t -->\n"
    assert docs.update_regions(text, {"t": "new\n"}, "x.md").endswith("<!-- BEGIN t -->\nnew\n<!-- END t -->\n")


class _Template:
    def __init__(self, data):
        self.data = data

    def to_dict(self):
        return self.data


@pytest.fixture
def docs_tree(tmp_path, monkeypatch, central, member):
    """A copy of the documentation with every generated region emptied; generate.py pointed at it and fed the
    committed templates (the builder itself is covered by tests/test_templates.py)."""
    root = tmp_path / "repo"
    for path in docs.DOCUMENTS:
        text = (ROOT / path).read_text(encoding="utf-8")
        empty = re.sub(r"(<!-- BEGIN ([\w.-]+) -->\n).*?(<!-- END \2 -->)", r"\1\3", text, flags=re.S)
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(empty, encoding="utf-8")
    texts = {
        name: (ROOT / "templates" / name).read_text(encoding="utf-8") for name in (generate.CENTRAL, generate.MEMBER)
    }
    monkeypatch.setattr(generate, "ROOT", root)
    monkeypatch.setattr(
        generate, "build_all", lambda: {generate.CENTRAL: _Template(central), generate.MEMBER: _Template(member)}
    )
    monkeypatch.setattr(generate, "render_all", lambda templates=None: texts)
    return root


def test_docs_flag_writes_the_tables_wherever_the_templates_go(docs_tree, tmp_path):
    out = tmp_path / "out"
    assert generate.main(["--output-dir", str(out), "--docs"]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted([generate.CENTRAL, generate.MEMBER])
    for path in docs.DOCUMENTS:
        assert (docs_tree / path).read_text(encoding="utf-8") == (ROOT / path).read_text(encoding="utf-8"), path


def test_readme_flag_is_an_alias_of_docs():
    assert generate.parse_args(["--readme"]).docs and generate.parse_args(["--docs"]).docs


def test_docs_with_a_missing_marker_writes_nothing(docs_tree, tmp_path, capsys):
    readme = docs_tree / "README.md"
    readme.write_text(readme.read_text(encoding="utf-8").replace("<!-- END member-parameters -->\n", ""), "utf-8")
    before = {path: (docs_tree / path).read_text(encoding="utf-8") for path in docs.DOCUMENTS}
    out = tmp_path / "out"
    assert generate.main(["--output-dir", str(out), "--docs"]) == 1
    assert "member-parameters" in capsys.readouterr().err
    assert not out.exists()
    assert {path: (docs_tree / path).read_text(encoding="utf-8") for path in docs.DOCUMENTS} == before


def test_bench_readme_has_one_region_per_benchmark():
    text = (BENCH / "README.md").read_text(encoding="utf-8")
    regions = re.findall(r"^<!-- BEGIN ([\w.-]+) -->$", text, re.M)
    assert sorted(regions) == sorted(p.stem for p in BENCH.glob("bench_*.py"))


def _stub(path: Path, body: str) -> Path:
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


def test_bench_report_records_a_successful_run_only(tmp_path, capsys):
    report = _load_report()
    readme = tmp_path / "README.md"
    readme.write_text("# b\n<!-- BEGIN bench_ok -->\nold ok\n<!-- END bench_ok -->\n"
                      "<!-- BEGIN bench_bad -->\nold bad\n<!-- END bench_bad -->\n", encoding="utf-8")  # fmt: skip
    ok = _stub(tmp_path / "bench_ok.py", "print('ok: 1 call')\nprint('ok: goals met')\n")
    bad = _stub(tmp_path / "bench_bad.py", "import sys\nprint('bad: partial')\nsys.exit(1)\n")
    assert report.main([str(bad), str(ok), "--readme", str(readme)]) == 1
    text = readme.read_text(encoding="utf-8")
    assert "old bad" in text and "bad: partial" not in text
    ok_region = text.split("<!-- BEGIN bench_ok -->\n", 1)[1].split("<!-- END bench_ok -->", 1)[0]
    assert ok_region.startswith("Measured ") and "```text\nok: 1 call\nok: goals met\n```\n" in ok_region
    assert "ok: 1 call" in capsys.readouterr().out  # echoed while running


def test_bench_report_checks_every_region_before_running(tmp_path):
    report = _load_report()
    readme = tmp_path / "README.md"
    readme.write_text("# b\n", encoding="utf-8")
    ran = tmp_path / "ran"
    script = _stub(tmp_path / "bench_x.py", f"open({str(ran)!r}, 'w').close()\n")
    assert report.main([str(script), "--readme", str(readme)]) == 1
    assert not ran.exists()
