"""Coefficient sets: the named, switchable numbers the embodied model uses (layer 2).

Published methods disagree by up to 20x on DRAM and SSD kg/GB, so the model is one piece of
code and its numbers come from ``hardware_db/coefficients/<id>.yaml``. ``DEFAULT_SET`` is used
when a command or scenario does not choose one.
"""

from __future__ import annotations

from dataclasses import dataclass

from carbonsim.engine.db.schema import Quantity, cited_sources, q
from carbonsim.engine.db.store import Database
from carbonsim.models.embodied.logic import gas_per_area_g_per_cm2
from carbonsim.errors import InputError
from carbonsim.engine.inputs.overrides import apply_overrides
from carbonsim.engine.readers.yamlfile import load_yaml

#: The set every command and scenario uses unless another is chosen: ``server-lca``, built for
#: physical servers from published LCAs and the closest to measured reality (14.8 % median error
#: on 34 vendor carbon footprints, leave-one-out; docs/embodied.md, docs/validation.md). The seed
#: paper's figures are reproduced by naming ``hotcarbon24`` (``-c hotcarbon24``, ``coefficients:
#: hotcarbon24`` in a scenario).
DEFAULT_SET = "server-lca"

ZERO = q(0.0)


@dataclass
class NodeFactors:
    """ACT per-node inputs for one process node (after aliasing and abatement)."""

    node: str
    epa_kwh_per_cm2: float
    gpa_g_per_cm2: float
    mpa_g_per_cm2: float


class CoefficientSet:
    """A validated coefficient set with its fab tables resolved.

    Parameters
    ----------
    set_id : str
    spec : dict
        Validated content of the set's YAML.
    db : Database
    """

    def __init__(self, set_id: str, spec: dict, db: Database, file: str):
        self.id, self.spec, self.file = set_id, spec, file
        fab = spec["fab"]
        self.name = spec["name"]
        self.fab_yield = fab["yield"]
        self.abatement_pct = fab["abatement_pct"]
        self.packaging_kg_per_ic: Quantity = fab["packaging_kg_per_ic"]
        #: Murphy's die-yield defect density (0: the set's yield alone, ACT's model)
        self.defect_density_per_cm2: Quantity = fab.get("defect_density_per_cm2") or q(0.0)
        self.logic = db.get("logic", fab["logic"]) if db.has("logic", fab["logic"]) else None
        if self.logic is None:
            raise InputError(f"unknown logic node table {fab['logic']!r}", file=file, field="fab.logic")
        self.fab_ci_g_per_kwh: Quantity = self._fab_ci(fab, db)
        self.gpu = spec["gpu"]
        self.host = spec["host"]
        self._sources: frozenset | None = None

    def _fab_ci(self, fab: dict, db: Database) -> Quantity:
        if fab.get("ci_g_per_kwh") is not None:
            return fab["ci_g_per_kwh"]
        table, location = fab.get("ci_table"), fab.get("location")
        if table is None or location is None:
            raise InputError("give fab.ci_g_per_kwh, or fab.ci_table with fab.location",
                             file=self.file, field="fab")
        kind = "fab_ci" if db.has("fab_ci", table) else "grid"
        if not db.has(kind, table):
            raise InputError(f"unknown fab intensity table {table!r}", file=self.file, field="fab.ci_table")
        values = db.get(kind, table)["ci_g_per_kwh"]
        if location not in values:
            raise InputError(f"location {location!r} is not in table {table!r}; known: {', '.join(values)}",
                             file=self.file, field="fab.location")
        return values[location]

    # -- lookups used when a server is turned into numbers ------------------------------------------
    def node(self, node: str, where: str) -> NodeFactors:
        """ACT factors for ``node`` (aliases applied); ``where`` names the field for errors."""
        nodes, aliases = self.logic["nodes"], self.logic.get("aliases") or {}
        key = node if node in nodes else aliases.get(node)
        if key is None:
            known = ", ".join(list(nodes) + list(aliases))
            raise InputError(f"process node {node!r} is not in the logic table; known: {known}", field=where)
        row = nodes[key]
        gpa = gas_per_area_g_per_cm2(row["gpa95_g_per_cm2"].value, row["gpa99_g_per_cm2"].value,
                                     self.abatement_pct)
        return NodeFactors(key, row["epa_kwh_per_cm2"].value, gpa, row["mpa_g_per_cm2"].value)

    def _per_gb(self, table: dict, keys, what: str, where: str) -> Quantity:
        for key in keys:
            if key and key in table:
                return table[key]
        wanted = " or ".join(repr(k) for k in keys if k)
        raise InputError(
            f"coefficient set {self.id!r} has no {what} kg/GB for {wanted}; known: {', '.join(table)}",
            field=where,
        )

    def gpu_memory_kg_per_gb(self, technology, process=None, where="gpus.memory") -> Quantity:
        return self._per_gb(self.gpu["memory_kg_per_gb"], (process, technology), "GPU memory", where)

    def host_memory_kg_per_gb(self, technology, process=None, where="host.dram") -> Quantity:
        return self._per_gb(self.host["memory_kg_per_gb"], (process, technology), "DRAM", where)

    def ssd_kg_per_gb(self, process=None, where="host.ssd") -> Quantity:
        return self._per_gb(self.host["ssd_kg_per_gb"], (process, "default"), "SSD", where)

    def hdd_kg_per_gb(self, process=None, where="host.hdd") -> Quantity:
        return self._per_gb(self.host["hdd_kg_per_gb"], (process, "default"), "HDD", where)

    def host_value(self, key: str) -> Quantity:
        """A host constant of the set (0 where the method does not model the part)."""
        return self.host.get(key) or ZERO

    def gpu_value(self, key: str) -> Quantity:
        return self.gpu.get(key) or ZERO

    def sources(self) -> set[str]:
        """Every source id the set's numbers cite."""
        if self._sources is None:
            self._sources = frozenset(cited_sources(self.spec) | cited_sources(self.fab_ci_g_per_kwh))
        return set(self._sources)


def load_coefficients(set_id: str | None, db: Database, overrides: dict | None = None) -> CoefficientSet:
    """Load a coefficient set by id (default :data:`DEFAULT_SET`), with optional overrides.

    Parameters
    ----------
    set_id : str or None
    db : Database
    overrides : dict, optional
        Dotted path -> value inside the set (``{"fab.location": "iceland"}``).
    """
    set_id = set_id or DEFAULT_SET
    path = db.path("coefficients", set_id)
    if not overrides:  # one per database (a set is not changed once built; its sources are walked once)
        return db.memo(("coefficient-set", set_id),
                       lambda: CoefficientSet(set_id, db.get("coefficients", set_id), db, str(path)))
    spec = db.check_document("coefficients", apply_overrides(load_yaml(path), overrides, file=str(path)), path)
    return CoefficientSet(set_id, spec, db, str(path))
