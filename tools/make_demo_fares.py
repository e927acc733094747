"""Generate the demo fare data in server/transit/data/demo/ (GTFS-Fares v2 + extensions).

    python -m tools.make_demo_fares            # rewrite server/transit/data/demo/*.csv
    python -m tools.make_demo_fares --check    # exit 1 if the committed files differ

Metro fares are computed, not typed: every origin–destination pair of a metro network gets a
``fare_leg_rules`` row whose product is ``guangzhou_metro_fare_fen`` of the shortest-path
distance. Station spacings are rounded real values (metres); amounts, caps and policies are demo
values (see server/transit/data/README.md).
"""

from __future__ import annotations

import argparse
import csv
import heapq
import io
import sys
from collections.abc import Iterable, Sequence
from decimal import Decimal
from pathlib import Path

from server.transit.rules import guangzhou_metro_fare_fen

DEMO_DIR = Path(__file__).resolve().parent.parent / "server" / "transit" / "data" / "demo"

GZ, ZH, FS, DG, SW, SZ = "440100", "440400", "440600", "441900", "441500", "440300"
PILOT_CITIES = {"gz": GZ, "zh": ZH, "fs": FS, "dg": DG, "sw": SW}

# (operator_id, name_zh, name_en, city_code, mode)
OPERATORS = (
    ("gzmetro", "广州地铁集团有限公司", "Guangzhou Metro Group", GZ, "metro"),
    ("gzbus", "广州市公共交通集团有限公司", "Guangzhou Public Transport Group", GZ, "bus"),
    ("gzferry", "广州市客轮有限公司", "Guangzhou Passenger Ship Co.", GZ, "ferry"),
    ("gzbike", "广州公共自行车（演示）", "Guangzhou Public Bicycle (demo)", GZ, "bicycle"),
    ("gztaxi", "广州出租汽车（演示）", "Guangzhou Taxi (demo)", GZ, "taxi"),
    ("gzbrt", "广州市快速公交运营管理有限公司", "Guangzhou BRT Operation Co.", GZ, "brt"),
    ("gztram", "广州有轨电车有限责任公司", "Guangzhou Tram Co.", GZ, "tram"),
    (
        "gdcoach",
        "广东省汽车运输集团（演示）",
        "Guangdong Motor Transport Group (demo)",
        GZ,
        "coach",
    ),
    ("fsmetro", "佛山市地铁运营有限公司", "Foshan Metro Operation Co.", FS, "metro"),
    ("fsbus", "佛山公交（演示）", "Foshan Bus (demo)", FS, "bus"),
    ("zhbus", "珠海公交（演示）", "Zhuhai Bus (demo)", ZH, "bus"),
    ("dgbus", "东莞公交（演示）", "Dongguan Bus (demo)", DG, "bus"),
    ("swbus", "汕尾公交（演示）", "Shanwei Bus (demo)", SW, "bus"),
    ("szbus", "深圳公交（演示）", "Shenzhen Bus (demo)", SZ, "bus"),
)

# (network_id, network_name, operator_id, city_code, mode)
NETWORKS = (
    ("gz-metro", "广州地铁 Guangzhou Metro", "gzmetro", GZ, "metro"),
    ("gf-metro", "广佛线 Guangfo Line", "gzmetro", GZ, "metro"),
    ("gz-bus", "广州公交 Guangzhou buses", "gzbus", GZ, "bus"),
    ("gz-ferry", "珠江水上巴士 Pearl River ferry", "gzferry", GZ, "ferry"),
    ("gz-bike", "广州公共自行车 Guangzhou public bicycles", "gzbike", GZ, "bicycle"),
    ("gz-taxi", "广州出租车 Guangzhou taxis", "gztaxi", GZ, "taxi"),
    ("gz-brt", "广州快速公交 Guangzhou BRT", "gzbrt", GZ, "brt"),
    ("gz-tram", "海珠有轨电车 Haizhu tram", "gztram", GZ, "tram"),
    ("gz-zh-coach", "广珠城际快巴 Guangzhou–Zhuhai intercity coach", "gdcoach", GZ, "coach"),
    ("fs-metro", "佛山地铁 Foshan Metro", "fsmetro", FS, "metro"),
    ("fs-bus", "佛山公交 Foshan buses", "fsbus", FS, "bus"),
    ("zh-bus", "珠海公交 Zhuhai buses", "zhbus", ZH, "bus"),
    ("dg-bus", "东莞公交 Dongguan buses", "dgbus", DG, "bus"),
    ("sw-bus", "汕尾公交 Shanwei buses", "swbus", SW, "bus"),
    ("sz-bus", "深圳公交 Shenzhen buses", "szbus", SZ, "bus"),
)

# Metro lines: stations in order, (stop suffix, name, city) and the metres between neighbours.
Station = tuple[str, str, str]
METRO_LINES: dict[str, tuple[tuple[tuple[Station, ...], tuple[int, ...]], ...]] = {
    "gz-metro": (
        (  # Line 1 (subset): 西塱 … 广州东站
            (
                ("xilang", "西塱", GZ),
                ("fangcun", "芳村", GZ),
                ("huangsha", "黄沙", GZ),
                ("chenjiaci", "陈家祠", GZ),
                ("gongyuanqian", "公园前", GZ),
                ("dongshankou", "东山口", GZ),
                ("yangji", "杨箕", GZ),
                ("tiyuxilu", "体育西路", GZ),
                ("tiyuzhongxin", "体育中心", GZ),
                ("guangzhoudongzhan", "广州东站", GZ),
            ),
            (4000, 1600, 2200, 2200, 3000, 1400, 1000, 900, 1900),
        ),
        (  # Line 3 (subset): 番禺广场 … 体育西路 (transfer) … 石牌桥
            (
                ("panyuguangchang", "番禺广场", GZ),
                ("shiqiao", "市桥", GZ),
                ("hanxichanglong", "汉溪长隆", GZ),
                ("dashi", "大石", GZ),
                ("lijiao", "沥滘", GZ),
                ("kecun", "客村", GZ),
                ("guangzhouta", "广州塔", GZ),
                ("zhujiangxincheng", "珠江新城", GZ),
                ("tiyuxilu", "体育西路", GZ),
                ("shipaiqiao", "石牌桥", GZ),
            ),
            (3000, 3300, 3400, 4800, 4800, 1500, 1400, 1500, 1300),
        ),
    ),
    "fs-metro": (
        (  # Line 2 (subset)
            (
                ("nanzhuang", "南庄", FS),
                ("huyong", "湖涌", FS),
                ("lvdaohu", "绿岛湖", FS),
                ("wanhua", "湾华", FS),
                ("shiwan", "石湾", FS),
                ("xianyong", "仙涌", FS),
                ("huahuishijie", "花卉世界", FS),
                ("dengzhou", "登洲", FS),
            ),
            (2100, 1900, 1600, 2300, 3100, 2200, 1800),
        ),
    ),
    "gf-metro": (
        (  # Guangfo Line (subset): stations in Foshan and in Guangzhou
            (
                ("kuiqilu", "魁奇路", FS),
                ("zumiao", "祖庙", FS),
                ("guicheng", "桂城", FS),
                ("qiandenghu", "千灯湖", FS),
                ("jinronggaoxinqu", "金融高新区", FS),
                ("longxi", "龙溪", GZ),
                ("xilang", "西塱", GZ),
                ("shayuan", "沙园", GZ),
                ("nanzhou", "南洲", GZ),
                ("lijiao", "沥滘", GZ),
            ),
            (3600, 4100, 2800, 1200, 2000, 3400, 4300, 3600, 2900),
        ),
    ),
}
STOP_PREFIX = {"gz-metro": "gzm", "fs-metro": "fsm", "gf-metro": "gfm", "gz-ferry": "gzf"}

FERRY_PIERS = (
    ("zhongdamatou", "中大码头"),
    ("tianzimatou", "天字码头"),
    ("xidimatou", "西堤码头"),
    ("fangcunmatou", "芳村码头"),
    ("huangshamatou", "黄沙码头"),
)
FLAT_FARES = {  # network → fen
    "gz-bus": 200,
    "gz-ferry": 200,
    "gz-brt": 200,
    "gz-tram": 200,
    "gz-zh-coach": 7000,  # one tap on boarding, one fare for the whole route
    "fs-bus": 200,
    "zh-bus": 200,
    "dg-bus": 200,
    "sw-bus": 200,
    "sz-bus": 200,
}

RIDER_CATEGORIES = (
    ("adult", "成人 Adult", "1"),
    ("senior_60_64", "60–64 岁长者 Senior 60–64", "0"),
    ("senior_65_plus", "65 岁及以上长者 Senior 65+", "0"),
    ("disabled", "残疾人 Person with disability", "0"),
    ("student", "学生 Student", "0"),
    ("veteran", "优抚对象 Veteran", "0"),
    ("minor", "未成年人 Minor", "0"),
    ("low_income", "低收入 Low income", "0"),
)

# (category short name, rider_category_id, discount, percent_off, modes, valid_from)
CONCESSIONS = (
    ("s65", "senior_65_plus", "free", "", ("metro", "bus", "ferry"), "20210101"),
    ("s60", "senior_60_64", "percent", "50", ("metro", "bus", "ferry"), "20210101"),
    ("dis", "disabled", "free", "", ("metro", "bus", "ferry"), "20210101"),
    ("stu", "student", "percent", "50", ("metro", "bus"), "20210901"),
)
# Guangzhou's BRT and tram count as its buses: the same concessions, transfers, cap and volume
# discount. The intercity coach has none of them.
GZ_BUS_LIKE = ("brt", "tram")
GZ_TRANSIT_MODES = ";".join(("metro", "bus", *GZ_BUS_LIKE))

TRANSFER_PRODUCT = "gz-transfer-1yuan-off"


def yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100}.{abs(fen) % 100:02d}"


def shortest_metres(
    lines: Sequence[tuple[Sequence[Station], Sequence[int]]],
) -> dict[str, dict[str, int]]:
    """Shortest-path metres between every pair of stations (Dijkstra from each)."""
    graph: dict[str, dict[str, int]] = {}
    for stations, gaps in lines:
        assert len(gaps) == len(stations) - 1
        for (a, _, _), (b, _, _), metres in zip(stations[:-1], stations[1:], gaps, strict=True):
            graph.setdefault(a, {})[b] = metres
            graph.setdefault(b, {})[a] = metres
    result: dict[str, dict[str, int]] = {}
    for source in graph:
        best = {source: 0}
        queue = [(0, source)]
        while queue:
            dist, node = heapq.heappop(queue)
            if dist > best[node]:
                continue
            for nxt, metres in graph[node].items():
                if dist + metres < best.get(nxt, 1 << 62):
                    best[nxt] = dist + metres
                    heapq.heappush(queue, (dist + metres, nxt))
        result[source] = best
    return result


def _csv(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def demo_files() -> dict[str, str]:
    """File name → CSV text of the whole demo data set."""
    stops: list[tuple[str, str, str, str, str]] = []
    areas: list[tuple[str, str]] = []
    stop_areas: list[tuple[str, str]] = []
    products: dict[str, tuple[str, str, str, str, str, str]] = {}
    leg_rules: list[tuple[str, str, str, str, str, str]] = []

    def product(network_id: str, fen: int) -> str:
        product_id = f"{network_id}-{fen // 100}yuan"
        name = f"{network_id} ¥{yuan(fen)} 单程 single ride"
        products[product_id] = (product_id, name, "", "", yuan(fen), "CNY")
        return product_id

    for network_id, lines in METRO_LINES.items():
        prefix = STOP_PREFIX[network_id]
        seen: dict[str, Station] = {}
        for stations, _ in lines:
            for station in stations:
                seen.setdefault(station[0], station)
        for key, name, city in seen.values():
            stop_id, area_id = f"{prefix}-{key}", f"{prefix}-{key}-area"
            stops.append((stop_id, name, "", "", city))
            areas.append((area_id, f"{name}站 {network_id}"))
            stop_areas.append((area_id, stop_id))
        metres = shortest_metres(lines)
        for a in seen:
            for b in seen:
                if a == b:
                    continue
                fen = guangzhou_metro_fare_fen(Decimal(metres[a][b]) / 1000)
                leg_rules.append(
                    (
                        network_id,
                        network_id,
                        f"{prefix}-{a}-area",
                        f"{prefix}-{b}-area",
                        product(network_id, fen),
                        "",
                    )
                )
    for key, name in FERRY_PIERS:
        stops.append((f"{STOP_PREFIX['gz-ferry']}-{key}", name, "", "", GZ))
    for network_id, fen in FLAT_FARES.items():
        leg_rules.append((network_id, network_id, "", "", product(network_id, fen), ""))
    products[TRANSFER_PRODUCT] = (
        TRANSFER_PRODUCT,
        "广州公交地铁换乘优惠 减 1 元 Guangzhou bus–metro transfer, ¥1 off",
        "",
        "",
        yuan(-100),
        "CNY",
    )
    transfers = [
        (a, b, "1", "5400", "2", "1", TRANSFER_PRODUCT)
        for surface in ("gz-bus", *(f"gz-{mode}" for mode in GZ_BUS_LIKE))
        for metro in ("gz-metro", "gf-metro")
        for a, b in ((surface, metro), (metro, surface))
    ]
    concessions = []
    for short, city in PILOT_CITIES.items():
        for cat_short, category, discount, percent, modes, valid_from in CONCESSIONS:
            bus_like = GZ_BUS_LIKE if city == GZ and "bus" in modes else ()
            for mode in (*modes, *bus_like):
                concessions.append(
                    (
                        f"{short}-{cat_short}-{mode}",
                        city,
                        mode,
                        category,
                        discount,
                        percent,
                        valid_from,
                        "",
                        "guangdong",
                    )
                )
    for mode in ("metro", "bus"):  # a non-pilot city: only its own cards
        concessions.append(
            (f"sz-s65-{mode}", SZ, mode, "senior_65_plus", "free", "", "20210101", "", "none")
        )

    return {
        "operators.csv": _csv(
            ("operator_id", "name_zh", "name_en", "city_code", "mode"), OPERATORS
        ),
        "networks.csv": _csv(
            ("network_id", "network_name", "operator_id", "city_code", "mode"), NETWORKS
        ),
        "stops.csv": _csv(("stop_id", "stop_name", "stop_lat", "stop_lon", "city_code"), stops),
        "areas.csv": _csv(("area_id", "area_name"), areas),
        "stop_areas.csv": _csv(("area_id", "stop_id"), stop_areas),
        "rider_categories.csv": _csv(
            ("rider_category_id", "rider_category_name", "is_default_fare_category"),
            RIDER_CATEGORIES,
        ),
        "fare_media.csv": _csv(
            ("fare_media_id", "fare_media_name", "fare_media_type"),
            (
                ("ssc_card", "社保卡 Social security card", "2"),
                ("ssc_ecard", "电子社保卡二维码 E-card QR code", "4"),
            ),
        ),
        "fare_products.csv": _csv(
            (
                "fare_product_id",
                "fare_product_name",
                "rider_category_id",
                "fare_media_id",
                "amount",
                "currency",
            ),
            sorted(products.values()),
        ),
        "fare_leg_rules.csv": _csv(
            (
                "leg_group_id",
                "network_id",
                "from_area_id",
                "to_area_id",
                "fare_product_id",
                "rule_priority",
            ),
            leg_rules,
        ),
        "fare_transfer_rules.csv": _csv(
            (
                "from_leg_group_id",
                "to_leg_group_id",
                "transfer_count",
                "duration_limit",
                "duration_limit_type",
                "fare_transfer_type",
                "fare_product_id",
            ),
            transfers,
        ),
        "concession_policies.csv": _csv(
            (
                "policy_id",
                "city_code",
                "mode",
                "rider_category_id",
                "discount",
                "percent_off",
                "valid_from",
                "valid_to",
                "other_cities",
            ),
            concessions,
        ),
        "fare_caps.csv": _csv(
            ("cap_id", "city_code", "modes", "period", "amount"),
            (("gz-day-cap", GZ, GZ_TRANSIT_MODES, "day", "15.00"),),
        ),
        "volume_discounts.csv": _csv(
            ("rule_id", "city_code", "modes", "after_rides", "percent_off", "period"),
            (("gz-volume", GZ, GZ_TRANSIT_MODES, "15", "40", "month"),),
        ),
        "duration_fares.csv": _csv(
            ("network_id", "free_minutes", "block_minutes", "block_amount", "max_amount"),
            (("gz-bike", "60", "30", "1.00", "10.00"),),
        ),
        "incomplete_trips.csv": _csv(
            (
                "network_id",
                "no_exit",
                "no_entry",
                "exit_timeout_minutes",
                "same_station_minutes",
            ),
            [(n, "max", "max", "240", "20") for n in ("gz-metro", "gf-metro", "fs-metro")],
        ),
    }


def write(out_dir: Path = DEMO_DIR) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, content in demo_files().items():
        path = out_dir / name
        path.write_text(content, encoding="utf-8", newline="")
        written.append(path)
    return written


def differences(out_dir: Path = DEMO_DIR) -> list[str]:
    """Names of demo files that are missing, different or extra in ``out_dir``."""
    expected = demo_files()
    found = {p.name for p in out_dir.glob("*.csv")}
    diff = sorted(found - set(expected))
    for name, content in expected.items():
        path = out_dir / name
        if not path.is_file() or path.read_text(encoding="utf-8") != content:
            diff.append(name)
    return diff


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEMO_DIR)
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args(argv)
    if args.check:
        diff = differences(args.out)
        for name in diff:
            print(f"differs: {name}", file=sys.stderr)
        return 1 if diff else 0
    for path in write(args.out):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
