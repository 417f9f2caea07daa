#!/bin/bash
# HEALTHCHECK of the container image: GET /health on 127.0.0.1:${YG_HEALTH_PORT:-9090} with
# bash's /dev/tcp (the image has no curl). Exit 0 on a 200 status line, 1 otherwise.
# YG_HEALTH_PORT: the default config's metrics.port (9090), which stays open during a drain;
# set it to server.port when your configuration has no metrics.port. Plain HTTP only (the
# metrics port always is, also with server.tls).
set -u
port="${YG_HEALTH_PORT:-9090}"
exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 1
printf 'GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' >&3
IFS= read -r -t 3 status <&3 || exit 1
case "$status" in
  "HTTP/1."[01]" 200 "*) exit 0 ;;
  *) exit 1 ;;
esac
