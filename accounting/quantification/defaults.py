"""Binzhou's default methodologies, version 1 (DOMAIN.md §3), as filed data.

Factors are decimal strings so that no float ever touches a gram; each carries its source.
"""

TRIP_V1 = {
    "unit": "g CO2e per person-km (walk: per step)",
    "factors": {"bus": "26.9", "metro": "46.8", "bike": "40", "ev": "7", "walk": "0.02"},
    "max_speed_kmh": {"walk": 7, "bike": 30, "bus": 60, "metro": 80, "ev": 120},
    "max_steps_per_minute": 200,
    "min_distance_m": 300,
    "min_steps": 500,
    "max_distance_m": 100_000,
    "max_steps": 40_000,
    "daily_cap_g": {"walk": 300, "all_trips": 3000},
    "claim_window_days": 7,
    "future_tolerance_minutes": 5,
}

TRIP_V1_SOURCES = {
    "bus": "Shenzhen 低碳公共出行碳普惠方法学, new-energy bus (as quoted in press)",
    "metro": "Shenzhen 低碳公共出行碳普惠方法学, metro",
    "bike": "Wuhan 武碳江湖 published values",
    "ev": "Wuhan 武碳江湖: 24 km EV ride → 168 g",
    "walk": "Hubei 碳碳星球: 0.02 g per step",
    "limits": "platform defaults (DOMAIN.md §3)",
}

RECYCLING_V1 = {
    "unit": "g CO2e avoided per kg of material",
    "factors": {
        "paper": "180", "cardboard": "102", "plastic": "780", "pet": "897", "metal": "2049",
        "aluminium": "8118", "steel": "1360", "glass": "580", "textile": "3600",
    },
    "daily_cap_weight_g": 20_000,
    "claim_window_days": 7,
    "future_tolerance_minutes": 5,
}

RECYCLING_V1_SOURCES = {
    "paper": "UK DESNZ 2023 conversion factors: primary production minus closed-loop recycling",
    "cardboard": "UK DESNZ 2023", "plastic": "UK DESNZ 2023", "pet": "UK DESNZ 2023",
    "metal": "UK DESNZ 2023", "aluminium": "UK DESNZ 2023", "steel": "UK DESNZ 2023", "glass": "UK DESNZ 2023",
    "textile": "BIR 2008 / Copenhagen study, 3.6 kg per kg",
    "limits": "platform defaults (DOMAIN.md §3)",
}

DEFAULT_METHODOLOGIES = [
    {"code": "TRIP", "kind": "trip", "name": "滨州绿色出行碳普惠方法学",
     "parameters": TRIP_V1, "sources": TRIP_V1_SOURCES},
    {"code": "RECYCLE", "kind": "recycling", "name": "滨州再生资源回收碳普惠方法学",
     "parameters": RECYCLING_V1, "sources": RECYCLING_V1_SOURCES},
]
