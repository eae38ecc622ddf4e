#!/bin/sh
# anylambda's Python runtime bootstrap: awslambdaric on the handler ($1, else _HANDLER).
# Search path in AWS's order: the code, the layers' site-packages and python dirs, the runtime.
RUNTIME_DIR="${LAMBDA_RUNTIME_DIR:-/var/runtime}"
case ":${PYTHONPATH}:" in
    *":${RUNTIME_DIR}:"*) ;;
    *) PYTHONPATH="${PYTHONPATH:+${PYTHONPATH}:}${RUNTIME_DIR}" ;;
esac
PYTHONPATH="${LAMBDA_TASK_ROOT:-/var/task}:/opt/python/lib/python@PYTHON_VERSION@/site-packages:/opt/python:${PYTHONPATH}"
export PYTHONPATH
export AWS_EXECUTION_ENV="${AWS_EXECUTION_ENV:-AWS_Lambda_python@PYTHON_VERSION@}"
exec python@PYTHON_VERSION@ -m awslambdaric "${1:-${_HANDLER}}"
