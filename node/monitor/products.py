"""The product table of the goods rules (docs/monitor.md): each product's unit, what it is
made from and at what yield, its safe temperature range and how fast it can travel; the
coordinates of known locations; and the rules' thresholds.

A TOML file named by ``TRACENODE_MONITOR_PRODUCTS`` replaces the built-in table (the demo's
milk and cheese), read once when the monitor starts and validated strictly: an unknown key,
a wrong type, an impossible value or a unit the node cannot convert is a
:class:`~node.exceptions.ProductTableError` then, never a failure in the middle of a cycle.
When EPCIS master data lands, products will come from it too; this table stays the
override.

Events sign their product and location as keccak-256 of a text (a GTIN's Digital Link, an
SGLN, any text the signer chose): the table finds them by the hash of each text it lists,
as written and in its canonical GS1 form.
"""

from __future__ import annotations

import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from node.epcis.digital_link import normalise_gs1_uri
from node.events.hashing import keccak
from node.exceptions import ProductTableError

PRODUCTS_ENV: Final = "TRACENODE_MONITOR_PRODUCTS"
MAX_TABLE_BYTES: Final = 1024 * 1024

#: Units of quantity (UN/ECE Recommendation 20 codes, as EPCIS ``uom`` carries them), in the
#: base unit of their dimension: kilograms, litres, pieces.
MASS: Final = {"KGM": 1.0, "GRM": 0.001, "TNE": 1000.0, "LBR": 0.45359237}
VOLUME: Final = {"LTR": 1.0, "MLT": 0.001, "MTQ": 1000.0}
COUNT: Final = {"H87": 1.0, "EA": 1.0}
_DIMENSIONS: Final = (MASS, VOLUME, COUNT)
TEMPERATURE_UNITS: Final = ("CEL", "FAH", "KEL")
_SYMBOLS: Final = {
    "KGM": "kg",
    "GRM": "g",
    "TNE": "t",
    "LBR": "lb",
    "LTR": "L",
    "MLT": "mL",
    "MTQ": "m³",
    "H87": "pieces",
    "EA": "pieces",
}

#: The built-in table: the demo's products (node/demo.py). Its own format, so that one
#: parser reads both.
DEFAULT_TABLE: Final = """
version = 1

[products.milk]
ids = ["https://id.gs1.org/01/09506000134352"]
unit = "KGM"
density = 1.03                      # kg per litre: milk counted in litres is weighed so
temperature = { min = 0.0, max = 6.0 }

[products.cheese]
ids = ["https://id.gs1.org/01/00614142000011"]  # the dairy's GTIN: it makes the cheese
unit = "KGM"
temperature = { min = 0.0, max = 5.0 }
made_from.milk = { ratio = 10.0, tolerance = 0.15 }   # ~10 kg of milk per kg of cheese
"""


def convert_temperature(value: float, unit: str) -> float | None:
    """``value`` in ``unit`` (CEL, FAH, KEL) as degrees Celsius; None for another unit."""
    if unit == "CEL":
        return value
    if unit == "FAH":
        return (value - 32.0) * 5.0 / 9.0
    if unit == "KEL":
        return value - 273.15
    return None


def symbol(unit: str) -> str:
    """How people write a unit (``kg`` for KGM)."""
    return _SYMBOLS.get(unit, unit)


def _quantity_unit(unit: str) -> str:
    if not any(unit in d for d in _DIMENSIONS):
        known = ", ".join(sorted(u for d in _DIMENSIONS for u in d))
        raise ValueError(f"unit {unit!r} is not one of {known}")
    return unit


# ----- the file's format: every key known, every value checked -----


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


Fraction = Annotated[float, Field(ge=0.0, le=10.0)]


class _Temperature(_Strict):
    min: float = Field(ge=-100.0, le=200.0)
    max: float = Field(ge=-100.0, le=200.0)
    unit: Literal["CEL", "FAH", "KEL"] = "CEL"

    @model_validator(mode="after")
    def _ordered(self) -> _Temperature:
        if self.min >= self.max:
            raise ValueError("min must be below max")
        return self


class _Conversion(_Strict):
    ratio: float = Field(gt=0.0, le=1e6)  # units of the input per unit of the output
    tolerance: Fraction = 0.15


class _Product(_Strict):
    ids: list[Annotated[str, Field(min_length=1, max_length=512)]] = Field(min_length=1)
    unit: str
    density: float | None = Field(default=None, gt=0.0, le=100.0)
    temperature: _Temperature | None = None
    made_from: dict[str, _Conversion] = Field(default_factory=dict)
    max_speed_kmh: float | None = Field(default=None, gt=0.0, le=5000.0)

    @model_validator(mode="after")
    def _unit(self) -> _Product:
        _quantity_unit(self.unit)
        return self


class _Location(_Strict):
    lat: float = Field(ge=-90.0, le=90.0)
    lon: float = Field(ge=-180.0, le=180.0)


class _MassBalance(_Strict):
    #: A shipment may declare this much more than the batch holds (scales, packaging).
    quantity_tolerance: Fraction = 0.02


class _ColdChain(_Strict):
    #: Degrees beyond the range that a sensor's accuracy explains: no alert.
    tolerance: float = Field(default=0.5, ge=0.0, le=20.0)
    #: Degree-hours beyond the range from which an excursion is high (else medium).
    high_exposure: float = Field(default=2.0, gt=0.0, le=1000.0)


class _Travel(_Strict):
    #: The fastest plausible transport, for products that name none.
    max_speed_kmh: float = Field(default=120.0, gt=0.0, le=5000.0)
    #: Distances this short are the same place (coordinates of a site are approximate).
    slack_km: float = Field(default=2.0, ge=0.0, le=1000.0)


class _File(_Strict):
    version: Literal[1]
    mass_balance: _MassBalance = Field(default_factory=_MassBalance)
    cold_chain: _ColdChain = Field(default_factory=_ColdChain)
    travel: _Travel = Field(default_factory=_Travel)
    products: dict[str, _Product] = Field(default_factory=dict)
    locations: dict[str, _Location] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _references(self) -> _File:
        seen: dict[str, str] = {}
        for name, product in self.products.items():
            for source in product.made_from:
                if source not in self.products:
                    raise ValueError(f"products.{name}.made_from names no product {source!r}")
            for text in product.ids:
                if text in seen:
                    raise ValueError(f"id {text!r} belongs to both {seen[text]} and {name}")
                seen[text] = name
        return self


# ----- what the rules read -----


@dataclass(frozen=True, slots=True)
class Conversion:
    """``ratio`` units of an input product make one unit of the output, give or take
    ``tolerance`` (a fraction)."""

    ratio: float
    tolerance: float


@dataclass(frozen=True, slots=True)
class Product:
    name: str
    ids: tuple[str, ...]  # the texts events sign it as
    unit: str  # the unit its quantities are counted in
    density: float | None  # kg per litre
    safe_celsius: tuple[float, float] | None
    made_from: Mapping[str, Conversion]
    max_speed_kmh: float

    def amount(self, value: float, uom: str | None) -> float | None:
        """``value`` in ``uom`` (None: the product's own unit) counted in the product's
        unit; None when the units do not convert (a count and a weight, a volume without a
        density) or the result is no finite number."""
        found = self._convert(value, uom)
        return found if found is not None and math.isfinite(found) else None

    def _convert(self, value: float, uom: str | None) -> float | None:
        if uom is None or uom == self.unit:
            return value
        for dimension in _DIMENSIONS:
            if uom in dimension and self.unit in dimension:
                return value * dimension[uom] / dimension[self.unit]
        if self.density is not None and uom in VOLUME and self.unit in MASS:
            return value * VOLUME[uom] * self.density / MASS[self.unit]
        if self.density is not None and uom in MASS and self.unit in VOLUME:
            return value * MASS[uom] / self.density / VOLUME[self.unit]
        return None


@dataclass(frozen=True, slots=True)
class Coordinates:
    lat: float
    lon: float


@dataclass(frozen=True, slots=True)
class ColdChainPolicy:
    tolerance: float
    high_exposure: float  # degree-hours


@dataclass(frozen=True, slots=True)
class TravelPolicy:
    max_speed_kmh: float
    slack_km: float


@dataclass(frozen=True, slots=True)
class ProductTable:
    """Products by the hash events sign them under; locations by theirs and by text."""

    products: Mapping[str, Product]
    by_hash: Mapping[bytes, Product]
    places: Mapping[bytes, Coordinates]  # by keccak-256 of the location's text
    quantity_tolerance: float
    cold_chain: ColdChainPolicy
    travel: TravelPolicy

    @classmethod
    def parse(cls, text: str, *, source: str = "the product table") -> ProductTable:
        """The table a TOML text describes; :class:`ProductTableError` naming the first
        thing wrong with it."""
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ProductTableError(f"{source} is not TOML: {exc}", source=source) from None
        try:
            spec = _File.model_validate(data)
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(p) for p in error["loc"]) or "(top level)"
            raise ProductTableError(
                f"{source}: {where}: {error['msg']}", source=source, key=where
            ) from None
        return cls._build(spec)

    @classmethod
    def load(cls, path: Path) -> ProductTable:
        try:
            with path.open("rb") as handle:
                raw = handle.read(MAX_TABLE_BYTES + 1)
        except OSError as exc:
            raise ProductTableError(
                f"cannot read the product table {path}: {exc.strerror}", source=str(path)
            ) from None
        if len(raw) > MAX_TABLE_BYTES:
            raise ProductTableError(
                f"the product table {path} is larger than {MAX_TABLE_BYTES} bytes",
                source=str(path),
            )
        try:
            text = raw.decode()
        except UnicodeDecodeError:
            raise ProductTableError(f"{path} is not UTF-8", source=str(path)) from None
        return cls.parse(text, source=str(path))

    @classmethod
    def default(cls) -> ProductTable:
        return cls.parse(DEFAULT_TABLE, source="the built-in product table")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ProductTable:
        """The table ``TRACENODE_MONITOR_PRODUCTS`` names, else the built-in one."""
        env = os.environ if environ is None else environ
        path = env.get(PRODUCTS_ENV, "").strip()
        return cls.load(Path(path)) if path else cls.default()

    @classmethod
    def _build(cls, spec: _File) -> ProductTable:
        products: dict[str, Product] = {}
        by_hash: dict[bytes, Product] = {}
        for name, p in spec.products.items():
            safe = None
            if p.temperature is not None:
                unit = p.temperature.unit
                low = convert_temperature(p.temperature.min, unit)
                high = convert_temperature(p.temperature.max, unit)
                if low is None or high is None:  # the format admits only the three units
                    raise ProductTableError(f"unknown unit {unit}", source="", key=name)
                safe = (low, high)
            product = Product(
                name=name,
                ids=tuple(p.ids),
                unit=p.unit,
                density=p.density,
                safe_celsius=safe,
                made_from={k: Conversion(v.ratio, v.tolerance) for k, v in p.made_from.items()},
                max_speed_kmh=p.max_speed_kmh or spec.travel.max_speed_kmh,
            )
            products[name] = product
            for text in p.ids:
                for spelling in _spellings(text):
                    by_hash[keccak(spelling.encode())] = product
        places = {
            keccak(spelling.encode()): Coordinates(place.lat, place.lon)
            for text, place in spec.locations.items()
            for spelling in _spellings(text)
        }
        return cls(
            products=products,
            by_hash=by_hash,
            places=places,
            quantity_tolerance=spec.mass_balance.quantity_tolerance,
            cold_chain=ColdChainPolicy(spec.cold_chain.tolerance, spec.cold_chain.high_exposure),
            travel=TravelPolicy(spec.travel.max_speed_kmh, spec.travel.slack_km),
        )

    def product(self, product_hash: bytes) -> Product | None:
        """The product an event signs as ``product_hash`` (keccak-256 of its text)."""
        return self.by_hash.get(product_hash)

    def place(self, text: str) -> Coordinates | None:
        """The coordinates of a location named by ``text``."""
        for spelling in _spellings(text):
            found = self.places.get(keccak(spelling.encode()))
            if found is not None:
                return found
        return None


def _spellings(text: str) -> tuple[str, ...]:
    """A text as written and in its canonical GS1 form (an SGLN URN as its Digital Link),
    as events may sign either."""
    stripped = text.strip()
    canonical = normalise_gs1_uri(stripped)
    return (stripped,) if canonical == stripped else (stripped, canonical)
