"""What a geolocation answers for one address, whichever source answered."""

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class GeoResult:
    ip: str
    country_code: str = ""
    country: str = ""
    city: str = ""
    source: str = "none"  # "local" | "api" | "cache" | "none"

    def as_place(self) -> tuple[str, str, str, str]:
        """The fields in the order a stored row holds them (records.Place)."""
        return (self.country_code, self.country, self.city, self.source)

    def as_dict(self) -> dict[str, str]:
        return asdict(self)

    @property
    def known(self) -> bool:
        return bool(self.country_code or self.city)
