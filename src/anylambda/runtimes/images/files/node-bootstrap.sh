#!/bin/sh
# anylambda's Node.js runtime bootstrap: our Runtime Interface Client (bootstrap.js), which
# loads the handler named in _HANDLER (or $1) from LAMBDA_TASK_ROOT.
if [ -n "$1" ]; then
    export _HANDLER="$1"
fi
export AWS_EXECUTION_ENV="${AWS_EXECUTION_ENV:-AWS_Lambda_nodejs@NODE_MAJOR@.x}"
# Like AWS: the V8 heap gets 90 % of the function's memory, so an overrun is a JavaScript
# error rather than a kill.
if [ -n "${AWS_LAMBDA_FUNCTION_MEMORY_SIZE}" ]; then
    exec node --max-old-space-size=$((AWS_LAMBDA_FUNCTION_MEMORY_SIZE * 9 / 10)) \
        "${LAMBDA_RUNTIME_DIR:-/var/runtime}/bootstrap.js"
fi
exec node "${LAMBDA_RUNTIME_DIR:-/var/runtime}/bootstrap.js"
