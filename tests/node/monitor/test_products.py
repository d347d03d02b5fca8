"""The product table: the built-in one knows the demo's products, a file replaces it, and
anything wrong with a file is a ProductTableError naming the entry (never a failure in
the middle of a monitor cycle)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from node.demo import CHEESE_GTIN, MILK_GTIN
from node.events.hashing import keccak
from node.exceptions import ConfigurationError, ProductTableError
from node.monitor.products import PRODUCTS_ENV, ProductTable

LIBRARY_TABLE = Path(__file__).parents[2] / "scenarios" / "products.toml"
GOOD = """
version = 1
[products.milk]
ids = ["milk", "urn:epc:idpat:sgtin:0614141.012345.*"]
unit = "LTR"
density = 1.03
"""


def test_the_built_in_table_knows_the_demo_products_as_the_demo_signs_them() -> None:
    table = ProductTable.default()

    milk = table.product(keccak(f"https://id.gs1.org/01/{MILK_GTIN}".encode()))
    cheese = table.product(keccak(f"https://id.gs1.org/01/{CHEESE_GTIN}".encode()))

    assert milk is not None
    assert cheese is not None
    assert (milk.name, cheese.name) == ("milk", "cheese")
    assert milk.amount(1200, "LTR") == pytest.approx(1236)  # litres weighed by density
    assert cheese.made_from["milk"].ratio == 10
    assert cheese.safe_celsius == (0, 5)


def test_units_convert_within_a_dimension_and_by_density_only() -> None:
    table = ProductTable.parse(GOOD)
    milk = table.products["milk"]

    assert milk.amount(2, "MTQ") == 2000
    assert milk.amount(1030, "KGM") == pytest.approx(1000)
    assert milk.amount(5, "H87") is None  # pieces of milk: no judgement
    assert milk.amount(7, None) == 7  # the product's own unit


def test_a_table_file_named_by_the_setting_replaces_the_built_in_one(tmp_path: Path) -> None:
    path = tmp_path / "products.toml"
    path.write_text(GOOD)

    table = ProductTable.from_env({PRODUCTS_ENV: str(path)})

    assert set(table.products) == {"milk"}
    assert table.product(keccak(b"milk")) is table.products["milk"]
    assert ProductTable.from_env({}).products.keys() == {"milk", "cheese"}
    assert ProductTable.load(LIBRARY_TABLE).place("urn:epc:id:sgln:0614141.00001.0") is not None


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[products.milk]\nids=['m']\nunit='KGM'", "version"),
        ("version = 2", "version"),
        ("version = 1\ncolour = 'red'", "colour"),
        ("version = 1\n[products.milk]\nids=['m']\nunit='KGM'\nflavour=1", "products.milk.flavour"),
        ("version = 1\n[products.milk]\nids=['m']\nunit='KGS'", "products.milk"),
        ("version = 1\n[products.milk]\nids=[]\nunit='KGM'", "products.milk.ids"),
        ("version = 1\n[products.milk]\nids=['m']\nunit='KGM'\ndensity=0", "products.milk.density"),
        (
            "version = 1\n[products.milk]\nids=['m']\nunit='KGM'\ntemperature={min=6,max=2}",
            "products.milk.temperature",
        ),
        (
            "version = 1\n[products.m]\nids=['m']\nunit='KGM'\ntemperature={min=0,max=4,unit='X'}",
            "products.m.temperature.unit",
        ),
        (
            "version = 1\n[products.c]\nids=['c']\nunit='KGM'\nmade_from.milk={ratio=10}",
            "(top level)",  # a recipe naming no product of the table
        ),
        (
            "version = 1\n[products.c]\nids=['c']\nunit='KGM'\nmade_from.c={ratio='10'}",
            "products.c.made_from.c.ratio",
        ),
        (
            "version = 1\n[products.a]\nids=['x']\nunit='KGM'\n[products.b]\nids=['x']\nunit='KGM'",
            "(top level)",  # one id, two products
        ),
        ("version = 1\n[locations]\n'site' = { lat = 91, lon = 0 }", "locations.site.lat"),
        ("version = 1\n[cold_chain]\nhigh_exposure = 0", "cold_chain.high_exposure"),
        ("version = 1\n[travel]\nmax_speed_kmh = -5", "travel.max_speed_kmh"),
    ],
)
def test_a_bad_table_is_a_typed_error_naming_the_entry(text: str, key: str) -> None:
    with pytest.raises(ProductTableError) as caught:
        ProductTable.parse(text, source="t.toml")

    assert caught.value.key == key
    assert str(caught.value).startswith("t.toml: ")
    assert isinstance(caught.value, ConfigurationError)


def test_a_file_that_is_not_toml_missing_or_huge_is_a_typed_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("version = = 1")
    huge = tmp_path / "huge.toml"
    huge.write_text("# " + "x" * 1_100_000)

    for path, says in [
        (broken, "is not TOML"),
        (tmp_path / "absent.toml", "cannot read"),
        (huge, "larger than"),
    ]:
        with pytest.raises(ProductTableError, match=says):
            ProductTable.from_env({PRODUCTS_ENV: str(path)})


def test_the_format_shown_in_the_docs_is_a_table_the_monitor_reads() -> None:
    page = (Path(__file__).parents[3] / "docs" / "monitor.md").read_text()
    (example,) = re.findall(r"```toml\n(.*?)```", page, re.DOTALL)

    table = ProductTable.parse(example, source="docs/monitor.md")

    assert set(table.products) == {"milk", "cheese"}
    assert table.place("https://id.gs1.org/414/0614141000012") is not None  # the SGLN's link
