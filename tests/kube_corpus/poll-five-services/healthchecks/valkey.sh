#!/bin/sh
# healthy when the server answers PING and is not still loading its append-only file
set -eu
[ "$(valkey-cli -h 127.0.0.1 -p 6379 ping)" = "PONG" ]
! valkey-cli -h 127.0.0.1 -p 6379 info persistence | grep -q '^loading:1'
