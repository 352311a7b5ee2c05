"""Objects in an S3 bucket (AWS, MinIO, Ceph… anything speaking the S3 API)."""

from collections.abc import Iterator
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from crucible_storage.objects.base import CHUNK_BYTES, ObjectMissing

_MISSING = {"404", "NoSuchKey", "NotFound"}


class S3Objects:
    """A PUT of one object is atomic in S3, which is all `put` promises."""

    def __init__(self, *, bucket: str, endpoint_url: str | None, region: str) -> None:
        self._bucket = bucket
        self._client: Any = boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            config=Config(retries={"max_attempts": 3, "mode": "standard"}),
        )
        self.location = f"s3://{bucket}" + (f" at {endpoint_url}" if endpoint_url else "")

    def ensure_bucket(self) -> None:
        """Creates the bucket if it does not exist yet."""
        try:
            self._client.head_bucket(Bucket=self._bucket)
        except ClientError as exc:
            if exc.response["Error"]["Code"] not in _MISSING:
                raise
            self._client.create_bucket(Bucket=self._bucket)

    def put(self, key: str, data: bytes) -> None:
        self._client.put_object(Bucket=self._bucket, Key=key, Body=data)

    def get(self, key: str) -> bytes:
        body: bytes = self._open(key).read()
        return body

    def stream(self, key: str) -> Iterator[bytes]:
        body = self._open(key)
        return _closing_chunks(body)

    def delete(self, key: str) -> None:
        self._client.delete_object(Bucket=self._bucket, Key=key)

    def keys(self, prefix: str) -> Iterator[str]:
        for item in self._objects(prefix):
            yield item["Key"]

    def usage(self, prefix: str) -> tuple[int, int]:
        sizes = [item["Size"] for item in self._objects(prefix)]
        return len(sizes), sum(sizes)

    def ready(self) -> bool:
        try:
            self._client.head_bucket(Bucket=self._bucket)
        except (BotoCoreError, ClientError):
            return False
        return True

    def _open(self, key: str) -> Any:
        try:
            return self._client.get_object(Bucket=self._bucket, Key=key)["Body"]
        except ClientError as exc:
            if exc.response["Error"]["Code"] in _MISSING:
                raise ObjectMissing(key) from None
            raise

    def _objects(self, prefix: str) -> Iterator[dict[str, Any]]:
        pages = self._client.get_paginator("list_objects_v2").paginate(
            Bucket=self._bucket, Prefix=prefix
        )
        for page in pages:
            yield from page.get("Contents", [])


def _closing_chunks(body: Any) -> Iterator[bytes]:
    try:
        yield from body.iter_chunks(CHUNK_BYTES)
    finally:
        body.close()
