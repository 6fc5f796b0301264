"""Run the province simulator.

    python -m connectors.province_sim --host 127.0.0.1 --port 8010 --db var/province_sim.sqlite3 \\
        --private-key HEX --app-mark MARK --app-word WORD

Every option has an environment variable (SIM_PRIVATE_KEY, SIM_APP_MARK, SIM_APP_WORD,
SIM_TENANCY_ID, SIM_CIPHER_MODE, SIM_CIPHER_ENCODING, SIM_ANSWER_STYLE, SIM_DB); an option on
the command line wins. --demo-keys takes the key pair and the app credentials from the
committed, public demo_keys.json (for `make run`); with no private key at all the simulator uses
the demo pair too, says so, and the demo credentials unless both are given.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from connectors.province_sim.api import SimulatorApp, parse_styles
from connectors.province_sim.cipher import (
    DEMO_KEYS_FILE,
    CipherMode,
    Decryptor,
    Encoding,
    demo_key_pair,
)
from connectors.province_sim.service import Credentials, Province
from connectors.province_sim.store import Store


def build_parser(env: Mapping[str, str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m connectors.province_sim",
        description="A strict fake of Shandong's unified 好差评 system, for tests and make run.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8010)
    parser.add_argument(
        "--db",
        default=env.get("SIM_DB", "var/province_sim.sqlite3"),
        help="SQLite file of what the province holds (kept across restarts)",
    )
    parser.add_argument(
        "--private-key",
        default=env.get("SIM_PRIVATE_KEY", ""),
        help="the province's SM2 private key, 64 hex digits",
    )
    parser.add_argument(
        "--demo-keys",
        action="store_true",
        help=f"use the public demo key pair and credentials in {DEMO_KEYS_FILE.name}",
    )
    parser.add_argument("--app-mark", default=env.get("SIM_APP_MARK", ""))
    parser.add_argument("--app-word", default=env.get("SIM_APP_WORD", ""))
    parser.add_argument("--tenancy-id", default=env.get("SIM_TENANCY_ID", "370000000000"))
    parser.add_argument(
        "--cipher-mode",
        choices=[mode.value for mode in CipherMode],
        default=env.get("SIM_CIPHER_MODE", CipherMode.C1C3C2.value),
    )
    parser.add_argument(
        "--cipher-encoding",
        choices=[encoding.value for encoding in Encoding],
        default=env.get("SIM_CIPHER_ENCODING", Encoding.HEX.value),
    )
    parser.add_argument(
        "--answer-style",
        default=env.get("SIM_ANSWER_STYLE", "desc"),
        help="desc or code for every item endpoint, or e.g. record=desc,rating=code",
    )
    return parser


def build_app(args: argparse.Namespace) -> SimulatorApp:
    private_key, app_mark, app_word = args.private_key, args.app_mark, args.app_word
    if args.demo_keys or not private_key:
        if not args.demo_keys:
            print(
                f"province simulator: no private key given, using the PUBLIC DEMO key pair in"
                f" {DEMO_KEYS_FILE}",
                file=sys.stderr,
            )
        pair, credentials = demo_key_pair()
        private_key = pair.private_hex
        if args.demo_keys or not (app_mark and app_word):
            app_mark, app_word = credentials["app_mark"], credentials["app_word"]
    if not app_mark or not app_word:
        raise SystemExit("province simulator: --app-mark and --app-word (or SIM_APP_*) are needed")
    decryptor = Decryptor(private_key, CipherMode(args.cipher_mode), Encoding(args.cipher_encoding))
    province = Province(
        decryptor=decryptor,
        credentials=Credentials(app_mark, app_word),
        store=Store(Path(args.db)),
        tenancy_id=args.tenancy_id,
    )
    return SimulatorApp(province, parse_styles(args.answer_style))


def main(argv: list[str] | None = None) -> int:
    args = build_parser(os.environ).parse_args(argv)
    app = build_app(args)
    import uvicorn

    print(
        f"province simulator on http://{args.host}:{args.port}/sim/ (public key"
        f" {app.province.decryptor.keys.public_hex}, appMark {app.province.credentials.app_mark})",
        file=sys.stderr,
        flush=True,
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
