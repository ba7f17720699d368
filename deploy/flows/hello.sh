#!/bin/sh
# A tiny example flow: greets whoever the `name` parameter names.
name=$(printf '%s' "$ORCH_PARAMETERS" | sed -n 's/.*"name":"\([^"]*\)".*/\1/p')
echo "hello, ${name:-world}! (flow run $ORCH_FLOW_RUN_ID)"
