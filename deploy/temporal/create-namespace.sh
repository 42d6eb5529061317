#!/bin/sh
# One-shot: the `default` namespace Herald uses (its search attributes are registered by the worker itself).
set -eu
address=${TEMPORAL_ADDRESS:-temporal:7233}
until temporal operator cluster health --address "$address"; do sleep 3; done
temporal operator namespace describe -n default --address "$address" \
  || temporal operator namespace create -n default --address "$address"
