from server.registry.rules import City


def city_rows(cities: tuple[City, ...]) -> list[dict]:
    return [
        {"code": c.code, "name_zh": c.name_zh, "name_en": c.name_en, "pilot": c.pilot} for c in cities
    ]
