"""SM2 encryption rate on this machine, one core: the library the connector seals with (gmalglib,
through connectors.province.cipher) against gmssl (pure Python), on a rating-sized item.

    python bench/sm2_cipher.py                 # about 3 s per library
    python bench/sm2_cipher.py --seconds 1

Lines: `<library> encrypt_per_s=N`; the chosen library's line comes first.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gmssl import sm2 as gmssl_sm2  # type: ignore[import-untyped]  # noqa: E402

from connectors.province.cipher import Sm2Cipher, generate_key_pair  # noqa: E402

ITEM = [
    {
        "projectNo": "37PY20261127000123",
        "serviceNumber": "2",
        "assessNumber": "1",
        "pf": "4",
        "satisfaction": "2",
        "evalDetail": "601,602",
        "writingEvaluation": "等待时间较长，希望增加窗口",
        "assessTime": "2026-11-27 09:02:03",
        "deptCode": "11370124004319073Y",
        "taskCode": "11370124004319073Y3370111006000",
        "taskName": "个体工商户设立登记",
        "proStatus": "2",
        "proDepart": "平阴县行政审批服务局",
        "certKey": "370124199001011234",
        "userName": "张三",
        "userProp": "1",
        "userPageType": "111",
        "acceptDate": "2026-11-27 08:30:00",
        "promisetime": "2",
        "name": "张三",
        "dataSource": "165",
    }
]


def rate(encrypt: Callable[[bytes], object], plain: bytes, seconds: float) -> float:
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(10):
            encrypt(plain)
        count += 10
    return count / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    plain = json.dumps(ITEM, ensure_ascii=False, separators=(",", ":")).encode()
    _, public = generate_key_pair()
    ours = Sm2Cipher(public)
    theirs = gmssl_sm2.CryptSM2(private_key="", public_key=public, mode=1)
    print(f"item_bytes={len(plain)}")
    print(f"gmalglib encrypt_per_s={rate(ours.encrypt, plain, args.seconds):.0f}")
    print(f"gmssl encrypt_per_s={rate(theirs.encrypt, plain, args.seconds):.0f}")


if __name__ == "__main__":
    main()
