"""Secrets (the admin key, webhook signing secrets): Secrets Manager in AWS, plain variables locally.

`secret("ADMIN_API_KEY")` returns `$ADMIN_API_KEY` when it is set (local mode, tests); otherwise the value of
the Secrets Manager secret named by `$ADMIN_API_KEY_SECRET_ARN`, cached for a few minutes so a rotated value
is picked up without a redeploy and a warm function does not call Secrets Manager per request.

`stack_value(...)` does the same for a plain value the stack only knows once deployed (the API's URL), kept in
the SSM parameter named by `$<NAME>_PARAMETER`: a function cannot be given it as a variable without making the
stack depend on itself.
"""

from __future__ import annotations

import os

CACHE_SECONDS = 300


def secret(name: str) -> str | None:
    """The secret's value, or None when neither the variable nor a secret ARN is configured (feature off)."""
    if os.environ.get(name):
        return os.environ[name]
    arn = os.environ.get(f"{name}_SECRET_ARN")
    if not arn:
        return None
    # Imported here: only functions that hold a secret ARN pay for the client.
    from aws_lambda_powertools.utilities import parameters

    value = parameters.get_secret(arn, max_age=CACHE_SECONDS)
    return value or None


def stack_value(name: str) -> str | None:
    """`$NAME`, or the SSM parameter named by `$NAME_PARAMETER` (cached as secrets are); None when neither is."""
    if os.environ.get(name, "").strip():
        return os.environ[name].strip()
    parameter = os.environ.get(f"{name}_PARAMETER")
    if not parameter:
        return None
    from aws_lambda_powertools.utilities import parameters

    value = parameters.get_parameter(parameter, max_age=CACHE_SECONDS)
    return value.strip() or None if isinstance(value, str) else None
