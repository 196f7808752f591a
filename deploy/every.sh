#!/bin/sh
# every SECONDS COMMAND...: run COMMAND now and then every SECONDS seconds, forever.
# A failed run is logged and retried at the next tick; the container keeps running.
set -u
if [ "$#" -lt 2 ]; then
    echo "usage: every SECONDS COMMAND..." >&2
    exit 64
fi
interval="$1"
shift
trap 'exit 0' TERM INT
while :; do
    "$@" || echo "every: '$*' exited with $?; next run in ${interval} s" >&2
    sleep "$interval" &
    wait $!
done
