"""The one place where botocore's and aiohttp's exceptions become async_ingest's S3Error: a code and
one line without request details (no URL credentials, no headers), as httpx maps its transport's
exceptions in one module."""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from async_ingest.s3.model import S3Error, redact_url_credentials

DENIED_HINTS = {
    "InvalidAccessKeyId": "the server does not know this access key; check the credentials in use",
    "SignatureDoesNotMatch": "the secret key does not match the access key; check the credentials in use",
    "AccessDenied": "these credentials are not allowed to use this bucket",
}


def describe_error(exc: BaseException) -> tuple[str, str]:
    """(code, one-line message) for any botocore/aiohttp failure, without request details."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code") or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
        message = str(error.get("Message") or "").strip()
        operation = getattr(exc, "operation_name", "request")
        return code, f"{operation}: {code}{': ' + message if message else ''}"
    if isinstance(exc, NoCredentialsError):
        return "NoCredentials", "no AWS credentials found"
    if isinstance(exc, BotoCoreError):
        return type(exc).__name__, str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return type(exc).__name__, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".rstrip(
        ": "
    )


def wrap_error(exc: BaseException, context: str) -> S3Error:
    code, message = describe_error(exc)
    return S3Error(redact_url_credentials(f"{context}: {message}"), code)
