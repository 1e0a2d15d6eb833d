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
# Clients called on an admin request's path (within its 29 s integration timeout), e.g. the audit trail's
# MAC key and anchors: fail fast rather than wait out botocore's defaults, with a connection per concurrent
# writer (an admin instance serves many at once locally), not a reconnect each.
REQUEST_PATH_CONFIG = Config(
    connect_timeout=2, read_timeout=5, retries={"total_max_attempts": 3, "mode": "standard"}, max_pool_connections=50
)


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
