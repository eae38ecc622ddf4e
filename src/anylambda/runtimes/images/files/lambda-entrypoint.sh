#!/bin/sh
# anylambda's stand-in for the entrypoint of the AWS Lambda base images.
#
# Usage: /lambda-entrypoint.sh [HANDLER]   (the image's CMD is the handler)
# With AWS_LAMBDA_RUNTIME_API set it execs the runtime's bootstrap, which talks to
# the Runtime API there; the handler is passed on in _HANDLER.
if [ $# -gt 1 ]; then
    echo "entrypoint requires the handler name to be the first argument" >&2
    exit 142
fi
if [ $# -eq 1 ]; then
    export _HANDLER="$1"
fi

RUNTIME_ENTRYPOINT="${LAMBDA_RUNTIME_DIR:-/var/runtime}/bootstrap"
if [ -z "${AWS_LAMBDA_RUNTIME_API}" ]; then
    if [ -x /usr/local/bin/aws-lambda-rie ]; then
        exec /usr/local/bin/aws-lambda-rie "$RUNTIME_ENTRYPOINT"
    fi
    echo "AWS_LAMBDA_RUNTIME_API is not set: run this image under a Lambda Runtime API" \
        "(anylambda serve --backend docker) or add the Runtime Interface Emulator" \
        "at /usr/local/bin/aws-lambda-rie" >&2
    exit 1
fi
exec "$RUNTIME_ENTRYPOINT"
