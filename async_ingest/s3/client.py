"""The S3 calls async_ingest makes: a thin async face over aioboto3 (S3), their failures as one-line
S3Error (errors.py), and open_s3, which opens the client with transport.py's session and
configuration."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from async_ingest.events import Event
from async_ingest.s3.checksums import CHECKSUMS, stored_checksum
from async_ingest.s3.compat import cache_endpoints_per_bucket, cache_user_agent
from async_ingest.s3.errors import DENIED_HINTS, describe_error, wrap_error
from async_ingest.s3.model import (
    ConnectionSettings,
    Listed,
    S3Error,
    StoredObject,
    validate_region,
)
from async_ingest.s3.ratelimit import TokenBucket
from async_ingest.s3.transport import (
    DEFAULT_REGION,
    Body,
    PartBody,
    SentCallback,
    bandwidth_limiter,
    client_config,
    make_session,
    resolve_region,
)
from async_ingest.s3.verbose import watch_requests

CONTENT_TYPE = "text/csv; charset=utf-8"
LOST_UPLOAD_SLACK_S = 2  # server timestamps have whole seconds


def content_md5(body: Body) -> dict[str, str]:
    """The ContentMD5 argument of a request carrying body."""
    md5 = CHECKSUMS["md5"]
    return md5.request_args(md5.digest(body))


class S3:
    """Async calls on one bucket-agnostic client. Raises S3Error with one-line messages."""

    def __init__(self, client: Any, max_attempts: int = 5, limiter: TokenBucket | None = None) -> None:
        self._client = client
        self._max_attempts = max_attempts
        self._limiter = limiter
        self.retried_requests = 0  # requests that needed a retry: the parts controller backs off

    async def ensure_bucket(self, bucket: str, region: str, *, create: bool) -> bool:
        """True if the bucket was created. Idempotent: an existing bucket we own is fine."""
        try:
            await self._client.head_bucket(Bucket=bucket)
            return False
        except ClientError as exc:
            code, _ = describe_error(exc)
            if code in ("403", "Forbidden"):
                raise await self._why_denied(bucket, exc) from None
            if code not in ("404", "NoSuchBucket", "NotFound"):
                raise wrap_error(exc, f"bucket {bucket}") from None
        except Exception as exc:
            raise wrap_error(exc, f"bucket {bucket}") from None
        if not create:
            raise S3Error(
                f"bucket {bucket} does not exist (and {{opt:create_bucket}} is set)", "NoSuchBucket"
            )
        kwargs: dict[str, Any] = {"Bucket": bucket}
        if region != DEFAULT_REGION:
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
        try:
            await self._client.create_bucket(**kwargs)
        except ClientError as exc:
            code, _ = describe_error(exc)
            if code not in ("BucketAlreadyOwnedByYou",):
                raise wrap_error(exc, f"create bucket {bucket}") from None
        except Exception as exc:
            raise wrap_error(exc, f"create bucket {bucket}") from None
        return True

    async def _why_denied(self, bucket: str, exc: ClientError) -> S3Error:
        """HeadBucket answers a bare 403 (a HEAD has no body): ask again with a request whose error
        names the reason (unknown access key, wrong secret, no permission)."""
        try:
            await self._client.list_objects_v2(Bucket=bucket, MaxKeys=1)
        except ClientError as again:
            code, _ = describe_error(again)
            if code in DENIED_HINTS:
                return S3Error(f"bucket {bucket}: access denied ({code}): {DENIED_HINTS[code]}", code)
        except Exception:  # a network error now: report the first error as it is
            pass
        return wrap_error(exc, f"bucket {bucket}")

    async def _call(self, context: str, method: str, **kwargs: Any) -> Any:
        try:
            response = await getattr(self._client, method)(**kwargs)
        except Exception as exc:
            raise wrap_error(exc, context) from None
        if response.get("ResponseMetadata", {}).get("RetryAttempts"):
            self.retried_requests += 1
        return response

    async def _call_with_body(
        self, context: str, method: str, body: Body, on_sent: SentCallback | None = None, **kwargs: Any
    ) -> Any:
        """A body the server found damaged on arrival (its checksum does not match: BadDigest) is sent
        again from memory; botocore's standard retry mode does not retry that error. on_sent: told
        the bytes of each attempt written so far, once per slice (compat.PartPayload)."""
        attempt = 1
        while True:
            try:
                with contextlib.closing(PartBody(body, self._limiter, on_sent)) as stream:
                    return await self._call(context, method, Body=stream, **kwargs)
            except S3Error as exc:
                if exc.code != "BadDigest" or attempt >= self._max_attempts:
                    raise
                attempt += 1

    async def put_object(
        self,
        bucket: str,
        key: str,
        body: Body,
        checksum: Mapping[str, str],
        extra: Mapping[str, Any],
        on_sent: SentCallback | None = None,
    ) -> StoredObject:
        """checksum: the body's checksum arguments (Checksum.request_args)."""
        response = await self._call_with_body(
            f"upload s3://{bucket}/{key}",
            "put_object",
            body,
            on_sent,
            Bucket=bucket,
            Key=key,
            **checksum,
            **{"ContentType": CONTENT_TYPE, **extra},  # extra may set another (--content-type)
        )
        return StoredObject(
            str(response["ETag"]), stored_checksum(response, checksum.get("ChecksumAlgorithm"))
        )

    async def put_in_parts(
        self, bucket: str, key: str, parts: Iterator[Body], part_size: int, extra: Mapping[str, Any]
    ) -> None:
        """An object made on the fly, part by part (every part but the last at least part_size bytes,
        as manifest.in_parts cuts them): one PutObject when the first part is the only one, else a
        multipart upload, aborted if any step fails (nothing partial is left). Each request carries
        its Content-MD5, which every S3 store checks."""
        first = next(parts, b"")
        if len(first) < part_size:
            await self.put_object(bucket, key, first, content_md5(first), extra)
            return
        upload_id = await self.create_multipart(bucket, key, extra)
        try:
            etag = await self.upload_part(bucket, key, upload_id, 1, first, content_md5(first))
            del first  # each part is let go once sent
            sent = [{"PartNumber": 1, "ETag": etag}]
            for number, part in enumerate(parts, start=2):
                etag = await self.upload_part(bucket, key, upload_id, number, part, content_md5(part))
                sent.append({"PartNumber": number, "ETag": etag})
                del part  # before the next one is made
            await self.complete_multipart(bucket, key, upload_id, sent, {})
        except BaseException:
            with contextlib.suppress(S3Error):
                await asyncio.shield(self.abort_multipart(bucket, key, upload_id))
            raise

    async def create_multipart(self, bucket: str, key: str, extra: Mapping[str, Any]) -> str:
        started = time.monotonic()
        response = await self._call(
            f"start upload s3://{bucket}/{key}",
            "create_multipart_upload",
            Bucket=bucket,
            Key=key,
            **{"ContentType": CONTENT_TYPE, **extra},
        )
        upload_id = str(response["UploadId"])
        if response.get("ResponseMetadata", {}).get("RetryAttempts"):
            await self._abort_lost_uploads(bucket, key, upload_id, time.monotonic() - started)
        return upload_id

    async def _abort_lost_uploads(self, bucket: str, key: str, upload_id: str, seconds: float) -> None:
        """A retried CreateMultipartUpload may have created uploads whose answers were lost (the
        server acted, the connection dropped): nobody knows their ids, so they would stay orphaned.
        Abort this key's other uploads started during the call (by the server's clock)."""
        with contextlib.suppress(S3Error):  # best effort: a stale upload is aborted by the next run
            uploads = [u for u in await self.list_uploads(bucket, key) if u.get("Key") == key]
            ours = next((u["Initiated"] for u in uploads if u.get("UploadId") == upload_id), None)
            if ours is None:
                return
            since = ours - dt.timedelta(seconds=seconds + LOST_UPLOAD_SLACK_S)
            for upload in uploads:
                if upload["UploadId"] != upload_id and since <= upload["Initiated"] <= ours:
                    await self.abort_multipart(bucket, key, str(upload["UploadId"]))

    async def upload_part(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        number: int,
        body: Body,
        checksum: Mapping[str, str],
        on_sent: SentCallback | None = None,
    ) -> str:
        response = await self._call_with_body(
            f"upload part {number} of s3://{bucket}/{key}",
            "upload_part",
            body,
            on_sent,
            Bucket=bucket,
            Key=key,
            UploadId=upload_id,
            PartNumber=number,
            **checksum,
        )
        return str(response["ETag"])

    async def complete_multipart(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        parts: list[dict[str, Any]],
        checksum: Mapping[str, str],
        algorithm: str | None = None,
    ) -> StoredObject:
        """parts: PartNumber, ETag and the part's checksum member, in order; checksum: the
        full-object value (Checksum.complete_args); algorithm: the one whose stored value to return."""
        response = await self._call(
            f"complete upload s3://{bucket}/{key}",
            "complete_multipart_upload",
            Bucket=bucket,
            Key=key,
            UploadId=upload_id,
            MultipartUpload={"Parts": parts},
            **checksum,
        )
        return StoredObject(str(response["ETag"]), stored_checksum(response, algorithm))

    async def abort_multipart(self, bucket: str, key: str, upload_id: str) -> None:
        await self._call(
            f"abort upload s3://{bucket}/{key}",
            "abort_multipart_upload",
            Bucket=bucket,
            Key=key,
            UploadId=upload_id,
        )

    async def delete_object(self, bucket: str, key: str) -> None:
        await self._call(f"delete s3://{bucket}/{key}", "delete_object", Bucket=bucket, Key=key)

    async def list_uploads(self, bucket: str, prefix: str = "") -> list[dict[str, Any]]:
        """Unfinished multipart uploads (Key, UploadId, Initiated) under prefix."""
        uploads: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
        while True:
            response = await self._call(f"list uploads in {bucket}", "list_multipart_uploads", **kwargs)
            uploads.extend(response.get("Uploads", []))
            if not response.get("IsTruncated"):
                return uploads
            kwargs.update(
                KeyMarker=response.get("NextKeyMarker", ""),
                UploadIdMarker=response.get("NextUploadIdMarker", ""),
            )

    async def list_parts(self, bucket: str, key: str, upload_id: str) -> list[dict[str, Any]]:
        parts, _ = await self.list_parts_and_algorithm(bucket, key, upload_id)
        return parts

    async def list_parts_and_algorithm(
        self, bucket: str, key: str, upload_id: str
    ) -> tuple[list[dict[str, Any]], str | None]:
        """The parts of an upload (with their checksums, where the server gives them) and the
        checksum algorithm the upload was started with (None: none, or the server does not say)."""
        parts: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"Bucket": bucket, "Key": key, "UploadId": upload_id}
        while True:
            response = await self._call(f"list parts of s3://{bucket}/{key}", "list_parts", **kwargs)
            parts.extend(response.get("Parts", []))
            if not response.get("IsTruncated"):
                algorithm = response.get("ChecksumAlgorithm")
                return parts, str(algorithm) if algorithm else None
            kwargs["PartNumberMarker"] = response.get("NextPartNumberMarker", 0)

    async def head_object(self, bucket: str, key: str) -> dict[str, Any] | None:
        try:
            # ChecksumMode: the answer carries the checksum S3 stores for the object.
            response: dict[str, Any] = await self._client.head_object(
                Bucket=bucket, Key=key, ChecksumMode="ENABLED"
            )
            return response
        except ClientError as exc:
            code, _ = describe_error(exc)
            if code in ("404", "NoSuchKey", "NotFound"):
                return None
            raise wrap_error(exc, f"s3://{bucket}/{key}") from None
        except Exception as exc:
            raise wrap_error(exc, f"s3://{bucket}/{key}") from None

    async def list_objects(self, bucket: str, prefix: str = "") -> list[dict[str, Any]]:
        objects = await self.list_objects_upto(bucket, prefix, None)
        assert objects is not None
        return objects

    async def list_objects_upto(
        self, bucket: str, prefix: str, limit: int | None
    ) -> list[dict[str, Any]] | None:
        """The objects under prefix, or None as soon as there are more than limit of them."""
        objects: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
        while True:
            response = await self._call(f"list {bucket}", "list_objects_v2", **kwargs)
            objects.extend(response.get("Contents", []))
            if limit is not None and len(objects) > limit:
                return None
            if not response.get("IsTruncated"):
                return objects
            kwargs["ContinuationToken"] = response["NextContinuationToken"]

    async def list_etags_upto(self, bucket: str, prefix: str, limit: int) -> dict[str, Listed] | None:
        """Key -> ETag and checksum algorithms of the objects under prefix, or None as soon as there
        are more than limit of them. Only these are kept of each listed object (100,000 listed objects
        as botocore parses them would be ~100 MB)."""
        etags: dict[str, Listed] = {}
        kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
        while True:
            response = await self._call(f"list {bucket}", "list_objects_v2", **kwargs)
            etags.update(
                (str(o["Key"]), Listed(str(o.get("ETag", "")), " ".join(o.get("ChecksumAlgorithm", []))))
                for o in response.get("Contents", [])
            )
            if len(etags) > limit:
                return None
            if not response.get("IsTruncated"):
                return etags
            kwargs["ContinuationToken"] = response["NextContinuationToken"]


@contextlib.asynccontextmanager
async def open_s3(
    settings: ConnectionSettings,
    bwlimit: int | None = None,
    on_request: Callable[[Event], None] | None = None,
) -> AsyncIterator[tuple[S3, str]]:
    """An S3 face and the region in use (request bodies sent at bwlimit bytes per second at most, in
    all; on_request, for --verbose, gets an event per request and per retry). Fails with
    S3Error('no AWS credentials ...') early, and with an S3Error for an AWS configuration botocore
    refuses (unknown profile, unparsable config file, invalid region from the environment or config)."""
    async with contextlib.AsyncExitStack() as stack:
        try:
            session = make_session(settings)
            region = resolve_region(session, settings)
        except BotoCoreError as exc:
            raise wrap_error(exc, "AWS configuration") from None
        try:
            validate_region(region)  # AWS_REGION or the config file's, unchecked until now
        except ValueError as exc:
            raise S3Error(f"AWS configuration: {exc}", "InvalidRegion") from None
        try:
            credentials = await session.get_credentials()
        except Exception as exc:
            raise wrap_error(exc, "credentials") from None
        if credentials is None:
            raise S3Error(
                "no AWS credentials found: use {opt:credentials_file}, {opt:profile}, AWS_ACCESS_KEY_ID/"
                "AWS_SECRET_ACCESS_KEY, or a container/instance role",
                "NoCredentials",
            )
        try:
            client = await stack.enter_async_context(
                session.client(
                    "s3",
                    endpoint_url=settings.endpoint_url,
                    region_name=region,
                    config=client_config(settings),
                )
            )
        except (BotoCoreError, ValueError) as exc:
            raise wrap_error(exc, "AWS configuration") from None
        cache_endpoints_per_bucket(client)
        cache_user_agent(client)
        if on_request is not None:
            watch_requests(client, on_request, settings.max_attempts)
        yield S3(client, settings.max_attempts, bandwidth_limiter(bwlimit)), region
