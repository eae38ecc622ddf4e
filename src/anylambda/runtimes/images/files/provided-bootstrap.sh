#!/bin/bash
# anylambda's bootstrap for custom runtimes: run the function's own bootstrap, from the code
# (LAMBDA_TASK_ROOT) or else a layer (/opt), as AWS's provided runtimes do. A script that is
# not executable but starts with "#!" is run with bash (Amazon Linux's /bin/sh is bash too).
for candidate in "${LAMBDA_TASK_ROOT:-/var/task}/bootstrap" /opt/bootstrap; do
    if [ -f "$candidate" ]; then
        if [ -x "$candidate" ]; then
            exec "$candidate" "$@"
        fi
        if [ "$(head -c 2 "$candidate")" = "#!" ]; then
            exec /bin/bash "$candidate" "$@"
        fi
        echo "Runtime.InvalidEntrypoint: $candidate is not executable" >&2
        exit 126
    fi
done
echo "Runtime.InvalidEntrypoint: Couldn't find valid bootstrap(s):" \
    "[${LAMBDA_TASK_ROOT:-/var/task}/bootstrap /opt/bootstrap]" >&2
exit 127
