import cProfile, pstats, sys
sys.argv = ["x", "--gifts", "3000", "--skip-rate"]
sys.path.insert(0, "benchmarks")
import bench_dispatch as b
from gifting.config import load_catalog
from gifting.settings import PROJECT_ROOT
import argparse
if __name__ == "__main__":
    args = argparse.Namespace(gifts=3000, concurrency=4, batch_size=500, database_url=None)
    catalog = load_catalog(PROJECT_ROOT / "config")
    items = [i.model_dump(mode="json") for i in catalog.items]
    kinds = {i.sku: i.kind for i in catalog.items}
    with b.warehouse_url(None) as url:
        e = b.create_warehouse_engine(url); b.migrate(e)
        b.seed_due_gifts(e, catalog, 3000, as_of=b.AS_OF, status="ready")
        with b.sandbox_process(items) as (base, orders), b.SandboxVendorClient(base, b.API_KEY, rate_limit_per_second=b.UNLIMITED) as c:
            pr = cProfile.Profile(); pr.enable()
            b.dispatch_due_gifts(e, c, kinds, as_of=b.AS_OF, concurrency=4)
            pr.disable()
    pstats.Stats(pr).sort_stats("cumulative").print_stats(35)
