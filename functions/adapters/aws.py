"""AWS clients, made lazily by cached factories over one botocore session.

botocore, not boto3: importing the boto3 package also imports s3transfer, which costs cold start
(about 100 ms) and serves nothing here.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import Any

import botocore.session
from botocore.config import Config

_lock = threading.Lock()


@lru_cache(maxsize=1)
def session() -> botocore.session.Session:
    return botocore.session.get_session()


@lru_cache(maxsize=32)
def client(
    service: str, region: str | None = None, endpoint_url: str | None = None, config: Config | None = None
) -> Any:
    # botocore sessions are not safe for concurrent client creation.
    with _lock:
        return session().create_client(service, region_name=region, endpoint_url=endpoint_url, config=config)
