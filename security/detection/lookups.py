"""SQL expressions the ORM has no single word for."""

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Expression, F, Lookup
from django.db.models.sql.compiler import SQLCompiler


def like_prefix(prefix: str) -> str:
    """A LIKE pattern (escape character backslash) matching strings that start with prefix."""
    escaped = prefix.upper().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


class IStartsWithAny(Lookup):
    """Case-insensitively starts with any of the given prefixes.

    PostgreSQL compares UPPER(column) once against an array of patterns: the anomaly scan
    tests every logged path against about twenty prefixes, and OR-ing twenty istartswith
    lookups upper-cases the path twenty times, which made the scan three times slower.
    """

    lookup_name = "istartswith_any"
    prepare_rhs = False

    def __init__(self, lhs: Expression | F, rhs: tuple[str, ...] | list[str]) -> None:
        super().__init__(lhs, tuple(rhs))

    def get_prep_lookup(self) -> tuple[str, ...]:
        return tuple(like_prefix(prefix) for prefix in self.rhs)

    def as_sql(self, compiler: SQLCompiler, connection: BaseDatabaseWrapper) -> tuple[str, list]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        patterns = self.rhs
        if not patterns:
            return "1 = 0", []
        one = f"UPPER({lhs}) LIKE %s ESCAPE '\\'"
        clause = " OR ".join([one] * len(patterns))
        params = [param for pattern in patterns for param in (*lhs_params, pattern)]
        return f"({clause})", params

    def as_postgresql(
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper
    ) -> tuple[str, list]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        if not self.rhs:
            return "FALSE", []
        return f"UPPER({lhs}::text) LIKE ANY(%s)", [*lhs_params, list(self.rhs)]
