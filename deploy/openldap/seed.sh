#!/bin/sh
# Build the campus directory offline, with slapadd: cn=config (schemas core, cosine,
# inetorgperson, nis and eduPerson from directory/eduperson.ldif; mdb; ppolicy), then the demo
# campus from directory/demo.ldif and the password policy. Used by the image build and by the
# tests (tests/replicas/test_compose_file.py), so both load exactly the same thing.
#   seed.sh CONFIG_DIR DATA_DIR RUN_DIR SOURCE_DIR
# SOURCE_DIR holds slapd-config.ldif, policies.ldif, eduperson.ldif and demo.ldif.
set -eu
conf=$1 data=$2 run=$3 src=$4
schema=${SCHEMA_DIR:-/etc/ldap/schema}
mkdir -p "$conf" "$data" "$run"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
sed -e "s#@DATA_DIR@#$data#" -e "s#@RUN_DIR@#$run#" -e "s#@SCHEMA_DIR@#$schema#" \
    -e "s#@EDUPERSON@#$src/eduperson.ldif#" "$src/slapd-config.ldif" > "$work/config.ldif"
slapadd -q -n0 -F "$conf" -l "$work/config.ldif"
slapadd -q -n1 -F "$conf" -l "$src/demo.ldif"
slapadd -q -n1 -F "$conf" -l "$src/policies.ldif"
