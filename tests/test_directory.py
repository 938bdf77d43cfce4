"""The directory (katalog): an HR / AD export imported with its Swedish names, every bad row
named by file:line, the search as an agent types (surnames first, Swedish order), and the
example's directory through the API."""

from pathlib import Path

import pytest

from config.directory import read_csv, search, swedish_key, to_yaml
from config.errors import ConfigError
from config.loader import load_folder
from controller.cli import main

from .world import EXAMPLE

EXPORT = """\
id;förnamn;efternamn;förvaltning;titel;telefon;frånvaro
anna.andersson;Anna;Andersson;Bygg- och miljöförvaltningen;Bygglovshandläggare;08-123 451 01;\
tillbaka 14:00
andreas.aberg;Andreas;Åberg;Bygg- och miljöförvaltningen;Miljöinspektör;08-123 451 02;
sandra.lind;Sandra;Lind;Socialförvaltningen;Socialsekreterare;08-123 452 01;
ola.and;Ola;Andrén;Tekniska förvaltningen;Gatuingenjör;+46 8 123 454 01;
eva.zorn;Eva;Zorn;Kultur;Bibliotekarie;0812345500;
ake.orn;Åke;Örn;Kultur;Arkivarie;0812345501;
"""


def entries(tmp_path: Path, text: str = EXPORT, encoding: str = "utf-8-sig") -> dict:
    """The export through `vaxel directory import` into a configuration, as loaded."""
    folder = tmp_path / "kommun"
    import shutil

    shutil.copytree(EXAMPLE, folder)
    export = tmp_path / "katalog.csv"
    export.write_bytes(text.encode(encoding))
    assert main(["directory", "import", str(export), "-o", str(folder / "katalog.yaml")]) == 0
    return dict(load_folder(folder).config.directory)


def test_an_export_with_swedish_names_becomes_the_directory(tmp_path: Path) -> None:
    found = entries(tmp_path)
    anna = found["anna-andersson"]
    assert (anna.name, anna.number, anna.department, anna.absence) == (
        "Anna Andersson", "0812345101", "Bygg- och miljöförvaltningen", "tillbaka 14:00")
    assert found["ola-and"].number == "0812345401"  # +46 8 ... in the national form
    assert found["ake-orn"].name == "Åke Örn"
    # Excel's own CSV (Windows-1252, commas) reads the same
    cp1252 = EXPORT.replace(";", ",").replace("Bygg- och miljöförvaltningen", "Byggnad")
    again = entries(tmp_path / "2", cp1252, "cp1252")
    assert again["ake-orn"].name == "Åke Örn" and again["andreas-aberg"].name == "Andreas Åberg"


def test_bad_rows_are_named_by_line_and_nothing_is_written(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]
                                                           ) -> None:
    bad = EXPORT + "x.y;Per;Persson;Kultur;;08-12ab;\n;;;Kultur;;0812;\nanna.andersson;Anna;" \
                   "Andersson;Kultur;;0812345999;\n"
    export = tmp_path / "katalog.csv"
    export.write_text(bad, encoding="utf-8")
    out = tmp_path / "katalog.yaml"
    assert main(["directory", "import", str(export), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert f"{export}:8:0: Per Persson: '08-12ab' is not a phone number" in err
    assert f"{export}:9:0: no name" in err
    assert f"{export}:10:0: Anna Andersson: the same id 'anna-andersson' as line 2" in err
    assert "3 bad rows: nothing written" in err and not out.exists()
    with pytest.raises(ConfigError, match="no name or no number column"):
        read_csv("förnamn;efternamn\nA;B\n".encode(), "x.csv")


def test_the_search_finds_surnames_first_then_first_names_in_swedish_order() -> None:
    rows = read_csv(EXPORT.encode(), "katalog.csv")
    directory = {r.entry_id: r for r in rows}
    names = [e.name for _, e in search(directory, "and")]
    # surnames beginning "and" first (Andersson, Andrén), then the first name (Andreas)
    assert names == ["Anna Andersson", "Ola Andrén", "Andreas Åberg"]
    assert [e.name for _, e in search(directory, "and anna")] == ["Anna Andersson"]
    assert [e.name for _, e in search(directory, "socialförv")] == ["Sandra Lind"]
    assert [e.name for _, e in search(directory, "kultur")] == ["Eva Zorn", "Åke Örn"]
    assert search(directory, "ander xyz") == []
    # å, ä, ö after z; the whole directory in that order for no query
    everyone = [e.name.split()[-1] for _, e in search(directory, "")]
    assert everyone == ["Andersson", "Andrén", "Lind", "Zorn", "Åberg", "Örn"]
    assert sorted(["Öberg", "Zetterlund", "Ängel", "Åberg", "Eklund", "Éclair"],
                  key=swedish_key) == ["Éclair", "Eklund", "Zetterlund", "Åberg", "Ängel",
                                       "Öberg"]
    assert search(directory, "ake") == []  # å is a letter of its own, not an a
    assert [e.name for _, e in search(directory, "åke")] == ["Åke Örn"]


def test_the_yaml_is_the_configuration_s_section_in_swedish_order() -> None:
    text = to_yaml(read_csv(EXPORT.encode(), "katalog.csv"), "katalog.csv")
    ids = [line.split(":")[0].strip() for line in text.splitlines()[3:]]
    assert ids == ["anna-andersson", "ola-and", "sandra-lind", "eva-zorn", "andreas-aberg",
                   "ake-orn"]
