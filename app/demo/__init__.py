"""Demo data for ``crm seed-demo`` and the word lists the benchmarks share. Not a use case:
it sits above the services (it calls them and writes through the unit of work), and nothing
in the routers, services or domain imports it."""

from app.demo.seed import DEMO_PASSWORD, SeedResult, seed_demo_with

__all__ = ["DEMO_PASSWORD", "SeedResult", "seed_demo_with"]
