"""Run the province simulator: python -m connectors.province_sim [--host] [--port]."""

from __future__ import annotations

import argparse
import sys

from connectors.province_sim.server import Simulator


def main(argv: list[str] | None = None) -> int:
    from evaluation_service.kernel.settings import Settings

    parser = argparse.ArgumentParser(prog="python -m connectors.province_sim", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8010)
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    import uvicorn

    app = Simulator(
        public_key=settings.province_public_key,
        app_mark=settings.province_app_mark,
        app_word=settings.province_app_word,
        tenancy_id=settings.province_tenancy_id,
        timezone=settings.timezone,
    )
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level="warning",
        loop="uvloop",
        http="httptools",
        access_log=False,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
