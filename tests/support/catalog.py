"""Glue table declarations, read from a CloudFormation template (the committed one or built in-process).

The template is the single source of truth for the local engine: columns, partition keys, location, SerDe
parameters and partition projection are taken from the `AWS::Glue::Table` resources exactly as declared, with
their intrinsic functions (Ref, Fn::Sub, Fn::Join, Fn::Select, Fn::GetAtt of a bucket name) resolved against
values bound to the parameters and buckets *by their role* (see :func:`bind_roles`), so the engine does not
depend on the template's parameter names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from patchcompliance import glue
from patchcompliance.config_export import CONFIG_EXPORT_TABLE, add_config_export
from patchcompliance.constants import ATHENA_BUCKET
from patchcompliance.history import HISTORY_TABLES, add_history_tables

from .templates import CENTRAL_TEMPLATE, ROOT, load_template

PSEUDO_PARAMETERS = {
    "AWS::AccountId": "999988887777",
    "AWS::Region": "eu-west-1",
    "AWS::Partition": "aws",
    "AWS::StackName": "patch-compliance",
    "AWS::URLSuffix": "amazonaws.com",
}

# The name the engine gives the Athena results bucket (it holds the digest's expected_targets table).
RESULTS_BUCKET = "local-athena-results"


@dataclass(frozen=True)
class TableDecl:
    """One Glue table as declared, intrinsics resolved."""

    logical_id: str
    name: str
    table_type: str
    columns: tuple[tuple[str, str], ...]
    partition_keys: tuple[tuple[str, str], ...]
    location: str
    input_format: str
    output_format: str
    serde: str
    serde_parameters: dict[str, str] = field(default_factory=dict)
    parameters: dict[str, str] = field(default_factory=dict)
    compressed: bool = False

    @property
    def projected(self) -> bool:
        return str(self.parameters.get("projection.enabled", "false")).lower() == "true"

    @property
    def case_insensitive(self) -> bool:
        return str(self.serde_parameters.get("case.insensitive", "true")).lower() != "false"

    @property
    def mappings(self) -> dict[str, str]:
        return {k[len("mapping.") :]: v for k, v in self.serde_parameters.items() if k.startswith("mapping.")}


# ---------------------------------------------------------------- templates
def build_glue_template() -> dict:
    """A minimal template holding only the Glue resources, built with patchcompliance.glue.

    Stand-in parameters and buckets carry the names docs/DESIGN.md uses; the engine binds them by role anyway.
    """
    from troposphere import Parameter, Ref, Template
    from troposphere.s3 import Bucket

    template = Template()
    database_name = template.add_parameter(Parameter("DatabaseName", Type="String", Default="patch_compliance"))
    prefix = template.add_parameter(Parameter("DataSyncPrefix", Type="String", Default="inventory"))
    config_bucket = template.add_resource(Bucket("ConfigBucket"))
    datasync_bucket = template.add_resource(Bucket("DataSyncBucket"))
    database = glue.add_database(template, Ref(database_name))
    glue.add_config_table(template, database, config_bucket)
    glue.add_inventory_tables(template, database, datasync_bucket, prefix)
    add_history_tables(template, database, config_bucket)
    add_config_export(  # the export table; the function's resources come along and are ignored
        template,
        bucket=config_bucket,
        database=database,
        aggregator_name="org-aggregator",
        schedule="rate(1 hour)",
        log_retention=template.add_parameter(Parameter("LogRetentionDays", Type="Number", Default=90)),
    )
    return template.to_dict()


def template_with_glue_tables(prefer_committed: bool = True) -> tuple[dict, str]:
    """(template, source): the committed template if it exists and declares our tables, else an in-process one."""
    if prefer_committed and CENTRAL_TEMPLATE.exists():
        template = load_template(CENTRAL_TEMPLATE)
        resources = template.get("Resources", {})
        ours = [glue.ATHENA_TABLE, CONFIG_EXPORT_TABLE, *glue.INVENTORY_TABLE_IDS.values()]
        ours += [t.logical_id for t in HISTORY_TABLES]
        if all(i in resources for i in ours):
            return template, str(CENTRAL_TEMPLATE.relative_to(ROOT))
    return build_glue_template(), "in-process (patchcompliance.glue)"


# ---------------------------------------------------------------- intrinsic functions
class Resolver:
    """Resolves the intrinsic functions used by Glue declarations against bound values."""

    def __init__(self, values: dict[str, Any]):
        self.values = {**PSEUDO_PARAMETERS, **values}

    def __call__(self, node: Any) -> Any:
        if isinstance(node, dict):
            if len(node) == 1:
                ((key, arg),) = node.items()
                handler = {
                    "Ref": self._ref,
                    "Fn::Sub": self._sub,
                    "Fn::Join": self._join,
                    "Fn::Select": self._select,
                    "Fn::GetAtt": self._getatt,
                }.get(key)
                if handler:
                    return handler(arg)
            return {str(k): self(v) for k, v in node.items()}
        if isinstance(node, list):
            return [self(v) for v in node]
        if isinstance(node, bool):
            return node
        if isinstance(node, (int, float)):
            return node
        return str(node) if node is not None else None

    def _ref(self, name):
        name = str(name)
        if name not in self.values:
            raise KeyError(f"no value bound for Ref {name}")
        return self.values[name]

    def _getatt(self, arg):
        resource, attribute = (arg.split(".", 1) if isinstance(arg, str) else arg)[:2]
        if attribute in ("BucketName", "Name"):
            return self._ref(resource)
        raise KeyError(f"unsupported Fn::GetAtt {resource}.{attribute}")

    def _sub(self, arg):
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1] if len(arg) > 1 else {})
        local = {k: self(v) for k, v in variables.items()}

        def replace(match):
            token = match.group(1)
            if token.startswith("!"):
                return "${" + token[1:] + "}"
            if token in local:
                return str(local[token])
            if "." in token:
                return str(self._getatt(token))
            value = self._ref(token)
            if isinstance(value, list):
                raise ValueError(f"list parameter {token} in Fn::Sub")
            return str(value)

        return re.sub(r"\$\{([^}]+)\}", replace, str(text))

    def _join(self, arg):
        delimiter, items = arg
        resolved = self(items)
        flat = []
        for item in resolved if isinstance(resolved, list) else [resolved]:
            flat.extend(item if isinstance(item, list) else [item])
        return str(delimiter).join(str(i) for i in flat)

    def _select(self, arg):
        index, items = arg
        return self(items)[int(self(index))]


def _refs(node) -> set[str]:
    """Names referenced by Ref or ${...} anywhere in node."""
    found = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref":
                found.add(str(value))
            elif key == "Fn::Sub":
                text = value if isinstance(value, str) else value[0]
                local = {} if isinstance(value, str) else dict(value[1]) if len(value) > 1 else {}
                for token in re.findall(r"\$\{([^}!][^}]*)\}", str(text)):
                    if token not in local:
                        found.add(token.split(".")[0])
                found |= _refs(local)
            else:
                found |= _refs(value)
    elif isinstance(node, list):
        for value in node:
            found |= _refs(value)
    return found


def bind_roles(
    template: dict,
    *,
    config_bucket: str,
    datasync_bucket: str,
    datasync_prefix: str,
    account_ids: list[str] = (),
    regions: list[str] = (),
    database: str = "patch_compliance",
) -> dict[str, Any]:
    """Values for the parameters/resources the Glue declarations reference, found by what they are used for.

    The Config table's location names the Config bucket, an inventory table's location names the sync bucket and
    the prefix. `account_ids` / `regions` are bound only where a template still declares inventory partition
    projection (`projection.accountid.values` / `projection.region.values`); the current one registers the
    partitions instead (InventoryPartitionsFunction, emulated by the engine).
    """
    resources = template.get("Resources", {})
    parameters = template.get("Parameters", {})
    values: dict[str, Any] = {}

    def kind(name):
        if name in parameters:
            return "parameter"
        if name in resources:
            return resources[name].get("Type")
        return None

    def table_input(logical_id):
        return resources[logical_id]["Properties"]["TableInput"]

    for name in _refs(table_input(glue.ATHENA_TABLE)["StorageDescriptor"]["Location"]):
        values[name] = config_bucket
    sample = table_input(next(iter(glue.INVENTORY_TABLE_IDS.values())))
    for name in _refs(sample["StorageDescriptor"]["Location"]):
        values[name] = datasync_bucket if kind(name) == "AWS::S3::Bucket" else datasync_prefix
    for name in _refs(sample["Parameters"].get("projection.accountid.values")):
        values[name] = list(account_ids)
    for name in _refs(sample["Parameters"].get("projection.region.values")):
        values[name] = list(regions)
    database_resource = resources.get(glue.ATHENA_DATABASE, {})
    for name in _refs(database_resource.get("Properties", {}).get("DatabaseInput", {}).get("Name")):
        values[name] = database
    values.setdefault(glue.ATHENA_DATABASE, database)
    # Tables in the Athena results bucket (the digest's expected_targets): an empty local bucket of the engine.
    values.setdefault(ATHENA_BUCKET, RESULTS_BUCKET)
    return values


def glue_tables(template: dict, values: dict[str, Any]) -> dict[str, TableDecl]:
    """{table name: TableDecl} of every AWS::Glue::Table in the template."""
    resolve = Resolver(values)
    tables = {}
    for logical_id, resource in template.get("Resources", {}).items():
        if resource.get("Type") != "AWS::Glue::Table":
            continue
        ti = resolve(resource["Properties"]["TableInput"])
        sd = ti.get("StorageDescriptor", {})
        serde = sd.get("SerdeInfo", {})
        decl = TableDecl(
            logical_id=logical_id,
            name=ti["Name"],
            table_type=ti.get("TableType", ""),
            columns=tuple((c["Name"], c["Type"]) for c in sd.get("Columns", [])),
            partition_keys=tuple((c["Name"], c["Type"]) for c in ti.get("PartitionKeys", [])),
            location=sd.get("Location", ""),
            input_format=sd.get("InputFormat", ""),
            output_format=sd.get("OutputFormat", ""),
            serde=serde.get("SerializationLibrary", ""),
            serde_parameters={k: str(v) for k, v in (serde.get("Parameters") or {}).items()},
            parameters={k: str(v) for k, v in (ti.get("Parameters") or {}).items()},
            compressed=bool(sd.get("Compressed", False)),
        )
        tables[decl.name] = decl
    return tables
