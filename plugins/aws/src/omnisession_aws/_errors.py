"""The ONE mapping from botocore errors to omnisession's, for both stores.

Every AWS failure that reaches a store's caller goes through
:func:`backend_error`, which sorts it into:

* :class:`~omnisession.errors.BackendUnavailable` (TRANSIENT, retrying may
  help): the endpoint is unreachable, a connection closed or timed out, the
  call ran past ``command_timeout``, throttling or a 5xx outlived botocore's
  retries, a transaction kept conflicting;
* :class:`~omnisession.errors.EntryTooLarge` (PERMANENT): an item or a
  transaction over DynamoDB's size limits (only state values can get there:
  entries too large to inline are offloaded);
* :class:`~omnisession.errors.BackendRejected` (PERMANENT): bad or missing
  credentials, a missing privilege, a missing table or bucket, a request the
  service rejects as invalid.

Each message names the cause and the fix; the botocore exception is chained.
botocore is imported lazily (listing backends imports no boto3).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from omnisession.errors import (
    BackendError,
    BackendRejected,
    BackendUnavailable,
    EntryTooLarge,
)

__all__ = ["CallStalled", "Resource", "backend_error", "error_code", "error_message"]

#: Throttling, capacity and server-side failures: the service is there but busy or broken.
_TRANSIENT_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "LimitExceededException",
        "SlowDown",
        "TransactionConflictException",
        "TransactionConflict",
        "TransactionInProgressException",
        "InternalServerError",
        "InternalError",
        "InternalFailure",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "RequestTimeout",
        "RequestTimeoutException",
        "PriorRequestNotComplete",
        "OperationAborted",
        "ThrottlingError",
    }
)
#: The credentials are wrong, expired or unknown to the endpoint.
_CREDENTIAL_CODES = frozenset(
    {
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "IncompleteSignature",
        "IncompleteSignatureException",
        "MissingAuthenticationToken",
        "MissingAuthenticationTokenException",
        "InvalidSignatureException",
        "ExpiredToken",
        "ExpiredTokenException",
        "TokenRefreshRequired",
        "AuthFailure",
    }
)
#: The credentials are fine but lack a permission.
_PRIVILEGE_CODES = frozenset(
    {"AccessDenied", "AccessDeniedException", "AllAccessDisabled", "AccountProblem"}
)
#: The table or bucket the URL names does not exist.
_MISSING_CODES = frozenset({"ResourceNotFoundException", "NoSuchBucket"})
#: How the services say an item, a transaction or an object is over a size limit.
_SIZE_MARKERS = (
    "item size",
    "maximum allowed size",
    "transaction request cannot be larger",
    "size of the transaction",
    "entitytoolarge",
    "too large",
)


@dataclass(frozen=True)
class Resource:
    """What error messages name: the service, the table or bucket, how to create it."""

    service: str
    """``"DynamoDB"`` or ``"S3"``."""
    label: str
    """E.g. ``"DynamoDB table 'sessions'"``."""
    create_hint: str
    """The ways to create the resource, said when it is missing."""
    endpoint: str
    """Where requests go, for messages about reaching it."""


class CallStalled(Exception):
    """A store call ran past its ``command_timeout``.

    ``refusals`` says what the engine kept answering meanwhile (e.g.
    ``TransactionConflict``), when the time went on retries rather than waiting.
    """

    def __init__(self, seconds: float, refusals: str = "") -> None:
        super().__init__(f"no answer within command_timeout={seconds:g}s")
        self.seconds = seconds
        self.refusals = refusals


_XML_CODE = re.compile(r"<Code>([^<]+)</Code>")
_XML_MESSAGE = re.compile(r"<Message>([^<]*)</Message>")


def _error(exc: BaseException) -> tuple[str, str]:
    """``(code, message)`` of a botocore ``ClientError`` (``("", str(exc))`` otherwise).

    An error answered in XML to a JSON-protocol request (moto's authentication
    errors, some proxies) reaches botocore as its HTTP status with the XML as
    message: the code and message inside it are used instead.
    """
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return "", str(exc)
    error = response.get("Error", {})
    code, message = str(error.get("Code", "")), str(error.get("Message") or "")
    if code.isdigit() and "<Code>" in message:
        inner_code = _XML_CODE.search(message)
        inner_message = _XML_MESSAGE.search(message)
        if inner_code:
            code = inner_code.group(1)
        if inner_message:
            message = inner_message.group(1)
    return code, message or str(exc)


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ``ClientError`` (``""`` for anything else)."""
    return _error(exc)[0]


def error_message(exc: BaseException) -> str:
    """The service's own message of a ``ClientError`` (else the exception's text)."""
    return _error(exc)[1]


def _status(exc: BaseException) -> int:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if isinstance(status, int):
            return status
    return 0


def is_size_error(code: str, message: str) -> bool:
    """Whether a rejection is about an item, transaction or object being too large."""
    text = f"{code} {message}".lower()
    return code in ("EntityTooLarge", "ItemCollectionSizeLimitExceededException") or (
        code in ("ValidationException", "ValidationError", "")
        and any(marker in text for marker in _SIZE_MARKERS)
    )


def backend_error(exc: BaseException, resource: Resource) -> BackendError:
    """The omnisession error for ``exc`` (raise it ``from exc``)."""
    if isinstance(exc, BackendError):
        return exc
    if isinstance(exc, CallStalled) and exc.refusals:
        return BackendUnavailable(
            f"{resource.label}: {resource.service} kept refusing the write ({exc.refusals}) "
            f"for command_timeout={exc.seconds:g}s: too many concurrent writers on one session "
            "or too little capacity; retry later"
        )
    if isinstance(exc, CallStalled):
        return BackendUnavailable(
            f"{resource.service} at {resource.endpoint} did not answer within "
            f"command_timeout={exc.seconds:g}s (the endpoint is stalled, unreachable or "
            "overloaded); retry later, check the endpoint and the network, or raise "
            "?command_timeout= if calls are legitimately that slow"
        )
    from botocore.exceptions import (  # type: ignore[import-untyped]
        ClientError,
        NoCredentialsError,
        NoRegionError,
        PartialCredentialsError,
        ProfileNotFound,
    )

    if isinstance(exc, ClientError):
        return _client_error(exc, resource)
    if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
        return BackendRejected(
            f"no usable AWS credentials for {resource.label} ({exc}); set them the usual AWS "
            "way (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, ~/.aws/credentials, SSO, an "
            "instance or task role) or pick a profile with ?profile="
        )
    if isinstance(exc, ProfileNotFound):
        return BackendRejected(f"{exc}; fix ?profile= or add the profile to ~/.aws/config")
    if isinstance(exc, NoRegionError):
        return BackendRejected(f"{exc}; give the store ?region=")
    return _transport_error(exc, resource)


def _transport_error(exc: BaseException, resource: Resource) -> BackendError:
    from botocore.exceptions import (
        BotoCoreError,
        ConnectionError,
        HTTPClientError,
        ParamValidationError,
    )

    if isinstance(exc, ParamValidationError):
        return BackendRejected(
            f"{resource.service} rejected a request before sending it ({exc}); this is a bug "
            "in omnisession-aws, please report it"
        )
    if isinstance(exc, (ConnectionError, HTTPClientError)):
        return BackendUnavailable(
            f"{resource.service} at {resource.endpoint} is unreachable or dropped the "
            f"connection ({type(exc).__name__}: {exc}); check that the endpoint is up and "
            "reachable, then retry"
        )
    if isinstance(exc, BotoCoreError):
        return BackendUnavailable(
            f"{resource.service} call failed ({type(exc).__name__}: {exc}); retry, and check "
            "the endpoint if it persists"
        )
    return BackendUnavailable(f"{resource.service} call failed: {type(exc).__name__}: {exc}")


def _client_error(exc: Any, resource: Resource) -> BackendError:
    code, message, status = error_code(exc), error_message(exc), _status(exc)
    said = f"{code}: {message}" if code else message
    if code == "TransactionCanceledException":
        return _cancelled(exc, resource)
    if code in _MISSING_CODES:
        return BackendRejected(
            f"{resource.label} does not exist ({said}); create it with {resource.create_hint}, "
            "or open the store with ?create=true"
        )
    if code in _CREDENTIAL_CODES:
        return BackendRejected(
            f"{resource.service} refused the credentials ({said}); check the AWS credentials "
            "in use (environment, ~/.aws, SSO, role, or ?profile=), that they are not expired, "
            "and that they belong to the account and endpoint of the store"
        )
    if code in _PRIVILEGE_CODES:
        return BackendRejected(
            f"the credentials in use may not access {resource.label} ({said}); grant them "
            f"the {resource.service} permissions the README lists for omnisession-aws"
        )
    if is_size_error(code, message):
        return EntryTooLarge(
            f"{resource.label}: one write is over a {resource.service} size limit ({said}); "
            "keep each state value (and each scope) well under 350 KB, or store large "
            "values as events, which are split into chunks"
        )
    if status in (401, 403):
        return BackendRejected(
            f"{resource.service} refused the request ({said}); check the AWS credentials in "
            f"use and their permissions on {resource.label}"
        )
    if code in _TRANSIENT_CODES or status >= 500:
        return BackendUnavailable(
            f"{resource.service} stayed busy or failing after botocore's retries ({said}); "
            "retry later, raise ?max_attempts= or the table's capacity if it persists"
        )
    return BackendRejected(
        f"{resource.service} rejected a request on {resource.label} ({said}); retrying "
        "will not help: check the table or bucket configuration"
    )


def _cancelled(exc: Any, resource: Resource) -> BackendError:
    """A ``TransactionCanceledException`` the store did not resolve itself."""
    response = getattr(exc, "response", {}) or {}
    reasons = [reason for reason in response.get("CancellationReasons") or [] if reason]
    codes = {str(reason.get("Code", "")) for reason in reasons} - {"None", ""}
    for reason in reasons:
        if is_size_error(str(reason.get("Code", "")), str(reason.get("Message", ""))):
            return EntryTooLarge(
                f"{resource.label}: one write is over a DynamoDB size limit "
                f"({reason.get('Message')}); keep each state value (and each scope) well "
                "under 350 KB, or store large values as events, which are split into chunks"
            )
    if codes <= {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"}:
        return BackendUnavailable(
            f"DynamoDB kept cancelling a transaction on {resource.label} "
            f"({', '.join(sorted(codes)) or 'conflict'}); too many concurrent writers or too "
            "little capacity: retry later"
        )
    details = "; ".join(f"{reason.get('Code')}: {reason.get('Message', '')}" for reason in reasons)
    return BackendRejected(
        f"DynamoDB rejected a transaction on {resource.label} ({details or error_message(exc)})"
    )
