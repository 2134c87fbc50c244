"""The boto3 S3 client, configured from `[export]`: the one place an S3 client is made
(the exporter, the clone registry and jobs reading S3 all use it)."""

from __future__ import annotations

from typing import Any  # a boto3 S3 client: boto3 has no types here

import boto3
from botocore.config import Config as BotoConfig

from appliance.config import Config, ConfigError


def make_client(config: Config, max_attempts: int = 5) -> Any:
    """An S3 client for the configured endpoint; ConfigError if `[export]` is incomplete.

    Throttling, 5xx, connection errors and timeouts are retried by botocore's
    "standard" mode (exponential backoff with jitter). Checksums are the ones
    we send ourselves (Content-MD5, verified by every S3-compatible store),
    not botocore's newer default trailing checksums, which many S3-compatible
    stores reject.
    """
    export = config.export
    if not export.bucket:
        raise ConfigError("[export] bucket is not set (needed to export)")
    if bool(export.access_key_id) != bool(export.secret_access_key):
        raise ConfigError("[export] access_key_id and secret_access_key go together")
    boto_config = BotoConfig(
        region_name=export.region,
        retries={"mode": "standard", "max_attempts": max_attempts},
        connect_timeout=10,
        read_timeout=60,
        max_pool_connections=max(10, export.concurrency * 2),
        s3={"addressing_style": "path"} if export.endpoint_url else None,
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    kwargs = {"config": boto_config}
    if export.endpoint_url:
        kwargs["endpoint_url"] = export.endpoint_url
    if export.access_key_id:
        kwargs["aws_access_key_id"] = export.access_key_id
        kwargs["aws_secret_access_key"] = export.secret_access_key
    return boto3.session.Session().client("s3", **kwargs)
