"""What a geolocation answers for one address, whichever source answered."""

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class GeoResult:
    ip: str
    country_code: str = ""
    country: str = ""
    city: str = ""
    source: str = "none"  # "local" | "api" | "cache" | "none"

    def as_fields(self) -> dict[str, str]:
        return {
            "country_code": self.country_code,
            "country": self.country,
            "city": self.city,
            "source": self.source,
        }

    def as_dict(self) -> dict[str, str]:
        return asdict(self)

    @property
    def known(self) -> bool:
        return bool(self.country_code or self.city)
